package virtiotest

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"
)

// virtqueue is the device side of a split virtqueue (§2.7).
type virtqueue struct {
	index int    // the queue's index (queue_select)
	num   uint16 // queue size the driver chose (QueueNum / queue_size)
	ready bool

	// Addresses as the driver gave them (modern) or as derived from the
	// page number (legacy).
	descAddr, driverAddr, deviceAddr uint64
	pfn                              uint32 // legacy: queue page number
	align                            uint32 // virtio-mmio v1: QueueAlign
	msixVector                       uint16

	// While ready: the rings in shared memory.
	desc  []byte // struct virtq_desc[num]
	avail []byte // struct virtq_avail: flags, idx, ring[num], used_event
	used  []byte // struct virtq_used: flags, idx, ring[num], avail_event

	lastAvail uint16 // next avail ring entry the device will take
	usedIdx   uint16 // used idx as last published
	usedFlags uint16

	packed bool       // a packed queue (VIRTIO_F_RING_PACKED): desc is its ring
	p      packedRing // its state (packed.go)
}

func (q *virtqueue) reset(max uint16, index int) {
	*q = virtqueue{index: index, num: max, align: legacyPCIAlign, msixVector: pciVirtioNoVector}
}

// enable checks the queue the driver set up and starts using it
// (QueueReady / queue_enable / QueuePFN). A queue the device cannot use
// puts the device into DEVICE_NEEDS_RESET.
func (d *Device) enableQueue(q *virtqueue) {
	q.ready, q.packed = false, false
	if d.has(featRingPacked) {
		d.enablePacked(q)
		return
	}
	n := uint64(q.num)
	switch {
	case q.num == 0 || q.num > d.queueMax || q.num&(q.num-1) != 0:
		// §2.7: the queue size of a split virtqueue is a power of 2.
		d.fail("queue size is not a power of two up to QueueNumMax")
		return
	case q.descAddr%16 != 0 || q.driverAddr%2 != 0 || q.deviceAddr%4 != 0:
		// §2.7 table "Virtqueue Part Alignment".
		d.fail("virtqueue part is misaligned")
		return
	}
	var ok1, ok2, ok3 bool
	q.desc, ok1 = d.region.Slice(q.descAddr, descSize*n)
	q.avail, ok2 = d.region.Slice(q.driverAddr, 6+2*n)
	q.used, ok3 = d.region.Slice(q.deviceAddr, 6+usedElemSize*n)
	if !ok1 || !ok2 || !ok3 {
		d.fail("virtqueue part outside the shared memory")
		return
	}
	q.ready = true
	q.lastAvail, q.usedIdx, q.usedFlags = 0, 0, 0
}

// setLegacyQueue lays the queue out from its page number (§2.7.2 "Legacy
// Interfaces: A Note on Virtqueue Layout"): the available ring right
// after the descriptor table, the used ring at the next align boundary.
// A page number of 0 resets the device, as QEMU does.
func (d *Device) setLegacyQueue(q *virtqueue, pfn uint32, pageShift uint) {
	if pfn == 0 {
		d.driverReset()
		return
	}
	q.pfn = pfn
	if q.align == 0 || q.align&(q.align-1) != 0 {
		d.fail("QueueAlign is not a power of two")
		return
	}
	q.descAddr = uint64(pfn) << pageShift
	q.driverAddr = q.descAddr + descSize*uint64(q.num)
	a := uint64(q.align)
	q.deviceAddr = (q.driverAddr + 6 + 2*uint64(q.num) + a - 1) &^ (a - 1)
	d.enableQueue(q)
}

// processQueue serves every available buffer, then re-enables
// notifications and looks again, so that a buffer made available while
// notifications were off is not missed (§2.7.10, §2.7.12).
func (d *Device) processQueue(q *virtqueue) {
	if d.usable(q) && d.transport == PCIModern && !d.pciDecodes(pciCommandBusMaster) {
		// Without bus mastering the device cannot reach the rings; QEMU
		// then reads garbage indices and calls virtio_error.
		d.fail("queue notified with PCI bus mastering disabled")
		return
	}
	if q.packed {
		d.processPacked(q)
		return
	}
	for d.usable(q) {
		d.setNotification(q, false)
		for d.usable(q) {
			idx := load16(q.avail, 2)
			pending := idx - q.lastAvail
			if pending == 0 {
				break
			}
			if pending > q.num {
				// QEMU: "Guest moved used index from %u to %u".
				d.fail("available ring index moved by more than the queue size")
				return
			}
			// The load of idx above orders this plain read of the ring
			// entry after the driver's write of it (§2.7.13.3).
			head := get16(q.avail[4+2*uint32(q.lastAvail%q.num):])
			q.lastAvail++
			d.serve(q, head)
		}
		if !d.usable(q) {
			return
		}
		d.setNotification(q, true)
		if load16(q.avail, 2) == q.lastAvail {
			return
		}
	}
}

