package shell

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"time"

	"github.com/tamaswap/tamaswap/cmd/internal/workload"
	"github.com/tamaswap/tamaswap/drivers/swapfs"
)

const (
	defaultChunk = 64 << 10 // swaptest's CHUNK
	maxChunk     = 16 << 20 // swaptest holds two chunks: keep them small beside a 64 MiB heap
	sampleEvery  = 1 << 20  // heap samples at most once per MiB moved
	heapMetric   = "/memory/classes/heap/objects:bytes"
	mib          = 1 << 20 // for MiB figures
)

// progressEvery is how often a long swaptest reports; a variable so that
// tests can see progress lines without moving 64 MiB.
var progressEvery int64 = 64 << 20

// newSeed draws swaptest's per-run seed; a variable so that tests can fix
// it. The runtime's generator alone is not enough: under QEMU's
// mcimx6ul-evk TamaGo seeds it from the boot clock, the same on every
// boot. The clock read when the command runs is not: it counts the time
// the host took to send the commands (QEMU's TCG timers follow the host's
// clock), so it is mixed in.
var newSeed = func() uint64 { return rand.Uint64() ^ splitmix(uint64(time.Now().UnixNano())) }

// splitmix is SplitMix64's finaliser: every input bit moves every output
// bit.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// patternMul is the odd constant of swaptest's pattern (2^64 divided by
// the golden ratio): multiplying by it is a bijection of 64-bit words.
const patternMul = 0x9e3779b97f4a7c15

// fillPattern fills p with swaptest's pattern for seed from file offset
// off on: the byte at offset o is byte o mod 8 (little-endian) of the
// 64-bit word (seed XOR o/8) * patternMul mod 2^64. No two 8-byte words
// of a file are alike, nor a word of two runs with different seeds, so a
// block read from any other place, or an older run's, fails the check.
func fillPattern(p []byte, seed uint64, off int64) {
	var w [8]byte
	word := func(o int64) []byte {
		binary.LittleEndian.PutUint64(w[:], (seed^uint64(o/8))*patternMul)
		return w[:]
	}
	if r := off % 8; r != 0 && len(p) > 0 { // a partial first word
		n := copy(p, word(off)[r:])
		p, off = p[n:], off+int64(n)
	}
	for len(p) >= 8 {
		binary.LittleEndian.PutUint64(p, (seed^uint64(off/8))*patternMul)
		p, off = p[8:], off+8
	}
	if len(p) > 0 {
		copy(p, word(off))
	}
}

// swapFS returns d's swap manager in the mode asked for, making it on
// first use. A disk's blocks belong to one manager at a time: two
// managers handing out the same space would overwrite each other's
// files. So a disk has at most one plain and one encrypted manager, made
// on first use and kept (a manager's I/O buffers may be DMA memory that
// it never gives back, so it is not replaced), and the mode can change
// only while the manager last used has no block in use: every command
// frees what it allocates, so in practice that is always.
func (s *shell) swapFS(d *disk, encrypt bool, opts ...swapfs.Option) (*swapfs.FS, error) {
	d, err := s.swapSpace(d, false)
	if err != nil {
		return nil, err
	}
	m := modeIndex(encrypt)
	if d.active >= 0 && d.active != m {
		if st := d.swaps[d.active].Stats(); st.FreeBlocks != st.TotalBlocks {
			return nil, fmt.Errorf("disk %s's %s swap manager has %d blocks in use: cannot switch to %s",
				d.label(), mode(d.active == 1), st.TotalBlocks-st.FreeBlocks, mode(encrypt))
		}
	}
	if d.swaps[m] == nil {
		fs, err := workload.NewSwap(d.Dev, encrypt, opts...)
		if errors.Is(err, swapfs.ErrWeakEntropy) {
			return nil, fmt.Errorf("%w; --weak-entropy overrides, for tests under emulation", err)
		}
		if err != nil {
			return nil, err
		}
		d.swaps[m] = fs
	}
	d.active = m
	return d.swaps[m], nil
}

func modeIndex(encrypt bool) int {
	if encrypt {
		return 1
	}
	return 0
}

func mode(encrypted bool) string {
	if encrypted {
		return "encrypted"
	}
	return "plain"
}

