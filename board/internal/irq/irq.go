// Package irq delivers device interrupts to the goroutines waiting for
// them on a TamaGo board whose CPU keeps interrupts masked: the board's
// idle routine, where the runtime waits in WFI when no goroutine can run,
// takes every pending interrupt from the controller (Drain), and a service
// goroutine (Serve) runs the drivers' handlers for them.
//
// Why masked: an interrupt taken as an exception may land anywhere in
// the runtime, and all TamaGo can do there is rewrite a sleeping
// goroutine's timer without a lock (runtime.WakeG). In WFI a pending
// interrupt wakes the CPU all the same (ARM ARM D1.16.2; B1.8.14 on
// ARMv7), and the idle routine runs between the scheduler's own steps, so
// waking the service goroutine there races with nothing. The price: while
// goroutines keep the CPU busy nobody looks, and a completion waits for
// its waiter's own periodic re-check (the drivers' lost-interrupt safety
// net).
//
// A level-triggered line stays asserted until the handler has
// acknowledged the device, which happens later, in the service goroutine:
// Drain therefore disables each line it takes at the distributor, and
// Serve enables it again after the handlers ran, as Linux does for a
// threaded handler with IRQF_ONESHOT.
package irq

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
)

// MaxLines bounds the INTIDs a Controller may report (GIC: 1020).
const MaxLines = 1024

// Controller is the interrupt controller as Drain and Serve use it.
type Controller interface {
	// Acknowledge takes the highest priority pending interrupt and ends
	// it at the CPU interface, returning its INTID, or a value outside
	// 0..MaxLines-1 (GIC: 1023) when none is pending. It runs in the
	// idle routine: it must not allocate or block.
	Acknowledge() int
	// Disable and Enable stop and resume forwarding of one interrupt;
	// Disable runs in the idle routine too.
	Disable(id int)
	Enable(id int)
}

// Lines is a board's set of device interrupt lines.
type Lines struct {
	Ctl Controller
	// Wake makes the service goroutine run Serve's loop again, when it
	// sleeps; it reports whether it did. It runs in the idle routine.
	Wake func() bool

	// used: lines with a user in interrupt mode (Drain takes them);
	// pending: lines taken and disabled, not yet served.
	used, pending [MaxLines / 32]atomic.Uint32

	mu       sync.Mutex
	handlers [MaxLines][]func()
	users    [MaxLines]int
	served   atomic.Uint64
}

// Handle adds fn to the handlers of line id: Serve calls every handler of
// a line for each interrupt on it (lines may be shared, as PCI INTx
// lines are). It does not enable the line: Use does.
func (l *Lines) Handle(id int, fn func()) error {
	if id < 0 || id >= MaxLines {
		return fmt.Errorf("irq: line %d out of range", id)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.handlers[id] = append(l.handlers[id], fn)
	return nil
}

// Use counts a user of line id in (on) or out of interrupt mode: the line
// is enabled while it has users, disabled when its last one leaves.
func (l *Lines) Use(id int, on bool) error {
	if id < 0 || id >= MaxLines {
		return fmt.Errorf("irq: line %d out of range", id)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.handlers[id]) == 0 {
		return fmt.Errorf("irq: line %d has no handler", id)
	}
	w, b := id/32, uint32(1)<<(id%32)
	switch {
	case on:
		l.users[id]++
		if l.users[id] == 1 {
			l.used[w].Or(b)
			l.Ctl.Enable(id)
		}
	case l.users[id] == 0:
		return errors.New("irq: line not in use")
	default:
		l.users[id]--
		if l.users[id] == 0 {
			l.Ctl.Disable(id)
			l.used[w].And(^b)
		}
	}
	return nil
}

// maxDrain bounds the interrupts one Drain takes: a line that keeps
// firing must not keep the idle routine from returning.
const maxDrain = 64

// Drain takes the pending interrupts from the controller, disables each
// line in use it took, marks it for Serve and wakes the service
// goroutine. Interrupts on lines nobody uses (the idle routine's own
// timer, say) are only acknowledged, and Drain stops when one of them
// comes back: they are sorted out where they are raised. It returns how many lines it marked.
// It is the idle routine's: it neither allocates nor blocks.
func (l *Lines) Drain() int {
	n, other := 0, -1
	for range maxDrain {
		id := l.Ctl.Acknowledge()
		if id < 0 || id >= MaxLines {
			break
		}
		w, b := id/32, uint32(1)<<(id%32)
		if l.used[w].Load()&b == 0 {
			// A level line nobody here acknowledges comes straight
			// back: the second time, leave it to its owner.
			if id == other {
				break
			}
			other = id
			continue
		}
		l.Ctl.Disable(id)
		l.pending[w].Or(b)
		n++
	}
	if n > 0 && l.Wake != nil {
		l.Wake()
	}
	return n
}

// Pending reports whether a line waits for Serve.
func (l *Lines) Pending() bool {
	for w := range l.pending {
		if l.pending[w].Load() != 0 {
			return true
		}
	}
	return false
}

// ServeOnce runs the handlers of every marked line and enables each line
// again that still has users, returning how many lines it served.
func (l *Lines) ServeOnce() int {
	n := 0
	for w := range l.pending {
		for p := l.pending[w].Swap(0); p != 0; p &= p - 1 {
			id := w*32 + bits.TrailingZeros32(p)
			l.mu.Lock()
			hs := l.handlers[id]
			l.mu.Unlock()
			for _, h := range hs {
				h()
			}
			l.mu.Lock()
			if l.users[id] > 0 {
				l.Ctl.Enable(id)
			}
			l.mu.Unlock()
			n++
		}
	}
	l.served.Add(uint64(n))
	return n
}

// Serve is the service goroutine's loop: it serves the marked lines and,
// when none is left, calls sleep, from which Wake gets it out. It never
// returns.
func (l *Lines) Serve(sleep func()) {
	for {
		if l.ServeOnce() == 0 {
			sleep()
		}
	}
}

// Served counts the interrupts served so far.
func (l *Lines) Served() uint64 { return l.served.Load() }
