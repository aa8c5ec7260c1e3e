package virtioblk

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/virtio"
	"github.com/tamaswap/tamaswap/virtio/virtiotest"
)

// FuzzHostileDevice drives the driver against a device that lies at
// random (virtiotest.LieRandom), over a random transport and
// configuration, from one to three goroutines at once. It checks that
// nothing panics or hangs, that every error after the device broke says
// so, and that no read reports success with data other than what was
// written.
func FuzzHostileDevice(f *testing.F) {
	f.Add(int64(1), uint8(0), uint8(2), uint8(0), uint8(3), []byte("read write flush read read write"))
	f.Add(int64(2), uint8(1), uint8(0), uint8(1), uint8(0), []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add(int64(3), uint8(2), uint8(6), uint8(2), uint8(20), bytes.Repeat([]byte{0x41, 0x82, 0xc3, 0x04}, 16))
	f.Add(int64(4), uint8(3), uint8(1), uint8(3), uint8(7), bytes.Repeat([]byte{0x11, 0x90, 0x23}, 20))
	f.Add(int64(5), uint8(0), uint8(4), uint8(0x1c), uint8(12), bytes.Repeat([]byte{0xff, 0x00, 0x7f}, 30))
	// Several queues, all lying or one of them.
	f.Add(int64(6), uint8(6), uint8(7), uint8(0x60), uint8(9), bytes.Repeat([]byte{0x12, 0x81, 0x40}, 30))
	f.Add(int64(7), uint8(17), uint8(5), uint8(0x40), uint8(30), bytes.Repeat([]byte{0x05, 0x91, 0x22, 0x60}, 25))
	f.Add(int64(9), uint8(19), uint8(7), uint8(0x63), uint8(15), bytes.Repeat([]byte{0x33, 0x84}, 40))
	f.Fuzz(func(t *testing.T, seed int64, transport, qexp, flags, lieAfter uint8, ops []byte) {
		if len(ops) > 256 {
			ops = ops[:256]
		}
		noHang("FuzzHostileDevice", func() { hostileRun(t, seed, transport, qexp, flags, lieAfter, ops) })
	})
}

// noHang runs f on a goroutine of its own and panics if it has not
// returned within a minute: a panic shows every goroutine's stack.
func noHang(name string, f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		panic(name + ": hang")
	}
}

// shadow is what a fuzz worker knows its sectors hold.
type shadow struct {
	ss    int64
	data  []byte
	known []bool // sectors whose contents are known
}

func newShadow(sectors int64, ss int) *shadow {
	s := &shadow{ss: int64(ss), data: make([]byte, sectors*int64(ss)), known: make([]bool, sectors)}
	for i := range s.known {
		s.known[i] = true
	}
	return s
}

// check reports a successful read of bufs at sector whose data differs
// from what is known.
func (s *shadow) check(t *testing.T, what string, sector int64, bufs [][]byte) {
	got := joined(bufs)
	for k := range int64(len(got)) / s.ss {
		if s.known[sector+k] && !bytes.Equal(got[k*s.ss:(k+1)*s.ss], s.data[(sector+k)*s.ss:(sector+k+1)*s.ss]) {
			t.Errorf("%s: read succeeded with wrong data in sector %d", what, sector+k)
			return
		}
	}
}

// wrote records a write of data at sector that returned err: on failure
// the sectors' contents are unknown.
func (s *shadow) wrote(sector int64, data []byte, err error) {
	copy(s.data[sector*s.ss:], data)
	for k := range int64(len(data)) / s.ss {
		s.known[sector+k] = err == nil
	}
}

// The device model's memory and the driver's timeout in hostileRun.
// 4 MiB holds the driver's least memory (a sector of bounce buffer per
// slot) at every configuration the fuzzer picks: 4096-byte sectors,
// 256-entry rings, several queues.
const (
	hostileDMA     = 4 << 20
	hostileTimeout = 250 * time.Millisecond
)

// hostileMemory holds the model memory of finished runs for the next
// ones: a fresh 4 MiB costs a run more in page faults than the rest of it
// does. Each run clears what it takes, as a new allocation would be.
var hostileMemory = sync.Pool{New: func() any { return virtiotest.NewMemory(hostileDMA) }}

