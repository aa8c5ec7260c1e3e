// Package workload holds the storage benchmarks of the in-image `bench`
// command and of `make bench`: raw sequential and random I/O,
// the swap manager's Append and ReadAt, and the seed swap manager's I/O
// pattern as the baseline. They run over any block.Device: our virtio-blk
// driver in the unikernel or the hosted guest, and the guest kernel's
// virtio_blk through an O_DIRECT file adapter, so that every path runs the
// same code.
//
// A workload is bounded twice: by a byte budget (Config.Bytes) and by a
// time budget (Config.Duration); it stops at whichever comes first, so a
// slow path (the seed's pattern under TCG) cannot make a run drag on.
//
// Workloads that write (Workload.Writes) destroy the contents of the
// scratch region, and the swap workloads those of the swap manager's free
// blocks, which may lie anywhere on the disk: run them on a scratch disk.
// Read-only workloads leave the disk as it was.
package workload

import (
	"errors"
	"fmt"
	"time"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/swapfs"
)

// Defaults for a zero Config field.
const (
	DefaultBytes    = 64 << 20
	DefaultDuration = 3 * time.Second
)

// Config says what a workload runs on and how long.
type Config struct {
	Dev block.Device

	// Scratch region, in sectors: [Start, Start+Sectors). Sectors 0 means
	// up to the end of the device. Raw and seed workloads stay inside it.
	Start, Sectors int64

	Bytes    int64         // byte budget; 0 means DefaultBytes
	Duration time.Duration // time budget; 0 means DefaultDuration
	Seed     uint64        // for random offsets

	// Swap returns the swap manager the swap workloads use, plain or
	// encrypted. Nil means a fresh NewSwap(Dev, encrypt) per run, closed
	// when the run ends (its I/O buffers, DMA memory on a virtio disk, go
	// back to the device); a manager handed in is left open, so that a
	// program running many workloads keeps its buffers warm. Only one
	// manager of a disk may have blocks in use at a time; the workloads
	// free theirs.
	Swap func(encrypt bool) (*swapfs.FS, error)
}

// Result is what one workload measured. Elapsed covers the measured
// operations only, not set-up (swap-read-64K's file is written first).
type Result struct {
	Name    string
	Bytes   int64 // bytes transferred by the measured operations
	Ops     int64 // the workload's own operations: requests, Appends or ReadAts
	Elapsed time.Duration
	// Latency is each request's latency, for the random I/O workloads;
	// nil for the others.
	Latency *Latency
}

// MiBps returns the throughput in MiB per second.
func (r Result) MiBps() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Bytes) / (1 << 20) / r.Elapsed.Seconds()
}

// IOPS returns the operations per second.
func (r Result) IOPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// Workload is one named benchmark.
type Workload struct {
	Name   string
	Writes bool // destroys the scratch region (or the swap manager's free blocks)
	run    func(e *env) (Result, error)
}

// Run runs w under cfg.
func (w Workload) Run(cfg Config) (Result, error) {
	e, err := newEnv(cfg)
	if err != nil {
		return Result{Name: w.Name}, fmt.Errorf("%s: %w", w.Name, err)
	}
	defer e.free()
	r, err := w.run(e)
	r.Name = w.Name
	if err != nil {
		err = fmt.Errorf("%s: %w", w.Name, err)
	}
	return r, err
}

// All lists every workload in the order of the benchmark table, then
// the encrypted swap pair and the cipher alone that they are measured
// against (aead-seal-4K, aead-open-4K), then copy-64K, the memory copy that
// bounds the swap workloads where it is slower than the device, then the
// multi-submitter random reads (-jobs2: two submitters of the qdN shape,
// see randIO) that measure what a second CPU gives.
func All() []Workload {
	return []Workload{
		{Name: "seqwrite-1M", Writes: true, run: seqWrite},
		{Name: "seqread-1M", run: seqRead},
		{Name: "randread-4K-qd1", run: func(e *env) (Result, error) { return randIO(e, false, 1, 1) }},
		{Name: "randwrite-4K-qd1", Writes: true, run: func(e *env) (Result, error) { return randIO(e, true, 1, 1) }},
		{Name: "randread-4K-qd16", run: func(e *env) (Result, error) { return randIO(e, false, 16, 1) }},
		{Name: "swap-append-64K", Writes: true, run: func(e *env) (Result, error) { return swapAppend(e, false) }},
		{Name: "swap-read-64K", Writes: true, run: func(e *env) (Result, error) { return swapRead(e, false) }},
		{Name: "seed-append", Writes: true, run: seedAppend},
		{Name: "seed-read", run: seedRead},
		{Name: "swap-append-64K-enc", Writes: true, run: func(e *env) (Result, error) { return swapAppend(e, true) }},
		{Name: "swap-read-64K-enc", Writes: true, run: func(e *env) (Result, error) { return swapRead(e, true) }},
		{Name: "aead-seal-4K", run: aeadSeal},
		{Name: "aead-open-4K", run: aeadOpen},
		{Name: "copy-64K", run: copy64K},
		{Name: "randread-4K-qd1-jobs2", run: func(e *env) (Result, error) { return randIO(e, false, 1, 2) }},
		{Name: "randread-4K-qd16-jobs2", run: func(e *env) (Result, error) { return randIO(e, false, 16, 2) }},
	}
}

