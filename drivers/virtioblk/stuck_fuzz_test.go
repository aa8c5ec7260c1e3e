package virtioblk

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/virtio"
	"github.com/tamaswap/tamaswap/virtio/virtiotest"
)

// FuzzStuckDevice drives the driver against devices that stop answering
// (virtiotest.LieSilent), also ignoring their reset
// (virtiotest.LieIgnoreReset), or that answer but lose interrupts
// (Config.DropInterrupts), polling or with interrupts switched on and
// off under the requests, with timeouts and reset limits of
// milliseconds. It checks that no call hangs, that every error after the
// device broke says so, that only a device that ignored its reset holds
// buffers, that a successful read returns what was written, and that
// after Disconnect every byte of DMA memory is free again except what
// the quarantine reports it keeps.
func FuzzStuckDevice(f *testing.F) {
	f.Add(int64(1), uint8(0), uint8(0x00), uint8(3), uint8(2), []byte("read write flush read"))
	f.Add(int64(2), uint8(1), uint8(0x01), uint8(0), uint8(5), []byte{0, 1, 2, 3, 4, 5, 6, 7})
	f.Add(int64(3), uint8(2), uint8(0x03), uint8(4), uint8(1), bytes.Repeat([]byte{0x41, 0x82, 0xc3}, 12))
	f.Add(int64(4), uint8(3), uint8(0x8e), uint8(0), uint8(9), bytes.Repeat([]byte{0x11, 0x90, 0x23, 0x07}, 20))
	f.Add(int64(5), uint8(0), uint8(0xf6), uint8(7), uint8(3), bytes.Repeat([]byte{0xff, 0x00, 0x7f}, 30))
	f.Add(int64(6), uint8(2), uint8(0x73), uint8(1), uint8(0), bytes.Repeat([]byte{0x02, 0x10}, 40))
	// Several queues, one of which holds its requests.
	f.Add(int64(7), uint8(16), uint8(0x60), uint8(2), uint8(5), bytes.Repeat([]byte{0x00, 0x01, 0x12}, 20))
	f.Add(int64(8), uint8(19), uint8(0x63), uint8(3), uint8(3), bytes.Repeat([]byte{0x21, 0x40, 0x03}, 20))
	f.Fuzz(func(t *testing.T, seed int64, transport, flags, lieAfter, timeoutMs uint8, ops []byte) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		noHang("FuzzStuckDevice", func() { stuckRun(t, seed, transport, flags, lieAfter, timeoutMs, ops) })
	})
}

