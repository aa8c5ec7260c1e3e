package virtiotest

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"
)

// The device side of a packed virtqueue (§2.8), used when the driver
// accepted VIRTIO_F_RING_PACKED (Config.Packed offers it). As QEMU's
// virtqueue_packed_pop and virtqueue_packed_fill_desc: descriptors are
// taken in ring order while their AVAIL flag matches the device's copy of
// the driver's wrap counter and USED does not; a chain runs over
// consecutive slots linked by VIRTQ_DESC_F_NEXT and carries its buffer ID
// in its last descriptor; the used descriptor (id, length, AVAIL and
// USED both equal to the device's wrap counter) goes to the next used
// slot, which then skips the chain's length.

// Packed ring constants (§2.8).
const (
	descFAvail = 1 << 7
	descFUsed  = 1 << 15

	ringEventEnable  = 0
	ringEventDisable = 1
	ringEventDesc    = 2

	featRingPacked = 34
)

// packedRing is the device's state of a packed queue.
type packedRing struct {
	drvEvent  []byte // Driver Event Suppression: the driver writes it
	devEvent  []byte // Device Event Suppression: the device writes it
	nextAvail uint16 // the slot the device reads next
	availWrap bool   // the device's copy of the Driver Ring Wrap Counter
	usedIdx   uint16 // the slot the device writes its next used descriptor to
	usedWrap  bool   // Device Ring Wrap Counter
}

// enablePacked checks the packed queue the driver set up and starts
// using it (§2.8.10.1: the ring 16-byte aligned, each event suppression
// structure 4-byte aligned).
func (d *Device) enablePacked(q *virtqueue) {
	if q.num == 0 || q.num > d.queueMax || q.num > 1<<15 {
		d.fail("packed queue size is zero or above QueueNumMax")
		return
	}
	if q.descAddr%16 != 0 || q.driverAddr%4 != 0 || q.deviceAddr%4 != 0 {
		d.fail("packed virtqueue part is misaligned")
		return
	}
	var ok1, ok2, ok3 bool
	q.desc, ok1 = d.region.Slice(q.descAddr, descSize*uint64(q.num))
	q.p.drvEvent, ok2 = d.region.Slice(q.driverAddr, 4)
	q.p.devEvent, ok3 = d.region.Slice(q.deviceAddr, 4)
	if !ok1 || !ok2 || !ok3 {
		d.fail("virtqueue part outside the shared memory")
		return
	}
	q.ready, q.packed = true, true
	q.p.nextAvail, q.p.availWrap, q.p.usedIdx, q.p.usedWrap = 0, true, 0, true
}

// slotFlags loads the id and flags of ring slot i with one atomic load
// of the aligned word that holds both, as the driver publishes them.
func (q *virtqueue) slotFlags(i uint16) (id, flags uint16) {
	w := load32(q.desc, descSize*uint32(i)+12)
	return uint16(w), uint16(w >> 16)
}

// available reports whether flags mark a descriptor available in the lap
// whose driver wrap counter is wrap.
func available(flags uint16, wrap bool) bool {
	return (flags&descFAvail != 0) == wrap && (flags&descFUsed != 0) != wrap
}

// processPacked serves every available chain, then asks for
// notifications again and looks once more (§2.8.21.3).
func (d *Device) processPacked(q *virtqueue) {
	for d.usable(q) {
		d.setPackedNotification(q, false)
		for d.usable(q) {
			if _, f := q.slotFlags(q.p.nextAvail); !available(f, q.p.availWrap) {
				break
			}
			d.servePacked(q)
		}
		if !d.usable(q) {
			return
		}
		d.setPackedNotification(q, true)
		if _, f := q.slotFlags(q.p.nextAvail); !available(f, q.p.availWrap) {
			return
		}
	}
}

// setPackedNotification writes the Device Event Suppression structure:
// disabled while the device works through the ring; then enabled, with
// VIRTIO_F_EVENT_IDX for the descriptor at the next slot to read.
func (d *Device) setPackedNotification(q *virtqueue, on bool) {
	var offWrap, flags uint16 = 0, ringEventDisable
	if on {
		flags = ringEventEnable
		if d.has(featEventIdx) {
			flags, offWrap = ringEventDesc, q.p.nextAvail
			if q.p.availWrap {
				offWrap |= 1 << 15
			}
		}
	}
	storeLE32(q.p.devEvent, uint32(offWrap)|uint32(flags)<<16)
}

