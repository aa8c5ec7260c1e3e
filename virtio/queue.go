package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Descriptor flags (§2.7.5).
const (
	descFNext     = 1
	descFWrite    = 2
	descFIndirect = 4
)

// Ring flags (§2.7.6, §2.7.8).
const (
	availFNoInterrupt = 1
	usedFNoNotify     = 1
)

const descSize = 16 // struct virtq_desc

// ErrQueueFull is returned by Add when there are not enough free
// descriptors for the chain; the caller retries after completions.
var ErrQueueFull = errors.New("virtio: no free descriptors")

// Buffer is one element of a descriptor chain: Len bytes at device
// address Addr, written by the device when Writable is set.
type Buffer struct {
	Addr     uint64 // device-visible address of the first byte
	Len      uint32 // length in bytes
	Writable bool   // the device writes the buffer (VIRTQ_DESC_F_WRITE)
}

// Queue is a virtqueue as a driver uses it: split (§2.7, SplitQueue) or
// packed (§2.8, PackedQueue), whichever NewQueue set up. It is not safe
// for concurrent use: its user serialises calls. Neither kind trusts
// anything the device writes: a completion that does not fit a chain in
// flight makes the queue broken, and every later call then returns an
// error wrapping ErrDeviceBroken.
type Queue interface {
	// Size is the number of descriptors (the queue size).
	Size() uint16
	// RingBytes is the size of the ring memory, for accounting.
	RingBytes() int
	// Packed reports whether the queue is a packed one.
	Packed() bool
	// Indirect reports whether AddIndirect may be used.
	Indirect() bool
	// InFlight is the number of chains the device has not returned.
	InFlight() int
	// NumFree is the number of free descriptors.
	NumFree() int
	// Broken returns the error that broke the queue, or nil.
	Broken() error
	// Break marks the queue broken with err (for example after a
	// reset, or DEVICE_NEEDS_RESET), so that every later call returns
	// it.
	Break(err error)
	// Free gives the ring memory back. The device must no longer use
	// the queue: reset it first.
	Free()
	// Add makes bufs available to the device as one descriptor chain,
	// in order (device-readable buffers first), and remembers token
	// for the chain's completion. It returns ErrQueueFull when fewer
	// than len(bufs) descriptors are free. Call Notify afterwards.
	Add(bufs []Buffer, token int) error
	// AddIndirect makes bufs available as an indirect descriptor
	// table written into table, whose device address is tableAddr: the
	// chain takes a single ring descriptor. table must hold 16 bytes
	// per buffer and stay untouched until the chain completes.
	// Requires VIRTIO_F_INDIRECT_DESC.
	AddIndirect(table []byte, tableAddr uint64, bufs []Buffer, token int) error
	// Notify sends an available buffer notification if the device
	// wants one for the buffers added since the last call, and reports
	// whether it did.
	Notify() bool
	// EnableInterrupts asks the device for used buffer notifications,
	// or (off) asks it not to send them. Either is only a hint.
	EnableInterrupts(on bool)
	// Next returns the next completed chain: its token and the used
	// length the device reported. ok is false when there is none. The
	// chain's descriptors are free again when Next returns.
	Next() (token int, length uint32, ok bool, err error)
}

// NewQueue sets up queue index (§3.1.1 step 7) in the format features
// negotiated: packed with VIRTIO_F_RING_PACKED (NewPackedQueue), else
// split (NewSplitQueue).
func NewQueue(t Transport, dma DMA, index, maxSize uint16, features Features) (Queue, error) {
	if features.Has(RingPacked) {
		return NewPackedQueue(t, dma, index, maxSize, features)
	}
	return NewSplitQueue(t, dma, index, maxSize, features)
}

