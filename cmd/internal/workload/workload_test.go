package workload

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/swapfs"
)

func newMem(t testing.TB, mib int) *block.Mem {
	t.Helper()
	return block.NewMem(block.Info{ReadWrite: true, SectorSize: 512, Sectors: int64(mib) << 11})
}

// counter counts the requests a workload makes and the buffers it takes.
type counter struct {
	block.Device
	reads, writes       atomic.Int64
	readBytes, wrBytes  atomic.Int64
	maxReq              atomic.Int64
	mu                  sync.Mutex
	allocated, returned int
	delay               time.Duration
}

func (c *counter) Read(sector int64, bufs ...[]byte) error {
	c.reads.Add(1)
	c.note(&c.readBytes, bufs)
	return c.Device.Read(sector, bufs...)
}

func (c *counter) Write(sector int64, bufs ...[]byte) error {
	c.writes.Add(1)
	c.note(&c.wrBytes, bufs)
	return c.Device.Write(sector, bufs...)
}

func (c *counter) note(total *atomic.Int64, bufs [][]byte) {
	var n int64
	for _, b := range bufs {
		n += int64(len(b))
	}
	total.Add(n)
	for {
		m := c.maxReq.Load()
		if n <= m || c.maxReq.CompareAndSwap(m, n) {
			break
		}
	}
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
}

func (c *counter) AllocBuffer(size int) ([]byte, error) {
	c.mu.Lock()
	c.allocated++
	c.mu.Unlock()
	return make([]byte, size), nil
}

func (c *counter) FreeBuffer([]byte) {
	c.mu.Lock()
	c.returned++
	c.mu.Unlock()
}

