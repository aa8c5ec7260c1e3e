//go:build amd64

package x86

import (
	"testing"
	"unsafe"

	"github.com/tamaswap/tamaswap/virtio"
)

// The platform boundary of package virtio.
var (
	_ virtio.Regs = (*MMIO)(nil)
	_ virtio.Regs = (*Ports)(nil)
	_ virtio.DMA  = (*HeapDMA)(nil)
)

// MMIO over ordinary memory: the widths land where they should, and
// accesses outside the window or misaligned touch nothing.
func TestMMIO(t *testing.T) {
	mem := make([]uint64, 8) // 64 bytes, 8-aligned
	base := uint64(uintptr(unsafe.Pointer(&mem[0])))
	m := NewMMIO(base, 32)
	if m.Addr() != base || m.Size() != 32 {
		t.Fatalf("Addr/Size = %#x/%d", m.Addr(), m.Size())
	}
	m.Write8(0, 0x11)
	m.Write16(2, 0x3322)
	m.Write32(4, 0x77665544)
	m.Write64(8, 0xffeeddccbbaa9988)
	if got := mem[0]; got != 0x7766554433220011 {
		t.Errorf("word 0 = %#x", got)
	}
	if m.Read8(3) != 0x33 || m.Read16(4) != 0x5544 || m.Read32(8) != 0xbbaa9988 || m.Read64(8) != 0xffeeddccbbaa9988 {
		t.Error("reads do not return what was written")
	}

	// Outside the 32-byte window (mem[4:] is beyond it) or misaligned:
	// reads are all ones, writes are dropped.
	for _, off := range []uint32{32, 33, 1 << 31, ^uint32(0)} {
		if m.Read8(off) != 0xff || m.Read32(off) != 0xffffffff {
			t.Errorf("read at %d inside a 32-byte window", off)
		}
		m.Write8(off, 1)
		m.Write64(off, 1)
	}
	if m.Read64(28) != ^uint64(0) || m.Read32(30) != 0xffffffff || m.Read16(31) != 0xffff {
		t.Error("access crossing the window's end or misaligned was made")
	}
	m.Write32(30, 0)
	m.Write64(28, 0)
	m.Write16(1, 0)
	for i, w := range mem[4:] {
		if w != 0 {
			t.Errorf("word %d beyond the window written: %#x", 4+i, w)
		}
	}
	if mem[0] != 0x7766554433220011 || mem[3] != 0 {
		t.Errorf("dropped writes changed memory: %#x %#x", mem[0], mem[3])
	}
}

// Ports outside their range never reach an IN or OUT (which would fault
// in a host test): reads are all ones.
func TestPortsRange(t *testing.T) {
	p := NewPorts(0xfff0, 0x100)
	if p.Size() != 0x10 {
		t.Errorf("range past port 0xffff not cut: size %#x", p.Size())
	}
	if p.Read8(0x10) != 0xff || p.Read16(0xf) != 0xffff || p.Read32(0xd) != 0xffffffff || p.Read64(0x9) != ^uint64(0) {
		t.Error("out-of-range port read was not all ones")
	}
	p.Write8(0x10, 0)
	p.Write64(0xc, 0)
}

func TestHeapDMA(t *testing.T) {
	d := NewHeapDMA(0, ^uint64(0))
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
	if _, ok := NewHeapDMA(p+1, p+1000).Addr(b); ok {
		t.Error("Addr accepted a buffer starting below the range")
	}
	if _, ok := NewHeapDMA(p, p+63).Addr(b); ok {
		t.Error("Addr accepted a buffer ending past the range")
	}
	if a, ok := NewHeapDMA(p, p+64).Addr(b); !ok || a != p {
		t.Error("Addr refused a buffer exactly filling the range")
	}
	if _, ok := d.Addr(nil); ok {
		t.Error("Addr accepted an empty buffer")
	}
	if _, _, err := NewHeapDMA(0, 1).Alloc(64, 8); err == nil {
		t.Error("Alloc outside the range succeeded")
	}
}

// Addr is on every request's path: it must not allocate.
func BenchmarkHeapDMAAddr(b *testing.B) {
	d := NewHeapDMA(0, ^uint64(0))
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
