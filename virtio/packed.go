package virtio

import (
	"encoding/binary"
	"fmt"
)

// Packed descriptor flags (§2.8.1): a descriptor is available when AVAIL
// matches the driver's ring wrap counter and USED does not, and used
// when both match the device's.
const (
	descFAvail = 1 << 7
	descFUsed  = 1 << 15
)

// Event suppression flags (§2.8.10).
const (
	ringEventEnable  = 0
	ringEventDisable = 1
	ringEventDesc    = 2 // only with VIRTIO_F_EVENT_IDX
)

// PackedLayout returns the size of a packed queue of n entries and the
// offsets of its Driver Event Suppression (driver area) and Device Event
// Suppression (device area) structures, which follow the descriptor ring
// (§2.8.10.1: alignment 16 for the ring, 4 for each structure).
func PackedLayout(n uint16) (total, driverOff, deviceOff int) {
	driverOff = descSize * int(n)
	deviceOff = driverOff + 4
	return deviceOff + 4, driverOff, deviceOff
}

// packedAlign is the ring's allocation alignment: the ring needs 16
// (§2.8.10.1); a page keeps it off other data's cache lines.
const packedAlign = 4096

// PackedQueue is a packed virtqueue (§2.8): one descriptor ring that the
// driver fills in order and the device overwrites with used descriptors
// in the order it completes them, with a wrap counter on each side, and
// two event suppression structures.
//
// Each descriptor's id and flags share an aligned 32-bit word, which is
// read and published with one 32-bit atomic operation, as are the event
// suppression structures. A chain's descriptors after the first are
// written, then a write barrier, then the first's flags, which make the
// whole chain available at once (§2.8.21.1). A used descriptor's id and
// length are read after its flags, behind a read barrier.
//
// It trusts nothing the device writes: a used descriptor whose buffer
// ID is not in flight, whose length exceeds the chain's writable bytes,
// or flags that contradict the wrap counter (AVAIL of the other lap in
// a slot that, with chains in flight, holds a descriptor of this one)
// make the queue broken.
type PackedQueue struct {
	ring
	driverOff int // struct pvirtq_event_suppress the driver writes
	deviceOff int // struct pvirtq_event_suppress the device writes

	nextAvail uint16 // the ring slot the next chain starts at
	availWrap bool   // Driver Ring Wrap Counter
	lastUsed  uint16 // the ring slot of the next used descriptor
	usedWrap  bool   // the device's wrap counter at lastUsed
	added     uint16 // descriptors made available since the last notification decision

	freeIDs []uint16 // a stack of buffer IDs not in flight
	chains  []chain  // indexed by buffer ID
}

// NewPackedQueue sets up queue index as a packed virtqueue: the largest
// power-of-two size no larger than maxSize and the device's maximum (a
// packed queue's size need not be a power of two, §2.8.10.1, but the
// split queue's rule keeps both kinds alike), its ring allocated from
// dma and handed to the device. IndirectDesc and EventIdx in features
// enable AddIndirect and descriptor-specific event suppression. Packed
// queues need VIRTIO_F_RING_PACKED, which only modern transports offer.
func NewPackedQueue(t Transport, dma DMA, index, maxSize uint16, features Features) (*PackedQueue, error) {
	if t.Legacy() {
		return nil, fmt.Errorf("virtio: queue %d: a legacy transport has no packed virtqueues", index)
	}
	size, err := queueSize(t, index, maxSize)
	if err != nil {
		return nil, err
	}
	if size > 1<<15 {
		size = 1 << 15 // §2.8: up to 2^15 entries
	}
	total, driverOff, deviceOff := PackedLayout(size)
	mem, addr, err := allocRing(dma, index, total, packedAlign)
	if err != nil {
		return nil, err
	}
	clear(mem) // §2.8.13: the descriptor ring is zero-initialised
	q := &PackedQueue{
		ring:      newRing(t, dma, index, size, mem, addr, features),
		driverOff: driverOff, deviceOff: deviceOff,
		availWrap: true,
		usedWrap:  true,
		freeIDs:   make([]uint16, size),
		chains:    make([]chain, size),
	}
	for i := range q.freeIDs {
		q.freeIDs[i] = size - 1 - uint16(i) // pop gives 0 first
	}
	q.EnableInterrupts(false)
	if err := t.SetQueue(index, size, addr, addr+uint64(driverOff), addr+uint64(deviceOff)); err != nil {
		dma.Free(mem)
		return nil, fmt.Errorf("virtio: queue %d: %w", index, err)
	}
	return q, nil
}

// RingBytes is the size of the ring memory.
func (q *PackedQueue) RingBytes() int { total, _, _ := PackedLayout(q.size); return total }

// Packed is true: a packed queue.
func (q *PackedQueue) Packed() bool { return true }

// wrapFlags are the AVAIL and USED bits that make a descriptor available
// in the current lap (§2.8.1): AVAIL equal to the wrap counter, USED not.
func (q *PackedQueue) wrapFlags() uint16 {
	if q.availWrap {
		return descFAvail
	}
	return descFUsed
}

