package virtioblk

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/block/blocktest"
	"github.com/tamaswap/tamaswap/virtio"
	"github.com/tamaswap/tamaswap/virtio/virtiotest"
)

// openWired is open with the model's interrupt line wired to the
// driver's interrupt handler, as a platform wires an IRQ.
func openWired(tb testing.TB, cfg virtiotest.Config) (*Device, *virtiotest.Device) {
	tb.Helper()
	var drv atomic.Pointer[Device]
	cfg.OnInterrupt = func() {
		if d := drv.Load(); d != nil {
			d.Interrupt()
		}
	}
	d, m := open(tb, cfg)
	drv.Store(d)
	return d, m
}

// openFree is open that also returns the model's free DMA memory before
// the driver took any.
func openFree(tb testing.TB, cfg virtiotest.Config) (*Device, *virtiotest.Device, int) {
	tb.Helper()
	m, err := virtiotest.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	free := m.DMA().Available()
	tp, err := attach(m, cfg.Transport)
	if err != nil {
		tb.Fatal(err)
	}
	d, err := New(tp, m.DMA())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Disconnect() })
	return d, m, free
}

// brokenHeld checks that err is a failure after the device broke, and
// whether it says the buffers are held.
func brokenHeld(tb testing.TB, what string, err error, held bool) {
	tb.Helper()
	if !errors.Is(err, block.ErrIO) || !errors.Is(err, virtio.ErrDeviceBroken) {
		tb.Errorf("%s: %v, want ErrIO and ErrDeviceBroken", what, err)
	}
	if got := errors.Is(err, block.ErrBuffersHeld); got != held {
		tb.Errorf("%s: %v: ErrBuffersHeld %v, want %v", what, err, got, held)
	}
}

// TestQuarantine lends zero-copy buffers to a device that holds them and
// ignores the reset, and checks that no byte of memory the driver gives
// back or hands out afterwards changes while the device goes on writing
// the buffers it holds. Handing the held buffers back (FreeBuffer) or
// freeing the rings at Disconnect would put them in the next
// allocations, and the device's writes would show there.
func TestQuarantine(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			d, m, free := openFree(t, virtiotest.Config{Transport: tr.Transport, Packed: tr.packed, NumQueues: tr.queues, Lie: virtiotest.LieIgnoreReset, LieAfter: 2, QueueSize: 16})
			d.SetTimeout(50 * time.Millisecond)
			d.SetResetLimit(5 * time.Millisecond)
			for i := range 2 {
				if err := d.Write(int64(i), make([]byte, 512)); err != nil {
					t.Fatal(err)
				}
			}
			// Two requests in flight: one bounced (Go memory), one
			// lending DMA buffers.
			bounced := make(chan error, 1)
			go func() { bounced <- d.Read(100, make([]byte, 4096)) }()
			for m.Held() == 0 {
				time.Sleep(time.Millisecond)
			}
			lent := [][]byte{mustAlloc(t, d, 8192), mustAlloc(t, d, 4096)}
			start := time.Now()
			err := d.Read(200, lent...)
			if el := time.Since(start); el > time.Second {
				t.Errorf("the read took %v", el)
			}
			brokenHeld(t, "lent read", err, true)
			brokenHeld(t, "bounced read", <-bounced, false)
			if err := d.Read(0, make([]byte, 512)); !errors.Is(err, virtio.ErrDeviceBroken) {
				t.Errorf("read after: %v", err)
			}
			st := d.Stats()
			if !st.Quarantined || st.HeldBytes <= 0 || st.HeldCallerBytes != 12288 {
				t.Errorf("stats %+v: want quarantined, held bytes, 12288 caller bytes", st)
			}
			for _, b := range lent {
				d.FreeBuffer(b) // must do nothing
			}
			if err := d.Disconnect(); err != nil {
				t.Errorf("Disconnect: %v", err)
			}
			st = d.Stats()
			if st.RefusedFrees != 2 {
				t.Errorf("%d frees refused, want 2", st.RefusedFrees)
			}
			t.Logf("quarantined: %d bytes of the driver's DMA memory and %d of callers' kept", st.HeldBytes, st.HeldCallerBytes)
			// Exactly the quarantined memory is missing.
			if got, want := m.DMA().Available(), free-int(st.HeldBytes)-12288; got != want {
				t.Errorf("%d bytes of DMA memory free, want %d", got, want)
			}
			if s := m.Status(); s == 0 {
				t.Error("the model acknowledged the reset")
			}

			// Everything the driver can hand out now, filled with a
			// known value; the device is still writing.
			var bufs [][]byte
			for {
				b, err := d.AllocBuffer(4096)
				if err != nil {
					break
				}
				for i := range b {
					b[i] = 0x5a
				}
				bufs = append(bufs, b)
			}
			if len(bufs) == 0 {
				t.Fatal("no DMA memory left to allocate")
			}
			s0 := m.Scribbles()
			for m.Scribbles() < s0+20 {
				time.Sleep(time.Millisecond)
			}
			changed := 0
			for _, b := range bufs {
				for _, v := range b {
					if v != 0x5a {
						changed++
					}
				}
			}
			if changed != 0 {
				t.Errorf("%d bytes of memory the driver handed out changed under the device", changed)
			}
			for _, b := range bufs {
				d.FreeBuffer(b)
			}
		})
	}
}

