package usdhc

import (
	"sync"
	"sync/atomic"
	"time"
)

// Completion by interrupt. The uSDHC raises its interrupt line while a
// status bit is set whose INT_SIGNAL_EN bit is set (IMX6ULLRM 58.8.15),
// a level line: Linux's sdhci_irq reads INT_STATUS and clears what it
// handles inside the handler. Here the waiter, not the handler, owns the
// status (Request holds the controller, and the status says which error
// ended the command), so the handler only masks the signal enables, which
// lowers the line, and wakes the waiter, who reads and clears the status
// as it does when polling. The signal enables are set only while a waiter
// waits, and only for what it waits for: command complete, transfer
// complete and the errors of that phase.
//
// A lost interrupt costs latency, not the request: a waiter reads the
// status itself every recheckInterval, and the request's timeout holds as
// when polling. R1b busy phases are always polled: QEMU's model raises no
// transfer complete for them (see the package comment), and they are
// short.

// recheckInterval is how often a waiter in interrupt mode reads the
// status itself: a lost interrupt costs at most this much latency.
const recheckInterval = 10 * time.Millisecond

// irqState is the interrupt mode's state, set up on first use.
type irqState struct {
	once   sync.Once
	on     atomic.Bool
	wake   chan struct{} // the handler's (and UseInterrupts') kick, one token
	timer  *time.Timer   // paces a waiter's re-checks
	served atomic.Uint64 // interrupts that woke a waiter
	lost   atomic.Uint64 // completions a re-check found: lost interrupts
}

func (h *Host) irqSetup() {
	h.irq.once.Do(func() {
		h.irq.wake = make(chan struct{}, 1)
		h.irq.timer = time.NewTimer(time.Hour)
		h.irq.timer.Stop()
	})
}

func (h *Host) kick() {
	select {
	case h.irq.wake <- struct{}{}:
	default:
	}
}

// UseInterrupts switches between polling (the default) and completion by
// interrupt, also with a request in flight: its waiter changes mode at
// once. With on, the board must call Interrupt for every interrupt of
// the controller's line.
func (h *Host) UseInterrupts(on bool) {
	h.irqSetup()
	h.irq.on.Store(on)
	h.kick()
}

// Interrupts reports whether requests complete by interrupt.
func (h *Host) Interrupts() bool { return h.irq.on.Load() }

// Interrupt is the controller's interrupt handler: it lowers the line by
// masking the signal enables of the status bits that raised it and wakes
// the waiter. An interrupt with none of them set (another controller's on
// a shared line, or one a waiter already saw) changes nothing. Call it
// from a goroutine; it does not allocate.
func (h *Host) Interrupt() {
	h.irqSetup()
	sig := h.Regs.Read32(USDHCx_INT_SIGNAL_EN)
	if sig == 0 || h.Regs.Read32(USDHCx_INT_STATUS)&sig == 0 {
		return
	}
	h.Regs.Write32(USDHCx_INT_SIGNAL_EN, 0)
	h.irq.served.Add(1)
	h.kick()
}

// InterruptStats reports how many interrupts woke a waiter, and how many
// completions a waiter found by itself, whose interrupt was lost.
func (h *Host) InterruptStats() (served, lost uint64) {
	return h.irq.served.Load(), h.irq.lost.Load()
}

// waitIntIRQ is waitInt in interrupt mode: it sets the signal enables of
// mask and sleeps until the handler wakes it, re-reading the status every
// recheckInterval, until a bit of mask is set or deadline passes. It
// returns the status, 0 at the deadline, or, when the mode changes to
// polling, ok false.
func (h *Host) waitIntIRQ(mask uint32, deadline time.Time) (st uint32, ok bool) {
	h.irqSetup()
	// A stale token (an interrupt a waiter before saw without sleeping)
	// would only cost one more look; drop it.
	select {
	case <-h.irq.wake:
	default:
	}
	// A completion already there costs no more register accesses than
	// polling: the signal enables are written only to sleep.
	if st := h.Regs.Read32(USDHCx_INT_STATUS); st&mask != 0 {
		return st, true
	}
	defer h.Regs.Write32(USDHCx_INT_SIGNAL_EN, 0)
	for {
		// Then the status again: a bit set since raises the line
		// with its signal enable, and one already set is seen here.
		h.Regs.Write32(USDHCx_INT_SIGNAL_EN, mask)
		if st := h.Regs.Read32(USDHCx_INT_STATUS); st&mask != 0 {
			return st, true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return h.Regs.Read32(USDHCx_INT_STATUS) & mask, true
		}
		if !h.irq.on.Load() {
			return 0, false
		}
		h.irq.timer.Reset(min(left, recheckInterval))
		select {
		case <-h.irq.wake:
			h.irq.timer.Stop()
		case <-h.irq.timer.C:
			if st := h.Regs.Read32(USDHCx_INT_STATUS); st&mask != 0 {
				h.irq.lost.Add(1)
				return st, true
			}
		}
	}
}