// writeDesc writes the ring descriptor at slot, and unless head is set
// its id and flags too; a head's id and flags are published by publish.
// Every word is stored whole, with an atomic store: the device writes
// used descriptors into the same ring, and one that lies about where
// may write a slot the driver is filling (which the driver then finds
// out), so neither side's write may tear the other's.
func (q *PackedQueue) writeDesc(slot uint16, addr uint64, n uint32, id, flags uint16, head bool) {
	off := int(slot) * descSize
	q.store32(off, uint32(addr))
	q.store32(off+4, uint32(addr>>32))
	q.store32(off+8, n)
	if !head {
		q.store32(off+12, uint32(id)|uint32(flags)<<16)
	}
}

// advance moves nextAvail past one descriptor, toggling the wrap
// counter after the last slot of the ring.
func (q *PackedQueue) advance() {
	q.nextAvail++
	if q.nextAvail == q.size {
		q.nextAvail = 0
		q.availWrap = !q.availWrap
	}
}

// Add makes bufs available as one chain of ring descriptors (§2.8.6),
// device-readable buffers first, and remembers token for its
// completion. It returns ErrQueueFull when fewer than len(bufs)
// descriptors are free. Call Notify afterwards.
func (q *PackedQueue) Add(bufs []Buffer, token int) error {
	if err := q.check(len(bufs)); err != nil {
		return err
	}
	if int(q.numFree) < len(bufs) {
		return ErrQueueFull
	}
	id := q.freeIDs[len(q.freeIDs)-1]
	q.freeIDs = q.freeIDs[:len(q.freeIDs)-1]
	head, headFlags := q.nextAvail, uint16(0)
	var writable uint64
	for i, b := range bufs {
		flags := q.wrapFlags()
		if b.Writable {
			flags |= descFWrite
			writable += uint64(b.Len)
		}
		if i < len(bufs)-1 {
			flags |= descFNext
		}
		// The buffer ID goes in every descriptor: the device reads
		// it from the last (§2.8.6), a reader of the ring from any.
		q.writeDesc(q.nextAvail, b.Addr, b.Len, id, flags, i == 0)
		if i == 0 {
			headFlags = flags
		}
		q.advance()
	}
	q.publish(head, id, headFlags, token, writable, uint16(len(bufs)))
	return nil
}

// AddIndirect makes bufs available as an indirect table (§2.8.7) in
// table, at device address tableAddr, behind one ring descriptor. In the
// table only VIRTQ_DESC_F_WRITE is set: the entries are consecutive, and
// the other flags and the buffer ID are reserved there. Requires
// VIRTIO_F_INDIRECT_DESC.
func (q *PackedQueue) AddIndirect(table []byte, tableAddr uint64, bufs []Buffer, token int) error {
	if err := q.checkIndirect(table, bufs); err != nil {
		return err
	}
	var writable uint64
	for i, b := range bufs {
		var flags uint16
		if b.Writable {
			flags = descFWrite
			writable += uint64(b.Len)
		}
		d := table[i*descSize : i*descSize+descSize]
		binary.LittleEndian.PutUint64(d[0:], b.Addr)
		binary.LittleEndian.PutUint32(d[8:], b.Len)
		binary.LittleEndian.PutUint16(d[12:], 0)
		binary.LittleEndian.PutUint16(d[14:], flags)
	}
	id := q.freeIDs[len(q.freeIDs)-1]
	q.freeIDs = q.freeIDs[:len(q.freeIDs)-1]
	head := q.nextAvail
	flags := q.wrapFlags() | descFIndirect
	q.writeDesc(head, tableAddr, uint32(descSize*len(bufs)), id, flags, true)
	q.advance()
	q.publish(head, id, flags, token, writable, 1)
	return nil
}

// publish records the chain under its buffer ID and makes it available
// by storing its first descriptor's id and flags, after a write barrier
// that orders every other descriptor of the chain before it: "The driver
// MUST perform a suitable memory barrier before the flags update"
// (§2.8.21.1.1).
func (q *PackedQueue) publish(head, id, flags uint16, token int, writable uint64, ndesc uint16) {
	q.chains[id] = chain{token: token, writable: writable, ndesc: ndesc, busy: true}
	q.inFlight++
	q.numFree -= ndesc
	q.added += ndesc
	q.t.Barrier(BarrierWrite)
	q.store32(int(head)*descSize+12, uint32(id)|uint32(flags)<<16)
}

// Notify sends an available buffer notification if the device wants one
// for the descriptors made available since the last call (§2.8.21.3):
// after a full barrier, it reads the Device Event Suppression structure;
// RING_EVENT_FLAGS_DESC asks for a notification when the descriptor at
// its offset and wrap counter is made available. It reports whether it
// notified.
func (q *PackedQueue) Notify() bool {
	if q.broken != nil || q.added == 0 {
		return false
	}
	added := q.added
	q.added = 0
	// §2.8.21.3.1: "The driver MUST perform a suitable memory barrier
	// before reading the Event Suppression structure occupying the
	// Device Area"; it also orders the flags stores before the notify
	// register write.
	q.t.Barrier(BarrierFull)
	w := q.load32(q.deviceOff)
	offWrap, flags := uint16(w), uint16(w>>16)&3
	var need bool
	switch {
	case added >= q.size:
		need = true // the whole ring turned over: any event lies in it
	case flags == ringEventDesc && q.eventIdx:
		need = q.needEvent(offWrap, q.nextAvail, q.availWrap, added)
	default:
		need = flags != ringEventDisable
	}
	if need {
		q.t.Notify(q.index)
	}
	return need
}

