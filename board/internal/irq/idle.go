package irq

import "math"

// Idler is a board's idle routine (goos.Idle): when no goroutine can run
// it waits for the next timer in WFI, woken by the CPU's timer or by a
// device interrupt, with interrupts masked, and hands the device
// interrupts to Lines. All its functions run with the scheduler stopped:
// they must not allocate or block.
type Idler struct {
	Lines *Lines
	Now   func() int64 // the runtime's clock, ns
	// SetAlarm arms the CPU timer, whose interrupt ends WFI, for a time
	// of Now's clock; 0 disarms it, and its level line drops.
	SetAlarm func(ns int64)
	Wait     func() // WFI
	// MinWait: a wait shorter than this is not worth the timer; the
	// idle routine returns at once. MaxWait bounds a wait when nothing
	// is due, so that a missed wake-up costs that much at most.
	MinWait, MaxWait int64
}

// Idle waits until pollUntil (runtime nanotime; 0 or math.MaxInt64 when
// nothing is due) or a device interrupt.
func (i *Idler) Idle(pollUntil int64) {
	now := i.Now()
	switch {
	case pollUntil == 0 || pollUntil == math.MaxInt64:
		pollUntil = now + i.MaxWait
	case pollUntil-now < i.MinWait:
		i.Lines.Drain()
		return
	}
	// An interrupt already pending needs no WFI. Polling before the
	// wait is the drivers' (virtioblk.SetHybridPoll): a spin here
	// measured worse (README, the table of defaults).
	if i.Lines.Drain() > 0 {
		return
	}
	if now = i.Now(); pollUntil-now < i.MinWait {
		return
	}
	i.SetAlarm(pollUntil)
	i.Wait()
	// Disarmed, the timer's level line drops before the controller is
	// asked for what woke the CPU.
	i.SetAlarm(0)
	i.Lines.Drain()
}