func mustAlloc(tb testing.TB, d *Device, n int) []byte {
	tb.Helper()
	b, err := d.AllocBuffer(n)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestStuckDevice meets a device that never answers, polling and with
// interrupts: the call fails within a second of a 100 ms timeout, and
// nothing leaks but what a device that also ignores its reset keeps.
func TestStuckDevice(t *testing.T) {
	for _, lie := range []virtiotest.Lie{virtiotest.LieSilent, virtiotest.LieIgnoreReset} {
		for _, irq := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/interrupts=%v", lie, irq), func(t *testing.T) {
				var drv atomic.Pointer[Device]
				cfg := virtiotest.Config{Transport: virtiotest.MMIOModern, Lie: lie, LieAfter: 1}
				if irq {
					cfg.OnInterrupt = func() {
						if d := drv.Load(); d != nil {
							d.Interrupt()
						}
					}
				}
				d, m, free := openFree(t, cfg)
				drv.Store(d)
				d.UseInterrupts(irq)
				d.SetTimeout(100 * time.Millisecond)
				d.SetResetLimit(10 * time.Millisecond)
				buf := mustAlloc(t, d, 4096)
				if err := d.Write(0, buf); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				err := d.Read(0, buf)
				if el := time.Since(start); el > time.Second || el < 100*time.Millisecond {
					t.Errorf("the read failed after %v, want 100 ms to 1 s", el)
				}
				held := lie == virtiotest.LieIgnoreReset
				brokenHeld(t, "read", err, held)
				d.FreeBuffer(buf)
				d.Disconnect()
				st := d.Stats()
				want := free
				if held {
					want -= int(st.HeldBytes + st.HeldCallerBytes)
				}
				if got := m.DMA().Available(); got != want || st.Quarantined != held {
					t.Errorf("%d bytes of DMA memory free, want %d; stats %+v", got, want, st)
				}
				t.Logf("held: %d bytes of the driver's, %d of the caller's", st.HeldBytes, st.HeldCallerBytes)
			})
		}
	}
}

// TestLostInterrupts drops interrupts: every request still completes,
// later, and the completions the driver had to find itself are counted.
// UseInterrupts is toggled under requests in flight.
func TestLostInterrupts(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			const dropped = 5
			d, m := openWired(t, virtiotest.Config{Transport: tr.Transport, Packed: tr.packed, NumQueues: tr.queues, DropInterrupts: dropped})
			d.UseInterrupts(true)
			d.SetTimeout(10 * time.Second)
			buf := make([]byte, 4096)
			for i := range 2 * dropped {
				if err := d.Read(int64(i*8), buf); err != nil {
					t.Fatal(err)
				}
			}
			if got := m.DroppedInterrupts(); got != dropped {
				t.Errorf("the model dropped %d interrupts, want %d", got, dropped)
			}
			if got := d.Stats().Rechecked; got < dropped {
				t.Errorf("%d completions found by re-checking, want at least %d", got, dropped)
			}

			var wg sync.WaitGroup
			stop := make(chan struct{})
			var toggles int
			go func() {
				for on := false; ; on = !on {
					select {
					case <-stop:
						d.UseInterrupts(true)
						close(stop)
						return
					default:
						time.Sleep(100 * time.Microsecond)
					}
					d.UseInterrupts(on)
					toggles++
				}
			}()
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					b := make([]byte, 8192)
					for i := range 50 {
						if err := d.Read(int64(g*1000+i*16), b); err != nil {
							t.Errorf("goroutine %d request %d: %v", g, i, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			stop <- struct{}{}
			<-stop
			if err := blocktest.TestDevice(d); err != nil {
				t.Error(err)
			}
			t.Logf("%d interrupts, %d dropped, %d completions re-checked, %d toggles",
				m.Interrupts(), m.DroppedInterrupts(), d.Stats().Rechecked, toggles)
			modelClean(t, m)
		})
	}
}

