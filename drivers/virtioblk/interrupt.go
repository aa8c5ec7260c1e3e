package virtioblk

import "github.com/tamaswap/tamaswap/virtio"

// Interrupt is the hook for a platform that routes the device's
// interrupt (INTx, a virtio-mmio line, or one MSI-X vector shared by the
// configuration and every queue) to the driver: it acknowledges the
// interrupt by reading the ISR status and completes whatever the device
// has finished on every queue. Call it from the interrupt's goroutine,
// never from a context that cannot block briefly.
func (d *Device) Interrupt() {
	isr := d.t.InterruptStatus()
	if isr&2 != 0 { // configuration change: maybe DEVICE_NEEDS_RESET
		if err := virtio.CheckStatus(d.t); err != nil {
			d.declareBroken(err)
			return
		}
	}
	for i := range d.qs {
		d.qs[i].interrupt()
	}
}

// QueueInterrupt is the hook for an interrupt that only queue q raises,
// such as a per-queue MSI-X vector: it completes what the device has
// finished on queue q, without reading the ISR status, which MSI-X
// interrupts do not need (§4.1.4.5). The configuration vector's handler
// calls Interrupt. A q out of range does nothing.
//
// On virtio-pci, a board maps the vectors as Linux's virtio_pci does
// (vp_find_vqs_msix): MSI-X table entry 0 for configuration changes, entry
// 1+i for queue i, calling p.SetMSIXVectors(0, uint16(i), uint16(1+i)) for
// each i < NumQueues() after New and before UseInterrupts(true); a device
// with fewer table entries answers NO_VECTOR, which SetMSIXVectors
// reports, and the board then falls back to one shared vector (every
// queue mapped to entry 0, whose handler calls Interrupt).
func (d *Device) QueueInterrupt(q int) {
	if q < 0 || q >= len(d.qs) {
		return
	}
	d.qs[q].interrupt()
}

// interrupt completes what the device finished on q. It waits for a
// poller in progress rather than skip: waiters in interrupt mode do not
// poll, so this completion must not be missed.
func (q *queue) interrupt() {
	q.pollMu.Lock()
	q.reap()
	q.pollMu.Unlock()
}

// UseInterrupts switches every queue between polling (the default) and
// interrupt driven completion, also with requests in flight: with on,
// the device is asked for used buffer notifications and waiting requests
// sleep until Interrupt (or QueueInterrupt) completes them, so the
// platform should call it for every interrupt. A lost interrupt costs
// latency only: waiters look at the used ring themselves at a short
// interval, and the timeout (SetTimeout) holds as when polling.
func (d *Device) UseInterrupts(on bool) {
	d.interruptDriven.Store(on)
	for i := range d.qs {
		q := &d.qs[i]
		q.mu.Lock()
		if q.stateErr() == nil {
			q.vq.EnableInterrupts(on)
		}
		q.mu.Unlock()
		// A completion that arrived while interrupts were off raised
		// none: look at the ring after enabling them ("Receiving Used
		// Buffers From The Device", §2.7.14); switching them off,
		// complete what is there for the waiters that were sleeping.
		q.interrupt()
	}
}