// SplitQueue is a split virtqueue (§2.7). It lays its three areas out in the
// legacy contiguous format (§2.7.2: the used ring at the next 4096-byte
// boundary), which legacy transports require and modern ones accept.
//
// The ring indices share an aligned 32-bit word with the ring flags
// (avail: flags, idx; used: flags, idx) and are read and published with
// 32-bit atomic operations on that word, as are used_event and
// avail_event; NewQueue refuses a size that would leave one of them
// misaligned. Descriptors and ring entries are written before the index
// store that publishes them, and read after the index load that announced
// them, with the transport's barriers (Transport.Barrier) at each point
// §2.7.13 and §2.7.14 name: a Go atomic orders memory only among
// goroutines, not for a device.
//
// A Queue is not safe for concurrent use: its user serialises calls. It
// trusts nothing the device writes: a used ring entry that does not name
// an in-flight chain head, a used length longer than the chain's writable
// bytes, or a used index that moves by more than the number of requests
// in flight makes the queue broken; every later call then returns an
// error wrapping ErrDeviceBroken.
type SplitQueue struct {
	ring
	mask     uint16
	availOff int // struct virtq_avail
	usedOff  int // struct virtq_used

	free     []uint16 // FIFO of free descriptor indices
	freeHead uint16   // position in free of the oldest free descriptor
	next     []uint16 // the driver's own copy of each descriptor's next
	heads    []chain  // indexed by descriptor: the chain it heads, if any

	availIdx   uint16 // the driver's copy of avail idx
	availFlags uint16
	notified   uint16 // avail idx at the last notification decision
	lastUsed   uint16 // the next used ring entry to read
	usedIdx    uint16 // last used idx read from the device
}

// ring is what both kinds of queue keep: the transport, the ring memory
// and its features, the count of free descriptors and chains in flight,
// and the error that broke the queue.
type ring struct {
	t        Transport
	dma      DMA
	index    uint16
	size     uint16
	mem      []byte
	addr     uint64
	eventIdx bool
	indirect bool

	numFree  uint16
	inFlight uint16

	interrupts bool
	// eventDirty is set when the driver's event field (used_event, or
	// the packed Driver Event Suppression structure) was stored since
	// the ring was last read, which a full barrier must then precede
	// (§2.7.14; Linux's virtio_store_mb).
	eventDirty bool
	broken     error
}

// chain records an in-flight descriptor chain by its head.
type chain struct {
	token    int
	writable uint64 // device-writable bytes: the largest valid used len
	ndesc    uint16 // ring descriptors it occupies
	busy     bool
}

// QueueLayout returns the size of a legacy-layout queue of n entries and
// the offsets of its available and used rings.
func QueueLayout(n uint16) (total, availOff, usedOff int) {
	availOff = descSize * int(n)
	availEnd := availOff + 6 + 2*int(n)
	usedOff = (availEnd + legacyAlign - 1) &^ (legacyAlign - 1)
	// 6+8n bytes of used ring; rounded up to whole 32-bit words so that
	// avail_event can be read with a 32-bit load.
	total = usedOff + 8 + 8*int(n)
	return
}

// NewSplitQueue sets up queue index (§3.1.1 step 7) as a split
// virtqueue: it picks the largest
// power-of-two size no larger than maxSize and the device's maximum (a
// legacy PCI queue has the device's size, which must be a power of two),
// allocates the rings from dma and tells the device where they are.
// IndirectDesc and EventIdx in features enable AddIndirect and
// notification suppression.
func NewSplitQueue(t Transport, dma DMA, index, maxSize uint16, features Features) (*SplitQueue, error) {
	size, err := queueSize(t, index, maxSize)
	if err != nil {
		return nil, err
	}
	if err := checkAtomicLayout(size, features.Has(EventIdx)); err != nil {
		return nil, fmt.Errorf("virtio: queue %d: %w", index, err)
	}
	total, availOff, usedOff := QueueLayout(size)
	mem, addr, err := allocRing(dma, index, total, legacyAlign)
	if err != nil {
		return nil, err
	}
	q := &SplitQueue{
		ring:  newRing(t, dma, index, size, mem, addr, features),
		mask:  size - 1,
		free:  make([]uint16, size),
		next:  make([]uint16, size),
		heads: make([]chain, size),

		availOff: availOff, usedOff: usedOff,
	}
	for i := range q.free {
		q.free[i] = uint16(i)
	}
	q.EnableInterrupts(false)
	if err := t.SetQueue(index, size, addr, addr+uint64(availOff), addr+uint64(usedOff)); err != nil {
		dma.Free(mem)
		return nil, fmt.Errorf("virtio: queue %d: %w", index, err)
	}
	return q, nil
}

