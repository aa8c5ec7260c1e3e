package swapfs

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/drivers/block"
)

// gateDev holds writes to the sectors its predicate picks until the gate
// opens, and says when one is waiting.
type gateDev struct {
	*countDev
	hold    func(sector int64) bool
	waiting chan int64    // a held write's sector
	gate    chan struct{} // closed: held writes go on
}

func newGateDev(sectors int64, hold func(sector int64) bool) *gateDev {
	return &gateDev{
		countDev: &countDev{Mem: newMem(512, sectors)},
		hold:     hold,
		waiting:  make(chan int64, 16),
		gate:     make(chan struct{}),
	}
}

func (d *gateDev) Write(sector int64, bufs ...[]byte) error {
	if d.hold(sector) {
		d.waiting <- sector
		<-d.gate
	}
	return d.countDev.Write(sector, bufs...)
}

// stageIdle reports whether every stream buffer the FS made is back.
func stageIdle(fs *FS) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.stage) == fs.nstage
}

// setIOSize gives a new FS I/O buffers, and so granules, of units units.
func setIOSize(fs *FS, units int64) {
	fs.ioUnits = units
	fs.granule = units * fs.unitPayload
}

// checkReleased checks that every block and stream buffer is back.
func checkReleased(t *testing.T, fs *FS) {
	t.Helper()
	if !stageIdle(fs) {
		t.Errorf("stream buffers not given back: %d of %d idle", len(fs.stage), fs.nstage)
	}
	checkSpace(t, fs)
}

// appendChunks appends model in pieces of n bytes.
func appendChunks(t testing.TB, h *Handle, model []byte, n int) {
	t.Helper()
	for off := 0; off < len(model); off += n {
		if err := h.Append(model[off:min(off+n, len(model))]); err != nil {
			t.Fatalf("append at %d: %v", off, err)
		}
	}
}

// TestStreamRequests checks that a file streamed in 64 KiB pieces moves in
// 1 MiB requests once it is past its first MiB, both ways, and that
// random reads still go straight to the device, one request each.
func TestStreamRequests(t *testing.T) {
	dev := &countDev{Mem: newMem(512, 16*2048)}
	fs := mustNew(t, dev)
	h := fs.Empty()
	model := randBytes(rand.New(rand.NewPCG(1, 2)), 8<<20+1000)
	appendChunks(t, h, model, 64<<10)
	// The first MiB unbuffered (16), then one per MiB; the last MiB's
	// write may still be under way, and 1000 bytes stay in memory.
	if r, w := dev.reads.Load(), dev.writes.Load(); r != 0 || w < 16+6 || w > 16+7 {
		t.Errorf("8 MiB in 64 KiB appends: %d reads, %d writes; want 0, 22-23", r, w)
	}
	// Sync writes the last MiB and the whole sector of the 1000 bytes.
	if err := h.Sync(); err != nil {
		t.Fatal(err)
	}
	if w := dev.writes.Load(); w != 16+8 {
		t.Errorf("after Sync: %d writes, want 24", w)
	}
	onDisk := make([]byte, 8<<20+512)
	if err := dev.Mem.Read(h.st.ext[0].pstart*2048, onDisk); err != nil {
		t.Fatal(err)
	}
	if d := firstDiff(onDisk, model); d != len(onDisk) {
		t.Fatalf("after Sync the disk differs at %d", d)
	}
	if len(h.st.tail) != 1000-512 {
		t.Fatalf("after Sync the tail holds %d bytes, want 488", len(h.st.tail))
	}
	checkRead(t, h, model, 0, len(model))

	// Empty reads of bytes on the device read nothing (FuzzOps found
	// one that read ahead from slot -1).
	for _, off := range []int64{0, 1 << 20, 3<<20 + 5} {
		if n, err := h.ReadAt(nil, off); n != 0 || err != nil {
			t.Fatalf("ReadAt(nil, %d) = %d, %v", off, n, err)
		}
	}
	dev.reset()
	for off := int64(0); off < int64(len(model)); off += 64 << 10 {
		checkRead(t, h, model, off, 64<<10)
	}
	// One per MiB on the device, and one for its last sector.
	if r, w := dev.reads.Load(), dev.writes.Load(); r != 9 || w != 0 {
		t.Errorf("8 MiB in 64 KiB reads: %d reads, %d writes; want 9, 0", r, w)
	}

	dev.reset()
	r := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		off := int64(r.IntN(len(model)-3<<20)) + 2<<20 // not in a held granule
		checkRead(t, h, model, off, 4096)
	}
	if r := dev.reads.Load(); r > 20 {
		t.Errorf("20 random 4 KiB reads: %d requests, want at most 20", r)
	}

	if err := h.Free(); err != nil {
		t.Fatal(err)
	}
	checkReleased(t, fs)
}