// ErrUnknown is returned by Lookup and Run for a name that is not a workload.
var ErrUnknown = errors.New("unknown workload")

// Lookup finds a workload by name.
func Lookup(name string) (Workload, error) {
	for _, w := range All() {
		if w.Name == name {
			return w, nil
		}
	}
	return Workload{}, fmt.Errorf("%w %q", ErrUnknown, name)
}

// Run runs the named workload.
func Run(name string, cfg Config) (Result, error) {
	w, err := Lookup(name)
	if err != nil {
		return Result{Name: name}, err
	}
	return w.Run(cfg)
}

// ErrRegion is returned when the scratch region does not fit the device or
// is too small for the workload's requests.
var ErrRegion = errors.New("bad scratch region")

// env is one workload run: the validated configuration, the clock and
// the buffers to give back.
type env struct {
	cfg      Config
	info     block.Info
	start    int64 // scratch region, sectors
	count    int64
	bytes    int64
	dur      time.Duration
	bufs     []Buffer
	owned    []*swapfs.FS // swap managers the run made, closed by free
	t0       time.Time
	deadline time.Time // end of the measured part
}

func newEnv(cfg Config) (*env, error) {
	if cfg.Dev == nil {
		return nil, errors.New("no device")
	}
	e := &env{cfg: cfg, info: cfg.Dev.Info(), bytes: cfg.Bytes, dur: cfg.Duration}
	if e.bytes <= 0 {
		e.bytes = DefaultBytes
	}
	if e.dur <= 0 {
		e.dur = DefaultDuration
	}
	if e.info.SectorSize <= 0 {
		return nil, fmt.Errorf("%w: sector size %d", ErrRegion, e.info.SectorSize)
	}
	e.start, e.count = cfg.Start, cfg.Sectors
	if e.count == 0 {
		e.count = e.info.Sectors - e.start
	}
	if e.count <= 0 || block.CheckRange(e.info, "bench", e.start, e.count) != nil {
		return nil, fmt.Errorf("%w: sectors %d+%d on a disk of %d", ErrRegion, cfg.Start, cfg.Sectors, e.info.Sectors)
	}
	return e, nil
}

// buffer returns a buffer of size bytes from the device's allocator when
// it has one (DMA memory: zero copy), given back when the run ends.
func (e *env) buffer(size int) ([]byte, error) {
	b, err := AllocBuffer(e.cfg.Dev, size)
	if err != nil {
		return nil, err
	}
	e.bufs = append(e.bufs, b)
	return b.Bytes, nil
}

func (e *env) free() {
	for _, b := range e.bufs {
		b.Free()
	}
	e.bufs = nil
	for _, fs := range e.owned {
		fs.Close()
	}
	e.owned = nil
}

// unit returns the request size in sectors for a request of about size
// bytes: at least one sector.
func (e *env) unit(size int) (int64, error) {
	n := int64(max(size/e.info.SectorSize, 1))
	if n > e.count {
		return 0, fmt.Errorf("%w: %d sectors, requests need %d", ErrRegion, e.count, n)
	}
	return n, nil
}

// startClock starts the measured part.
func (e *env) startClock() {
	e.t0 = time.Now()
	e.deadline = e.t0.Add(e.dur)
}

// done reports whether the budget is spent after moved bytes.
func (e *env) done(moved int64) bool {
	return moved >= e.bytes || !time.Now().Before(e.deadline)
}

func (e *env) result(moved, ops int64) Result {
	return Result{Bytes: moved, Ops: ops, Elapsed: time.Since(e.t0)}
}

// Buffer is memory from AllocBuffer.
type Buffer struct {
	Bytes []byte
	dev   block.Device
	dma   bool
}

// AllocBuffer returns size bytes from dev's BufferAllocator when it has
// one, else from the Go heap. Give it back with Free.
func AllocBuffer(dev block.Device, size int) (Buffer, error) {
	if size < 0 {
		return Buffer{}, fmt.Errorf("negative buffer size %d", size)
	}
	if a, ok := dev.(block.BufferAllocator); ok {
		b, err := a.AllocBuffer(size)
		if err != nil {
			return Buffer{}, fmt.Errorf("allocating a %d-byte buffer: %w", size, err)
		}
		if len(b) != size {
			return Buffer{}, fmt.Errorf("allocating a %d-byte buffer: got %d bytes", size, len(b))
		}
		return Buffer{Bytes: b, dev: dev, dma: true}, nil
	}
	return Buffer{Bytes: make([]byte, size)}, nil
}

// Free gives the buffer back to its device, if it came from one that
// takes buffers back (block.BufferFreer). Free of a zero Buffer is a no-op.
func (b *Buffer) Free() {
	if b.dma {
		if f, ok := b.dev.(block.BufferFreer); ok {
			f.FreeBuffer(b.Bytes)
		}
	}
	*b = Buffer{}
}
