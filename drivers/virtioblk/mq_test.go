package virtioblk

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/virtio"
	"github.com/tamaswap/tamaswap/virtio/virtiotest"
)

// TestNumQueues: the driver sets up min(num_queues, GOMAXPROCS, 8) queues,
// fewer with MaxQueues, and one without VIRTIO_BLK_F_MQ.
func TestNumQueues(t *testing.T) {
	cases := []struct {
		model, cpus int
		opts        []Option
		features    uint64 // 0: all
		want        int
	}{
		{model: 1, cpus: 8, want: 1},
		{model: 2, cpus: 8, want: 2},
		{model: 4, cpus: 2, want: 2},
		{model: 4, cpus: 1, want: 1},
		{model: 16, cpus: 64, want: maxQueues},
		{model: 4, cpus: 8, opts: []Option{MaxQueues(3)}, want: 3},
		{model: 4, cpus: 8, opts: []Option{MaxQueues(1)}, want: 1},
		{model: 4, cpus: 8, opts: []Option{MaxQueues(0)}, want: 1},
		// MQ not offered: num_queues is not read.
		{model: 4, cpus: 8, features: offered(t, transport{virtiotest.PCIModern, false, 1}), want: 1},
	}
	defer func() { numCPU = func() int { return testCPUs } }()
	for _, c := range cases {
		t.Run(fmt.Sprintf("model%d-cpus%d-opts%d-f%#x", c.model, c.cpus, len(c.opts), c.features), func(t *testing.T) {
			numCPU = func() int { return c.cpus }
			m, err := virtiotest.New(virtiotest.Config{Transport: virtiotest.PCIModern, NumQueues: c.model, Features: c.features})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			tp, err := attach(m, virtiotest.PCIModern)
			if err != nil {
				t.Fatal(err)
			}
			d, err := New(tp, m.DMA(), c.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Disconnect()
			if got := d.NumQueues(); got != c.want {
				t.Errorf("%d queues, want %d", got, c.want)
			}
			if got := len(d.Stats().Queues); got != c.want {
				t.Errorf("Stats has %d queues, want %d", got, c.want)
			}
			if s := d.String(); !strings.Contains(s, fmt.Sprintf("queues %d,", c.want)) {
				t.Errorf("String %q does not say queues %d", s, c.want)
			}
			if err := d.Write(0, make([]byte, 512)); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestMultiQueueConcurrent: several goroutines per queue on several
// queues write and read back sectors of their own (run it with -race);
// every queue carries requests, and every request submitted is reaped.
func TestMultiQueueConcurrent(t *testing.T) {
	for _, tr := range []transport{
		{virtiotest.PCIModern, false, 4}, {virtiotest.MMIOModern, true, 4},
		{virtiotest.PCILegacy, false, 3}, {virtiotest.MMIOLegacy, false, 2},
	} {
		t.Run(tr.String(), func(t *testing.T) {
			d, m := open(t, virtiotest.Config{Transport: tr.Transport, Packed: tr.packed, NumQueues: tr.queues, QueueSize: 16})
			const perQueue = 3
			goroutines := perQueue * tr.queues
			var wg sync.WaitGroup
			errs := make(chan error, goroutines)
			for g := range goroutines {
				wg.Go(func() {
					w, r := make([]byte, 2048), make([]byte, 2048)
					for i := range 40 {
						sector := int64(g*64 + i%16*4)
						for k := range w {
							w[k] = byte(g*7 + i + k)
						}
						if err := d.Write(sector, w); err != nil {
							errs <- err
							return
						}
						if err := d.Read(sector, r); err != nil {
							errs <- err
							return
						}
						if !bytes.Equal(w, r) {
							errs <- fmt.Errorf("goroutine %d: sector %d read back differs", g, sector)
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			st := d.Stats()
			for i, q := range st.Queues {
				if q.Submitted == 0 {
					t.Errorf("queue %d carried no request: %+v", i, st.Queues)
				}
				if q.Submitted != q.Reaped || q.InFlight != 0 {
					t.Errorf("queue %d: %+v", i, q)
				}
			}
			modelClean(t, m)
		})
	}
}

// holdOne starts a read on queue 0 (where the device must hold it) in a
// goroutine, waits until the device holds it, and returns the channel
// its error comes on.
func holdOne(t *testing.T, d *Device, m *virtiotest.Device, buf []byte) <-chan error {
	t.Helper()
	// pick's next round-robin position is queue 0, which is idle.
	d.next.Store(uint32(len(d.qs) - 1))
	held := make(chan error, 1)
	go func() { held <- d.Read(8, buf) }()
	deadline := time.Now().Add(5 * time.Second)
	for m.Held() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no request was held")
		}
		time.Sleep(time.Millisecond)
	}
	return held
}

// TestMultiQueueSpreading: while a caller waits on one queue (the
// device holds its request there), another caller's requests go to the
// other queue and complete, one after another. Round-robin alone would
// put every second one behind the held request.
func TestMultiQueueSpreading(t *testing.T) {
	for _, tr := range []transport{{virtiotest.PCIModern, false, 2}, {virtiotest.MMIOModern, true, 2}} {
		t.Run(tr.String(), func(t *testing.T) {
			d, m := open(t, virtiotest.Config{Transport: tr.Transport, Packed: tr.packed, NumQueues: 2,
				QueueLies: []virtiotest.Lie{virtiotest.LieSilent, virtiotest.Honest}})
			d.SetTimeout(time.Minute)
			held := holdOne(t, d, m, make([]byte, 512))
			before := d.Stats().Queues
			if before[0].InFlight != 1 {
				t.Fatalf("queue 0 does not hold the request: %+v", before)
			}
			buf := make([]byte, 4096)
			for i := range 20 {
				done := make(chan error, 1)
				go func() { done <- d.Read(int64(i), buf) }()
				select {
				case err := <-done:
					if err != nil {
						t.Fatal(err)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("read %d went to the queue whose request is held", i)
				}
			}
			after := d.Stats().Queues
			if got := after[1].Submitted - before[1].Submitted; got != 20 {
				t.Errorf("queue 1 took %d of the 20 reads: %+v", got, after)
			}
			if err := d.Disconnect(); err != nil {
				t.Fatal(err)
			}
			if err := <-held; !errors.Is(err, block.ErrDisconnected) {
				t.Errorf("held read: %v, want ErrDisconnected", err)
			}
		})
	}
}

// TestMultiQueueSpreadingBusy: two callers that each keep one request
// in flight both get queues of their own most of the time.
func TestMultiQueueSpreadingBusy(t *testing.T) {
	d, _ := open(t, virtiotest.Config{Transport: virtiotest.PCIModern, NumQueues: 2})
	readers(t, d, 2, 200)
	q := d.Stats().Queues
	if q[0].Submitted < 40 || q[1].Submitted < 40 {
		t.Errorf("400 reads from two callers spread as %d and %d", q[0].Submitted, q[1].Submitted)
	}
}

// TestMultiQueueLieBreaksDevice: a lie on queue 1 breaks the whole
// device: the request queue 0 holds fails at once (not after the
// timeout) with the device's error, and every later call fails.
func TestMultiQueueLieBreaksDevice(t *testing.T) {
	for _, lie := range []virtiotest.Lie{virtiotest.LieUsedIDOutOfRange, virtiotest.LieStatusByte, virtiotest.LieDoubleComplete} {
		for _, tr := range []transport{{virtiotest.PCIModern, false, 2}, {virtiotest.MMIOModern, true, 2}, {virtiotest.PCILegacy, false, 2}} {
			t.Run(lie.String()+"/"+tr.String(), func(t *testing.T) {
				d, m := open(t, virtiotest.Config{Transport: tr.Transport, Packed: tr.packed, NumQueues: 2,
					QueueLies: []virtiotest.Lie{virtiotest.LieSilent, lie}})
				d.SetTimeout(time.Minute)
				start := time.Now()
				held := holdOne(t, d, m, make([]byte, 512))
				// Reads on queue 1 (queue 0 is busy); a double completion
				// shows at the next look at the ring, after the first.
				reads := make(chan error, 1)
				go func() {
					var err error
					for range 3 {
						if err = d.Read(0, make([]byte, 4096)); err != nil {
							break
						}
					}
					reads <- err
				}()
				var err error
				select {
				case err = <-reads:
				case <-time.After(10 * time.Second):
					t.Fatal("the reads on queue 1 hang")
				}
				if !errors.Is(err, block.ErrIO) || !errors.Is(err, virtio.ErrDeviceBroken) {
					t.Errorf("read on queue 1: %v, want ErrIO and ErrDeviceBroken", err)
				}
				select {
				case err := <-held:
					if !errors.Is(err, block.ErrIO) || !errors.Is(err, virtio.ErrDeviceBroken) {
						t.Errorf("queue 0's read: %v, want ErrIO and ErrDeviceBroken", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("queue 0's read did not fail when queue 1 lied")
				}
				if el := time.Since(start); el > 10*time.Second {
					t.Errorf("took %v", el)
				}
				for range 4 {
					if err := d.Write(0, make([]byte, 512)); !errors.Is(err, virtio.ErrDeviceBroken) {
						t.Errorf("write after: %v", err)
					}
				}
				for i, q := range d.Stats().Queues {
					if q.InFlight != 0 {
						t.Errorf("queue %d still has %d in flight", i, q.InFlight)
					}
				}
			})
		}
	}
}

// TestMultiQueueTimeout: a request unanswered on queue 1 past the
// timeout breaks the device, and the requests queue 0 holds fail with
// it.
func TestMultiQueueTimeout(t *testing.T) {
	d, m := open(t, virtiotest.Config{Transport: virtiotest.PCIModern, NumQueues: 2,
		QueueLies: []virtiotest.Lie{virtiotest.LieSilent, virtiotest.LieSilent}})
	d.SetTimeout(100 * time.Millisecond)
	held := holdOne(t, d, m, make([]byte, 512))
	err := d.Read(0, make([]byte, 512))
	if !errors.Is(err, virtio.ErrDeviceBroken) {
		t.Errorf("read: %v", err)
	}
	if err := <-held; !errors.Is(err, virtio.ErrDeviceBroken) {
		t.Errorf("the other queue's read: %v", err)
	}
}

// TestMultiQueueQuarantine: a device that holds requests on both queues
// and ignores the reset keeps both queues' memory: HeldBytes is the sum
// of both queues' rings, request headers and bounce buffers, and exactly
// that (with the lent buffer) stays missing from the DMA memory after
// Disconnect.
func TestMultiQueueQuarantine(t *testing.T) {
	for _, tr := range []transport{{virtiotest.PCIModern, false, 2}, {virtiotest.MMIOModern, true, 2}} {
		t.Run(tr.String(), func(t *testing.T) {
			d, m, free := openFree(t, virtiotest.Config{Transport: tr.Transport, Packed: tr.packed, NumQueues: 2,
				Lie: virtiotest.LieIgnoreReset, QueueSize: 16})
			d.SetTimeout(50 * time.Millisecond)
			d.SetResetLimit(5 * time.Millisecond)
			var want int64
			for i := range d.qs {
				want += d.qs[i].memBytes()
			}
			held := holdOne(t, d, m, make([]byte, 512))
			lent := mustAlloc(t, d, 4096)
			err := d.Read(16, lent) // on the other queue: held too
			brokenHeld(t, "lent read", err, true)
			brokenHeld(t, "bounced read", <-held, false)
			st := d.Stats()
			if st.Queues[0].Submitted == 0 || st.Queues[1].Submitted == 0 {
				t.Errorf("not both queues held requests: %+v", st.Queues)
			}
			if !st.Quarantined || st.HeldBytes != want || st.HeldCallerBytes != 4096 {
				t.Errorf("stats %+v: want quarantined, %d bytes of both queues held, 4096 caller bytes", st, want)
			}
			d.FreeBuffer(lent)
			if err := d.Disconnect(); err != nil {
				t.Errorf("Disconnect: %v", err)
			}
			if got, want := m.DMA().Available(), free-int(st.HeldBytes)-4096; got != want {
				t.Errorf("%d bytes of DMA memory free, want %d", got, want)
			}
		})
	}
}

// TestQueueInterrupt: with per-queue interrupts (a vector per queue)
// routed to QueueInterrupt, requests on every queue complete without
// re-checks; routed all to queue 0's, queue 1's waiters wait for their
// re-checks, which shows the routing matters.
func TestQueueInterrupt(t *testing.T) {
	for _, wrong := range []bool{false, true} {
		t.Run(fmt.Sprintf("wrong=%v", wrong), func(t *testing.T) {
			var drv atomic.Pointer[Device]
			var perQueue [2]atomic.Int64
			cfg := virtiotest.Config{Transport: virtiotest.PCIModern, NumQueues: 2}
			cfg.OnQueueInterrupt = func(q int) {
				perQueue[q].Add(1)
				if wrong {
					q = 0
				}
				if d := drv.Load(); d != nil {
					d.QueueInterrupt(q)
				}
			}
			cfg.OnInterrupt = func() {
				if d := drv.Load(); d != nil {
					d.Interrupt()
				}
			}
			d, _ := open(t, cfg)
			drv.Store(d)
			d.QueueInterrupt(-1) // out of range: nothing
			d.QueueInterrupt(2)
			d.UseInterrupts(true)
			readers(t, d, 2, 20)
			st := d.Stats()
			if perQueue[0].Load() == 0 || perQueue[1].Load() == 0 {
				t.Errorf("interrupts per queue %d, %d: want both", perQueue[0].Load(), perQueue[1].Load())
			}
			if !wrong && st.Rechecked != 0 {
				t.Errorf("%d completions found by re-checks: %+v", st.Rechecked, st.Queues)
			}
			if wrong && st.Queues[1].Rechecked == 0 {
				t.Errorf("queue 1's interrupts went to queue 0, yet no re-check was needed: %+v", st.Queues)
			}
		})
	}
}

// readers starts that many goroutines, each making reads 4 KiB reads at
// sectors of its own, and waits for them.
func readers(t *testing.T, d *Device, goroutines, reads int) {
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			buf := make([]byte, 4096)
			for i := range reads {
				if err := d.Read(int64(g*reads+i), buf); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
