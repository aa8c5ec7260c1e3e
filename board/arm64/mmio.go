//go:build arm64

package arm64

import "unsafe"

// MMIO is a memory-mapped register window: a virtio-mmio slot, a PCI
// memory BAR, a memory-mapped I/O port window, or PCIe (ECAM)
// configuration space. It implements virtio.Regs, each call exactly one
// access of its width (see the package comment for the barriers around
// it).
//
// An access that does not lie wholly inside the window, or is not
// naturally aligned (which faults on Device memory), reads as all ones
// (what a PCI read of nothing returns) and writes nothing: register
// offsets can come from a device (virtio-pci capabilities), and a bad one
// must not reach another device's registers.
type MMIO struct {
	base uintptr
	addr uint64
	size uint32
	keep []byte // a mapping base points into, kept alive
}

// NewMMIO returns the window of size bytes at physical address addr, for
// a program whose addresses are physical ones (TamaGo's flat mapping).
func NewMMIO(addr uint64, size uint32) *MMIO {
	return &MMIO{base: uintptr(addr), addr: addr, size: size}
}

// NewMMIOMapping returns the window over m, a mapping of device registers
// into this address space (Linux /dev/mem or a sysfs BAR resource file),
// whose first byte is at physical address addr.
func NewMMIOMapping(m []byte, addr uint64) *MMIO {
	if len(m) == 0 {
		return &MMIO{addr: addr}
	}
	return &MMIO{base: uintptr(unsafe.Pointer(&m[0])), addr: addr, size: uint32(min(len(m), 1<<32-1)), keep: m}
}

// Addr is the window's physical address.
func (m *MMIO) Addr() uint64 { return m.addr }

// Size is the window's length in bytes.
func (m *MMIO) Size() uint32 { return m.size }

func (m *MMIO) ok(off, n uint32) bool {
	return off%n == 0 && off < m.size && m.size-off >= n
}

func (m *MMIO) Read8(off uint32) uint8 {
	if !m.ok(off, 1) {
		return 0xff
	}
	return read8(m.base + uintptr(off))
}

func (m *MMIO) Read16(off uint32) uint16 {
	if !m.ok(off, 2) {
		return 0xffff
	}
	return read16(m.base + uintptr(off))
}

func (m *MMIO) Read32(off uint32) uint32 {
	if !m.ok(off, 4) {
		return 0xffffffff
	}
	return read32(m.base + uintptr(off))
}

func (m *MMIO) Read64(off uint32) uint64 {
	if !m.ok(off, 8) {
		return ^uint64(0)
	}
	return read64(m.base + uintptr(off))
}

func (m *MMIO) Write8(off uint32, v uint8) {
	if m.ok(off, 1) {
		write8(m.base+uintptr(off), v)
	}
}

func (m *MMIO) Write16(off uint32, v uint16) {
	if m.ok(off, 2) {
		write16(m.base+uintptr(off), v)
	}
}

func (m *MMIO) Write32(off uint32, v uint32) {
	if m.ok(off, 4) {
		write32(m.base+uintptr(off), v)
	}
}

func (m *MMIO) Write64(off uint32, v uint64) {
	if m.ok(off, 8) {
		write64(m.base+uintptr(off), v)
	}
}

// Barrier orders the window's accesses with memory the device reads and
// writes (see Barrier).
func (m *MMIO) Barrier(b Barrier) { b.Do() }

// Load32 reads the 32-bit register at physical address addr, for a
// program whose addresses are physical ones, with the barrier after it
// that MMIO's reads have. It allocates nothing: it is for code that runs
// before the heap exists (a board's early console).
func Load32(addr uint64) uint32 { return read32(uintptr(addr)) }

// Store32 writes the 32-bit register at physical address addr, with the
// barrier before it that MMIO's writes have (see Load32).
func Store32(addr uint64, v uint32) { write32(uintptr(addr), v) }

// Single accesses with their barriers, in mmio_arm64.s.
func read8(addr uintptr) uint8
func read16(addr uintptr) uint16
func read32(addr uintptr) uint32
func read64(addr uintptr) uint64
func write8(addr uintptr, v uint8)
func write16(addr uintptr, v uint16)
func write32(addr uintptr, v uint32)
func write64(addr uintptr, v uint64)