// hostileRun is one fuzz execution. flags: bit 0 drops INDIRECT_DESC,
// bit 1 drops EVENT_IDX, bit 2 4096-byte blocks, bit 3 small seg_max and
// size_max, bit 4 FailIO on some sectors, bits 5–6 extra goroutines. The
// transport byte picks the ring format and the number of queues
// (transports), and above that whether only one queue lies.
func hostileRun(t *testing.T, seed int64, transport, qexp, flags, lieAfter uint8, ops []byte) {
	tr := transports[int(transport)%len(transports)]
	ss := 512
	if flags&4 != 0 {
		ss = 4096
	}
	const diskBytes = 256 << 10
	disk := block.NewMem(block.Info{ReadWrite: true, SectorSize: ss, Sectors: int64(diskBytes / ss)})
	mem := hostileMemory.Get().([]byte)
	defer hostileMemory.Put(mem) // after the model's Close and the driver's Disconnect
	clear(mem)
	cfg := virtiotest.Config{
		Transport: tr.Transport, Packed: tr.packed, NumQueues: tr.queues,
		Disk:      disk,
		QueueSize: 4 << (qexp % 7), // 4 .. 256
		Lie:       virtiotest.LieRandom,
		LieAfter:  int(lieAfter),
		Seed:      seed,
		Memory:    mem,
	}
	features := offeredCache(tr)
	if flags&1 != 0 {
		features &^= bit(virtio.IndirectDesc)
	}
	if flags&2 != 0 {
		features &^= bit(virtio.EventIdx)
	}
	if flags&8 != 0 {
		cfg.SegMax = uint32(1 + seed&3)
		cfg.SizeMax = uint32(ss * int(1+(seed>>2)&3))
		features |= bit(FeatureSizeMax)
	}
	cfg.Features = features
	if tr.queues > 1 && int(transport)/len(transports)&1 != 0 {
		// One queue lies, the others answer honestly.
		cfg.QueueLies = make([]virtiotest.Lie, tr.queues)
		cfg.QueueLies[int(uint64(seed)%uint64(tr.queues))] = virtiotest.LieRandom
		cfg.Lie = virtiotest.Honest
	}
	failSector := int64(-1)
	if flags&16 != 0 {
		failSector = int64(seed&0xff) * 8
		cfg.FailIO = func(write bool, sector int64) bool { return sector == failSector }
	}
	d, m, err := tryOpen(cfg)
	if err != nil {
		t.Errorf("%+v: %v", cfg, err) // not Fatal: this is not the test's goroutine
		return
	}
	defer m.Close()
	defer d.Disconnect()
	// A lie that leaves a request unanswered ends in the timeout: a short
	// one keeps such inputs from dominating the fuzzer's time (at 2 s,
	// ten times its other inputs together). An honest request that
	// takes longer on a slow host breaks the device, which every check
	// below allows.
	d.SetTimeout(hostileTimeout)

	workers := 1 + int(flags>>5)%3
	sectors := d.Info().Sectors
	span := sectors / int64(workers)
	var (
		mu          sync.Mutex
		broken      bool
		wg          sync.WaitGroup
		brokenAfter = func(err error, what string) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && broken:
				// A call that began before the device broke may still
				// succeed; only calls that began after must fail.
			case err == nil:
			case isBroken(err):
				broken = true
			case errors.Is(err, block.ErrIO) && failSector >= 0:
			default:
				t.Errorf("%s: unexpected error %v", what, err)
			}
		}
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(w)))
			base := int64(w) * span
			sh := newShadow(span, ss)
			for i := w; i < len(ops); i += workers {
				mu.Lock()
				wasBroken := broken
				mu.Unlock()
				op := ops[i]
				n := 1 + int64(op>>3)%16
				n = min(n, span)
				sector := rng.Int64N(span - n + 1)
				bufs := hostileBufs(d, rng, int(n), ss)
				what := fmt.Sprintf("op %d (%#x) %d sectors at %d", i, op, n, base+sector)
				var err error
				switch op % 5 {
				case 0, 1:
					err = d.Read(base+sector, bufs...)
					if err == nil {
						sh.check(t, what, sector, bufs)
					}
				case 2, 3:
					for _, b := range bufs {
						fillRandom(rng, b)
					}
					err = d.Write(base+sector, bufs...)
					sh.wrote(sector, joined(bufs), err)
				default:
					if op&0x80 != 0 {
						err = d.Flush()
					} else {
						err = d.WriteZeroes(base+sector, n)
						sh.wrote(sector, make([]byte, n*int64(ss)), err)
					}
				}
				for _, b := range bufs {
					d.FreeBuffer(b)
				}
				if wasBroken && !isBroken(err) {
					t.Errorf("%s after the device broke: %v", what, err)
				}
				brokenAfter(err, what)
			}
		}()
	}
	wg.Wait()
}

// isBroken reports whether err says the device broke: the package's
// promise is an error wrapping virtio.ErrDeviceBroken, or
// virtio.ErrNeedsReset when the device itself set DEVICE_NEEDS_RESET.
func isBroken(err error) bool {
	return errors.Is(err, virtio.ErrDeviceBroken) || errors.Is(err, virtio.ErrNeedsReset)
}

var (
	offeredMu sync.Mutex
	offeredBy = map[transport]uint64{}
)

func offeredCache(tr transport) uint64 {
	offeredMu.Lock()
	defer offeredMu.Unlock()
	if f, ok := offeredBy[tr]; ok {
		return f
	}
	m, err := virtiotest.New(virtiotest.Config{Transport: tr.Transport, Packed: tr.packed, NumQueues: tr.queues, Sync: true})
	if err != nil {
		panic(err)
	}
	o, _ := m.Features()
	m.Close()
	offeredBy[tr] = o
	return o
}

func hostileBufs(d *Device, rng *rand.Rand, n, ss int) [][]byte {
	var bufs [][]byte
	for n > 0 {
		k := 1 + rng.IntN(n)
		var b []byte
		if rng.IntN(2) == 0 {
			b, _ = d.AllocBuffer(k * ss)
		}
		if b == nil {
			b = make([]byte, k*ss)
		}
		bufs = append(bufs, b)
		n -= k
	}
	return bufs
}

func joined(bufs [][]byte) []byte { return bytes.Join(bufs, nil) }