// setNotification turns available buffer notifications off while the
// device works through the ring, and back on after (§2.7.10): with
// VIRTIO_F_EVENT_IDX by publishing avail_event, else with the used ring's
// VIRTQ_USED_F_NO_NOTIFY flag.
func (d *Device) setNotification(q *virtqueue, on bool) {
	if d.has(featEventIdx) {
		if on {
			store16(q.used, 4+usedElemSize*uint32(q.num), q.lastAvail)
		}
		return
	}
	flags := uint16(usedFNoNotify)
	if on {
		flags = 0
	}
	if flags != q.usedFlags {
		q.usedFlags = flags
		q.publishUsed()
	}
}

// publishUsed stores the used ring's flags and idx with one 32-bit atomic
// store on the aligned word that holds both, which orders every used
// element written before it (§2.7.8).
func (q *virtqueue) publishUsed() {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&q.used[0])), uint32(q.usedFlags)|uint32(q.usedIdx)<<16)
}

// storeLE32 stores v little-endian into the aligned word at b[0:4] with
// one atomic store.
func storeLE32(b []byte, v uint32) {
	var le [4]byte
	binary.LittleEndian.PutUint32(le[:], v)
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&b[0])), binary.NativeEndian.Uint32(le[:]))
}

// pushUsed writes used elements and advances the used index by advance
// (1 for an honest completion), then sends a used buffer notification
// unless the driver suppressed it (§2.7.7, §2.7.10).
func (d *Device) pushUsed(q *virtqueue, id, length uint32, advance uint16) {
	old := q.usedIdx
	e := q.used[4+usedElemSize*uint32(old%q.num):]
	// The driver loads used elements with 32-bit atomics; a lying device
	// may write an element the driver is reading, so store them the same
	// way (little-endian, as the ring is).
	storeLE32(e, id)
	storeLE32(e[4:], length)
	q.usedIdx += advance
	q.publishUsed()

	if d.has(featEventIdx) {
		// vring_need_event: notify when used_event lies in [old, new).
		usedEvent := load16(q.avail, 4+2*uint32(q.num))
		if q.usedIdx-usedEvent-1 >= q.usedIdx-old {
			return
		}
	} else if load16(q.avail, 0)&availFNoInterrupt != 0 {
		return
	}
	d.isr |= interruptUsedBuffer
	d.interrupts.Add(1)
	d.raise++
	d.raiseQs |= 1 << q.index
}

// segment is one buffer of a descriptor chain.
type segment struct {
	buf   []byte
	write bool // device-writable (VIRTQ_DESC_F_WRITE)
}

// walkChain follows the descriptor chain from head (§2.7.5), into an
// indirect table if there is one (§2.7.5.3), and returns its buffers,
// device-readable ones first. second is the index of the chain's second
// descriptor in the descriptor table, or -1. A chain the device must not
// use gives a fault, as in QEMU's virtqueue_split_pop: index out of
// range, a loop, a zero-sized or out-of-memory buffer, a readable buffer
// after a writable one, a malformed indirect table.
func (d *Device) walkChain(q *virtqueue, head uint16) (segs []segment, second int, fault string) {
	segs = d.segs[:0]
	second = -1
	table := q.desc
	max := uint32(q.num)
	i := uint32(head)
	indirect := false
	count := uint32(0)
	sawWrite := false
	for {
		if i >= max {
			return nil, -1, "descriptor index out of range"
		}
		count++
		if count > max {
			return nil, -1, "descriptor chain loops"
		}
		desc := table[descSize*i:]
		addr, length := get64(desc), get32(desc[8:])
		flags, next := get16(desc[12:]), get16(desc[14:])
		if flags&descFIndirect != 0 {
			switch {
			case indirect:
				return nil, -1, "indirect descriptor inside an indirect table"
			case !d.has(featIndirectDesc):
				return nil, -1, "indirect descriptor without VIRTIO_F_INDIRECT_DESC"
			case count != 1:
				return nil, -1, "indirect descriptor that is not the chain's head"
			case flags&descFNext != 0:
				return nil, -1, "indirect descriptor with VIRTQ_DESC_F_NEXT"
			case length == 0 || length%descSize != 0 || length/descSize > maxSegments:
				return nil, -1, "invalid size for an indirect table"
			}
			t, ok := d.region.Slice(addr, uint64(length))
			if !ok {
				return nil, -1, "indirect table outside the shared memory"
			}
			table, max, i, count, indirect = t, length/descSize, 0, 0, true
			continue
		}
		if length == 0 {
			return nil, -1, "zero-sized buffer"
		}
		buf, ok := d.region.Slice(addr, uint64(length))
		if !ok {
			return nil, -1, "buffer outside the shared memory"
		}
		w := flags&descFWrite != 0
		if !w && sawWrite {
			return nil, -1, "device-readable buffer after a device-writable one"
		}
		sawWrite = sawWrite || w
		if len(segs) == cap(segs) {
			return nil, -1, "too many buffers in one chain"
		}
		segs = append(segs, segment{buf: buf, write: w})
		if !indirect && count == 2 {
			second = int(i)
		}
		if flags&descFNext == 0 {
			return segs, second, ""
		}
		i = uint32(next)
	}
}