// needEvent reports whether the event descriptor offWrap (offset, and
// the wrap counter in bit 15) lies among the n descriptors before slot
// pos of lap wrap: vring_need_event on positions where the previous lap
// counts below zero.
func (q *PackedQueue) needEvent(offWrap, pos uint16, wrap bool, n uint16) bool {
	event := offWrap &^ (1 << 15)
	if (offWrap>>15 != 0) != wrap {
		event -= q.size
	}
	return pos-event-1 < n
}

// EnableInterrupts asks the device for used buffer notifications, or
// (off) asks it not to send them, in the Driver Event Suppression
// structure (§2.8.10): RING_EVENT_FLAGS_DISABLE, or ENABLE, or with
// VIRTIO_F_EVENT_IDX DESC at the next used descriptor.
func (q *PackedQueue) EnableInterrupts(on bool) {
	q.interrupts = on
	q.storeDriverEvent()
	if on {
		// As for the split ring: the request must be visible before
		// the caller looks at the ring again, or a completion between
		// the two is never announced.
		q.t.Barrier(BarrierFull)
		q.eventDirty = false
	}
}

// storeDriverEvent writes the Driver Event Suppression structure for the
// current mode.
func (q *PackedQueue) storeDriverEvent() {
	var offWrap, flags uint16
	switch {
	case !q.interrupts:
		flags = ringEventDisable
	case q.eventIdx:
		offWrap, flags = q.lastUsed, ringEventDesc
		if q.usedWrap {
			offWrap |= 1 << 15
		}
	default:
		flags = ringEventEnable
	}
	q.store32(q.driverOff, uint32(offWrap)|uint32(flags)<<16)
}

// Next returns the next used descriptor's chain (§2.8.21.2): the
// descriptor at lastUsed is used when its AVAIL and USED flags both
// match the used wrap counter. Its token and length are returned, its
// descriptors are free again, and lastUsed skips the chain's length
// (§2.8.4). A used descriptor that does not fit a chain in flight breaks
// the queue (see PackedQueue).
func (q *PackedQueue) Next() (token int, length uint32, ok bool, err error) {
	if q.broken != nil {
		return 0, 0, false, q.broken
	}
	if q.eventDirty {
		q.t.Barrier(BarrierFull)
		q.eventDirty = false
	}
	off := int(q.lastUsed) * descSize
	w := q.load32(off + 12)
	id, flags := uint16(w), uint16(w>>16)
	avail, used := flags&descFAvail != 0, flags&descFUsed != 0
	switch {
	case avail == q.usedWrap && used == q.usedWrap:
	case q.inFlight > 0 && avail != q.usedWrap:
		// With chains in flight, the slot at lastUsed is one the
		// driver wrote in this lap (the in-flight descriptors run
		// from lastUsed to nextAvail): it holds that descriptor, or
		// the device's used one of this lap. AVAIL of the other lap
		// is a flag no side writes there.
		return 0, 0, false, q.fail("descriptor %d has AVAIL %t and USED %t with the used wrap counter at %t and %d chains in flight", q.lastUsed, avail, used, q.usedWrap, q.inFlight)
	default:
		// Still available; or, with nothing in flight, a descriptor
		// of the last lap that no used one overwrote (a chain's
		// descriptors after the first are skipped, §2.8.4).
		return 0, 0, false, nil
	}
	// The used descriptor's id and length are read after its flags.
	q.t.Barrier(BarrierRead)
	if id >= q.size {
		return 0, 0, false, q.fail("used buffer id %d out of range (size %d)", id, q.size)
	}
	c := &q.chains[id]
	if !c.busy {
		return 0, 0, false, q.fail("used buffer id %d is not in flight", id)
	}
	// §2.8.5 reserves the length of a used descriptor without
	// VIRTQ_DESC_F_WRITE, but QEMU never sets that flag in a used
	// descriptor (virtqueue_packed_fill_desc writes id, len and the
	// AVAIL/USED pair only), and Linux reads the length regardless: so
	// does this driver.
	n := q.load32(off + 8)
	if uint64(n) > c.writable {
		return 0, 0, false, q.fail("used len %d for buffer id %d exceeds its %d writable bytes", n, id, c.writable)
	}
	c.busy = false
	q.freeIDs = append(q.freeIDs, id)
	q.numFree += c.ndesc
	q.inFlight--
	q.lastUsed += c.ndesc
	if q.lastUsed >= q.size {
		q.lastUsed -= q.size
		q.usedWrap = !q.usedWrap
	}
	if q.eventIdx && q.interrupts {
		q.storeDriverEvent()
		q.eventDirty = true
	}
	return c.token, n, true, nil
}
