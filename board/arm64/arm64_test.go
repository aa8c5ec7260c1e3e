//go:build arm64

package arm64

import (
	"testing"
	"unsafe"

	"github.com/tamaswap/tamaswap/virtio"
)

var _ virtio.Regs = (*MMIO)(nil)

// The assembly accessors over ordinary memory (run under qemu-aarch64 on
// an amd64 host: go test -exec qemu-aarch64): each width lands where it
// should, little-endian, and the bounds and alignment checks keep every
// access inside the window.
func TestMMIOWidths(t *testing.T) {
	mem := make([]uint64, 8)
	m := NewMMIOMapping(unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), 32), 0x0a000000)
	if m.Addr() != 0x0a000000 || m.Size() != 32 {
		t.Fatalf("Addr/Size = %#x/%d", m.Addr(), m.Size())
	}
	m.Write8(1, 0x11)
	m.Write16(2, 0x3322)
	m.Write32(4, 0x77665544)
	m.Write64(8, 0xffeeddccbbaa9988)
	if mem[0] != 0x7766554433221100 || mem[1] != 0xffeeddccbbaa9988 {
		t.Errorf("memory = %#x %#x", mem[0], mem[1])
	}
	if m.Read8(1) != 0x11 || m.Read16(2) != 0x3322 || m.Read32(4) != 0x77665544 || m.Read64(8) != 0xffeeddccbbaa9988 {
		t.Error("reads do not return what was written")
	}
	for _, a := range [][2]uint32{{32, 1}, {31, 2}, {30, 4}, {28, 8}, {3, 2}, {2, 4}, {4, 8}, {^uint32(0), 1}} {
		off, n := a[0], a[1]
		var got uint64
		switch n {
		case 1:
			got = uint64(m.Read8(off))
			m.Write8(off, 0)
		case 2:
			got = uint64(m.Read16(off))
			m.Write16(off, 0)
		case 4:
			got = uint64(m.Read32(off))
			m.Write32(off, 0)
		case 8:
			got = m.Read64(off)
			m.Write64(off, 0)
		}
		if got != 1<<(8*n)-1 && !(n == 8 && got == ^uint64(0)) {
			t.Errorf("%d-byte read at %d = %#x, want all ones", n, off, got)
		}
	}
	if mem[0] != 0x7766554433221100 || mem[1] != 0xffeeddccbbaa9988 || mem[4] != 0 {
		t.Errorf("a refused write reached memory: %#x %#x %#x", mem[0], mem[1], mem[4])
	}
	for _, b := range []Barrier{BarrierWrite, BarrierRead, BarrierFull, 0} {
		m.Barrier(b)
	}
}