// takePacked advances the read position past one descriptor.
func (q *virtqueue) takePacked() {
	q.p.nextAvail++
	if q.p.nextAvail == q.num {
		q.p.nextAvail, q.p.availWrap = 0, !q.p.availWrap
	}
}

// walkPacked takes the chain at the read position (§2.8.6, §2.8.7) and
// returns its buffers, its buffer ID (from its last descriptor) and the
// ring slots it took. A chain the device must not use gives a fault, as
// in QEMU's virtqueue_packed_pop: a descriptor of the chain that is not
// available, a chain longer than the ring, a zero-sized or out-of-memory
// buffer, a readable buffer after a writable one, a malformed indirect
// table or an indirect descriptor inside a chain.
func (d *Device) walkPacked(q *virtqueue) (segs []segment, id, ndesc uint16, fault string) {
	segs = d.segs[:0]
	sawWrite := false
	add := func(addr uint64, length uint32, w bool) string {
		if length == 0 {
			return "zero-sized buffer"
		}
		buf, ok := d.region.Slice(addr, uint64(length))
		if !ok {
			return "buffer outside the shared memory"
		}
		if !w && sawWrite {
			return "device-readable buffer after a device-writable one"
		}
		sawWrite = sawWrite || w
		if len(segs) == cap(segs) {
			return "too many buffers in one chain"
		}
		segs = append(segs, segment{buf: buf, write: w})
		return ""
	}
	for {
		slot := q.p.nextAvail
		i, flags := q.slotFlags(slot)
		if !available(flags, q.p.availWrap) {
			return nil, 0, 0, "descriptor chain runs into a descriptor that is not available"
		}
		if ndesc++; ndesc > q.num {
			return nil, 0, 0, "descriptor chain longer than the ring"
		}
		desc := q.desc[descSize*uint32(slot):]
		addr, length := get64(desc), load32(desc, 8)
		q.takePacked()
		id = i
		if flags&descFIndirect != 0 {
			switch {
			case !d.has(featIndirectDesc):
				return nil, 0, 0, "indirect descriptor without VIRTIO_F_INDIRECT_DESC"
			case ndesc != 1 || flags&descFNext != 0:
				return nil, 0, 0, "indirect descriptor in a chain"
			case length == 0 || length%descSize != 0 || length/descSize > maxSegments:
				return nil, 0, 0, "invalid size for an indirect table"
			}
			t, ok := d.region.Slice(addr, uint64(length))
			if !ok {
				return nil, 0, 0, "indirect table outside the shared memory"
			}
			for k := uint32(0); k < length/descSize; k++ {
				e := t[descSize*k:]
				// Only VIRTQ_DESC_F_WRITE is valid in an indirect
				// table; the other flags and the id are reserved.
				if f := add(get64(e), get32(e[8:]), get16(e[14:])&descFWrite != 0); f != "" {
					return nil, 0, 0, f
				}
			}
			return segs, id, ndesc, ""
		}
		if f := add(addr, length, flags&descFWrite != 0); f != "" {
			return nil, 0, 0, f
		}
		if flags&descFNext == 0 {
			return segs, id, ndesc, ""
		}
	}
}

// servePacked handles the chain at the read position and completes it,
// honestly or with the configured lie.
func (d *Device) servePacked(q *virtqueue) {
	segs, id, ndesc, fault := d.walkPacked(q)
	if written, lie, ok := d.serveChain(q, segs, fault); ok {
		d.completePacked(q, id, ndesc, segs, written, lie)
	}
}

