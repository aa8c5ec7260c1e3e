package heapdma

import (
	"testing"
	"unsafe"

	"github.com/tamaswap/tamaswap/virtio"
)

var _ virtio.DMA = (*HeapDMA)(nil)

func TestHeapDMA(t *testing.T) {
	d := New(0, ^uint64(0))
	for _, align := range []int{1, 16, 4096} {
		buf, addr, err := d.Alloc(100, align)
		if err != nil {
			t.Fatal(err)
		}
		if len(buf) != 100 || cap(buf) != 100 {
			t.Errorf("len/cap %d/%d", len(buf), cap(buf))
		}
		if addr%uint64(align) != 0 {
			t.Errorf("address %#x not aligned to %d", addr, align)
		}
		if a, ok := d.Addr(buf); !ok || a != addr {
			t.Errorf("Addr = %#x, %v; Alloc said %#x", a, ok, addr)
		}
		for _, b := range buf {
			if b != 0 {
				t.Fatal("Alloc memory not zeroed")
			}
		}
	}
	if d.Live() != 3 {
		t.Errorf("%d live allocations, want 3", d.Live())
	}
	for _, bad := range [][2]int{{0, 8}, {-1, 8}, {8, 0}, {8, 3}} {
		if _, _, err := d.Alloc(bad[0], bad[1]); err == nil {
			t.Errorf("Alloc(%d, %d) succeeded", bad[0], bad[1])
		}
	}
	buf, _, _ := d.Alloc(8, 8)
	d.Free(buf)
	d.Free(buf)       // twice: ignored
	d.Free([]byte{1}) // not from Alloc: ignored
	d.Free(nil)
	if d.Live() != 3 {
		t.Errorf("%d live allocations after Free, want 3", d.Live())
	}

	// A buffer outside the RAM range is not reachable.
	b := make([]byte, 64)
	p := uint64(uintptr(unsafe.Pointer(&b[0])))
	if _, ok := New(p+1, p+1000).Addr(b); ok {
		t.Error("Addr accepted a buffer starting below the range")
	}
	if _, ok := New(p, p+63).Addr(b); ok {
		t.Error("Addr accepted a buffer ending past the range")
	}
	if a, ok := New(p, p+64).Addr(b); !ok || a != p {
		t.Error("Addr refused a buffer exactly filling the range")
	}
	if _, ok := d.Addr(nil); ok {
		t.Error("Addr accepted an empty buffer")
	}
	if _, _, err := New(0, 1).Alloc(64, 8); err == nil {
		t.Error("Alloc outside the range succeeded")
	}
}

// Addr is on every request's path: it must not allocate.
func BenchmarkHeapDMAAddr(b *testing.B) {
	d := New(0, ^uint64(0))
	buf := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := d.Addr(buf); !ok {
			b.Fatal("Addr refused a heap buffer")
		}
	}
	if n := testing.AllocsPerRun(100, func() { d.Addr(buf) }); n != 0 {
		b.Errorf("Addr allocates %v times", n)
	}
}