// queueSize picks the largest power-of-two size no larger than maxSize
// and the device's maximum for queue index (a legacy PCI queue has the
// device's size, which must be a power of two).
func queueSize(t Transport, index, maxSize uint16) (uint16, error) {
	max, err := t.QueueMax(index)
	if err != nil {
		return 0, fmt.Errorf("virtio: queue %d: %w", index, err)
	}
	if max == 0 {
		return 0, fmt.Errorf("%w: queue %d not available", ErrDeviceBroken, index)
	}
	size := min(max, maxSize)
	if t.Legacy() && t.Name() == "pci" {
		size = max // legacy PCI queue_size is read-only (§4.1.5.1.3.1)
	}
	if size == 0 || size&(size-1) != 0 {
		if t.Legacy() && t.Name() == "pci" {
			return 0, fmt.Errorf("%w: legacy queue size %d is not a power of two", ErrDeviceBroken, size)
		}
		for size&(size-1) != 0 {
			size &= size - 1 // round down to a power of two
		}
		if size == 0 {
			return 0, fmt.Errorf("virtio: queue %d: no usable size (device %d, driver %d)", index, max, maxSize)
		}
	}
	return size, nil
}

// allocRing allocates a queue's ring memory from dma and checks that
// the driver can reach its words with 32-bit atomics.
func allocRing(dma DMA, index uint16, total int, align int) ([]byte, uint64, error) {
	mem, addr, err := dma.Alloc(total, align)
	if err != nil {
		return nil, 0, fmt.Errorf("virtio: queue %d rings: %w", index, err)
	}
	if p := uintptr(unsafe.Pointer(&mem[0])); p%4 != 0 {
		// The ring words are accessed with 32-bit atomics, which arm,
		// arm64 and riscv64 fault on (or do not make atomic) unless
		// they are naturally aligned in the driver's address space.
		dma.Free(mem)
		return nil, 0, fmt.Errorf("virtio: queue %d: DMA memory at device address %#x is at %#x in the driver's address space, not 4-byte aligned", index, addr, p)
	}
	return mem, addr, nil
}

// checkAtomicLayout refuses a queue size whose legacy layout would put a
// word the queue accesses with a 32-bit atomic at an offset that is not a
// multiple of 4 from the (4096-aligned) start of the rings: the avail and
// used ring headers, each used element, used_event (which follows the
// avail ring's 2-byte entries) and avail_event.
func checkAtomicLayout(n uint16, eventIdx bool) error {
	_, availOff, usedOff := QueueLayout(n)
	words := []struct {
		name     string
		off      int
		accessed bool // with these features
	}{
		{"avail flags/idx", availOff, true},
		{"used flags/idx", usedOff, true},
		{"used ring", usedOff + 4, true},
		{"used_event", availOff + 4 + 2*int(n), eventIdx},
		{"avail_event", usedOff + 4 + 8*int(n), eventIdx},
	}
	for _, w := range words {
		if w.accessed && w.off%4 != 0 {
			return fmt.Errorf("size %d puts %s at ring offset %d, not 4-byte aligned for its atomic access", n, w.name, w.off)
		}
	}
	return nil
}