func TestEveryWorkloadRuns(t *testing.T) {
	for _, w := range All() {
		t.Run(w.Name, func(t *testing.T) {
			c := &counter{Device: newMem(t, 16)}
			r, err := w.Run(Config{Dev: c, Bytes: 2 << 20, Duration: 5 * time.Second, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if r.Name != w.Name || r.Bytes < 2<<20 || r.Ops <= 0 || r.Elapsed <= 0 {
				t.Fatalf("result %+v", r)
			}
			if r.MiBps() <= 0 || r.IOPS() <= 0 {
				t.Fatalf("MiBps %v IOPS %v", r.MiBps(), r.IOPS())
			}
			// The swap workloads' own manager is closed at the end, so
			// its buffers come back too.
			if c.allocated == 0 || c.allocated != c.returned {
				t.Errorf("buffers: %d allocated through AllocBuffer, %d given back", c.allocated, c.returned)
			}
			if !w.Writes && c.writes.Load() != 0 {
				t.Errorf("read-only workload wrote %d times", c.writes.Load())
			}
			if noDevice(w) && c.reads.Load() != 0 {
				t.Errorf("the %s reference read the device %d times", w.Name, c.reads.Load())
			}
		})
	}
}

// TestHandedInSwapStaysOpen: a manager from Config.Swap is the caller's,
// left open with its buffers for the next run.
func TestHandedInSwapStaysOpen(t *testing.T) {
	c := &counter{Device: newMem(t, 16)}
	fs, err := NewSwap(c, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Dev: c, Bytes: 2 << 20, Swap: func(bool) (*swapfs.FS, error) { return fs, nil }}
	for _, name := range []string{"swap-append-64K", "swap-read-64K"} {
		if _, err := Run(name, cfg); err != nil {
			t.Fatal(name, err)
		}
	}
	h := fs.Empty()
	if err := h.Append(make([]byte, 4096)); err != nil {
		t.Fatalf("the manager after the runs: %v", err)
	}
	if err := h.Free(); err != nil {
		t.Fatal(err)
	}
	if c.returned == c.allocated {
		t.Errorf("all %d buffers given back: the caller's manager was closed", c.allocated)
	}
	if err := fs.Close(); err != nil || c.returned != c.allocated {
		t.Errorf("Close: %v; %d buffers allocated, %d given back", err, c.allocated, c.returned)
	}
}

func TestNames(t *testing.T) {
	want := []string{"seqwrite-1M", "seqread-1M", "randread-4K-qd1", "randwrite-4K-qd1", "randread-4K-qd16",
		"swap-append-64K", "swap-read-64K", "seed-append", "seed-read", "swap-append-64K-enc", "swap-read-64K-enc", "aead-seal-4K", "aead-open-4K", "copy-64K",
		"randread-4K-qd1-jobs2", "randread-4K-qd16-jobs2"}
	all := All()
	if len(all) != len(want) {
		t.Fatalf("%d workloads, want %d", len(all), len(want))
	}
	for i, w := range all {
		if w.Name != want[i] {
			t.Errorf("workload %d is %s, want %s", i, w.Name, want[i])
		}
	}
	if _, err := Run("nope", Config{Dev: newMem(t, 1)}); !errors.Is(err, ErrUnknown) {
		t.Errorf("Run(nope): %v, want ErrUnknown", err)
	}
}

func TestResultMath(t *testing.T) {
	r := Result{Bytes: 3 << 20, Ops: 300, Elapsed: 1500 * time.Millisecond}
	if r.MiBps() != 2 || r.IOPS() != 200 {
		t.Fatalf("MiBps %v IOPS %v, want 2 and 200", r.MiBps(), r.IOPS())
	}
	if (Result{Bytes: 1}).MiBps() != 0 || (Result{Ops: 1}).IOPS() != 0 {
		t.Fatal("zero Elapsed must give 0, not Inf")
	}
}

// TestRequestShapes checks what the device sees: request sizes and
// counts per workload, and the seed's one request per sector.
func TestRequestShapes(t *testing.T) {
	for _, tc := range []struct {
		name           string
		reads, writes  int64
		maxReq         int64
		exactReadBytes bool
	}{
		{"seqwrite-1M", 0, 4, 1 << 20, false},
		{"seqread-1M", 4, 0, 1 << 20, false},
		{"randread-4K-qd1", 1024, 0, 4 << 10, false},
		{"randwrite-4K-qd1", 0, 1024, 4 << 10, false},
		{"seed-append", 0, 8192, 512, false},
		{"seed-read", 8192, 0, 512, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &counter{Device: newMem(t, 16)}
			r, err := Run(tc.name, Config{Dev: c, Bytes: 4 << 20, Duration: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if r.Bytes != 4<<20 {
				t.Errorf("moved %d bytes, want exactly the budget %d", r.Bytes, 4<<20)
			}
			if c.reads.Load() != tc.reads || c.writes.Load() != tc.writes || c.maxReq.Load() != tc.maxReq {
				t.Errorf("%d reads, %d writes, largest request %d; want %d, %d, %d",
					c.reads.Load(), c.writes.Load(), c.maxReq.Load(), tc.reads, tc.writes, tc.maxReq)
			}
		})
	}
}

// TestSeedUnalignedAppend: the seed model reads the partial last sector
// before an unaligned append, and the data lands as a file would.
func TestSeedUnalignedAppend(t *testing.T) {
	m := newMem(t, 1)
	c := &counter{Device: m}
	e, err := newEnv(Config{Dev: c, Start: 3, Sectors: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer e.free()
	f, err := newSeedFile(e)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for i, n := range []int{1000, 24, 512, 700, 1} {
		p := bytes.Repeat([]byte{byte('a' + i)}, n)
		r0, w0 := c.reads.Load(), c.writes.Load()
		unaligned := len(want)%512 != 0
		if err := f.append(p); err != nil {
			t.Fatal(err)
		}
		wantReads := int64(0)
		if unaligned {
			wantReads = 1
		}
		if got := c.reads.Load() - r0; got != wantReads {
			t.Errorf("append %d (%d bytes at %d): %d reads, want %d", i, n, len(want), got, wantReads)
		}
		// One write per sector touched.
		first, last := len(want)/512, (len(want)+n-1)/512
		if got := c.writes.Load() - w0; got != int64(last-first+1) {
			t.Errorf("append %d: %d writes, want %d", i, got, last-first+1)
		}
		want = append(want, p...)
	}
	if got := m.Bytes()[3*512 : 3*512+len(want)]; !bytes.Equal(got, want) {
		t.Error("seed file contents differ from what was appended")
	}
	if c.maxReq.Load() != 512 {
		t.Errorf("largest request %d, want 512", c.maxReq.Load())
	}
}

// TestScratchRegion: writing workloads stay inside [Start, Start+Sectors).
func TestScratchRegion(t *testing.T) {
	for _, name := range []string{"seqwrite-1M", "randwrite-4K-qd1", "seed-append"} {
		t.Run(name, func(t *testing.T) {
			m := newMem(t, 8)
			orig := bytes.Repeat([]byte{0xee}, len(m.Bytes()))
			copy(m.Bytes(), orig)
			const start, count = 1000, 4096 // 2 MiB from sector 1000
			if _, err := Run(name, Config{Dev: m, Start: start, Sectors: count, Bytes: 8 << 20, Duration: time.Minute}); err != nil {
				t.Fatal(err)
			}
			b := m.Bytes()
			if !bytes.Equal(b[:start*512], orig[:start*512]) || !bytes.Equal(b[(start+count)*512:], orig[(start+count)*512:]) {
				t.Error("wrote outside the scratch region")
			}
			if bytes.Equal(b[start*512:(start+count)*512], orig[start*512:(start+count)*512]) {
				t.Error("wrote nothing inside the scratch region")
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	m := newMem(t, 1) // 2048 sectors
	for _, cfg := range []Config{
		{Dev: m, Start: -1},
		{Dev: m, Start: 2048},
		{Dev: m, Start: 10, Sectors: 2048},
		{Dev: m, Start: 1 << 62, Sectors: 1 << 62},
		{Dev: m, Start: 2040}, // 8 sectors: smaller than a 1 MiB request
	} {
		if _, err := Run("seqread-1M", cfg); !errors.Is(err, ErrRegion) {
			t.Errorf("%+v: error %v, want ErrRegion", cfg, err)
		}
	}
	if _, err := Run("seqread-1M", Config{}); err == nil {
		t.Error("no device: no error")
	}
}

func TestReadOnlyDisk(t *testing.T) {
	m := block.NewMem(block.Info{SectorSize: 512, Sectors: 16 << 11})
	for _, w := range All() {
		_, err := w.Run(Config{Dev: m, Bytes: 1 << 20})
		if w.Writes && !errors.Is(err, block.ErrReadOnly) {
			t.Errorf("%s: error %v, want ErrReadOnly", w.Name, err)
		}
		if !w.Writes && err != nil {
			t.Errorf("%s: %v", w.Name, err)
		}
	}
}

// failing fails every request from the after-th on with ErrIO.
type failing struct {
	block.Device
	n, after atomic.Int64
}

func (f *failing) Read(sector int64, bufs ...[]byte) error {
	if f.n.Add(1) > f.after.Load() {
		return block.Errorf("read", sector, block.ErrIO)
	}
	return f.Device.Read(sector, bufs...)
}

func (f *failing) Write(sector int64, bufs ...[]byte) error {
	if f.n.Add(1) > f.after.Load() {
		return block.Errorf("write", sector, block.ErrIO)
	}
	return f.Device.Write(sector, bufs...)
}

func TestDeviceErrors(t *testing.T) {
	for _, w := range All() {
		if noDevice(w) {
			continue // no device request (TestEveryWorkloadRuns)
		}
		f := &failing{Device: newMem(t, 16)}
		f.after.Store(3)
		_, err := w.Run(Config{Dev: f, Bytes: 4 << 20, Duration: time.Minute})
		if !errors.Is(err, block.ErrIO) {
			t.Errorf("%s: error %v, want ErrIO", w.Name, err)
		}
	}
}

// TestDurationBound: a slow device stops a workload at its time budget.
func TestDurationBound(t *testing.T) {
	for _, name := range []string{"seqread-1M", "randread-4K-qd16", "seed-read", "swap-read-64K"} {
		c := &counter{Device: newMem(t, 16), delay: time.Millisecond}
		start := time.Now()
		r, err := Run(name, Config{Dev: c, Bytes: 1 << 40, Duration: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(name, err)
		}
		if took := time.Since(start); took > 2*time.Second || r.Elapsed < 50*time.Millisecond {
			t.Errorf("%s: took %v, measured %v for a 50ms budget", name, took, r.Elapsed)
		}
	}
}

// TestNoAllocsInSteadyState: the raw and seed workloads allocate the same
// whatever their budget, so the measured loop allocates nothing.
func TestNoAllocsInSteadyState(t *testing.T) {
	m := newMem(t, 16)
	for _, name := range []string{"seqwrite-1M", "seqread-1M", "randread-4K-qd1", "randwrite-4K-qd1", "seed-append", "seed-read"} {
		allocs := func(bytes int64) float64 {
			return testing.AllocsPerRun(3, func() {
				if _, err := Run(name, Config{Dev: m, Bytes: bytes, Duration: time.Minute}); err != nil {
					t.Fatal(err)
				}
			})
		}
		// At least 7 more requests for 8 MiB: allow a little for the
		// runtime's own background allocations, not one per request.
		if small, big := allocs(1<<20), allocs(8<<20); big > small+3 {
			t.Errorf("%s: %v allocations for 1 MiB, %v for 8 MiB", name, small, big)
		}
	}
}

// TestSwapRequestsPerMiB logs what the swap manager asks of the device,
// beside the seed's pattern: the target is at most 17 per MiB.
func TestSwapRequestsPerMiB(t *testing.T) {
	for _, name := range []string{"swap-append-64K", "seed-append"} {
		c := &counter{Device: newMem(t, 16)}
		if _, err := Run(name, Config{Dev: c, Bytes: 8 << 20, Duration: time.Minute}); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %.1f device requests per MiB (%d reads)", name, float64(c.reads.Load()+c.writes.Load())/8, c.reads.Load())
		if name == "swap-append-64K" && c.reads.Load() != 0 {
			t.Errorf("%s read the device %d times while appending", name, c.reads.Load())
		}
	}
}

func BenchmarkWorkloads(b *testing.B) {
	m := newMem(b, 64)
	for _, w := range All() {
		b.Run(w.Name, func(b *testing.B) {
			b.ReportAllocs()
			var r Result
			for b.Loop() {
				var err error
				if r, err = w.Run(Config{Dev: m, Bytes: 8 << 20, Duration: time.Minute}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(r.MiBps(), "MiB/s")
			b.ReportMetric(r.IOPS(), "iops")
		})
	}
}

// noDevice reports whether w is a reference that makes no device request.
func noDevice(w Workload) bool { return w.Name == "copy-64K" || strings.HasPrefix(w.Name, "aead-") }

// The cipher references seal and open what the swap manager would: units
// of 4 KiB with their tag, whose data really is ciphertext after sealing.
func TestAEADUnits(t *testing.T) {
	for _, name := range []string{"aead-seal-4K", "aead-open-4K"} {
		c := &counter{Device: newMem(t, 16)}
		r, err := Run(name, Config{Dev: c, Bytes: 256 * 4080, Duration: time.Minute})
		if err != nil {
			t.Fatal(name, err)
		}
		// One pass over 1 MiB: 256 units of 4080 bytes of data.
		if r.Ops != 256 || r.Bytes != 256*4080 {
			t.Errorf("%s: %d units, %d bytes; want 256 units of 4080 bytes", name, r.Ops, r.Bytes)
		}
	}
}

// inflight records the most requests a workload had in flight at once,
// and the sectors it read, on a device that takes delay per request and
// holds each request until want are in flight (or a second passed), so
// that a slow emulated host still sees every submitter at once.
type inflight struct {
	block.Device
	delay    time.Duration
	want     int64
	now, max atomic.Int64
	mu       sync.Mutex
	sectors  map[int64]int
}

func (d *inflight) Read(sector int64, bufs ...[]byte) error {
	n := d.now.Add(1)
	defer d.now.Add(-1)
	for m := d.max.Load(); n > m && !d.max.CompareAndSwap(m, n); m = d.max.Load() {
	}
	d.mu.Lock()
	d.sectors[sector]++
	d.mu.Unlock()
	for t0 := time.Now(); d.max.Load() < d.want && time.Since(t0) < time.Second; {
		time.Sleep(100 * time.Microsecond)
	}
	time.Sleep(d.delay)
	return d.Device.Read(sector, bufs...)
}

// TestJobsInFlight: a -jobs2 workload keeps twice its shape's requests in
// flight (two submitters of qd1 or qd16: 2 or 32 at once, never more),
// its submitters read different offsets, and its result line has every
// random workload's figures.
func TestJobsInFlight(t *testing.T) {
	for _, tc := range []struct {
		name string
		want int64
	}{
		{"randread-4K-qd1", 1},
		{"randread-4K-qd1-jobs2", 2},
		{"randread-4K-qd16", 16},
		{"randread-4K-qd16-jobs2", 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &inflight{Device: newMem(t, 64), delay: 2 * time.Millisecond, want: tc.want, sectors: map[int64]int{}}
			r, err := Run(tc.name, Config{Dev: d, Bytes: 1 << 40, Duration: 300 * time.Millisecond, Seed: 7})
			if err != nil {
				t.Fatal(err)
			}
			if got := d.max.Load(); got != tc.want {
				t.Errorf("%d requests in flight at most, want %d", got, tc.want)
			}
			if r.Latency == nil || r.Latency.Count() != r.Ops || r.Ops == 0 || r.Bytes != r.Ops*randSize {
				t.Fatalf("result %+v: want ops with a latency each, %d bytes a request", r, randSize)
			}
			// 64 MiB holds 16384 slots: the submitters' offsets are
			// independent draws, so few repeat (two submitters on
			// one sequence would repeat half of them).
			if len(d.sectors) < int(r.Ops)*3/4 {
				t.Errorf("%d distinct offsets over %d reads: submitters repeat each other", len(d.sectors), r.Ops)
			}
		})
	}
}