func runSwapstat(s *shell, args []string) (int, bool) {
	if len(args) != 0 {
		s.usage("swapstat", nil)
		return 0, false
	}
	d, ok := s.current("swapstat")
	if !ok {
		return 0, false
	}
	// The manager last used, or a plain one.
	d, err := s.swapSpace(d, false)
	if err != nil {
		s.fail("swapstat", err)
		return 0, false
	}
	fs, err := s.swapFS(d, d.active == 1)
	if err != nil {
		s.fail("swapstat", err)
		return 0, false
	}
	st := fs.Stats()
	s.printf("swapstat: total=%d free=%d", st.TotalBlocks, st.FreeBlocks)
	return 0, false
}

func runSwaptest(s *shell, args []string) (int, bool) {
	pos, flags, err := splitFlags(args, map[string]bool{"--encrypt": false, "--force": false, "--weak-entropy": false})
	if err != nil {
		s.usage("swaptest", err)
		return 0, false
	}
	if len(pos) < 1 || len(pos) > 2 {
		s.usage("swaptest", nil)
		return 0, false
	}
	size, err := parseSize("SIZE", pos[0])
	if err == nil && size == 0 {
		err = fmt.Errorf("SIZE 0: %w", errRange)
	}
	chunk := int64(defaultChunk)
	if err == nil && len(pos) == 2 {
		chunk, err = parseSize("CHUNK", pos[1])
		if err == nil && (chunk == 0 || chunk > maxChunk) {
			err = fmt.Errorf("CHUNK %d: %w (1 to %d)", chunk, errRange, maxChunk)
		}
	}
	if err != nil {
		s.fail("swaptest", err)
		return 0, false
	}
	_, encrypt := flags["--encrypt"]
	d, ok := s.current("swaptest")
	if !ok {
		return 0, false
	}
	_, force := flags["--force"]
	if _, err := s.swapSpace(d, force); err != nil {
		s.fail("swaptest", err)
		return 0, false
	}
	var opts []swapfs.Option
	if _, weak := flags["--weak-entropy"]; weak {
		opts = append(opts, swapfs.WithWeakEntropy())
	}
	fs, err := s.swapFS(d, encrypt, opts...)
	if err != nil {
		s.fail("swaptest", err)
		return 0, false
	}
	t := &swaptest{s: s, fs: fs, size: size, chunk: min(chunk, size), encrypt: encrypt}
	if err := t.run(); err != nil {
		s.printf("swaptest: FAIL %s", oneLine(err.Error()))
	}
	return 0, false
}

// swaptest streams size bytes of a position-dependent pattern
// (fillPattern) through one swap file and back. It holds two chunks,
// never the file: a 1 GiB test runs on a 64 MiB heap.
type swaptest struct {
	s           *shell
	fs          *swapfs.FS
	size, chunk int64
	encrypt     bool
	seed        uint64

	heap     []metrics.Sample
	peak     uint64
	sampled  int64 // bytes moved at the last heap sample
	reported int64 // bytes moved at the last progress line
}