// newRing returns the state common to both kinds of queue, every
// descriptor free.
func newRing(t Transport, dma DMA, index, size uint16, mem []byte, addr uint64, features Features) ring {
	return ring{
		t: t, dma: dma, index: index, size: size, mem: mem, addr: addr,
		eventIdx: features.Has(EventIdx),
		indirect: features.Has(IndirectDesc),
		numFree:  size,
	}
}

// Size is the number of descriptors (the queue size).
func (q *ring) Size() uint16 { return q.size }

// Indirect reports whether AddIndirect may be used.
func (q *ring) Indirect() bool { return q.indirect }

// InFlight is the number of chains the device has not returned.
func (q *ring) InFlight() int { return int(q.inFlight) }

// NumFree is the number of free descriptors.
func (q *ring) NumFree() int { return int(q.numFree) }

// Broken returns the error that broke the queue, or nil.
func (q *ring) Broken() error { return q.broken }

// Break marks the queue broken with err (for example after a reset, or
// DEVICE_NEEDS_RESET), so that every later call returns it.
func (q *ring) Break(err error) {
	if q.broken == nil {
		q.broken = err
	}
}

// Free gives the ring memory back. The device must no longer use the
// queue: reset it first.
func (q *ring) Free() {
	if q.mem != nil {
		q.dma.Free(q.mem)
		q.mem = nil
		q.Break(errors.New("virtio: queue freed"))
	}
}

// fail breaks the queue with a description of what the device did.
func (q *ring) fail(format string, args ...any) error {
	q.Break(fmt.Errorf("%w: queue %d: "+format, append([]any{ErrDeviceBroken, q.index}, args...)...))
	return q.broken
}

// check refuses a chain of n buffers on a broken queue, or one longer
// than the queue (§2.7.5.3.1, §2.8.18: no chain longer than the queue
// size).
func (q *ring) check(n int) error {
	if q.broken != nil {
		return q.broken
	}
	if n == 0 || n > int(q.size) {
		return fmt.Errorf("virtio: chain of %d buffers on a queue of %d", n, q.size)
	}
	return nil
}

// checkIndirect refuses an indirect table of bufs in table where check
// does, where indirect descriptors were not negotiated or table is too
// small, and with ErrQueueFull where no ring descriptor is free.
func (q *ring) checkIndirect(table []byte, bufs []Buffer) error {
	if err := q.check(len(bufs)); err != nil {
		return err
	}
	if !q.indirect {
		return errors.New("virtio: indirect descriptors not negotiated")
	}
	if len(table) < descSize*len(bufs) {
		return fmt.Errorf("virtio: indirect table of %d bytes for %d buffers", len(table), len(bufs))
	}
	if q.numFree == 0 {
		return ErrQueueFull
	}
	return nil
}

func (q *ring) load32(off int) uint32     { return le32(loadWord(q.mem, off)) }
func (q *ring) store32(off int, v uint32) { storeWord(q.mem, off, le32(v)) }

// RingBytes is the size of the ring memory.
func (q *SplitQueue) RingBytes() int { total, _, _ := QueueLayout(q.size); return total }

// Packed is false: a split queue.
func (q *SplitQueue) Packed() bool { return false }

// loadWord and storeWord access the aligned 32-bit word at mem[off:]
// (off is a multiple of 4) with one atomic operation.
func loadWord(mem []byte, off int) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&mem[off])))
}

func storeWord(mem []byte, off int, v uint32) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&mem[off])), v)
}

func (q *SplitQueue) writeDesc(table []byte, i int, addr uint64, n uint32, flags, next uint16) {
	d := table[i*descSize : i*descSize+descSize]
	binary.LittleEndian.PutUint64(d[0:], addr)
	binary.LittleEndian.PutUint32(d[8:], n)
	binary.LittleEndian.PutUint16(d[12:], flags)
	binary.LittleEndian.PutUint16(d[14:], next)
}

func (q *SplitQueue) pop() uint16 {
	d := q.free[q.freeHead]
	q.freeHead = (q.freeHead + 1) & q.mask
	q.numFree--
	return d
}

