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