// TestInterruptModeAllocs: waiting with interrupts (a timer
// per slot, re-armed) costs no allocation per request, as polling does
// not, with one queue or several.
func TestInterruptModeAllocs(t *testing.T) {
	for _, nq := range []int{1, 2, 4} {
		for _, irq := range []bool{false, true} {
			d, _ := openWired(t, virtiotest.Config{Transport: virtiotest.MMIOModern, NumQueues: nq})
			if d.NumQueues() != nq {
				t.Fatalf("%d queues, want %d", d.NumQueues(), nq)
			}
			d.UseInterrupts(irq)
			buf := mustAlloc(t, d, 4096)
			bounced := make([]byte, 4096)
			for range 10 {
				if err := d.Read(0, buf); err != nil {
					t.Fatal(err)
				}
			}
			if n := testing.AllocsPerRun(200, func() { d.Read(0, buf) }); n > 0.05 {
				t.Errorf("queues=%d interrupts=%v: %v allocations per read", nq, irq, n)
			}
			if n := testing.AllocsPerRun(200, func() { d.Write(0, bounced) }); n > 0.05 {
				t.Errorf("queues=%d interrupts=%v: %v allocations per bounced write", nq, irq, n)
			}
			if nq > 1 {
				for i, q := range d.Stats().Queues {
					if q.Submitted == 0 {
						t.Errorf("queues=%d: queue %d carried none of the requests", nq, i)
					}
				}
			}
		}
	}
}

// TestDisconnectIgnored disconnects a device that holds a request and
// ignores the reset: Disconnect says so, the request fails holding its
// buffer, and nothing the device could reach is freed.
func TestDisconnectIgnored(t *testing.T) {
	d, m, free := openFree(t, virtiotest.Config{Transport: virtiotest.PCIModern, Lie: virtiotest.LieIgnoreReset})
	d.SetResetLimit(5 * time.Millisecond)
	buf := mustAlloc(t, d, 4096)
	read := make(chan error, 1)
	go func() { read <- d.Read(0, buf) }()
	for m.Held() == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := d.Disconnect(); !errors.Is(err, virtio.ErrDeviceBroken) {
		t.Errorf("Disconnect: %v, want ErrDeviceBroken", err)
	}
	err := <-read
	if !errors.Is(err, block.ErrBuffersHeld) || !errors.Is(err, block.ErrDisconnected) {
		t.Errorf("read: %v, want ErrBuffersHeld and ErrDisconnected", err)
	}
	d.FreeBuffer(buf)
	st := d.Stats()
	if got, want := m.DMA().Available(), free-int(st.HeldBytes+st.HeldCallerBytes); !st.Quarantined || got != want {
		t.Errorf("%d bytes free, want %d; stats %+v", got, want, st)
	}
	if err := d.Disconnect(); err != nil {
		t.Errorf("second Disconnect: %v", err)
	}
}

// TestHybridPollLostInterrupts: with a polling window, a request in interrupt mode
// completes by polling even when every interrupt is lost, without waiting
// for a re-check, and allocates nothing; past the window it sleeps, and
// the re-check finds it as before.
func TestHybridPollLostInterrupts(t *testing.T) {
	d, m := openWired(t, virtiotest.Config{Transport: virtiotest.MMIOModern, DropInterrupts: 1 << 30})
	d.UseInterrupts(true)
	d.SetHybridPoll(time.Second)
	buf := mustAlloc(t, d, 4096)
	start := time.Now()
	for i := range 20 {
		if err := d.Read(int64(i*8), buf); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el > 20*recheckInterval/2 {
		t.Errorf("20 reads took %v with interrupts lost: they waited for re-checks", el)
	}
	if got := d.Stats().Rechecked; got != 0 {
		t.Errorf("%d completions re-checked, want none: polling found them", got)
	}
	if n := testing.AllocsPerRun(200, func() { d.Read(0, buf) }); n > 0.05 {
		t.Errorf("%v allocations per read", n)
	}
	d.SetHybridPoll(0)
	if err := d.Read(0, buf); err != nil {
		t.Fatal(err)
	}
	if got := d.Stats().Rechecked; got == 0 {
		t.Error("without the window, no completion was re-checked although every interrupt is lost")
	}
	modelClean(t, m)
}
