// Package virtio is the transport-independent core of tamaswap's virtio
// drivers, written from the OASIS virtio 1.2 specification: feature bits,
// the device status handshake (§3.1), the split virtqueue (§2.7) and the
// virtio-mmio (§4.2) and virtio-pci (§4.1) transports.
//
// The package never touches hardware itself. A platform (a board) hands it
// three things, defined in this file: register access (Regs), memory the
// device can reach (DMA), and PCI functions (PCIFunction).
package virtio

// Barrier is a memory barrier between the driver's accesses to memory it
// shares with the device (the rings, DMA buffers) and to its registers.
// The split virtqueue needs three (§2.7.13 "Supplying Buffers to The
// Device", §2.7.14 "Receiving Used Buffers From The Device"), the ones
// Linux calls virtio_wmb, virtio_rmb and virtio_mb. A Go atomic operation
// orders memory only among goroutines: on arm64 a Go atomic store is a
// store-release (STLR), which a later store to Device memory may overtake,
// and nothing in Go orders a plain store before a later load on another
// agent's behalf. The platform supplies them through Regs.Barrier.
type Barrier uint8

const (
	// BarrierWrite (virtio_wmb): every earlier store to ring or DMA
	// memory is visible to the device before any later store. The queue
	// issues it after writing descriptors and available ring entries and
	// before publishing the available idx (§2.7.13.3 "Updating idx").
	BarrierWrite Barrier = iota + 1
	// BarrierRead (virtio_rmb): every later load of ring or DMA memory
	// happens after the earlier load of the used idx (§2.7.14), so the
	// driver never reads a used element, or data, older than the idx
	// that announced it.
	BarrierRead
	// BarrierFull (virtio_mb): every earlier store is visible before any
	// later load and before any later register write. The queue issues it
	// after publishing the available idx and before reading the used
	// ring's flags or avail_event and writing the notify register
	// (§2.7.13.4 "Notifying The Device"), and after asking for used
	// buffer notifications again (used_event, or clearing
	// VIRTQ_AVAIL_F_NO_INTERRUPT) before it re-checks the used ring
	// (§2.7.14), so that neither side can miss the other's update.
	BarrierFull
)

func (b Barrier) String() string {
	switch b {
	case BarrierWrite:
		return "wmb"
	case BarrierRead:
		return "rmb"
	case BarrierFull:
		return "mb"
	}
	return "barrier(?)"
}

// Regs is access to one register region: a virtio-mmio window, a PCI BAR
// or configuration space, or a range of I/O ports. Offsets are relative to
// the start of the region. Each call is exactly one access of the named
// width, never merged, split, or elided, and register accesses happen in
// program order with each other: implementations use sync/atomic on
// unsafe pointers to Device memory, port instructions, or system calls.
//
// Barrier orders the CPU's accesses to shared memory against each other
// and against later register accesses, as Barrier's constants say. It is
// a CPU instruction (or nothing where the architecture's ordering already
// gives it), not an access to the region; every region of a platform may
// implement it the same way.
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
	Barrier(b Barrier)
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
