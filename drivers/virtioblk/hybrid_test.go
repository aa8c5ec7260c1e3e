package virtioblk

import (
	"sync"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/virtio/virtiotest"
)

// TestHybridPoll: with every interrupt lost, a request waiting in
// interrupt mode with a hybrid window still completes within it, from
// the ring, and no re-check is needed; without the window each one waits
// for a re-check.
func TestHybridPoll(t *testing.T) {
	d, m := openWired(t, virtiotest.Config{Transport: virtiotest.MMIOModern, DropInterrupts: 1 << 30})
	d.UseInterrupts(true)
	d.SetHybridPoll(time.Second)
	buf := make([]byte, 4096)
	start := time.Now()
	for range 20 {
		if err := d.Read(0, buf); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took > 20*recheckInterval/2 {
		t.Errorf("20 reads took %v: they waited for re-checks", took)
	}
	if n := d.Stats().Rechecked; n != 0 {
		t.Errorf("%d completions found by re-checks within the hybrid window", n)
	}
	d.SetHybridPoll(0)
	if err := d.Read(0, buf); err != nil {
		t.Fatal(err)
	}
	if n := d.Stats().Rechecked; n != 1 {
		t.Errorf("without the window, a lost interrupt: %d re-checks found it, want 1", n)
	}
	if m.DroppedInterrupts() == 0 {
		t.Error("the device raised no interrupt")
	}
}

// TestHybridPollConcurrent: requests from several goroutines, some
// completing within a short window and some sleeping, with the mode
// switched under them: all complete, and the device is asked for
// notifications again whenever nobody polls (no waiter sleeps until a
// re-check).
func TestHybridPollConcurrent(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.String(), func(t *testing.T) {
			d, _ := openWired(t, virtiotest.Config{Transport: tr.Transport, Packed: tr.packed, NumQueues: tr.queues})
			d.UseInterrupts(true)
			d.SetHybridPoll(20 * time.Microsecond)
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := make([]byte, 4096)
					for i := range 100 {
						if err := d.Read(int64(g*100+i)%64*8, buf); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			for i := range 20 {
				d.UseInterrupts(i%2 == 1)
				time.Sleep(time.Millisecond)
			}
			d.UseInterrupts(true)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if n := d.Stats().Rechecked; n > 8 {
				t.Errorf("%d completions found by re-checks", n)
			}
		})
	}
}
