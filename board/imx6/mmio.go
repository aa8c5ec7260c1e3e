//go:build tamago && arm

package imx6

import (
	"github.com/tamaswap/tamaswap/board/internal/fence"
	"github.com/tamaswap/tamaswap/virtio"
)

// MMIO is a memory-mapped register window, a virtio.Regs. Every access is
// one LDR/STR (LDRB/STRB, LDRH/STRH for the narrow ones) written in
// assembly, so the compiler can neither merge, split nor drop it. TamaGo
// maps peripherals as Strongly-ordered memory, so the accesses of one
// window reach the device in program order; Barrier orders them against
// Normal memory (see the package comment).
//
// 64-bit accesses are two 32-bit ones, low word first: ARMv7 has no
// single-copy atomic 64-bit access to Device memory, and no i.MX6 register
// is 64 bits wide.
//
// An access that does not lie wholly inside the window, or is not
// naturally aligned (an alignment fault on Strongly-ordered memory), reads
// as all ones and writes nothing.
type MMIO struct {
	base uintptr
	size uint32
}

// NewMMIO returns the window of size bytes at physical address addr.
func NewMMIO(addr uint32, size uint32) *MMIO {
	return &MMIO{base: uintptr(addr), size: size}
}

// Addr is the window's physical address.
func (m *MMIO) Addr() uint32 { return uint32(m.base) }

// Size is the window's length in bytes.
func (m *MMIO) Size() uint32 { return m.size }

func (m *MMIO) ok(off, n uint32) bool {
	return off%n == 0 && off < m.size && m.size-off >= n
}

// at is the address of the register at off: a device address, never a Go
// pointer, so it stays a uintptr all the way into the assembly.
func (m *MMIO) at(off uint32) uintptr { return m.base + uintptr(off) }

func (m *MMIO) Read8(off uint32) uint8 {
	if !m.ok(off, 1) {
		return 0xff
	}
	return load8(m.at(off))
}

func (m *MMIO) Read16(off uint32) uint16 {
	if !m.ok(off, 2) {
		return 0xffff
	}
	return load16(m.at(off))
}

func (m *MMIO) Read32(off uint32) uint32 {
	if !m.ok(off, 4) {
		return 0xffffffff
	}
	return load32(m.at(off))
}

func (m *MMIO) Read64(off uint32) uint64 {
	if !m.ok(off, 8) {
		return ^uint64(0)
	}
	lo := load32(m.at(off))
	hi := load32(m.at(off + 4))
	return uint64(hi)<<32 | uint64(lo)
}

func (m *MMIO) Write8(off uint32, v uint8) {
	if m.ok(off, 1) {
		store8(m.at(off), v)
	}
}

func (m *MMIO) Write16(off uint32, v uint16) {
	if m.ok(off, 2) {
		store16(m.at(off), v)
	}
}

func (m *MMIO) Write32(off uint32, v uint32) {
	if m.ok(off, 4) {
		store32(m.at(off), v)
	}
}

func (m *MMIO) Write64(off uint32, v uint64) {
	if m.ok(off, 8) {
		store32(m.at(off), uint32(v))
		store32(m.at(off+4), uint32(v>>32))
	}
}

// Barrier orders the CPU's accesses to memory the controller shares (its
// ADMA2 descriptors and data buffers) against each other and against
// later register accesses: DMB ST, DMB SY or DSB SY (package fence), the
// ARMv7 barriers for a device outside the inner shareable domain.
func (m *MMIO) Barrier(b virtio.Barrier) { fence.Do(b) }

var _ virtio.Regs = (*MMIO)(nil)

// defined in asm_arm.s
func load8(addr uintptr) uint8
func load16(addr uintptr) uint16
func load32(addr uintptr) uint32
func store8(addr uintptr, v uint8)
func store16(addr uintptr, v uint16)
func store32(addr uintptr, v uint32)
