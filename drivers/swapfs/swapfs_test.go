package swapfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/drivers/block"
)

// countDev counts the requests that reach a device.
type countDev struct {
	*block.Mem
	reads, writes atomic.Int64
}

func (d *countDev) Read(sector int64, bufs ...[]byte) error {
	d.reads.Add(1)
	return d.Mem.Read(sector, bufs...)
}

func (d *countDev) Write(sector int64, bufs ...[]byte) error {
	d.writes.Add(1)
	return d.Mem.Write(sector, bufs...)
}

func (d *countDev) reset() { d.reads.Store(0); d.writes.Store(0) }

// failDev fails the requests its predicates pick with block.ErrIO,
// possibly after writing part of them, as a real disk might.
type failDev struct {
	*block.Mem
	mu        sync.Mutex
	failRead  func(sector, n int64) bool
	failWrite func(sector, n int64) bool
}

func (d *failDev) set(read, write func(sector, n int64) bool) {
	d.mu.Lock()
	d.failRead, d.failWrite = read, write
	d.mu.Unlock()
}

func (d *failDev) pick(write bool, sector int64, bufs [][]byte) bool {
	d.mu.Lock()
	f := d.failRead
	if write {
		f = d.failWrite
	}
	d.mu.Unlock()
	n := int64(0)
	for _, b := range bufs {
		n += int64(len(b))
	}
	return f != nil && f(sector, n/int64(d.Info().SectorSize))
}

func (d *failDev) Read(sector int64, bufs ...[]byte) error {
	if d.pick(false, sector, bufs) {
		return block.Errorf("read", sector, block.ErrIO)
	}
	return d.Mem.Read(sector, bufs...)
}

func (d *failDev) Write(sector int64, bufs ...[]byte) error {
	if d.pick(true, sector, bufs) {
		// Half a request reached the disk, with garbage.
		junk := bytes.Repeat([]byte{0xEE}, len(bufs[0])/2/d.Info().SectorSize*d.Info().SectorSize)
		if len(junk) > 0 {
			_ = d.Mem.Write(sector, junk)
		}
		return block.Errorf("write", sector, block.ErrIO)
	}
	return d.Mem.Write(sector, bufs...)
}

func newMem(sectorSize int, sectors int64) *block.Mem {
	return block.NewMem(block.Info{ReadWrite: true, SectorSize: sectorSize, Sectors: sectors})
}

