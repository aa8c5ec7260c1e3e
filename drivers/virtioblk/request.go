package virtioblk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/virtio"
)

// Request types and status values (§5.2.6).
const (
	typeIn          = 0  // VIRTIO_BLK_T_IN
	typeOut         = 1  // VIRTIO_BLK_T_OUT
	typeFlush       = 4  // VIRTIO_BLK_T_FLUSH
	typeGetID       = 8  // VIRTIO_BLK_T_GET_ID
	typeDiscard     = 11 // VIRTIO_BLK_T_DISCARD
	typeWriteZeroes = 13 // VIRTIO_BLK_T_WRITE_ZEROES

	statusOK     = 0 // VIRTIO_BLK_S_OK
	statusIOErr  = 1 // VIRTIO_BLK_S_IOERR
	statusUnsupp = 2 // VIRTIO_BLK_S_UNSUPP
	// statusUnset is what the status byte holds until the device writes
	// it: a completion that leaves it there is a device lie.
	statusUnset = 0xff

	idBytes = 20 // VIRTIO_BLK_ID_BYTES
)

// Layout of a slot's control block in DMA memory: the request header
// (struct virtio_blk_req's first 16 bytes), the status byte, a payload
// (a discard/write-zeroes segment, or the GET_ID answer) and the
// indirect descriptor table.
const (
	ctlHeader  = 0
	ctlStatus  = 16
	ctlPayload = 32
	ctlTable   = 64
)

// slot is everything one request in flight needs, allocated at New so
// that the I/O path allocates nothing.
type slot struct {
	id         int
	ctl        []byte
	ctlAddr    uint64
	bounce     []byte
	bounceAddr uint64
	bufs       []virtio.Buffer // the chain: header, data…, status
	copies     []copyBack      // bounced read data to copy out
	done       chan struct{}   // receives once the request completed
	timer      *time.Timer     // paces an interrupt-mode wait's re-checks

	q        *queue // the queue the slot belongs to
	op       string
	sector   int64 // in device sectors, for errors
	inFlight bool  // guarded by q.mu
	err      error // the result, set before done is signalled
}

// copyBack is read data to copy from the bounce buffer into a caller's
// buffer.
type copyBack struct {
	dst []byte
	off int
}

// header fills the request header and starts the slot's chain with it;
// the status byte is reset to statusUnset.
func (s *slot) header(typ uint32, sector uint64) {
	binary.LittleEndian.PutUint32(s.ctl[ctlHeader:], typ)
	binary.LittleEndian.PutUint32(s.ctl[ctlHeader+4:], 0)
	binary.LittleEndian.PutUint64(s.ctl[ctlHeader+8:], sector)
	s.ctl[ctlStatus] = statusUnset
	s.bufs = append(s.bufs[:0], virtio.Buffer{Addr: s.ctlAddr + ctlHeader, Len: 16})
}

// status reads the status byte the device wrote, with a 32-bit atomic
// load of the aligned word that holds it (ctlStatus is a multiple of 4 in
// memory aligned to 64). A device that lies about completions (naming a
// chain twice, or one it is still serving) may be writing the byte as the
// driver reads it; whatever value comes back is checked like any other.
func (s *slot) status() byte {
	w := atomic.LoadUint32((*uint32)(unsafe.Pointer(&s.ctl[ctlStatus])))
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], w)
	return b[0]
}

// submit appends the status byte to the chain and makes the request
// available on its queue, waiting (and polling) while the ring has no
// room.
func (d *Device) submit(s *slot) error {
	q := s.q
	s.bufs = append(s.bufs, virtio.Buffer{Addr: s.ctlAddr + ctlStatus, Len: 1, Writable: true})
	w := waiter{d: d, q: q}
	for {
		q.mu.Lock()
		err := q.stateErr()
		if err == nil {
			if q.vq.Indirect() {
				err = q.vq.AddIndirect(s.ctl[ctlTable:], s.ctlAddr+ctlTable, s.bufs, s.id)
			} else {
				err = q.vq.Add(s.bufs, s.id)
			}
		}
		if err == nil {
			s.inFlight = true
			q.inFlight++
			q.submitted++
			q.vq.Notify()
			q.mu.Unlock()
			return nil
		}
		q.mu.Unlock()
		if !errors.Is(err, virtio.ErrQueueFull) {
			return err
		}
		// Descriptors come back as completions are taken off the used
		// ring, possibly this caller's own earlier requests.
		q.poll()
		if err := w.pause(); err != nil {
			return err
		}
	}
}

// recheckInterval is how often a waiter in interrupt mode looks at the
// used ring itself: a lost interrupt costs at most this much latency.
const recheckInterval = 10 * time.Millisecond