func (q *SplitQueue) push(d uint16) {
	q.free[(q.freeHead+q.numFree)&q.mask] = d
	q.numFree++
}

// Add makes bufs available to the device as one descriptor chain, in
// order (device-readable buffers first, §2.7.4.2), and remembers token
// for the chain's completion. It returns ErrQueueFull when fewer than
// len(bufs) descriptors are free. Call Notify afterwards.
func (q *SplitQueue) Add(bufs []Buffer, token int) error {
	if err := q.check(len(bufs)); err != nil {
		return err
	}
	if int(q.numFree) < len(bufs) {
		return ErrQueueFull
	}
	var writable uint64
	head := q.pop()
	cur := head
	for i, b := range bufs {
		var flags, nxt uint16
		if b.Writable {
			flags = descFWrite
			writable += uint64(b.Len)
		}
		if i < len(bufs)-1 {
			nxt = q.pop()
			flags |= descFNext
		}
		q.next[cur] = nxt
		q.writeDesc(q.mem, int(cur), b.Addr, b.Len, flags, nxt)
		cur = nxt
	}
	q.publish(head, token, writable, uint16(len(bufs)))
	return nil
}

// AddIndirect makes bufs available as an indirect descriptor table
// (§2.7.5.3) written into table, whose device address is tableAddr: the
// chain takes a single ring descriptor. table must hold 16 bytes per
// buffer and stay untouched until the chain completes. Requires
// VIRTIO_F_INDIRECT_DESC.
func (q *SplitQueue) AddIndirect(table []byte, tableAddr uint64, bufs []Buffer, token int) error {
	if err := q.checkIndirect(table, bufs); err != nil {
		return err
	}
	var writable uint64
	for i, b := range bufs {
		var flags, nxt uint16
		if b.Writable {
			flags = descFWrite
			writable += uint64(b.Len)
		}
		if i < len(bufs)-1 {
			flags |= descFNext
			nxt = uint16(i + 1)
		}
		q.writeDesc(table, i, b.Addr, b.Len, flags, nxt)
	}
	head := q.pop()
	q.next[head] = 0
	q.writeDesc(q.mem, int(head), tableAddr, uint32(descSize*len(bufs)), descFIndirect, 0)
	q.publish(head, token, writable, 1)
	return nil
}

// publish puts head in the available ring (§2.7.13.2) and then stores
// the new avail idx (§2.7.13.3), with a write barrier between them: "The
// driver MUST perform a suitable memory barrier before the idx update".
func (q *SplitQueue) publish(head uint16, token int, writable uint64, ndesc uint16) {
	q.heads[head] = chain{token: token, writable: writable, ndesc: ndesc, busy: true}
	q.inFlight++
	binary.LittleEndian.PutUint16(q.mem[q.availOff+4+2*int(q.availIdx&q.mask):], head)
	q.availIdx++
	q.t.Barrier(BarrierWrite)
	q.store32(q.availOff, uint32(q.availFlags)|uint32(q.availIdx)<<16)
}

// Notify sends an available buffer notification if the device wants one
// for the buffers added since the last call (§2.7.10: avail_event with
// VIRTIO_F_EVENT_IDX, else the used ring's NO_NOTIFY flag). It reports
// whether it notified.
func (q *SplitQueue) Notify() bool {
	if q.broken != nil || q.notified == q.availIdx {
		return false
	}
	old, cur := q.notified, q.availIdx
	q.notified = cur
	// §2.7.13.4: "The driver MUST perform a suitable memory barrier
	// before reading flags or avail_event, to avoid missing a
	// notification"; the same barrier orders the idx store before the
	// notify register write below.
	q.t.Barrier(BarrierFull)
	var need bool
	if q.eventIdx {
		event := uint16(q.load32(q.usedOff + 4 + 8*int(q.size)))
		need = cur-event-1 < cur-old // vring_need_event, §2.7.10
	} else {
		need = q.load32(q.usedOff)&usedFNoNotify == 0
	}
	if need {
		q.t.Notify(q.index)
	}
	return need
}

