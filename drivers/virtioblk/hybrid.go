package virtioblk

import (
	"runtime"
	"time"
)

// SetHybridPoll makes a request waiting in interrupt mode poll its
// queue's used ring for up to d before it sleeps: a fast device's
// completion is then taken without the interrupt's round trip through the
// platform, and a slow device's still lets the processor sleep after d.
// 0 (the default) sleeps at once. While requests poll a queue, the device
// is asked not to interrupt for it (see quiet). The window applies to
// every queue.
func (d *Device) SetHybridPoll(window time.Duration) {
	d.hybrid.Store(int64(window))
}

// hybridMaxBytes is the largest request a hybrid window polls for. A
// request's time in the device grows with its size, and polling only
// pays when the completion comes within the window: under TCG a 4 KiB
// read completes in about 70 µs and a 64 KiB swap request in about 50-60,
// but a 1 MiB one takes 250 µs or more, so its waiter would spin through
// the whole window and then take the interrupt anyway, the spinning vCPU
// meanwhile competing with QEMU's I/O threads for the host (seqread-1M
// with a 200 µs window fell to 0.59-0.85 of polling's MiB/s in three of
// four measured medians). Linux's hybrid polling keeps its statistics
// per request size for the same reason (blk_mq_poll_stats_bkt). The
// bound is twice a 64 KiB swap piece: one read at an offset off the
// swap file's units moves a unit more than 64 KiB (swaptest's reads
// do), and must poll as the aligned ones do.
const hybridMaxBytes = 128 << 10

// hybridPoll polls q for s's completion until the hybrid window from
// start has passed, reporting whether s completed. Requests of more than
// hybridMaxBytes sleep at once.
func (q *queue) hybridPoll(s *slot, start time.Time) bool {
	window := time.Duration(q.d.hybrid.Load())
	if window <= 0 || s.dataBytes() > hybridMaxBytes {
		return false
	}
	q.quiet(true)
	defer q.quiet(false)
	for spins := 0; ; spins++ {
		q.poll()
		select {
		case <-s.done:
			return true
		default:
		}
		// The clock is read every 16 spins only.
		if spins&15 == 15 && time.Since(start) >= window {
			return false
		}
		runtime.Gosched()
	}
}

// quiet counts the queue's hybrid pollers. While one polls, the device is
// asked for no used buffer notifications on the queue: the pollers take
// every completion, also those of requests whose waiters sleep. When the
// last one stops, notifications are asked for again and the ring is
// re-checked ("Receiving Used Buffers From The Device", §2.7.14), so that
// a waiter that goes to sleep is woken.
func (q *queue) quiet(on bool) {
	q.mu.Lock()
	if on {
		q.pollers++
		if q.pollers == 1 && q.stateErr() == nil {
			q.vq.EnableInterrupts(false)
		}
		q.mu.Unlock()
		return
	}
	q.pollers--
	enable := q.pollers == 0 && q.d.interruptDriven.Load() && q.stateErr() == nil
	if enable {
		q.vq.EnableInterrupts(true)
	}
	q.mu.Unlock()
	if enable {
		q.pollMu.Lock()
		q.reap()
		q.pollMu.Unlock()
	}
}

// dataBytes is how much data s's chain moves: every buffer but the
// header and the status byte.
func (s *slot) dataBytes() int {
	n := 0
	if len(s.bufs) > 2 {
		for _, b := range s.bufs[1 : len(s.bufs)-1] {
			n += int(b.Len)
		}
	}
	return n
}