// pushPacked writes a used descriptor (§2.8.21.2 seen from the device):
// its length, then its id and flags with one atomic store, AVAIL and
// USED both set to the Device Ring Wrap Counter unless contradict asks
// for the lie that sets them apart; the used slot then skips advance
// descriptors. It sends a used buffer notification unless the Driver
// Event Suppression structure suppresses it.
func (d *Device) pushPacked(q *virtqueue, id uint16, length uint32, advance uint16, contradict bool) {
	slot := q.p.usedIdx
	var flags uint16
	if q.p.usedWrap {
		flags = descFAvail | descFUsed
	}
	if contradict {
		flags ^= descFAvail // AVAIL of the other lap: no side writes that
	}
	e := q.desc[descSize*uint32(slot):]
	storeLE32(e[8:], length)
	storeLE32(e[12:], uint32(id)|uint32(flags)<<16)
	oldIdx, oldWrap := q.p.usedIdx, q.p.usedWrap
	q.p.usedIdx += advance
	for q.p.usedIdx >= q.num {
		q.p.usedIdx -= q.num
		q.p.usedWrap = !q.p.usedWrap
	}
	w := load32(q.p.drvEvent, 0)
	offWrap, ef := uint16(w), uint16(w>>16)&3
	switch {
	case ef == ringEventDisable:
		return
	case ef == ringEventDesc && d.has(featEventIdx):
		// Notify when the event descriptor (offset and wrap counter)
		// lies among the slots just used: positions of the previous
		// lap count below zero, as in QEMU's vring_packed_need_event.
		event := offWrap &^ (1 << 15)
		if (offWrap>>15 != 0) != q.p.usedWrap {
			event -= q.num
		}
		newIdx := q.p.usedIdx
		old := oldIdx
		if oldWrap != q.p.usedWrap {
			old -= q.num
		}
		if newIdx-event-1 >= newIdx-old {
			return
		}
	}
	d.isr |= interruptUsedBuffer
	d.interrupts.Add(1)
	d.raise++
	d.raiseQs |= 1 << q.index
}

// completePacked puts the chain with buffer ID id, which took ndesc
// slots, into the ring as used: honestly, or as lie says.
func (d *Device) completePacked(q *virtqueue, id, ndesc uint16, segs []segment, written uint32, lie Lie) {
	n := q.num
	switch lie {
	case LieUsedIDOutOfRange:
		d.pushPacked(q, n+uint16(d.rng.Intn(int(0xffff-n))), written, ndesc, false)
	case LieUsedIDNotInFlight:
		d.pushPacked(q, d.packedNotInFlight(q, id), written, ndesc, false)
	case LieUsedLenTooLong:
		d.pushPacked(q, id, written+1+uint32(d.rng.Intn(4096)), ndesc, false)
	case LieUsedIdxJump:
		// A packed ring has no index to jump: the lie is flags that
		// contradict the wrap counter.
		d.pushPacked(q, id, written, ndesc, true)
	case LieStatusByte:
		last := segs[len(segs)-1].buf
		store8(last, len(last)-1, byte(blkSUnsupp+1+d.rng.Intn(0xff-blkSUnsupp)))
		d.pushPacked(q, id, written, ndesc, false)
	case LieDoubleComplete:
		d.pushPacked(q, id, written, ndesc, false)
		d.pushPacked(q, id, written, 1, false)
	default:
		d.pushPacked(q, id, written, ndesc, false)
	}
}

// packedNotInFlight picks a buffer ID that the driver has not in flight:
// not id, and not one still waiting in the ring (no request is held
// when the device lies about IDs: the lies that hold tell no other). If
// every ID is taken it returns one out of range.
func (d *Device) packedNotInFlight(q *virtqueue, id uint16) uint16 {
	pending := map[uint16]bool{id: true}
	slot, wrap := q.p.nextAvail, q.p.availWrap
	for range q.num {
		i, f := q.slotFlags(slot)
		if !available(f, wrap) {
			break
		}
		pending[i] = true
		if slot++; slot == q.num {
			slot, wrap = 0, !wrap
		}
	}
	start := uint16(d.rng.Intn(int(q.num)))
	for k := range q.num {
		if c := (start + k) % q.num; !pending[c] {
			return c
		}
	}
	return q.num
}

// load32 reads the little-endian 32-bit word at b[off:] (off a multiple
// of 4 from an aligned start) with one atomic load.
func load32(b []byte, off uint32) uint32 {
	var le [4]byte
	binary.NativeEndian.PutUint32(le[:], atomic.LoadUint32((*uint32)(unsafe.Pointer(&b[off]))))
	return binary.LittleEndian.Uint32(le[:])
}