// wait returns once s completed, polling the used ring (or, with
// interrupts, sleeping until Interrupt completes it, and re-checking the
// ring every recheckInterval). Either way the device's timeout applies.
func (d *Device) wait(s *slot) error {
	q := s.q
	w := waiter{d: d, q: q, s: s}
	for {
		select {
		case <-s.done:
			return s.err
		default:
		}
		if d.interruptDriven.Load() {
			if w.start.IsZero() {
				w.start = time.Now()
				// Hybrid: look at the ring first (SetHybridPoll).
				if q.hybridPoll(s, w.start) {
					return s.err
				}
			}
			s.timer.Reset(w.interval())
			select {
			case <-s.done:
				s.timer.Stop()
				return s.err
			case <-s.timer.C:
			}
			// No interrupt came in time: it may have been lost.
			q.recheck()
			select {
			case <-s.done:
				return s.err
			default:
			}
			if err := w.check(); err != nil {
				<-s.done // completed with the error by now
				return s.err
			}
			continue
		}
		q.poll()
		select {
		case <-s.done:
			return s.err
		default:
		}
		if err := w.pause(); err != nil {
			// The device has been declared broken: s is completed
			// with the error by now.
			<-s.done
			return s.err
		}
	}
}

// pollSpin is how long a waiter yields the processor in a loop before it
// starts to sleep. Sleeping is expensive for a polling driver: in a
// GOOS=linux guest the runtime rounds every sleep below 1 ms up to 1 ms
// (netpoll's epoll timeout), more than a 4 KiB request or even a 1 MiB one
// takes under TCG, so a count of a few dozen spins made every request that
// missed it cost a millisecond (make bench: 250 MiB/s sequential instead
// of 1650). Past this window requests are slow anyway, and sleeping
// spares the processor.
const pollSpin = 20 * time.Millisecond

// waiter paces a polling loop: it yields the processor for pollSpin, then
// sleeps for growing intervals; it checks the device status on the slow
// path and declares the device broken after the timeout.
type waiter struct {
	d     *Device
	q     *queue // the queue polled
	s     *slot  // the request waited for; nil: waiting for room
	spins int
	start time.Time
	sleep time.Duration
}

func (w *waiter) pause() error {
	if w.start.IsZero() {
		w.start = time.Now()
		w.sleep = time.Microsecond
	}
	w.spins++
	// The clock is read every 64 spins only.
	if w.spins&63 != 0 || time.Since(w.start) < pollSpin {
		runtime.Gosched()
		return nil
	}
	time.Sleep(w.sleep)
	w.sleep = min(2*w.sleep, time.Millisecond)
	return w.check()
}

// interval is how long an interrupt-mode waiter sleeps before it
// re-checks the ring: recheckInterval, or less with a shorter timeout.
func (w *waiter) interval() time.Duration {
	timeout := time.Duration(w.d.timeout.Load())
	if timeout > 0 && timeout < recheckInterval {
		return max(timeout/2, time.Microsecond)
	}
	return recheckInterval
}

// check is a waiter's slow path: it reads the device status, and past
// the timeout it takes whatever its queue's used ring holds once more (a
// completion whose interrupt was lost, or that no poller saw) before it
// declares the device broken: unless that completed the request waited
// for, or, for a waiter for room, any request.
func (w *waiter) check() error {
	d := w.d
	d.mu.Lock()
	err := d.stateErr()
	d.mu.Unlock()
	if err != nil {
		return err // disconnected or already broken
	}
	if err := virtio.CheckStatus(d.t); err != nil {
		return d.declareBroken(err)
	}
	if timeout := time.Duration(d.timeout.Load()); timeout > 0 && time.Since(w.start) > timeout {
		n := w.q.recheck()
		if w.s != nil && len(w.s.done) > 0 || w.s == nil && n > 0 {
			return nil
		}
		return d.declareBroken(fmt.Errorf("%w: no completion on queue %d for %v", virtio.ErrDeviceBroken, w.q.index, timeout))
	}
	return nil
}

// stateErr is the error for a call on a disconnected or broken device;
// d.mu is held.
func (d *Device) stateErr() error {
	if d.closed {
		return block.ErrDisconnected
	}
	return d.err
}

// recheck takes every completion off the used ring, waiting for a poller
// in progress rather than skipping, and counts what it found: these are
// completions that neither an interrupt nor the poll loop delivered.
func (q *queue) recheck() int {
	q.pollMu.Lock()
	n := q.reap()
	q.pollMu.Unlock()
	q.rechecked.Add(uint64(n))
	return n
}

// declareBroken breaks the device with err unless it is already broken
// or disconnected, and returns the error that now stands. No queue's mu
// may be held.
func (d *Device) declareBroken(err error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if serr := d.stateErr(); serr != nil {
		return serr
	}
	d.lockQueues()
	d.breakDevice(err)
	d.unlockQueues()
	return err
}

// lockQueues takes every queue's mu, in index order; d.mu is held.
func (d *Device) lockQueues() {
	for i := range d.qs {
		d.qs[i].mu.Lock()
	}
}

func (d *Device) unlockQueues() {
	for i := range d.qs {
		d.qs[i].mu.Unlock()
	}
}

