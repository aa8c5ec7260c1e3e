package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Transport is one virtio device as reached through a transport
// (virtio-mmio or virtio-pci). It exposes the basic facilities of §2 and
// nothing device-specific; Init, Ready and NewQueue build the spec's
// initialisation sequence from it.
type Transport interface {
	// Name is "mmio" or "pci".
	Name() string
	// Legacy is true for virtio-mmio version 1 and for virtio-pci
	// devices driven through the legacy I/O BAR0 register block.
	Legacy() bool
	// DeviceID is the virtio device type (§5): 2 for a block device.
	DeviceID() uint32

	// Status reads device status; SetStatus writes it (0 resets).
	Status() uint8
	SetStatus(s uint8)
	// DeviceFeatures reads the features the device offers (bits 0–31
	// only, for legacy devices); SetDriverFeatures writes the accepted
	// ones.
	DeviceFeatures() Features
	SetDriverFeatures(f Features)

	// QueueMax selects queue index and returns the largest size the
	// device supports for it, 0 if the queue does not exist, or an error
	// if the queue is already in use. Legacy PCI queues have exactly
	// this size.
	QueueMax(index uint16) (uint16, error)
	// SetQueue tells the device where queue index lives and enables it.
	// Legacy transports take the queue's address as a page number and
	// require the legacy layout (NewQueue always uses it): driver area
	// right after the descriptor table, device area at the next
	// 4096-byte boundary.
	SetQueue(index, size uint16, desc, driver, device uint64) error
	// Notify sends an available buffer notification for queue index.
	Notify(index uint16)
	// InterruptStatus reads and acknowledges the interrupt status:
	// bit 0 a used buffer notification, bit 1 a configuration change.
	InterruptStatus() uint32

	// DeviceConfig is the device-specific configuration space.
	DeviceConfig() Regs
	// ConfigGeneration is the configuration atomicity value (§2.5.1);
	// always 0 for legacy devices, which have none.
	ConfigGeneration() uint32

	// Barrier is the memory barrier b of the platform behind the
	// transport's registers (Regs.Barrier): the queue calls it at the
	// points §2.7.13 and §2.7.14 name.
	Barrier(b Barrier)
}

// maxConfigRetries bounds ReadConfig's retries: a device whose
// configuration never stays still is broken.
const maxConfigRetries = 64

// ReadConfig calls read until it has run without the configuration
// generation changing (§2.5.1), so that multi-field and 64-bit values
// form a consistent snapshot. Legacy devices have no generation counter:
// read runs once, and 64-bit fields should use ReadConfig64.
func ReadConfig(t Transport, read func(r Regs)) error {
	r := t.DeviceConfig()
	for i := 0; i < maxConfigRetries; i++ {
		before := t.ConfigGeneration()
		read(r)
		if t.ConfigGeneration() == before {
			return nil
		}
	}
	return fmt.Errorf("%w: configuration generation keeps changing", ErrDeviceBroken)
}

// ReadConfig64 reads a 64-bit configuration field as two 32-bit reads,
// as §4.1.3.1 and §4.2.2.2 require; on legacy devices, which have no
// generation counter, it re-reads until the high half is stable.
func ReadConfig64(t Transport, r Regs, off uint32) uint64 {
	for i := 0; ; i++ {
		hi := r.Read32(off + 4)
		lo := r.Read32(off)
		if !t.Legacy() || r.Read32(off+4) == hi || i == maxConfigRetries {
			return uint64(hi)<<32 | uint64(lo)
		}
	}
}

// window is a Regs over part of another Regs: a virtio-pci structure
// inside its BAR, or the configuration space behind a register block.
// Accesses outside [0, size) read as all ones and are not written, so a
// device that announces a short structure cannot make the driver reach
// past it.
type window struct {
	r    Regs
	base uint32
	size uint32
}

func (w window) ok(off, n uint32) bool { return off <= w.size && n <= w.size-off }

func (w window) Read8(off uint32) uint8 {
	if !w.ok(off, 1) {
		return 0xff
	}
	return w.r.Read8(w.base + off)
}
func (w window) Read16(off uint32) uint16 {
	if !w.ok(off, 2) {
		return 0xffff
	}
	return w.r.Read16(w.base + off)
}
func (w window) Read32(off uint32) uint32 {
	if !w.ok(off, 4) {
		return 0xffffffff
	}
	return w.r.Read32(w.base + off)
}
func (w window) Read64(off uint32) uint64 {
	if !w.ok(off, 8) {
		return ^uint64(0)
	}
	return w.r.Read64(w.base + off)
}
func (w window) Write8(off uint32, v uint8) {
	if w.ok(off, 1) {
		w.r.Write8(w.base+off, v)
	}
}
func (w window) Write16(off uint32, v uint16) {
	if w.ok(off, 2) {
		w.r.Write16(w.base+off, v)
	}
}
func (w window) Write32(off uint32, v uint32) {
	if w.ok(off, 4) {
		w.r.Write32(w.base+off, v)
	}
}
func (w window) Write64(off uint32, v uint64) {
	if w.ok(off, 8) {
		w.r.Write64(w.base+off, v)
	}
}
func (w window) Barrier(b Barrier) {
	if w.r != nil {
		w.r.Barrier(b)
	}
}

// errQueueInUse is returned by QueueMax for a queue that is already live.
var errQueueInUse = errors.New("virtio: queue already in use")

// legacyAlign is the used ring alignment and page size of legacy queues
// (§2.7.2 "Legacy Interfaces: A Note on Virtqueue Layout").
const legacyAlign = 4096

// checkLegacyLayout verifies that the three areas of a queue form the
// legacy contiguous layout, which legacy transports describe by the
// descriptor table's page number alone.
func checkLegacyLayout(size uint16, desc, driver, device uint64) error {
	n := uint64(size)
	if desc%legacyAlign != 0 || desc/legacyAlign > 0xffffffff ||
		driver != desc+16*n || device != (driver+6+2*n+legacyAlign-1)&^(legacyAlign-1) {
		return fmt.Errorf("virtio: queue at %#x/%#x/%#x is not in the legacy layout", desc, driver, device)
	}
	return nil
}

// le32 converts between a native-endian uint32 read with an atomic load and
// the little-endian value in memory; a no-op on little-endian machines.
func le32(v uint32) uint32 {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	return binary.LittleEndian.Uint32(b[:])
}