// serve handles the request whose chain starts at head and completes it,
// honestly or with the configured lie.
func (d *Device) serve(q *virtqueue, head uint16) {
	segs, second, fault := d.walkChain(q, head)
	if written, lie, ok := d.serveChain(q, segs, fault); ok {
		d.complete(q, head, second, segs, written, lie)
	}
}

// serveChain serves the request a walk of its descriptors found: it
// fails the device on the walk's fault or a malformed request, keeps
// the request without an answer (holds), or does it. ok reports whether
// the request is to be completed now, with the device-written bytes and
// the lie to tell about it.
func (d *Device) serveChain(q *virtqueue, segs []segment, fault string) (written uint32, lie Lie, ok bool) {
	if fault != "" {
		d.fail(fault)
		return 0, Honest, false
	}
	if d.holds(q) {
		for _, s := range segs {
			if s.write {
				d.held = append(d.held, s.buf)
			}
		}
		d.heldReqs.Add(1)
		d.holdOn = d.holdOn || d.lieOf(q) == LieIgnoreReset
		return 0, Honest, false
	}
	_, written, fault = d.serveBlk(segs)
	if fault != "" {
		d.fail(fault)
		return 0, Honest, false
	}
	served := d.requests.Add(1) - 1
	return written, d.lieFor(q, served), true
}

// load16 reads the little-endian 16-bit field at b[off:] with a 32-bit
// atomic load of the aligned word that holds it: Go has no 16-bit atomics,
// and the driver publishes ring indices the same way.
func load16(b []byte, off uint32) uint16 {
	p := unsafe.Pointer(&b[off])
	sh := uintptr(p) & 3
	w := atomic.LoadUint32((*uint32)(unsafe.Add(p, -int(sh))))
	return uint16(w >> (8 * sh))
}

// store8 writes the byte b[off] atomically (see storeMasked). The device
// writes a request's status byte this way because a driver that was told
// a lie (a chain completed twice, or before it was served) may be reading
// it at the same moment; the driver reads it with a 32-bit atomic load,
// so that the race detector sees what hardware would: two agents on one
// word, each access whole.
func store8(b []byte, off int, v byte) { storeMasked(b, off, uint32(v), 0xff) }

// store16 writes the 16-bit field at b[off:] atomically, leaving the other
// half of its aligned word as it is. For avail_event that other half is
// the two bytes past the used ring: a driver should allocate the used
// ring rounded up to a multiple of four bytes, or the race detector sees
// this compare-and-swap touch whatever it put there.
func store16(b []byte, off uint32, v uint16) { storeMasked(b, int(off), uint32(v), 0xffff) }

// storeMasked writes the little-endian field v (mask wide) at b[off:] with
// a compare-and-swap of the aligned 32-bit word that holds it, leaving the
// word's other bytes as they are: Go has no 8- or 16-bit atomics.
func storeMasked(b []byte, off int, v, mask uint32) {
	p := unsafe.Pointer(&b[off])
	sh := uintptr(p) & 3
	wp := (*uint32)(unsafe.Add(p, -int(sh)))
	mask <<= 8 * sh
	v <<= 8 * sh
	for {
		old := atomic.LoadUint32(wp)
		nw := old&^mask | v
		if old == nw || atomic.CompareAndSwapUint32(wp, old, nw) {
			return
		}
	}
}