// poll takes every completion off the used ring and hands each to its
// slot, unless another goroutine is doing so already: that one completes
// this caller's slots too, and many waiters (random reads at queue depth
// 16) do not queue up on q.mu to find the ring empty.
func (q *queue) poll() {
	if !q.pollMu.TryLock() {
		return
	}
	defer q.pollMu.Unlock()
	q.reap()
}

// reap takes every completion off the used ring and returns how many it
// took; q.pollMu is held. A completion the device must not have written
// breaks the whole device.
func (q *queue) reap() int {
	n, err := q.take()
	if err != nil {
		q.d.declareBroken(err)
	}
	return n
}

// take is reap under q.mu: it stops at the first completion that breaks
// the device, and returns why, leaving that request in flight for
// breakDevice to fail.
func (q *queue) take() (n int, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stateErr() != nil {
		return 0, nil
	}
	for {
		token, _, ok, err := q.vq.Next()
		if err != nil {
			return n, err
		}
		if !ok {
			return n, nil
		}
		n++
		q.reaped++
		s := &q.slots[token]
		switch status := s.status(); status {
		case statusOK:
			s.err = nil
		case statusIOErr:
			s.err = block.Errorf(s.op, s.sector, block.ErrIO)
		case statusUnsupp:
			s.err = block.Errorf(s.op, s.sector, block.ErrUnimplemented)
		default:
			// s stays in flight: breakDevice completes it with the
			// error, once the device is reset.
			return n, fmt.Errorf("%w: status byte %#x on queue %d", virtio.ErrDeviceBroken, status, q.index)
		}
		s.inFlight = false
		q.inFlight--
		s.done <- struct{}{}
	}
}

// brokenErr is the error a request gets when the device broke: it is an
// I/O error and a virtio.ErrDeviceBroken (or ErrNeedsReset).
func (d *Device) brokenErr(s *slot, cause error) error {
	return block.Errorf(s.op, s.sector, fmt.Errorf("%w: %w", block.ErrIO, cause))
}

// breakDevice makes the device unusable after it misbehaved: it resets
// it, so that it stops touching every queue's ring and the callers'
// buffers, and completes every request in flight, on every queue, with
// an error. A device that does not acknowledge the reset is quarantined
// instead. d.mu and every queue's mu are held.
func (d *Device) breakDevice(cause error) {
	if d.err != nil {
		return
	}
	if cause == nil {
		cause = virtio.ErrDeviceBroken
	}
	d.err = cause
	d.brokenFlag.Store(true)
	for i := range d.qs {
		q := &d.qs[i]
		q.err = cause
		if q.vq != nil {
			q.vq.Break(cause)
		}
	}
	if err := virtio.ResetWithin(d.t, d.resetLimit); err != nil {
		d.quarantine(cause, err)
		return
	}
	virtio.Fail(d.t)
	d.abort(func(s *slot) error { return d.brokenErr(s, cause) })
}

// quarantine gives up on a device that may still own descriptors, after
// resetErr: a reset it did not acknowledge. Nothing it could reach is
// ever reused or freed: every queue's ring, request headers and bounce
// buffers stay with the driver for good (freeMemory does nothing from
// now on), and so do the callers' buffers lent to the requests in
// flight, which fail with block.ErrBuffersHeld and which FreeBuffer
// refuses. d.mu and every queue's mu are held, and d.err set.
func (d *Device) quarantine(cause, resetErr error) {
	d.quarantined = true
	virtio.Fail(d.t)
	d.heldBytes = 0
	for i := range d.qs {
		q := &d.qs[i]
		q.quarantined = true
		d.heldBytes += q.memBytes()
	}
	held := fmt.Errorf("%w: %w: %w", block.ErrBuffersHeld, cause, resetErr)
	d.abort(func(s *slot) error {
		lent := false
		for _, b := range s.bufs {
			if s.q.own(b) {
				continue
			}
			lent = true
			d.heldRanges = append(d.heldRanges, b)
			d.heldCallerBytes += int64(b.Len)
		}
		if !lent {
			return d.brokenErr(s, fmt.Errorf("%w: %w", cause, resetErr))
		}
		return d.brokenErr(s, held)
	})
}

// heldBuffer reports whether buf overlaps a buffer lent to a quarantined
// device. d.mu is held.
func (d *Device) heldBuffer(buf []byte) bool {
	if len(d.heldRanges) == 0 || len(buf) == 0 {
		return false
	}
	addr, ok := d.dma.Addr(buf)
	if !ok {
		return false
	}
	end := addr + uint64(len(buf))
	for _, r := range d.heldRanges {
		if addr < r.Addr+uint64(r.Len) && r.Addr < end {
			return true
		}
	}
	return false
}

// abort completes every request in flight, on every queue, with the
// error errFor gives. Every queue's mu is held.
func (d *Device) abort(errFor func(*slot) error) {
	for i := range d.qs {
		q := &d.qs[i]
		for j := range q.slots {
			s := &q.slots[j]
			if s.inFlight {
				s.inFlight = false
				q.inFlight--
				s.err = errFor(s)
				s.done <- struct{}{}
			}
		}
	}
}
