package virtioblk

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/virtio"
)

// queue is one request virtqueue with everything its requests need: its
// own locks, request slots, ring, request headers and bounce buffers.
// Callers on different queues share nothing but the device-wide state.
type queue struct {
	d     *Device
	index int // the virtqueue index

	pollMu sync.Mutex // one goroutine takes completions at a time (poll)
	mu     sync.Mutex // guards what follows, up to the statistics
	vq     virtio.Queue
	slots  []slot
	idle   []*slot // free slots (a stack)
	busy   int     // slots taken out of idle
	// The device-wide state as breakDevice and Disconnect leave it,
	// copied here under every queue's mu.
	err         error
	closed      bool
	quarantined bool
	pollers     int // hybrid pollers (quiet)

	ctlMem, bounce      []byte
	ctlAddr, bounceAddr uint64

	submitted, reaped uint64 // Stats; under mu
	inFlight          int    // requests the device has; under mu
	rechecked         atomic.Uint64
	load              atomic.Int32 // busy, for pick to read without mu (several queues only)

	_ [64]byte // keeps the next queue's locks off this one's cache line
}

// pick chooses the queue for a call (see the package comment): the
// first one without a request in flight from a round-robin position, or
// that position's queue when all are busy.
func (d *Device) pick() *queue {
	if len(d.qs) == 1 {
		return &d.qs[0]
	}
	n := uint32(len(d.qs))
	start := d.next.Add(1)
	for k := range n {
		if q := &d.qs[(start+k)%n]; q.load.Load() == 0 {
			return q
		}
	}
	return &d.qs[start%n]
}

// allocSlots allocates queue q's request slots and their DMA memory. The
// device's nq queues share out the slots one queue would have (and with
// them the request headers and bounce buffers), so that the DMA memory
// does not grow with the number of queues beyond one ring each.
func (q *queue) allocSlots(nq int) error {
	d := q.d
	n := int(q.vq.Size())
	if !q.vq.Indirect() {
		n /= 2 // each request takes at least two descriptors
	}
	n = max(n/nq, 1)
	ctlSize := (ctlTable + 16*(d.segs+2) + 63) &^ 63
	ctl, ctlAddr, err := d.dma.Alloc(ctlSize*n, 64)
	if err != nil {
		return fmt.Errorf("virtioblk: queue %d request headers: %w", q.index, err)
	}
	q.ctlMem, q.ctlAddr = ctl, ctlAddr
	// Bounce buffers share bounceBudget; with less DMA memory than that
	// they shrink, down to one sector a slot.
	ss := d.info.SectorSize
	bounceSize := max(min(bounceBudget/nq/n, maxBounce)/ss*ss, ss)
	var bounce []byte
	var bounceAddr uint64
	for {
		bounce, bounceAddr, err = d.dma.Alloc(bounceSize*n, 4096)
		if err == nil {
			break
		}
		if bounceSize == ss {
			return fmt.Errorf("virtioblk: queue %d bounce buffers: %w", q.index, err)
		}
		bounceSize = max(bounceSize/2/ss*ss, ss)
	}
	q.bounce, q.bounceAddr = bounce, bounceAddr
	q.slots = make([]slot, n)
	q.idle = make([]*slot, n)
	for i := range q.slots {
		s := &q.slots[i]
		s.q = q
		s.id = i
		s.ctl = ctl[i*ctlSize : (i+1)*ctlSize : (i+1)*ctlSize]
		s.ctlAddr = ctlAddr + uint64(i*ctlSize)
		s.bounce = bounce[i*bounceSize : (i+1)*bounceSize : (i+1)*bounceSize]
		s.bounceAddr = bounceAddr + uint64(i*bounceSize)
		s.bufs = make([]virtio.Buffer, 0, d.segs+2)
		s.copies = make([]copyBack, 0, d.segs)
		s.done = make(chan struct{}, 1)
		s.timer = time.NewTimer(time.Hour)
		s.timer.Stop()
		q.idle[n-1-i] = s
	}
	return nil
}

// memBytes is the DMA memory the queue holds: ring, request headers,
// bounce buffers.
func (q *queue) memBytes() int64 {
	n := int64(len(q.ctlMem) + len(q.bounce))
	if q.vq != nil {
		n += int64(q.vq.RingBytes())
	}
	return n
}

// freeMemory gives back the queue's DMA memory; the device must be
// reset. A quarantined device keeps it.
func (q *queue) freeMemory() {
	if q.quarantined {
		return
	}
	if q.vq != nil {
		q.vq.Free()
	}
	if q.ctlMem != nil {
		q.d.dma.Free(q.ctlMem)
		q.ctlMem = nil
	}
	if q.bounce != nil {
		q.d.dma.Free(q.bounce)
		q.bounce = nil
	}
}

// stateErr is the error for a request on a disconnected or broken
// device; q.mu is held.
func (q *queue) stateErr() error {
	if q.closed {
		return block.ErrDisconnected
	}
	return q.err
}

// tryAcquire takes an idle slot, or returns nil when there is none. err
// is set when the device can take no requests at all.
func (q *queue) tryAcquire() (*slot, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.stateErr(); err != nil {
		return nil, err
	}
	if len(q.idle) == 0 {
		return nil, nil
	}
	s := q.idle[len(q.idle)-1]
	q.idle = q.idle[:len(q.idle)-1]
	q.busy++
	if len(q.d.qs) > 1 {
		q.load.Store(int32(q.busy))
	}
	return s, nil
}

// release gives a slot back; the last one back after Disconnect frees
// the queue's DMA memory.
func (q *queue) release(s *slot) {
	clear(s.copies[:cap(s.copies)]) // drop references to callers' buffers
	s.copies = s.copies[:0]
	s.err = nil
	q.mu.Lock()
	q.idle = append(q.idle, s)
	q.busy--
	if len(q.d.qs) > 1 {
		q.load.Store(int32(q.busy))
	}
	if q.closed && q.busy == 0 {
		q.freeMemory()
	}
	q.mu.Unlock()
}

// own reports whether b lies in the queue's request headers or bounce
// buffers rather than in a caller's buffer.
func (q *queue) own(b virtio.Buffer) bool {
	in := func(base uint64, n int) bool {
		return b.Addr >= base && b.Addr-base < uint64(n) && uint64(b.Len) <= uint64(n)-(b.Addr-base)
	}
	return in(q.ctlAddr, len(q.ctlMem)) || in(q.bounceAddr, len(q.bounce))
}