// stuckRun is one fuzz execution. flags: bit 0 LieIgnoreReset instead of
// LieSilent, bit 1 interrupts, bits 2–3 interrupts dropped (0, 1, 3, 20),
// bit 4 UseInterrupts toggled during the run, bits 5–6 extra goroutines,
// bit 7 an honest device (only interrupts are lost). The transport byte
// picks the ring format and the number of queues (transports), and above
// that whether only one queue holds its requests.
func stuckRun(t *testing.T, seed int64, transport, flags, lieAfter, timeoutMs uint8, ops []byte) {
	tr := transports[int(transport)%len(transports)]
	const ss, diskBytes = 512, 128 << 10
	cfg := virtiotest.Config{
		Transport:      tr.Transport,
		Packed:         tr.packed,
		NumQueues:      tr.queues,
		Disk:           block.NewMem(block.Info{ReadWrite: true, SectorSize: ss, Sectors: diskBytes / ss}),
		QueueSize:      4 << (seed & 3),
		Lie:            virtiotest.LieSilent,
		LieAfter:       int(lieAfter % 16),
		Seed:           seed,
		DMASize:        4 << 20,
		DropInterrupts: []int{0, 1, 3, 20}[flags>>2&3],
	}
	honest := flags&0x80 != 0
	switch {
	case honest:
		cfg.Lie = virtiotest.Honest
	case flags&1 != 0:
		cfg.Lie = virtiotest.LieIgnoreReset
	}
	ignoresReset := cfg.Lie == virtiotest.LieIgnoreReset
	if !honest && tr.queues > 1 && int(transport)/len(transports)&1 != 0 {
		// One queue holds its requests, the others answer.
		cfg.QueueLies = make([]virtiotest.Lie, tr.queues)
		cfg.QueueLies[int(uint64(seed)%uint64(tr.queues))] = cfg.Lie
		cfg.Lie = virtiotest.Honest
	}
	var drv atomic.Pointer[Device]
	cfg.OnInterrupt = func() {
		if d := drv.Load(); d != nil {
			d.Interrupt()
		}
	}
	m, err := virtiotest.New(cfg)
	if err != nil {
		t.Errorf("%+v: %v", cfg, err) // not Fatal: this is not the test's goroutine
		return
	}
	defer m.Close()
	free := m.DMA().Available()
	tp, err := attach(m, tr.Transport)
	if err != nil {
		t.Errorf("attach: %v", err)
		return
	}
	d, err := New(tp, m.DMA())
	if err != nil {
		t.Errorf("New: %v", err)
		return
	}
	drv.Store(d)
	timeout := time.Duration(1+timeoutMs%20) * time.Millisecond
	resetLimit := time.Duration(1+seed>>2&3) * time.Millisecond
	if honest {
		// An honest device must never be declared broken: its timeout
		// is long, only lost interrupts slow it.
		timeout = 10 * time.Second
	}
	d.SetTimeout(timeout)
	d.SetResetLimit(resetLimit)
	d.UseInterrupts(flags&2 != 0)

	stop := make(chan struct{})
	var toggler sync.WaitGroup
	if flags&0x10 != 0 {
		toggler.Add(1)
		go func() {
			defer toggler.Done()
			for on := true; ; on = !on {
				select {
				case <-stop:
					return
				default:
				}
				d.UseInterrupts(on)
				time.Sleep(200 * time.Microsecond)
			}
		}()
	}

	workers := 1 + int(flags>>5)%3
	span := int64(diskBytes/ss) / int64(workers)
	// The longest a call may take: each of its requests can wait for a
	// timeout (the device is broken after the first) and a reset limit,
	// with room for a loaded machine.
	bound := 50*timeout + resetLimit + 2*time.Second
	var (
		mu     sync.Mutex
		broken bool
		wg     sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(w)))
			base := int64(w) * span
			sh := newShadow(span, ss)
			for i := w; i < len(ops); i += workers {
				op := ops[i]
				n := min(1+int64(op>>3)%8, span)
				sector := rng.Int64N(span - n + 1)
				bufs := hostileBufs(d, rng, int(n), ss)
				what := fmt.Sprintf("op %d (%#x) %d sectors at %d", i, op, n, base+sector)
				mu.Lock()
				wasBroken := broken
				mu.Unlock()
				start := time.Now()
				var err error
				switch op % 3 {
				case 0:
					err = d.Read(base+sector, bufs...)
					if err == nil {
						sh.check(t, what, sector, bufs)
					}
				case 1:
					for _, b := range bufs {
						fillRandom(rng, b)
					}
					err = d.Write(base+sector, bufs...)
					sh.wrote(sector, joined(bufs), err)
				default:
					err = d.Flush()
				}
				if el := time.Since(start); el > bound {
					t.Errorf("%s took %v (timeout %v, reset limit %v)", what, el, timeout, resetLimit)
				}
				held := errors.Is(err, block.ErrBuffersHeld)
				switch {
				case err == nil:
					if wasBroken {
						t.Errorf("%s succeeded after the device broke", what)
					}
				case !errors.Is(err, block.ErrIO) || !errors.Is(err, virtio.ErrDeviceBroken):
					t.Errorf("%s: %v, want ErrIO and ErrDeviceBroken", what, err)
				case honest:
					t.Errorf("%s: an honest device broke: %v", what, err)
				case held && !ignoresReset:
					t.Errorf("%s: %v: buffers held by a device that honours its reset", what, err)
				}
				if err != nil {
					mu.Lock()
					broken = true
					mu.Unlock()
				}
				// Held buffers must not be touched; FreeBuffer knows
				// them and keeps them.
				for _, b := range bufs {
					d.FreeBuffer(b)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	toggler.Wait()
	derr := d.Disconnect()
	st := d.Stats()
	if derr != nil && (!ignoresReset || !errors.Is(derr, virtio.ErrDeviceBroken)) {
		t.Errorf("Disconnect: %v", derr)
	}
	if st.Quarantined && !ignoresReset {
		t.Errorf("quarantined a device that honours its reset: %+v", st)
	}
	want := free
	if st.Quarantined {
		want -= int(st.HeldBytes + st.HeldCallerBytes)
	}
	if got := m.DMA().Available(); got != want {
		t.Errorf("%d bytes of DMA memory free after Disconnect, want %d (stats %+v)", got, want, st)
	}
}
