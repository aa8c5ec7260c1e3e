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

// hybridPoll polls q for s's completion until the hybrid window from
// start has passed, reporting whether s completed.
func (q *queue) hybridPoll(s *slot, start time.Time) bool {
	window := time.Duration(q.d.hybrid.Load())
	if window <= 0 {
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