// EnableInterrupts asks the device for used buffer notifications, or
// (off) asks it not to send them: the AVAIL_F_NO_INTERRUPT flag, or with
// VIRTIO_F_EVENT_IDX used_event (§2.7.7). Either is only a hint.
func (q *SplitQueue) EnableInterrupts(on bool) {
	q.interrupts = on
	q.availFlags = 0
	if !on && !q.eventIdx {
		q.availFlags = availFNoInterrupt
	}
	if q.eventIdx {
		// With EVENT_IDX the flags are not looked at: used_event is
		// the whole request. On, the next entry. Off, the entry
		// before the last one taken: the device writes it again only
		// after 2^16 more (vring_need_event), so a disabled queue
		// costs no interrupt, where leaving used_event as it was
		// would still announce the next completion (Linux's
		// virtqueue_disable_cb_split writes a far index for the same
		// reason).
		event := q.lastUsed
		if !on {
			event--
		}
		q.store32(q.availOff+4+2*int(q.size), uint32(event))
	}
	q.store32(q.availOff, uint32(q.availFlags)|uint32(q.availIdx)<<16)
	if on {
		// §2.7.14: the request for notifications must be visible before
		// the caller re-checks the used ring, or a completion between
		// the two is never announced.
		q.t.Barrier(BarrierFull)
		q.eventDirty = false
	}
}

// Next returns the next completed chain from the used ring: its token and
// the used length the device reported. ok is false when there is none.
// The chain's descriptors are free again when Next returns. A used entry
// that does not fit a chain in flight breaks the queue (see Queue).
func (q *SplitQueue) Next() (token int, length uint32, ok bool, err error) {
	if q.broken != nil {
		return 0, 0, false, q.broken
	}
	if q.lastUsed == q.usedIdx {
		if q.eventDirty {
			// used_event, stored by the last Next, before this load
			// of idx (Linux's virtio_store_mb): otherwise the device
			// may read the old used_event after we read the old idx,
			// and neither sends nor sees the completion.
			q.t.Barrier(BarrierFull)
			q.eventDirty = false
		}
		idx := uint16(q.load32(q.usedOff) >> 16)
		if idx == q.lastUsed {
			return 0, 0, false, nil
		}
		// A device returns each chain once: the index cannot run ahead
		// of what is in flight (nor, therefore, by more than the queue
		// size, §2.7.8).
		if n := idx - q.lastUsed; n > q.inFlight {
			return 0, 0, false, q.fail("used idx moved from %d to %d with %d in flight", q.lastUsed, idx, q.inFlight)
		}
		q.usedIdx = idx
		// §2.7.14: the used elements (and the data the device wrote)
		// are read after the idx that announced them.
		q.t.Barrier(BarrierRead)
	}
	e := q.usedOff + 4 + 8*int(q.lastUsed&q.mask)
	id, n := q.load32(e), q.load32(e+4)
	if id >= uint32(q.size) {
		return 0, 0, false, q.fail("used id %d out of range (size %d)", id, q.size)
	}
	c := &q.heads[id]
	if !c.busy {
		return 0, 0, false, q.fail("used id %d is not the head of a chain in flight", id)
	}
	if uint64(n) > c.writable {
		return 0, 0, false, q.fail("used len %d for id %d exceeds its %d writable bytes", n, id, c.writable)
	}
	c.busy = false
	d := uint16(id)
	for range c.ndesc {
		q.push(d)
		d = q.next[d]
	}
	q.inFlight--
	q.lastUsed++
	if q.eventIdx && q.interrupts {
		q.store32(q.availOff+4+2*int(q.size), uint32(q.lastUsed))
		q.eventDirty = true
	}
	return c.token, n, true, nil
}
