package virtiotest

import (
	"sync/atomic"
	"testing"
	"time"
)

// submitRead makes a read of data available and notifies, without waiting.
func (d *drv) submitRead(data []byte) {
	bufs, _ := d.blkBufs(blkTIn, 0, [][]byte{data}, true)
	d.publish(d.addChain(bufs))
	d.h.notify()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func TestLieSilent(t *testing.T) {
	for _, tr := range allTransports {
		d := newDrv(t, Config{Transport: tr, Lie: LieSilent, LieAfter: 1}, allFeatures)
		checkStatus(t, "honest", d.req(blkTIn, 0, [][]byte{d.dmaBuf(512, 0)}, true, false), blkSOK)
		data := d.dmaBuf(512, 7)
		d.submitRead(data)
		waitFor(t, "the request to be held", func() bool { return d.m.Held() == 1 })
		time.Sleep(2 * time.Millisecond)
		if idx := d.usedIdx(); idx != d.lastUsed {
			t.Errorf("%v: a silent device completed a request (used idx %d)", tr, idx)
		}
		d.h.setStatus(0)
		if s := d.h.status(); s != 0 {
			t.Errorf("%v: status %#x after reset: a silent device still resets", tr, s)
		}
		d.m.Close()
		if data[0] != 7 {
			t.Errorf("%v: a silent device wrote the data buffer", tr)
		}
	}
}

func TestLieIgnoreReset(t *testing.T) {
	for _, tr := range allTransports {
		d := newDrv(t, Config{Transport: tr, Lie: LieIgnoreReset}, allFeatures)
		// Zero, the one value the device's writes never have: a fill the
		// scribbling could land on would make this test pass or fail by
		// timing.
		data := d.dmaBuf(512, 0)
		d.submitRead(data)
		waitFor(t, "the request to be held", func() bool { return d.m.Held() == 1 })
		before := d.h.status()
		d.h.setStatus(0)
		if s := d.h.status(); s == 0 || s != before {
			t.Errorf("%v: status %#x after an ignored reset, want %#x", tr, s, before)
		}
		if n := d.m.IgnoredResets(); n != 1 {
			t.Errorf("%v: %d resets ignored", tr, n)
		}
		s0 := d.m.Scribbles()
		waitFor(t, "the device to write the held buffer", func() bool { return d.m.Scribbles() > s0+2 })
		if idx := d.usedIdx(); idx != 0 {
			t.Errorf("%v: used idx %d", tr, idx)
		}
		d.m.Close() // stops the writes: data may be read now
		if data[0] == 0 {
			t.Errorf("%v: the held buffer was not written after the reset", tr)
		}
		for i, b := range data {
			if b != data[0] {
				t.Errorf("%v: byte %d is %#x, byte 0 %#x: the device's last pass was torn", tr, i, b, data[0])
				break
			}
		}
	}
}

func TestInterruptLine(t *testing.T) {
	const dropped = 2
	for _, tr := range allTransports {
		var calls atomic.Int64
		d := newDrv(t, Config{Transport: tr, OnInterrupt: func() { calls.Add(1) }, DropInterrupts: dropped},
			allFeatures&^bit(featEventIdx))
		for i := range 5 {
			checkStatus(t, "read", d.req(blkTIn, uint64(8*i), [][]byte{d.dmaBuf(512, 0)}, true, false), blkSOK)
			// One completion a batch: the line is raised once for it.
			waitFor(t, "the interrupt", func() bool { return calls.Load()+int64(d.m.DroppedInterrupts()) == int64(i+1) })
		}
		if got := d.m.DroppedInterrupts(); got != dropped {
			t.Errorf("%v: %d interrupts dropped, want %d", tr, got, dropped)
		}
		if got := calls.Load(); got != 5-dropped {
			t.Errorf("%v: OnInterrupt called %d times, want %d", tr, got, 5-dropped)
		}
		if d.h.isr()&interruptUsedBuffer == 0 {
			t.Errorf("%v: interrupt status clear", tr)
		}
		// DEVICE_NEEDS_RESET raises it too.
		d.m.SetNeedsReset()
		waitFor(t, "the configuration change interrupt", func() bool { return calls.Load() == 6-dropped })
	}
}
