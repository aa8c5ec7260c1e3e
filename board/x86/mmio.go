//go:build amd64

package x86

import (
	"sync/atomic"
	"unsafe"

	"github.com/tamaswap/tamaswap/board/internal/fence"
	"github.com/tamaswap/tamaswap/virtio"
)

// MMIO is a memory-mapped register window: a virtio-mmio slot, a PCI
// memory BAR, or PCIe (ECAM) configuration space. It implements
// virtio.Regs. 32- and 64-bit accesses use sync/atomic, 8- and 16-bit ones
// single MOVB/MOVW instructions, so that each call is exactly one access
// the compiler cannot merge, split or drop.
//
// An access that does not lie wholly inside the window reads as all ones
// (what a PCI read of nothing returns) and writes nothing: register offsets
// can come from a device (virtio-pci capabilities), and a bad one must not
// reach another device's registers.
type MMIO struct {
	base unsafe.Pointer
	addr uint64
	size uint32
	keep []byte // a mapping base points into, kept alive
}

// NewMMIO returns the window of size bytes at physical address addr.
func NewMMIO(addr uint64, size uint32) *MMIO {
	return &MMIO{base: addrPointer(uintptr(addr)), addr: addr, size: size}
}

// NewMMIOMapping returns the window over m, a mapping of device registers
// into this address space (Linux /dev/mem or a sysfs BAR resource file),
// whose first byte is at physical address addr.
func NewMMIOMapping(m []byte, addr uint64) *MMIO {
	if len(m) == 0 {
		return &MMIO{addr: addr}
	}
	return &MMIO{base: unsafe.Pointer(&m[0]), addr: addr, size: uint32(min(len(m), 1<<32-1)), keep: m}
}

// Addr is the window's physical address.
func (m *MMIO) Addr() uint64 { return m.addr }

// Size is the window's length in bytes.
func (m *MMIO) Size() uint32 { return m.size }

// ok reports whether an n-byte access at off lies inside the window and is
// naturally aligned (x86 would split a misaligned one into two accesses).
func (m *MMIO) ok(off, n uint32) bool {
	return off%n == 0 && off < m.size && m.size-off >= n
}

func (m *MMIO) Read8(off uint32) uint8 {
	if !m.ok(off, 1) {
		return 0xff
	}
	return load8(unsafe.Add(m.base, off))
}

func (m *MMIO) Read16(off uint32) uint16 {
	if !m.ok(off, 2) {
		return 0xffff
	}
	return load16(unsafe.Add(m.base, off))
}

func (m *MMIO) Read32(off uint32) uint32 {
	if !m.ok(off, 4) {
		return 0xffffffff
	}
	return atomic.LoadUint32((*uint32)(unsafe.Add(m.base, off)))
}

func (m *MMIO) Read64(off uint32) uint64 {
	if !m.ok(off, 8) {
		return ^uint64(0)
	}
	return atomic.LoadUint64((*uint64)(unsafe.Add(m.base, off)))
}

func (m *MMIO) Write8(off uint32, v uint8) {
	if m.ok(off, 1) {
		store8(unsafe.Add(m.base, off), v)
	}
}

func (m *MMIO) Write16(off uint32, v uint16) {
	if m.ok(off, 2) {
		store16(unsafe.Add(m.base, off), v)
	}
}

func (m *MMIO) Write32(off uint32, v uint32) {
	if m.ok(off, 4) {
		atomic.StoreUint32((*uint32)(unsafe.Add(m.base, off)), v)
	}
}

func (m *MMIO) Write64(off uint32, v uint64) {
	if m.ok(off, 8) {
		atomic.StoreUint64((*uint64)(unsafe.Add(m.base, off)), v)
	}
}

// Barrier is virtio.Regs' memory barrier; on amd64 only a full barrier
// is an instruction (see package fence).
func (m *MMIO) Barrier(b virtio.Barrier) { fence.Do(b) }
