package virtioblk

import (
	"runtime"
	"time"
)

// SetHybridPoll makes a request waiting in interrupt mode poll the used
// ring for up to d before it sleeps: a fast device's completion is then
// taken without the interrupt's round trip through the platform, and a
// slow device's still lets the processor sleep after d. 0 (the default)
// sleeps at once. While requests poll, the device is asked not to
// interrupt (see quiet).
func (d *Device) SetHybridPoll(window time.Duration) {
	d.hybrid.Store(int64(window))
}

// hybridPoll polls for s's completion until the hybrid window from start
// has passed, reporting whether s completed.
func (d *Device) hybridPoll(s *slot, start time.Time) bool {
	window := time.Duration(d.hybrid.Load())
	if window <= 0 {
		return false
	}
	d.quiet(true)
	defer d.quiet(false)
	for spins := 0; ; spins++ {
		d.poll()
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

// quiet counts the hybrid pollers. While one polls, the device is asked
// for no used buffer notifications: the pollers take every completion,
// also those of requests whose waiters sleep. When the last one stops,
// notifications are asked for again and the ring is re-checked
// ("Receiving Used Buffers From The Device", §2.7.14), so that a waiter
// that goes to sleep is woken.
func (d *Device) quiet(on bool) {
	d.mu.Lock()
	if on {
		d.pollers++
		if d.pollers == 1 && d.err == nil && !d.closed {
			d.q.EnableInterrupts(false)
		}
		d.mu.Unlock()
		return
	}
	d.pollers--
	enable := d.pollers == 0 && d.interruptDriven.Load() && d.err == nil && !d.closed
	if enable {
		d.q.EnableInterrupts(true)
	}
	d.mu.Unlock()
	if enable {
		d.pollMu.Lock()
		d.reap()
		d.pollMu.Unlock()
	}
}