func mustNew(t testing.TB, dev block.Device, opts ...Option) *FS {
	t.Helper()
	fs, err := New(dev, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// blocksFor returns the blocks a file of size bytes holds.
func blocksFor(fs *FS, size int64) int64 { return ceilDiv(size, fs.blockPayload) }

// checkSpace checks that the free count is what the live models leave
// and that the bitmap agrees with it.
func checkSpace(t testing.TB, fs *FS, sizes ...int64) {
	t.Helper()
	used := int64(0)
	for _, s := range sizes {
		used += blocksFor(fs, s)
	}
	st := fs.Stats()
	if st.FreeBlocks != st.TotalBlocks-used {
		t.Fatalf("free blocks %d, want %d (total %d, files %v)", st.FreeBlocks, st.TotalBlocks-used, st.TotalBlocks, sizes)
	}
	fs.mu.Lock()
	set := int64(0)
	for b := int64(0); b < fs.total; b++ {
		if fs.used(b) {
			set++
		}
	}
	fs.mu.Unlock()
	if set != used {
		t.Fatalf("bitmap has %d blocks in use, want %d", set, used)
	}
}

// checkRead reads [off, off+n) and compares it with the model.
func checkRead(t testing.TB, h *Handle, model []byte, off int64, n int) {
	t.Helper()
	p := make([]byte, n)
	got, err := h.ReadAt(p, off)
	var want []byte
	if off < int64(len(model)) {
		want = model[off:min(off+int64(n), int64(len(model)))]
	}
	switch {
	case off > int64(len(model)) || (off == int64(len(model)) && n > 0):
		if got != 0 || err != io.EOF {
			t.Fatalf("ReadAt(%d bytes, %d) past the end of %d: %d, %v; want 0, EOF", n, off, len(model), got, err)
		}
		return
	case len(want) < n:
		if err != io.EOF {
			t.Fatalf("ReadAt(%d bytes, %d) over the end of %d: err %v, want EOF", n, off, len(model), err)
		}
	case err != nil:
		t.Fatalf("ReadAt(%d bytes, %d) of %d: %v", n, off, len(model), err)
	}
	if got != len(want) || !bytes.Equal(p[:got], want) {
		t.Fatalf("ReadAt(%d bytes, %d) of %d: got %d bytes, wrong data (first difference at %d)", n, off, len(model), got, firstDiff(p[:got], want))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// randSize returns a size up to max, mostly small, sometimes around a
// sector or block boundary.
func randSize(r *rand.Rand, max int) int {
	switch r.IntN(4) {
	case 0:
		return r.IntN(min(max, 600) + 1)
	case 1:
		return r.IntN(max + 1)
	case 2:
		return min(max, 512*(1+r.IntN(8))+r.IntN(3)-1)
	default:
		return r.IntN(min(max, 70000) + 1)
	}
}

// TestOracle is the seed's test: random data up to 5 MiB, random blocking
// factors 1..10240, random append and read sizes, compared with a copy
// kept in memory, on several handles at once.
func TestOracle(t *testing.T) {
	rounds := 16
	if testing.Short() {
		rounds = 4
	}
	for round := range rounds {
		r := rand.New(rand.NewPCG(uint64(round), 2))
		bf := 1 + r.IntN(10240)
		if round%2 == 0 {
			bf = 1 + r.IntN(64) // small factors make many extents
		}
		t.Run(fmt.Sprintf("round%d-bf%d", round, bf), func(t *testing.T) {
			oracleRound(t, r, bf, nil)
		})
	}
}

func oracleRound(t *testing.T, r *rand.Rand, bf int, opts []Option) {
	const maxFile = 5 << 20
	const nh = 3
	blocks := int64(nh * (maxFile/(bf*512) + 2))
	dev := newMem(512, blocks*int64(bf)+int64(r.IntN(bf)))
	fs := mustNew(t, dev, append([]Option{WithBlockingFactor(bf)}, opts...)...)
	var hs [nh]*Handle
	var models [nh][]byte
	for i := range hs {
		hs[i] = fs.Empty()
	}
	limit := r.IntN(maxFile + 1)
	for step := 0; step < 400; step++ {
		i := r.IntN(nh)
		h := hs[i]
		switch op := r.IntN(20); {
		case op < 10:
			n := randSize(r, min(limit-len(models[i])+1, 300000))
			data := randBytes(r, n)
			if err := h.Append(data); err != nil {
				if !errors.Is(err, ErrOutOfSpace) {
					t.Fatal(err)
				}
			} else {
				models[i] = append(models[i], data...)
			}
		case op < 18:
			off := int64(r.IntN(len(models[i]) + 2))
			if r.IntN(3) == 0 {
				off = int64(len(models[i])) - int64(r.IntN(600))
				off = max(off, 0)
			}
			checkRead(t, h, models[i], off, randSize(r, 200000))
		case op == 18:
			if r.IntN(4) == 0 {
				if err := h.Free(); err != nil {
					t.Fatal(err)
				}
				models[i] = nil
			}
		default:
			checkRead(t, h, models[i], 0, len(models[i]))
		}
		if h.Size() != int64(len(models[i])) {
			t.Fatalf("Size %d, want %d", h.Size(), len(models[i]))
		}
		if step%50 == 0 {
			checkSpace(t, fs, int64(len(models[0])), int64(len(models[1])), int64(len(models[2])))
		}
	}
	for i := range hs {
		checkRead(t, hs[i], models[i], 0, len(models[i]))
	}
	checkSpace(t, fs, int64(len(models[0])), int64(len(models[1])), int64(len(models[2])))
}

func TestNewErrors(t *testing.T) {
	ro := block.NewMem(block.Info{ReadWrite: false, SectorSize: 512, Sectors: 64})
	for _, c := range []struct {
		name string
		dev  block.Device
		opts []Option
		want error
	}{
		{"nil device", nil, nil, errNilDevice},
		{"read-only", ro, nil, block.ErrReadOnly},
		{"zero factor", newMem(512, 64), []Option{WithBlockingFactor(0)}, errBlockingFactor},
		{"negative factor", newMem(512, 64), []Option{WithBlockingFactor(-5)}, errBlockingFactor},
		{"huge factor", newMem(512, 64), []Option{WithBlockingFactor(math.MaxInt)}, errGeometry},
		// One sector more than an int's worth of bytes per block: fits
		// an int64 on 32-bit machines, which is not enough.
		{"block past an int", newMem(512, 64), []Option{WithBlockingFactor(math.MaxInt/512 + 1)}, errGeometry},
		{"encrypted block past an int", newMem(512, 64), []Option{WithBlockingFactor(math.MaxInt/512 - 7), WithEncryption()}, errGeometry},
		{"zero sector size", block.NewMem(block.Info{ReadWrite: true, SectorSize: 0, Sectors: 64}), nil, errGeometry},
		{"negative sectors", badInfo{block.Info{ReadWrite: true, SectorSize: 512, Sectors: -1}}, nil, errGeometry},
		{"too many blocks", badInfo{block.Info{ReadWrite: true, SectorSize: 512, Sectors: math.MaxInt64}}, []Option{WithBlockingFactor(1)}, errTooManyBlocks},
	} {
		fs, err := New(c.dev, c.opts...)
		if !errors.Is(err, c.want) || fs != nil {
			t.Errorf("%s: New = %v, %v; want error %v", c.name, fs, err, c.want)
		}
	}
	// A nil option is ignored; a disk smaller than one block has none.
	fs, err := New(newMem(512, 100), nil, WithBlockingFactor(128))
	if err != nil {
		t.Fatal(err)
	}
	if st := fs.Stats(); st.TotalBlocks != 0 || st.FreeBlocks != 0 || st.BlockSize != 65536 {
		t.Errorf("Stats of a disk smaller than a block: %+v", st)
	}
	if err := fs.Empty().Append([]byte{1}); !errors.Is(err, ErrOutOfSpace) {
		t.Errorf("Append on a disk without blocks: %v, want ErrOutOfSpace", err)
	}
}

// badInfo is a device with whatever Info it is given, that fails every
// request.
type badInfo struct{ info block.Info }

func (d badInfo) Info() block.Info                 { return d.info }
func (d badInfo) Read(s int64, _ ...[]byte) error  { return block.Errorf("read", s, block.ErrIO) }
func (d badInfo) Write(s int64, _ ...[]byte) error { return block.Errorf("write", s, block.ErrIO) }
func (d badInfo) Disconnect() error                { return nil }

func TestDefaults(t *testing.T) {
	fs := mustNew(t, newMem(512, 10*2048+100))
	st := fs.Stats()
	want := Stats{BlockSize: 1 << 20, TotalBlocks: 10, FreeBlocks: 10, BookkeepingBytes: 8}
	if st != want {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
}

func TestEdges(t *testing.T) {
	fs := mustNew(t, newMem(512, 64), WithBlockingFactor(4))
	h := fs.Empty()

	// Reads of an empty file.
	if n, err := h.ReadAt(nil, 0); n != 0 || err != nil {
		t.Errorf("ReadAt(nil, 0) of empty: %d, %v", n, err)
	}
	if n, err := h.ReadAt(make([]byte, 1), 0); n != 0 || err != io.EOF {
		t.Errorf("ReadAt(1, 0) of empty: %d, %v", n, err)
	}
	for _, off := range []int64{-1, math.MinInt64} {
		if n, err := h.ReadAt(make([]byte, 1), off); n != 0 || !errors.Is(err, iofs.ErrInvalid) {
			t.Errorf("ReadAt at %d: %d, %v; want fs.ErrInvalid", off, n, err)
		}
	}
	// Empty appends change nothing and take no block.
	if err := h.Append(nil); err != nil {
		t.Fatal(err)
	}
	if n, err := h.Write([]byte{}); n != 0 || err != nil {
		t.Fatalf("Write(empty) = %d, %v", n, err)
	}
	checkSpace(t, fs, 0)

	model := []byte("hello, swap")
	if n, err := h.Write(model); n != len(model) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	checkSpace(t, fs, int64(len(model)))
	checkRead(t, h, model, 0, len(model))
	checkRead(t, h, model, 3, 100)
	checkRead(t, h, model, int64(len(model)), 0)
	checkRead(t, h, model, int64(len(model)), 1)
	checkRead(t, h, model, math.MaxInt64, 1)
	if n, err := h.ReadAt(nil, 5); n != 0 || err != nil {
		t.Errorf("ReadAt(nil, 5) = %d, %v", n, err)
	}

	// Free empties the handle, gives the blocks back, and is idempotent;
	// the handle is usable again.
	for range 2 {
		if err := h.Free(); err != nil {
			t.Fatal(err)
		}
		if h.Size() != 0 {
			t.Fatalf("Size after Free = %d", h.Size())
		}
		checkSpace(t, fs, 0)
		checkRead(t, h, nil, 0, 1)
	}
	model = bytes.Repeat([]byte("0123456789"), 500)
	if err := h.Append(model); err != nil {
		t.Fatal(err)
	}
	checkRead(t, h, model, 0, len(model))
	checkSpace(t, fs, int64(len(model)))

	// A nil handle is an error, not a panic.
	var nh *Handle
	if err := nh.Append([]byte{1}); err == nil {
		t.Error("Append on nil handle succeeded")
	}
	if _, err := nh.Write([]byte{1}); err == nil {
		t.Error("Write on nil handle succeeded")
	}
	if _, err := nh.ReadAt(make([]byte, 1), 0); err == nil {
		t.Error("ReadAt on nil handle succeeded")
	}
	if err := nh.Free(); err == nil {
		t.Error("Free on nil handle succeeded")
	}
	if nh.Size() != 0 {
		t.Error("Size of nil handle")
	}
	var nfs *FS
	if nfs.Stats() != (Stats{}) {
		t.Error("Stats of nil FS")
	}
	if err := nfs.Empty().Append([]byte{1}); err == nil {
		t.Error("Append on a nil FS's handle succeeded")
	}
	var zero Handle
	if err := zero.Append([]byte{1}); err == nil {
		t.Error("Append on zero Handle succeeded")
	}
}

func TestOutOfSpace(t *testing.T) {
	for _, bf := range []int{1, 3, 8} {
		t.Run(fmt.Sprint("bf", bf), func(t *testing.T) {
			fs := mustNew(t, newMem(512, 40), WithBlockingFactor(bf))
			bp := int(fs.blockPayload)
			total := int(fs.Stats().TotalBlocks)
			r := rand.New(rand.NewPCG(uint64(bf), 1))
			a, b := fs.Empty(), fs.Empty()
			ma := randBytes(r, 700)
			mb := randBytes(r, (total-int(blocksFor(fs, 700))-1)*bp-100)
			if err := a.Append(ma); err != nil {
				t.Fatal(err)
			}
			if err := b.Append(mb); err != nil {
				t.Fatal(err)
			}
			if fs.Stats().FreeBlocks != 1 {
				t.Fatalf("setup: %+v", fs.Stats())
			}
			slackA := int(blocksFor(fs, int64(len(ma))))*bp - len(ma)
			// Too big for what is left: nothing changes, nothing leaks.
			for _, n := range []int{slackA + bp + 1, total * bp, 1 << 24} {
				before := fs.Stats()
				err := a.Append(make([]byte, n))
				if !errors.Is(err, ErrOutOfSpace) {
					t.Fatalf("Append(%d): %v, want ErrOutOfSpace", n, err)
				}
				if fs.Stats() != before {
					t.Fatalf("Stats changed by a failed Append: %+v -> %+v", before, fs.Stats())
				}
				if _, err := a.Write(make([]byte, n)); !errors.Is(err, ErrOutOfSpace) {
					t.Fatalf("Write(%d): %v, want ErrOutOfSpace", n, err)
				}
				checkRead(t, a, ma, 0, len(ma)+10)
				checkSpace(t, fs, int64(len(ma)), int64(len(mb)))
			}
			// Fill to the last byte exactly, then one more fails.
			p := randBytes(r, slackA+bp)
			if err := a.Append(p); err != nil {
				t.Fatalf("filling the disk: %v", err)
			}
			ma = append(ma, p...)
			p = randBytes(r, 100)
			if err := b.Append(p); err != nil {
				t.Fatalf("filling b's last block: %v", err)
			}
			mb = append(mb, p...)
			if fs.Stats().FreeBlocks != 0 || len(ma)+len(mb) != total*bp {
				t.Fatalf("disk not full: %+v, %d+%d bytes", fs.Stats(), len(ma), len(mb))
			}
			for _, h := range []*Handle{a, b, fs.Empty()} {
				if err := h.Append([]byte{1}); !errors.Is(err, ErrOutOfSpace) {
					t.Fatalf("Append on a full disk: %v", err)
				}
			}
			checkRead(t, a, ma, 0, len(ma))
			checkRead(t, b, mb, 0, len(mb))
			// Freeing gives everything back.
			a.Free()
			checkSpace(t, fs, int64(len(mb)))
			b.Free()
			checkSpace(t, fs)
		})
	}
}

// TestRequests checks the swap manager's request counts: no read while
// appending, at most one request per block touched, at most 17 per MiB in
// 64 KiB appends and reads.
func TestRequests(t *testing.T) {
	dev := &countDev{Mem: newMem(512, 16*2048)}
	fs := mustNew(t, dev)
	h := fs.Empty()
	chunk := make([]byte, 64<<10)
	for i := range 16 {
		chunk[0] = byte(i)
		if err := h.Append(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if r, w := dev.reads.Load(), dev.writes.Load(); r != 0 || w > 17 {
		t.Errorf("1 MiB in 64 KiB appends: %d reads, %d writes; want 0, <= 17", r, w)
	}
	dev.reset()
	for off := int64(0); off < 1<<20; off += 64 << 10 {
		if _, err := h.ReadAt(chunk, off); err != nil {
			t.Fatal(err)
		}
	}
	if r, w := dev.reads.Load(), dev.writes.Load(); r > 17 || w != 0 {
		t.Errorf("1 MiB in 64 KiB reads: %d reads, %d writes; want <= 17, 0", r, w)
	}
	// Unaligned reads cost no more.
	dev.reset()
	for off := int64(1000); off < 1<<20-65536; off += 64 << 10 {
		if _, err := h.ReadAt(chunk, off); err != nil {
			t.Fatal(err)
		}
	}
	if r := dev.reads.Load(); r > 16 {
		t.Errorf("unaligned 64 KiB reads: %d reads, want one each (15)", r)
	}

	// Small unaligned appends never read; bytes in memory cost nothing.
	h.Free()
	dev.reset()
	var model []byte
	r := rand.New(rand.NewPCG(1, 1))
	for len(model) < 3<<20 {
		p := randBytes(r, 1+r.IntN(3000))
		if err := h.Append(p); err != nil {
			t.Fatal(err)
		}
		model = append(model, p...)
	}
	if dev.reads.Load() != 0 {
		t.Errorf("appends read the device %d times", dev.reads.Load())
	}
	dev.reset()
	tail := len(model) % 512
	checkRead(t, h, model, int64(len(model)-tail), tail)
	if dev.reads.Load() != 0 {
		t.Errorf("reading the in-memory tail made %d requests", dev.reads.Load())
	}

	// One big append and one big read: one request per block touched.
	h.Free()
	dev.reset()
	big := randBytes(r, 5<<20+1000)
	if err := h.Append(big); err != nil {
		t.Fatal(err)
	}
	// The last 1000 bytes stay in the stream buffer.
	if w := dev.writes.Load(); w != 5 {
		t.Errorf("5 MiB + 1000 byte append: %d writes, want 5", w)
	}
	dev.reset()
	checkRead(t, h, big, 100, len(big)-100)
	if r := dev.reads.Load(); r != 5 {
		t.Errorf("reading it back: %d reads, want 5", r)
	}
}

// TestNoAllocs checks that steady-state Append and ReadAt allocate nothing.
func TestNoAllocs(t *testing.T) { checkNoAllocs(t) }

// checkNoAllocs checks that, once a handle is past its first granules
// (extents, tail, stream and I/O buffers made), 64 KiB Appends and
// ReadAts, sequential and at random, allocate nothing.
func checkNoAllocs(t *testing.T, opts ...Option) {
	if testing.Short() {
		t.Skip("allocation counts are noisy under -short")
	}
	fs := mustNew(t, newMem(512, 64*2048), opts...)
	h := fs.Empty()
	p := make([]byte, 64<<10+7)
	for h.Size() < 3<<20 {
		if err := h.Append(p); err != nil {
			t.Fatal(err)
		}
	}
	if a := testing.AllocsPerRun(100, func() {
		if err := h.Append(p); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("Append allocates %v times", a)
	}
	q := make([]byte, 64<<10)
	for _, step := range []int64{int64(len(q)), 100003} { // sequential, then scattered
		off := int64(0)
		if _, err := h.ReadAt(q, off); err != nil { // read-ahead's buffers
			t.Fatal(err)
		}
		if a := testing.AllocsPerRun(100, func() {
			if _, err := h.ReadAt(q, off); err != nil {
				t.Fatal(err)
			}
			off = (off + step) % (h.Size() - int64(len(q)))
		}); a != 0 {
			t.Errorf("ReadAt, step %d, allocates %v times", step, a)
		}
	}
}

// TestContiguous checks that a growing handle stays one extent and that
// bookkeeping is the bitmap plus the extent lists.
func TestContiguous(t *testing.T) {
	fs := mustNew(t, newMem(512, 1000), WithBlockingFactor(1))
	bitmap := int64(ceilDiv(1000, 64) * 8)
	h := fs.Empty()
	for range 300 {
		if err := h.Append(make([]byte, 500)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.st.ext); n != 1 {
		t.Errorf("one growing handle has %d extents, want 1", n)
	}
	if b := fs.Stats().BookkeepingBytes; b != bitmap+extentBytes {
		t.Errorf("BookkeepingBytes %d, want %d", b, bitmap+extentBytes)
	}
	// Two handles growing in turns: each run of one's blocks is followed
	// by one of the other's at worst, and each stays whole when it can.
	g := fs.Empty()
	for range 100 {
		if err := g.Append(make([]byte, 512)); err != nil {
			t.Fatal(err)
		}
		if err := h.Append(make([]byte, 512)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.st.ext); n != 1 {
		t.Errorf("h has %d extents after g took blocks elsewhere, want 1", n)
	}
	if n := len(g.st.ext); n != 1 {
		t.Errorf("g has %d extents, want 1", n)
	}
	want := bitmap + extentBytes*int64(len(h.st.ext)+len(g.st.ext))
	if b := fs.Stats().BookkeepingBytes; b != want {
		t.Errorf("BookkeepingBytes %d, want %d", b, want)
	}
	h.Free()
	g.Free()
	if b := fs.Stats().BookkeepingBytes; b != bitmap {
		t.Errorf("BookkeepingBytes after Free %d, want %d", b, bitmap)
	}
}

// TestFragmented fills a disk with interleaved handles, frees every other
// one and checks that a new handle uses the holes and reads back.
func TestFragmented(t *testing.T) {
	fs := mustNew(t, newMem(512, 200), WithBlockingFactor(2))
	var hs []*Handle
	for range 100 {
		h := fs.Empty()
		if err := h.Append(make([]byte, 1024)); err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	for i := 0; i < len(hs); i += 2 {
		hs[i].Free()
	}
	r := rand.New(rand.NewPCG(3, 3))
	model := randBytes(r, 50*1024)
	h := fs.Empty()
	if err := h.Append(model); err != nil {
		t.Fatal(err)
	}
	if fs.Stats().FreeBlocks != 0 {
		t.Fatalf("holes left: %+v", fs.Stats())
	}
	if n := len(h.st.ext); n > 50 || n < 2 {
		t.Errorf("%d extents, want 2..50", n)
	}
	checkRead(t, h, model, 0, len(model))
	checkRead(t, h, model, 1000, 30000)
}

func TestDeviceErrors(t *testing.T) {
	// Unbuffered: every read reaches the device (stream_test.go has the
	// buffered case).
	dev := &failDev{Mem: newMem(512, 64)}
	fs := mustNew(t, dev, WithBlockingFactor(4), WithStreamBuffers(0))
	h := fs.Empty()
	r := rand.New(rand.NewPCG(7, 7))
	model := randBytes(r, 3000)
	if err := h.Append(model); err != nil {
		t.Fatal(err)
	}
	before := fs.Stats()

	// A failing write: the error says I/O, the handle is as it was, the
	// blocks it took are back.
	dev.set(nil, func(int64, int64) bool { return true })
	p := randBytes(r, 5000)
	err := h.Append(p)
	if !errors.Is(err, block.ErrIO) {
		t.Fatalf("Append on a failing disk: %v, want ErrIO", err)
	}
	var oe *block.OpError
	if !errors.As(err, &oe) || oe.Op != "write" {
		t.Errorf("error %v does not carry the device's OpError", err)
	}
	if h.Size() != int64(len(model)) || fs.Stats() != before {
		t.Fatalf("failed Append changed the handle: size %d, %+v -> %+v", h.Size(), before, fs.Stats())
	}
	dev.set(nil, nil)
	checkRead(t, h, model, 0, len(model))
	// The retry lands where the failed write did.
	if err := h.Append(p); err != nil {
		t.Fatal(err)
	}
	model = append(model, p...)
	checkRead(t, h, model, 0, len(model))

	// A failing read: an error, and other reads still work.
	dev.set(func(sector, n int64) bool { return true }, nil)
	if _, err := h.ReadAt(make([]byte, 100), 10); !errors.Is(err, block.ErrIO) {
		t.Fatalf("ReadAt on a failing disk: %v", err)
	}
	// The tail is in memory: no device, no error.
	checkRead(t, h, model, int64(len(model)-10), 10)
	dev.set(nil, nil)
	checkRead(t, h, model, 0, len(model))
	// A read that fails in its second run returns what came before.
	func() {
		dev := &failDev{Mem: newMem(512, 64)}
		fs := mustNew(t, dev, WithBlockingFactor(4))
		x, y := fs.Empty(), fs.Empty()
		model := randBytes(r, 10*2048)
		if err := x.Append(model[:2048]); err != nil {
			t.Fatal(err)
		}
		if err := y.Append(model[:2048]); err != nil { // takes a block in x's way
			t.Fatal(err)
		}
		if err := x.Append(model[2048:]); err != nil {
			t.Fatal(err)
		}
		if len(x.st.ext) != 2 {
			t.Fatalf("setup: x has %d extents, want 2", len(x.st.ext))
		}
		var reads atomic.Int64
		dev.set(func(sector, n int64) bool { return reads.Add(1) > 1 }, nil)
		q := make([]byte, len(model))
		n, err := x.ReadAt(q, 1)
		if !errors.Is(err, block.ErrIO) || n == 0 || n >= len(model) || !bytes.Equal(q[:n], model[1:1+n]) {
			t.Fatalf("ReadAt failing part way: %d, %v", n, err)
		}
		dev.set(nil, nil)
		checkRead(t, x, model, 0, len(model))
	}()

	// A disconnected disk.
	dev.Disconnect()
	if err := h.Append(make([]byte, 4096)); !errors.Is(err, block.ErrDisconnected) {
		t.Fatalf("Append after Disconnect: %v", err)
	}
	if _, err := h.ReadAt(make([]byte, 10), 0); !errors.Is(err, block.ErrDisconnected) {
		t.Fatalf("ReadAt after Disconnect: %v", err)
	}
	checkSpace(t, fs, int64(len(model)))
	if err := h.Free(); err != nil {
		t.Fatal(err)
	}
	checkSpace(t, fs)
}

// TestConcurrent runs handles on several goroutines, and readers of one
// handle beside its writer; run it with -race.
func TestConcurrent(t *testing.T) {
	t.Run("plain", func(t *testing.T) { testConcurrent(t) })
	t.Run("encrypted", func(t *testing.T) { testConcurrent(t, WithEncryption()) })
}

func testConcurrent(t *testing.T, opts ...Option) {
	fs := mustNew(t, newMem(512, 4096), append(opts, WithBlockingFactor(16))...)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 6 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 9))
			h := fs.Empty()
			var model []byte
			for range 100 {
				p := randBytes(r, r.IntN(9000))
				if err := h.Append(p); err != nil {
					errs <- err
					return
				}
				model = append(model, p...)
				off := int64(r.IntN(len(model) + 1))
				q := make([]byte, r.IntN(5000))
				n, err := h.ReadAt(q, off)
				if (err != nil && err != io.EOF) || !bytes.Equal(q[:n], model[off:off+int64(n)]) {
					errs <- fmt.Errorf("goroutine %d: ReadAt(%d, %d): %d, %v", g, len(q), off, n, err)
					return
				}
				if r.IntN(20) == 0 {
					h.Free()
					model = nil
				}
			}
			h.Free()
		})
	}
	// One handle, one writer, several readers of what is already there.
	shared := fs.Empty()
	var written atomic.Int64
	pattern := func(i int64) byte { return byte(i*7 + i>>9) }
	wg.Go(func() {
		p := make([]byte, 777)
		for i := int64(0); i < 300; i++ {
			base := i * int64(len(p))
			for j := range p {
				p[j] = pattern(base + int64(j))
			}
			if err := shared.Append(p); err != nil {
				errs <- err
				return
			}
			written.Store(base + int64(len(p)))
		}
	})
	for g := range 3 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 10))
			q := make([]byte, 3000)
			for range 300 {
				w := written.Load()
				if w == 0 {
					runtime.Gosched()
					continue
				}
				off := r.Int64N(w)
				n, err := shared.ReadAt(q[:min(int64(len(q)), w-off)], off)
				if err != nil {
					errs <- fmt.Errorf("reader %d: %v", g, err)
					return
				}
				for j := range n {
					if q[j] != pattern(off+int64(j)) {
						errs <- fmt.Errorf("reader %d: wrong byte at %d", g, off+int64(j))
						return
					}
				}
			}
		})
	}
	// Stats while all that runs.
	wg.Go(func() {
		for range 100 {
			_ = fs.Stats()
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkSpace(t, fs, shared.Size())
}

// TestCleanup checks that a lost handle's blocks come back after garbage
// collection.
func TestCleanup(t *testing.T) {
	fs := mustNew(t, newMem(512, 256), WithBlockingFactor(8))
	func() {
		for range 3 {
			h := fs.Empty()
			if err := h.Append(make([]byte, 20000)); err != nil {
				t.Fatal(err)
			}
		}
	}()
	if fs.Stats().FreeBlocks == fs.Stats().TotalBlocks {
		t.Fatal("appends took no block")
	}
	deadline := time.Now().Add(10 * time.Second)
	for fs.Stats().FreeBlocks != fs.Stats().TotalBlocks {
		if time.Now().After(deadline) {
			t.Fatalf("lost handles' blocks not released: %+v", fs.Stats())
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if b := fs.Stats().BookkeepingBytes; b != 8 {
		t.Errorf("BookkeepingBytes %d after cleanup, want 8", b)
	}
}