// sampleHeap records the Go heap's live and unswept objects. It runs in
// the test's own loop rather than a sampling goroutine: under TamaGo a
// busy polling loop leaves another goroutine little chance to run.
func (t *swaptest) sampleHeap() uint64 {
	metrics.Read(t.heap)
	if t.heap[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	v := t.heap[0].Value.Uint64()
	t.peak = max(t.peak, v)
	return v
}

// moved samples the heap and reports progress after done bytes of phase.
func (t *swaptest) moved(phase string, done int64) {
	progress := done-t.reported >= progressEvery && done < t.size
	if done-t.sampled < sampleEvery && !progress {
		return
	}
	t.sampled = done
	heap := t.sampleHeap()
	if progress {
		t.reported = done
		t.s.printf("swaptest: progress phase=%s done_mib=%d size_mib=%d heap_mib=%.1f",
			phase, done>>20, t.size>>20, float64(heap)/mib)
	}
}

func (t *swaptest) run() (err error) {
	t.heap = []metrics.Sample{{Name: heapMetric}}
	runtime.GC() // start from live data only, so the peak is the test's
	t.sampleHeap()
	before := t.fs.Stats().FreeBlocks

	t.seed = newSeed()
	chunk := make([]byte, t.chunk)
	buf := make([]byte, t.chunk)

	h := t.fs.Empty()
	freed := false
	defer func() {
		if !freed {
			if ferr := h.Free(); ferr != nil && err == nil {
				err = fmt.Errorf("free: %w", ferr)
			}
		}
	}()

	// Write: SIZE bytes in CHUNK appends.
	start := time.Now()
	for off := int64(0); off < t.size; {
		n := min(t.chunk, t.size-off)
		fillPattern(chunk[:n], t.seed, off)
		if err := h.Append(chunk[:n]); err != nil {
			return fmt.Errorf("append of %d bytes at offset %d: %w", n, off, err)
		}
		off += n
		t.moved("write", off)
	}
	// Everything on the device before the clock stops, and before the
	// reads, so that they test the device, not the write-behind's memory.
	if err := h.Sync(); err != nil {
		return fmt.Errorf("sync after %d bytes: %w", t.size, err)
	}
	writeTime := time.Since(start)
	if got := h.Size(); got != t.size {
		return fmt.Errorf("size %d after appending %d bytes", got, t.size)
	}

	// Read back every byte, in CHUNK pieces visited in a random order and
	// shifted by a random phase so that they start off block and sector
	// boundaries.
	t.sampled, t.reported = 0, 0
	p := newPieces(t.size, t.chunk)
	start = time.Now()
	var done int64
	for i := range p.n {
		off, n := p.piece(i)
		got, err := h.ReadAt(buf[:n], off)
		if got == int(n) && err == io.EOF && off+n == t.size {
			err = nil // io.ReaderAt may say EOF with a full read at the end
		}
		if err != nil {
			return fmt.Errorf("read of %d bytes at offset %d: %w", n, off, err)
		}
		if got != int(n) {
			return fmt.Errorf("read of %d bytes at offset %d: short read of %d", n, off, got)
		}
		fillPattern(chunk[:n], t.seed, off)
		if !bytes.Equal(buf[:n], chunk[:n]) {
			j := int64(0)
			for buf[j] == chunk[j] {
				j++
			}
			return fmt.Errorf("mismatch at offset %d (seed %d): got 0x%02x, want 0x%02x", off+j, t.seed, buf[j], chunk[j])
		}
		done += n
		t.moved("read", done)
	}
	readTime := time.Since(start)
	if got, err := h.ReadAt(buf[:1], t.size); got != 0 || err != io.EOF {
		return fmt.Errorf("read at the end (offset %d): got %d bytes and error %v, want io.EOF", t.size, got, err)
	}

	freed = true
	if err := h.Free(); err != nil {
		return fmt.Errorf("free: %w", err)
	}
	if after := t.fs.Stats().FreeBlocks; after != before {
		return fmt.Errorf("free: %d free blocks before the test, %d after", before, after)
	}
	t.sampleHeap()
	t.s.printf("swaptest: PASS size=%d chunk=%d encrypt=%t write_mib_s=%.2f read_mib_s=%.2f peak_heap_mib=%.1f seed=%d",
		t.size, t.chunk, t.encrypt, rate(t.size, writeTime), rate(t.size, readTime), float64(t.peak)/mib, t.seed)
	return nil
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / mib / d.Seconds()
}

// pieces cuts [0, size) into n pieces: [0, phase) when phase > 0, then
// chunk-sized pieces from phase on (the last one shorter), and visits
// them in the order i -> (a·i + b) mod n, a bijection for gcd(a, n) = 1.
// It needs no table, whatever n is.
type pieces struct {
	size, chunk, phase int64
	n, a, b            uint64
}

func newPieces(size, chunk int64) *pieces {
	p := &pieces{size: size, chunk: chunk}
	if size > 1 {
		p.phase = rand.Int64N(min(chunk, size))
	}
	if p.phase > 0 {
		p.n = 1
	}
	p.n += uint64((size - p.phase + chunk - 1) / chunk)
	p.a = 1
	if p.n > 2 {
		for {
			p.a = 1 + rand.Uint64N(p.n-1)
			if gcd(p.a, p.n) == 1 {
				break
			}
		}
	}
	p.b = rand.Uint64N(p.n)
	return p
}

// piece returns the offset and length of the i-th piece visited.
func (p *pieces) piece(i uint64) (off, n int64) {
	hi, lo := bits.Mul64(p.a, i)
	lo, carry := bits.Add64(lo, p.b, 0)
	j := bits.Rem64(hi+carry, lo, p.n)
	if p.phase > 0 {
		if j == 0 {
			return 0, p.phase
		}
		j--
	}
	off = p.phase + int64(j)*p.chunk
	return off, min(p.chunk, p.size-off)
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
