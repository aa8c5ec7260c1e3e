package heapdma

import (
	"errors"
	"math"
	"testing"
	"unsafe"

	"github.com/tamaswap/tamaswap/virtio"
)

var _ virtio.DMA = (*HeapDMA)(nil)

func newPool(t testing.TB, size int) *HeapDMA {
	t.Helper()
	d, err := New(0, ^uint64(0), size)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestHeapDMA(t *testing.T) {
	d := newPool(t, 64<<10)
	if st := d.Stats(); st.Size != 64<<10 || st.Free != 64<<10 {
		t.Fatalf("fresh pool: %+v", st)
	}
	var bufs [][]byte
	for _, align := range []int{1, 16, 4096} {
		buf, addr, err := d.Alloc(100, align)
		if err != nil {
			t.Fatal(err)
		}
		if len(buf) != 100 || cap(buf) != 100 {
			t.Errorf("len/cap %d/%d", len(buf), cap(buf))
		}
		if addr%uint64(align) != 0 || uint64(uintptr(unsafe.Pointer(&buf[0]))) != addr {
			t.Errorf("address %#x not aligned to %d, or not the buffer's", addr, align)
		}
		if a, ok := d.Addr(buf); !ok || a != addr {
			t.Errorf("Addr = %#x, %v; Alloc said %#x", a, ok, addr)
		}
		for _, b := range buf {
			if b != 0 {
				t.Fatal("Alloc memory not zeroed")
			}
		}
		bufs = append(bufs, buf)
	}
	for _, bad := range [][2]int{{0, 8}, {-1, 8}, {8, 0}, {8, 3}, {8, math.MaxInt/2 + 1}} {
		if _, _, err := d.Alloc(bad[0], bad[1]); err == nil {
			t.Errorf("Alloc(%d, %d) succeeded", bad[0], bad[1])
		}
	}
	// Exhaustion is an error the caller sees.
	if _, _, err := d.Alloc(64<<10, 8); !errors.Is(err, virtio.ErrNoDMAMemory) {
		t.Errorf("Alloc past the pool: %v, want virtio.ErrNoDMAMemory", err)
	}
	for _, b := range bufs {
		d.Free(b)
		d.Free(b) // twice: ignored
	}
	d.Free([]byte{1}) // not from Alloc: ignored
	d.Free(nil)
	if d.FreeBytes() != 64<<10 {
		t.Errorf("%d bytes free after freeing everything, want %d", d.FreeBytes(), 64<<10)
	}
	if b, _, err := d.Alloc(64<<10, 4096); err != nil {
		t.Errorf("the whole pool after Free: %v", err)
	} else {
		d.Free(b)
	}

	// Callers' own heap buffers are reachable without a copy; a buffer
	// outside the RAM range is not.
	b := make([]byte, 64)
	p := uint64(uintptr(unsafe.Pointer(&b[0])))
	if a, ok := d.Addr(b); !ok || a != p {
		t.Error("Addr refused a heap buffer")
	}
	if _, ok := (&HeapDMA{lo: p + 1, hi: p + 1000}).Addr(b); ok {
		t.Error("Addr accepted a buffer starting below the range")
	}
	if _, ok := (&HeapDMA{lo: p, hi: p + 63}).Addr(b); ok {
		t.Error("Addr accepted a buffer ending past the range")
	}
	if a, ok := (&HeapDMA{lo: p, hi: p + 64}).Addr(b); !ok || a != p {
		t.Error("Addr refused a buffer exactly filling the range")
	}
	if _, ok := d.Addr(nil); ok {
		t.Error("Addr accepted an empty buffer")
	}
	if _, err := New(0, 1, 4096); err == nil {
		t.Error("New with a pool outside RAM succeeded")
	}
	if _, err := New(0, ^uint64(0), -1); err == nil {
		t.Error("New with a negative pool succeeded")
	}
	if e, err := New(0, ^uint64(0), 0); err != nil {
		t.Errorf("New without a pool: %v", err)
	} else if _, _, err := e.Alloc(8, 8); !errors.Is(err, virtio.ErrNoDMAMemory) {
		t.Errorf("Alloc without a pool: %v", err)
	}
}

// TestPoolLeavesTheHeapAlone: a million alloc/free cycles of the drivers'
// sizes make no garbage: the heap does not see them.
func TestPoolLeavesTheHeapAlone(t *testing.T) {
	d := newPool(t, 8<<20)
	sizes := []int{4096, 64 << 10, 1 << 20, 8192}
	var live [4][]byte
	i := 0
	step := func() {
		k := i % len(live)
		if live[k] != nil {
			d.Free(live[k])
			live[k] = nil
		} else {
			b, _, err := d.Alloc(sizes[(i/len(live))%len(sizes)], 4096)
			if err != nil {
				t.Fatal(err)
			}
			live[k] = b
		}
		i++
	}
	for range 1000 {
		step()
	}
	if a := testing.AllocsPerRun(1000, step); a != 0 {
		t.Errorf("%.2f heap allocations per pool Alloc or Free, want 0", a)
	}
}

// Addr is on every request's path: it must not allocate.
func BenchmarkHeapDMAAddr(b *testing.B) {
	d := newPool(b, 4096)
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

// TestMemoryLimit: the limit leaves the image, the g0 stack, the arena
// rounding and the headroom out of RAM, and is 0 where no heap fits.
func TestMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		name            string
		dataEnd, ramEnd uint64
		space           uint64
	}{
		// board/microvm as built with Go 1.26: the image (with the
		// FIPS DRBG's 32 MiB .noptrbss) ends at 0x12282380.
		{"microvm 64M", 0x12282380, 0x10000000 + 64*mib, 24 * mib},
		{"microvm 128M", 0x12282380, 0x10000000 + 128*mib, 88 * mib},
		{"usbarmory 512M", 0x80000000 + 36*mib, 0x80000000 + 512*mib, 472 * mib},
		{"no room", 0x10000000 + 60*mib, 0x10000000 + 64*mib, 0},
		{"image past RAM", 0x20000000, 0x10000000, 0},
		{"tiny RAM", 0, 4096, 0},
	} {
		space := HeapSpace(c.dataEnd, c.ramEnd)
		limit := MemoryLimit(c.dataEnd, c.ramEnd)
		if space != c.space {
			t.Errorf("%s: heap space %d MiB, want %d MiB", c.name, space/mib, c.space/mib)
		}
		switch {
		case space == 0 && limit != 0:
			t.Errorf("%s: limit %d without heap space", c.name, limit)
		case space > 0 && (limit <= 0 || uint64(limit) > space-ArenaBytes || uint64(limit) < space/2):
			t.Errorf("%s: limit %d for %d bytes of heap space", c.name, limit, space)
		}
		if space > 0 && c.ramEnd-StackReserve < c.dataEnd+space {
			t.Errorf("%s: heap space %d reaches the g0 stack", c.name, space)
		}
	}
}
