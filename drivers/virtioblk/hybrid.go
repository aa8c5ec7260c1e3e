package virtioblk

import (
	"runtime"
	"time"
)

// SetHybridPoll makes a request waiting in interrupt mode poll the used
// ring for up to d before it sleeps: a fast device's completion is then
// taken without the interrupt's round trip through the platform, and a
// slow device's still lets the processor sleep after d. 0 (the default)
// sleeps at once. The interrupt still comes and finds the ring empty.
func (d *Device) SetHybridPoll(window time.Duration) {
	d.hybrid.Store(int64(window))
}

// hybridPoll polls for s's completion until the hybrid window from start
// has passed, reporting whether s completed.
func (d *Device) hybridPoll(s *slot, start time.Time) bool {
	window := time.Duration(d.hybrid.Load())
	for spins := 0; window > 0; spins++ {
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
	return false
}
