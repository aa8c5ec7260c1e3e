package irq

import (
	"errors"
	"sync"
)

// Completer is a driver that completes requests by interrupt or by
// polling (virtioblk.Device, usdhc.Host).
type Completer interface {
	// Interrupt handles an interrupt of the device's line.
	Interrupt()
	// UseInterrupts switches between completion by interrupt (on) and
	// polling, also with requests in flight.
	UseInterrupts(on bool)
}

// Disk is one disk's completion interrupt, as the shell's
// shell.Interrupter wants it: a line of Lines and the driver behind it.
type Disk struct {
	lines *Lines
	line  int
	dev   Completer

	mu sync.Mutex
	on bool
}

// NewDisk registers dev's handler on line id and returns the disk's
// interrupt, in polling mode until UseInterrupts(true).
func NewDisk(l *Lines, id int, dev Completer) (*Disk, error) {
	if err := l.Handle(id, dev.Interrupt); err != nil {
		return nil, err
	}
	return &Disk{lines: l, line: id, dev: dev}, nil
}

// Line is the INTID.
func (d *Disk) Line() int { return d.line }

// Interrupts reports whether the disk completes requests by interrupt.
func (d *Disk) Interrupts() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.on
}

// UseInterrupts switches the disk's completion mode. Switching on enables
// the line before the driver starts sleeping on it; switching off lets
// the driver poll before the line is disabled, so that no waiter sleeps
// on a line nobody takes.
func (d *Disk) UseInterrupts(on bool) error {
	if d == nil {
		return errors.New("irq: no interrupt wired")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if on == d.on {
		return nil
	}
	if err := Switch(d.dev, on, func(on bool) error { return d.lines.Use(d.line, on) }); err != nil {
		return err
	}
	d.on = on
	return nil
}

// Switch switches dev between completion by interrupt and polling
// together with its line: on, the line is let through (setLine(true))
// before the driver starts sleeping on it; off, the driver polls before
// the line is held back, so that no waiter sleeps on a line nobody takes.
// Also with requests in flight.
func Switch(dev Completer, on bool, setLine func(on bool) error) error {
	if on {
		if err := setLine(true); err != nil {
			return err
		}
		dev.UseInterrupts(true)
		return nil
	}
	dev.UseInterrupts(false)
	return setLine(false)
}
