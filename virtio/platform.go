// Package virtio is the transport-independent core of tamaswap's virtio
// drivers, written from the OASIS virtio 1.2 specification: feature bits,
// the device status handshake (§3.1), the split virtqueue (§2.7) and the
// virtio-mmio (§4.2) and virtio-pci (§4.1) transports.
//
// The package never touches hardware itself. A platform (a board) hands it
// three things, defined in this file: register access (Regs), memory the
// device can reach (DMA), and PCI functions (PCIFunction).
package virtio

// Regs is access to one register region: a virtio-mmio window, a PCI BAR
// or configuration space, or a range of I/O ports. Offsets are relative to
// the start of the region. Each call is exactly one access of the named
// width, never merged, split, reordered with other Regs calls, or elided:
// implementations use sync/atomic on unsafe pointers, port instructions,
// or system calls.
type Regs interface {
	// ReadN loads one N-bit register at off; WriteN stores one.
	Read8(off uint32) uint8
	Read16(off uint32) uint16
	Read32(off uint32) uint32
	Read64(off uint32) uint64
	Write8(off uint32, v uint8)
	Write16(off uint32, v uint16)
	Write32(off uint32, v uint32)
	Write64(off uint32, v uint64)
}

// DMA is memory the device can reach.
type DMA interface {
	// Alloc returns size zeroed bytes whose first byte is aligned to
	// align (a power of two) in the device's address space, and that
	// device-visible address.
	Alloc(size, align int) (buf []byte, addr uint64, err error)
	// Free gives back a buffer that Alloc returned.
	Free(buf []byte)
	// Addr reports the device-visible address of buf's first byte when
	// the device can reach all of buf directly (zero copy). When ok is
	// false the driver bounces the data through memory from Alloc.
	Addr(buf []byte) (addr uint64, ok bool)
}

// PCIFunction is one PCI function as the platform found it, its BARs
// already assigned.
type PCIFunction interface {
	// Config is the function's configuration space (256 bytes, or 4096
	// with ECAM).
	Config() Regs
	// BAR maps base address register n, a memory or I/O BAR.
	BAR(n int) (Regs, error)
}
