//go:build (tamago && !arm) || (linux && (amd64 || arm64))

package main

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/virtioblk"
	"github.com/tamaswap/tamaswap/virtio"
)

// virtioDisk is a virtio-blk disk that can be found again after its
// driver declared the device broken: a request unanswered past the
// timeout, an impossible used ring entry, DEVICE_NEEDS_RESET. The driver
// has reset the device by then and fails every request with an I/O
// error; the disk is Gone. Reidentify, which the shell's info calls for
// a gone disk, starts a new driver on the same transport (open: the
// whole initialisation of virtio 1.2 §3.1.1 again, new rings), gives it
// the old one's settings (timeout, hybrid polling, completion mode) and
// has the board restore what the reset undid of its interrupt wiring
// (rewire). The board's interrupt calls this disk, not a driver
// (Interrupt, UseInterrupts), so its wiring outlives the driver; and
// callers that hold the disk (the swap manager, partitions) get working
// I/O back without being told.
//
// A device that did not acknowledge the reset is quarantined by its
// driver (it may still write what it was lent) and is not probed again.
type virtioDisk struct {
	open   func() (*virtioblk.Device, error)
	rewire func() error // nil: the board's wiring survives a reset
	dev    atomic.Pointer[virtioblk.Device]
	gone   atomic.Bool

	mu         sync.Mutex // settings and Reidentify
	closed     bool
	interrupts bool
	timeout    time.Duration
	timeoutSet bool
	hybrid     time.Duration
}

// newVirtioDisk opens the disk with open, which Reidentify calls again.
func newVirtioDisk(open func() (*virtioblk.Device, error), rewire func() error) (*virtioDisk, error) {
	d, err := open()
	if err != nil {
		return nil, err
	}
	v := &virtioDisk{open: open, rewire: rewire}
	v.dev.Store(d)
	return v, nil
}

// Device is the driver in use now.
func (v *virtioDisk) Device() *virtioblk.Device { return v.dev.Load() }

// note marks the disk gone when err says the device broke. It is on
// every request's path and allocates nothing.
func (v *virtioDisk) note(err error) error {
	if err != nil && (errors.Is(err, virtio.ErrDeviceBroken) || errors.Is(err, virtio.ErrNeedsReset)) {
		v.gone.Store(true)
	}
	return err
}

func (v *virtioDisk) Info() block.Info { return v.dev.Load().Info() }

func (v *virtioDisk) Read(sector int64, bufs ...[]byte) error {
	return v.note(v.dev.Load().Read(sector, bufs...))
}

func (v *virtioDisk) Write(sector int64, bufs ...[]byte) error {
	return v.note(v.dev.Load().Write(sector, bufs...))
}

func (v *virtioDisk) Flush() error { return v.note(v.dev.Load().Flush()) }

func (v *virtioDisk) Discard(sector, count int64) error {
	return v.note(v.dev.Load().Discard(sector, count))
}

func (v *virtioDisk) WriteZeroes(sector, count int64) error {
	return v.note(v.dev.Load().WriteZeroes(sector, count))
}

// AllocBuffer and FreeBuffer go to the driver in use; every driver of
// the disk takes DMA memory from the same place, and a quarantined one,
// which keeps what it lent, is never replaced.
func (v *virtioDisk) AllocBuffer(size int) ([]byte, error) { return v.dev.Load().AllocBuffer(size) }
func (v *virtioDisk) FreeBuffer(buf []byte)                { v.dev.Load().FreeBuffer(buf) }

// Disconnect disconnects the driver in use; the disk is not probed again.
func (v *virtioDisk) Disconnect() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.closed = true
	return v.dev.Load().Disconnect()
}

// Interrupt is the board's interrupt handler: the driver in use takes it.
func (v *virtioDisk) Interrupt() { v.dev.Load().Interrupt() }

// NumQueues is the driver's request queue count. A driver started by
// Reidentify runs as many: the device, its num_queues and GOMAXPROCS are
// the same, so the board's per-queue wiring still fits.
func (v *virtioDisk) NumQueues() int { return v.dev.Load().NumQueues() }

// QueueInterrupt is the board's handler of queue q's own interrupt (a
// per-queue MSI-X vector): the driver in use takes it.
func (v *virtioDisk) QueueInterrupt(q int) { v.dev.Load().QueueInterrupt(q) }

// UseInterrupts switches the driver in use, and the ones after it.
func (v *virtioDisk) UseInterrupts(on bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.interrupts = on
	v.dev.Load().UseInterrupts(on)
}

// SetTimeout is virtioblk.Device's, kept for the drivers after this one.
func (v *virtioDisk) SetTimeout(t time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.timeout, v.timeoutSet = t, true
	v.dev.Load().SetTimeout(t)
}

// SetHybridPoll is virtioblk.Device's, kept for the drivers after this
// one.
func (v *virtioDisk) SetHybridPoll(window time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.hybrid = window
	v.dev.Load().SetHybridPoll(window)
}

// Gone reports whether a request failed because the device broke.
func (v *virtioDisk) Gone() bool { return v.gone.Load() }

// Reidentify replaces a broken device's driver with a new one on the
// same transport (see virtioDisk). The device must answer as the same
// disk (the same block.Info). On failure the disk stays gone, every
// request fails (block.ErrDisconnected), and a later call tries again.
func (v *virtioDisk) Reidentify() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return block.ErrDisconnected
	}
	old := v.dev.Load()
	if st := old.Stats(); st.Quarantined {
		return fmt.Errorf("virtio-blk: not probed again: the device did not acknowledge its reset and may still write the %d bytes it was lent", st.HeldBytes+st.HeldCallerBytes)
	}
	// The old driver is reset already (it does not touch the device
	// again); this gives its memory back once the calls its breaking
	// failed have returned, and later calls fail as disconnected.
	old.Disconnect()
	d, err := v.open()
	if err != nil {
		return err
	}
	if d.Info() != old.Info() {
		d.Disconnect()
		return fmt.Errorf("virtio-blk: a different disk answers: %+v, was %+v", d.Info(), old.Info())
	}
	if v.timeoutSet {
		d.SetTimeout(v.timeout)
	}
	d.SetHybridPoll(v.hybrid)
	if v.rewire != nil {
		if err := v.rewire(); err != nil {
			d.Disconnect()
			return fmt.Errorf("virtio-blk: interrupt: %w", err)
		}
	}
	d.UseInterrupts(v.interrupts)
	v.dev.Store(d)
	v.gone.Store(false)
	return nil
}