// TestUnbuffered checks that WithStreamBuffers(0) moves every piece in
// its own requests and that a handle finding no free stream buffer
// works, unbuffered, all the same.
func TestUnbuffered(t *testing.T) {
	dev := &countDev{Mem: newMem(512, 16*2048)}
	fs := mustNew(t, dev, WithStreamBuffers(0))
	h := fs.Empty()
	model := randBytes(rand.New(rand.NewPCG(5, 6)), 4<<20)
	appendChunks(t, h, model, 64<<10)
	if w := dev.writes.Load(); w != 64 {
		t.Errorf("4 MiB in 64 KiB appends unbuffered: %d writes, want 64", w)
	}
	checkRead(t, h, model, 0, len(model))

	// Budget 2: a handle streams with both, or two hold one each and
	// write from it synchronously, finding no second; the third, at
	// least, finds none and works unbuffered.
	fs = mustNew(t, newMem(512, 32*2048), WithStreamBuffers(2))
	hs := []*Handle{fs.Empty(), fs.Empty(), fs.Empty()}
	models := make([][]byte, len(hs))
	r := rand.New(rand.NewPCG(7, 8))
	for round := range 40 {
		for i, h := range hs {
			p := randBytes(r, 1+r.IntN(200<<10))
			if err := h.Append(p); err != nil {
				t.Fatalf("round %d handle %d: %v", round, i, err)
			}
			models[i] = append(models[i], p...)
		}
	}
	for i, h := range hs {
		checkRead(t, h, models[i], 0, len(models[i]))
		for range 10 {
			off := r.IntN(len(models[i]))
			checkRead(t, h, models[i], int64(off), 70000)
		}
	}
	with := 0
	for _, h := range hs {
		if h.st.tbuf != nil {
			with++
		}
	}
	if with < 1 || with > 2 {
		t.Errorf("%d handles with a stream buffer, want 1 or 2", with)
	}
	for _, h := range hs {
		h.Free()
	}
	checkReleased(t, fs)

	if _, err := New(newMem(512, 64), WithStreamBuffers(-1)); !errors.Is(err, errStreamBufs) {
		t.Errorf("WithStreamBuffers(-1): %v, want errStreamBufs", err)
	}
}

// TestWriteBehindInFlight holds a background write and checks that its
// bytes read back meanwhile, that the next granule's Append waits for it,
// and that Free does too, leaving no request to land on freed blocks.
func TestWriteBehindInFlight(t *testing.T) {
	var armed atomic.Bool
	dev := newGateDev(16*2048, func(int64) bool { return armed.Load() })
	fs := mustNew(t, dev)
	h := fs.Empty()
	model := randBytes(rand.New(rand.NewPCG(9, 10)), 3<<20)
	appendChunks(t, h, model[:2<<20-1], 64<<10) // MiB 1 is in the tail
	armed.Store(true)
	if err := h.Append(model[2<<20-1 : 2<<20+5]); err != nil { // completes it: written behind
		t.Fatal(err)
	}
	select {
	case <-dev.waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("no write behind")
	}
	// Its bytes read back from memory, the earlier ones from the device.
	checkRead(t, h, model[:2<<20+5], 0, 2<<20+5)
	checkRead(t, h, model[:2<<20+5], 1<<20-100, 300)

	// The next granule's Append waits for the held write.
	appended := make(chan error, 1)
	go func() { appended <- h.Append(model[2<<20+5 : 3<<20]) }()
	select {
	case err := <-appended:
		t.Fatalf("Append completing a granule returned (%v) while the previous one was in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	armed.Store(false)
	close(dev.gate)
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	checkRead(t, h, model, 0, len(model))

	// Free waits for a write behind in flight.
	if err := h.Sync(); err != nil { // MiB 2's write is done with the gate
		t.Fatal(err)
	}
	dev.gate = make(chan struct{})
	armed.Store(true)
	if err := h.Append(model[:1<<20]); err != nil {
		t.Fatal(err)
	}
	select {
	case <-dev.waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("no write behind")
	}
	freed := make(chan struct{})
	go func() { h.Free(); close(freed) }()
	select {
	case <-freed:
		t.Fatal("Free returned with a write in flight")
	case <-time.After(50 * time.Millisecond):
	}
	armed.Store(false)
	close(dev.gate)
	<-freed
	checkReleased(t, fs)
}

// TestWriteBehindFailure fails background writes and checks that nothing
// is lost: the bytes stay readable, the error comes back from the next
// Append that needs the buffer, which then changes nothing, and from Sync;
// once the disk heals, the bytes reach it.
func TestWriteBehindFailure(t *testing.T) {
	dev := &failDev{Mem: newMem(512, 16*2048)}
	fs := mustNew(t, dev)
	h := fs.Empty()
	r := rand.New(rand.NewPCG(11, 12))
	model := randBytes(r, 2<<20+3000)
	appendChunks(t, h, model[:2<<20-10], 64<<10)
	var failures atomic.Int64
	dev.set(nil, func(int64, int64) bool { failures.Add(1); return true })
	// Completes MiB 1: its write goes behind and fails there.
	if err := h.Append(model[2<<20-10:]); err != nil {
		t.Fatalf("Append that starts a write behind: %v", err)
	}
	checkRead(t, h, model, 0, len(model))

	// The next Append that needs the buffer retries, fails, changes
	// nothing.
	before := fs.Stats()
	p := randBytes(r, 1<<20)
	err := h.Append(p)
	if !errors.Is(err, block.ErrIO) {
		t.Fatalf("Append after a failed write behind: %v, want ErrIO", err)
	}
	var oe *block.OpError
	if !errors.As(err, &oe) || oe.Op != "write" || oe.Sector != 2048 {
		t.Errorf("error %v does not name the write of sector 2048", err)
	}
	if h.Size() != int64(len(model)) || fs.Stats() != before {
		t.Fatalf("failed Append changed the handle: size %d, %+v -> %+v", h.Size(), before, fs.Stats())
	}
	if n := failures.Load(); n != 2 {
		t.Errorf("%d attempts at the failed write, want 2 (background, retry)", n)
	}
	checkRead(t, h, model, 0, len(model))
	if err := h.Sync(); !errors.Is(err, block.ErrIO) {
		t.Errorf("Sync on a failing disk: %v, want ErrIO", err)
	}

	// Healed: Sync writes it; the bytes are on the disk.
	dev.set(nil, nil)
	if err := h.Sync(); err != nil {
		t.Fatal(err)
	}
	if h.st.pend != nil {
		t.Fatal("Sync left a write behind")
	}
	checkRead(t, h, model, 0, len(model))
	onDisk := make([]byte, 1<<20)
	if err := dev.Mem.Read(h.st.ext[0].pstart*2048+2048, onDisk); err != nil {
		t.Fatal(err)
	}
	if d := firstDiff(onDisk, model[1<<20:2<<20]); d != len(onDisk) {
		t.Fatalf("MiB 1 on the disk differs at %d", d)
	}
	if err := h.Append(p); err != nil {
		t.Fatal(err)
	}
	model = append(model, p...)
	checkRead(t, h, model, 0, len(model))

	// A failed write behind that nobody retries is dropped by Free.
	if err := h.Sync(); err != nil {
		t.Fatal(err)
	}
	dev.set(nil, func(int64, int64) bool { return true })
	if err := h.Append(randBytes(r, 1<<20)); err != nil {
		t.Fatal(err)
	}
	h.Free()
	dev.set(nil, nil)
	checkReleased(t, fs)
}

// TestReadAheadFailure fails the device under a read ahead and checks
// that only a read that needs the failed granule sees the error, after a
// retry, and that it reads once the disk heals.
func TestReadAheadFailure(t *testing.T) {
	dev := &failDev{Mem: newMem(512, 16*2048)}
	fs := mustNew(t, dev)
	h := fs.Empty()
	model := randBytes(rand.New(rand.NewPCG(13, 14)), 4<<20)
	appendChunks(t, h, model, 1<<20)
	if err := h.Sync(); err != nil {
		t.Fatal(err)
	}
	p1 := h.st.ext[0].pstart*2048 + 2048 // MiB 1's first sector
	var fails atomic.Int64
	dev.set(func(sector, n int64) bool {
		if sector == p1 {
			fails.Add(1)
			return true
		}
		return false
	}, nil)
	// Reads in MiB 0 fetch MiB 1 ahead, which fails unseen.
	for off := int64(0); off < 1<<20; off += 64 << 10 {
		checkRead(t, h, model, off, 64<<10)
	}
	deadline := time.Now().Add(10 * time.Second)
	for fails.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if fails.Load() != 1 {
		t.Fatalf("%d failed reads ahead, want 1", fails.Load())
	}
	// Reading into MiB 1 retries, and reports what came before.
	q := make([]byte, 64<<10)
	n, err := h.ReadAt(q, 1<<20-1000)
	if !errors.Is(err, block.ErrIO) || n != 1000 || firstDiff(q[:n], model[1<<20-1000:]) != n {
		t.Fatalf("ReadAt over a failing granule: %d, %v; want 1000, ErrIO", n, err)
	}
	if fails.Load() != 2 {
		t.Errorf("%d failed reads, want 2 (ahead, retry)", fails.Load())
	}
	dev.set(nil, nil)
	for off := 1<<20 - int64(1000); off < int64(len(model)); off += 64 << 10 {
		checkRead(t, h, model, off, 64<<10)
	}
	checkRead(t, h, model, 0, len(model))
}

// TestStreamConcurrent runs appenders and sequential and random readers
// of streamed files at once, with fewer stream buffers than they would
// like, on a disk whose granule is a quarter MiB.
func TestStreamConcurrent(t *testing.T) {
	fs := mustNew(t, newMem(512, 8192), WithBlockingFactor(8), WithStreamBuffers(5)) // 4 KiB blocks
	setIOSize(fs, 64)                                                                // 32 KiB granules

	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for g := range 3 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 15))
			h := fs.Empty()
			defer h.Free()
			var model []byte
			var readers sync.WaitGroup
			defer readers.Wait()
			for len(model) < 700<<10 {
				p := randBytes(r, 1+r.IntN(30000))
				if err := h.Append(p); err != nil {
					errs <- err
					return
				}
				model = append(model, p...)
				if r.IntN(8) != 0 {
					continue
				}
				// Two readers stream through what is there while
				// the appends go on (they only add past snap).
				snap := model[:len(model):len(model)]
				for _, size := range []int{1 + r.IntN(5000), 1 + r.IntN(100000)} {
					readers.Go(func() {
						q := make([]byte, size)
						for off := 0; off < len(snap); off += size {
							want := min(size, len(snap)-off)
							n, err := h.ReadAt(q[:want], int64(off))
							if n != want || err != nil {
								errs <- fmt.Errorf("ReadAt(%d, %d) of %d: %d, %v", size, off, len(snap), n, err)
								return
							}
							if d := firstDiff(q[:n], snap[off:]); d != n {
								errs <- fmt.Errorf("ReadAt(%d, %d): wrong byte at %d", size, off, d)
								return
							}
						}
					})
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkReleased(t, fs)
}

// TestStreamCleanup drops a streaming handle with a write behind and a
// read ahead outstanding: the garbage collector gives back its blocks and
// its stream buffers.
func TestStreamCleanup(t *testing.T) {
	fs := mustNew(t, newMem(512, 16*2048))
	func() {
		h := fs.Empty()
		model := make([]byte, 3<<20+5)
		appendChunks(t, h, model, 64<<10)
		checkRead(t, h, model, 0, 4096)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for fs.Stats().FreeBlocks != fs.Stats().TotalBlocks || !stageIdle(fs) {
		if time.Now().After(deadline) {
			t.Fatalf("lost handle not released: %+v, stream buffers idle %v", fs.Stats(), stageIdle(fs))
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}
