package swapfs

import (
	"errors"
	"fmt"

	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/tamaswap/tamaswap/drivers/block"
)

// bufDev is a device double with AllocBuffer and FreeBuffer that tracks
// every buffer it hands out, and fails the requests held picks with
// block.ErrBuffersHeld, remembering their buffers: the FS must never pass
// one to the device again, nor free it.
type bufDev struct {
	*block.Mem
	mu     sync.Mutex
	live   map[*byte]int // buffers handed out and not freed
	allocs int
	frees  int
	held   map[*byte]bool
	misuse []string
	hold   func(write bool, sector int64) bool
}

func newBufDev(sectors int64) *bufDev {
	return &bufDev{Mem: newMem(512, sectors), live: map[*byte]int{}, held: map[*byte]bool{}}
}

func (d *bufDev) AllocBuffer(n int) ([]byte, error) {
	b := make([]byte, n)
	d.mu.Lock()
	d.live[&b[0]] = n
	d.allocs++
	d.mu.Unlock()
	return b, nil
}

func (d *bufDev) FreeBuffer(b []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := &b[0]
	if d.held[p] {
		d.misuse = append(d.misuse, "FreeBuffer of a held buffer")
	}
	if _, ok := d.live[p]; !ok {
		d.misuse = append(d.misuse, "FreeBuffer of a buffer not handed out")
	}
	delete(d.live, p)
	d.frees++
}

// base returns the start of the AllocBuffer buffer b lies in, or nil.
func (d *bufDev) base(b []byte) *byte {
	p := uintptr(unsafe.Pointer(&b[0]))
	for q, n := range d.live {
		if s := uintptr(unsafe.Pointer(q)); p >= s && p < s+uintptr(n) {
			return q
		}
	}
	return nil
}

func (d *bufDev) request(write bool, sector int64, bufs [][]byte) error {
	d.mu.Lock()
	for _, b := range bufs {
		if q := d.base(b); q != nil && d.held[q] {
			d.misuse = append(d.misuse, fmt.Sprintf("held buffer reused (write=%v sector %d)", write, sector))
		}
	}
	hold := d.hold != nil && d.hold(write, sector)
	if hold {
		for _, b := range bufs {
			if q := d.base(b); q != nil {
				d.held[q] = true
			}
		}
	}
	d.mu.Unlock()
	if hold {
		return block.Errorf("io", sector, fmt.Errorf("%w: %w", block.ErrIO, block.ErrBuffersHeld))
	}
	if write {
		return d.Mem.Write(sector, bufs...)
	}
	return d.Mem.Read(sector, bufs...)
}

func (d *bufDev) Read(sector int64, bufs ...[]byte) error  { return d.request(false, sector, bufs) }
func (d *bufDev) Write(sector int64, bufs ...[]byte) error { return d.request(true, sector, bufs) }

func (d *bufDev) setHold(f func(write bool, sector int64) bool) {
	d.mu.Lock()
	d.hold = f
	d.mu.Unlock()
}

func (d *bufDev) check(t *testing.T) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range d.misuse {
		t.Error(m)
	}
}

// TestClose checks that Close gives every buffer back, that calls after
// it fail with ErrClosed, and that it is idempotent.
func TestClose(t *testing.T) {
	dev := newBufDev(16 * 2048)
	fs := mustNew(t, dev)
	a, b := fs.Empty(), fs.Empty()
	model := make([]byte, 3<<20+77)
	for i := range model {
		model[i] = byte(i * 7)
	}
	appendChunks(t, a, model, 64<<10) // write-behind
	if err := a.Sync(); err != nil {
		t.Fatal(err)
	}
	checkRead(t, a, model, 0, 4096) // read-ahead
	appendChunks(t, b, model[:100000], 10000)
	if dev.allocs == 0 {
		t.Fatal("the FS allocated no buffer")
	}
	if err := fs.Close(); err != nil {
		t.Fatal(err)
	}
	if len(dev.live) != 0 || dev.frees != dev.allocs {
		t.Errorf("%d buffers allocated, %d freed, %d not given back", dev.allocs, dev.frees, len(dev.live))
	}
	c := fs.Empty()
	buf := make([]byte, 10)
	for _, h := range []*Handle{a, b, c} {
		if err := h.Append([]byte("x")); !errors.Is(err, ErrClosed) {
			t.Errorf("Append after Close: %v", err)
		}
		if _, err := h.ReadAt(buf, 0); !errors.Is(err, ErrClosed) {
			t.Errorf("ReadAt after Close: %v", err)
		}
		if err := h.Sync(); !errors.Is(err, ErrClosed) {
			t.Errorf("Sync after Close: %v", err)
		}
		if err := h.Free(); !errors.Is(err, ErrClosed) {
			t.Errorf("Free after Close: %v", err)
		}
	}
	if err := fs.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	dev.check(t)
}

// TestCloseWaits checks that Close waits for a write-behind the device
// is holding before it frees that buffer.
func TestCloseWaits(t *testing.T) {
	gate := newGateDev(16*2048, func(sector int64) bool { return sector >= 2048 })
	dev := &gatedBufDev{bufDev: newBufDev(16 * 2048), gate: gate}
	fs := mustNew(t, dev)
	h := fs.Empty()
	appendChunks(t, h, make([]byte, 2<<20+10), 64<<10)
	<-gate.waiting // the second granule's write is held
	closed := make(chan error)
	go func() { closed <- fs.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v with a write in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(gate.gate)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if len(dev.live) != 0 {
		t.Errorf("%d buffers not given back", len(dev.live))
	}
	dev.check(t)
}

// gatedBufDev is a bufDev whose writes pass a gateDev's gate first.
type gatedBufDev struct {
	*bufDev
	gate *gateDev
}

func (d *gatedBufDev) Write(sector int64, bufs ...[]byte) error {
	if d.gate.hold(sector) {
		d.gate.waiting <- sector
		<-d.gate.gate
	}
	return d.bufDev.Write(sector, bufs...)
}

// TestCleanupDoesNotBlock drops a handle whose write-behind the device
// holds: the runtime's cleanup goroutine, which every cleanup in the
// program shares, must not wait for it, and once the device lets go the
// handle's blocks come back without any call on the FS.
func TestCleanupDoesNotBlock(t *testing.T) {
	gate := newGateDev(16*2048, func(sector int64) bool { return sector >= 2048 })
	fs := mustNew(t, gate)
	func() {
		h := fs.Empty()
		appendChunks(t, h, make([]byte, 2<<20+10), 64<<10)
	}()
	<-gate.waiting
	// The lost handle is collected; then another cleanup must run.
	other := make(chan struct{})
	func() {
		x := new([64]byte)
		runtime.AddCleanup(x, func(c chan struct{}) { close(c) }, other)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for done := false; !done; {
		runtime.GC()
		select {
		case <-other:
			done = true
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("a cleanup waited behind a lost handle's transfer")
		}
	}
	fs.lostMu.Lock()
	queued := fs.releasing
	fs.lostMu.Unlock()
	if !queued {
		t.Error("the lost handle was not queued for release")
	}
	if fs.Stats().FreeBlocks == fs.Stats().TotalBlocks {
		t.Error("blocks came back while their write was in flight")
	}
	close(gate.gate)
	deadline = time.Now().Add(2 * time.Second)
	for fs.Stats().FreeBlocks != fs.Stats().TotalBlocks || !stageIdle(fs) {
		if time.Now().After(deadline) {
			t.Fatalf("lost handle not released once the device let go: %+v", fs.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBuffersHeld fails requests with block.ErrBuffersHeld, in each
// place the FS lends a buffer: the buffer must never reach the device
// again nor be freed, and a handle whose bytes it held fails until freed.
func TestBuffersHeld(t *testing.T) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T, fs *FS, dev *bufDev)
	}{
		{"write", func(t *testing.T, fs *FS, dev *bufDev) {
			fs2 := fs // unbuffered writes: WithStreamBuffers(0)
			h := fs2.Empty()
			dev.setHold(func(write bool, sector int64) bool { return write })
			if err := h.Append(make([]byte, 4096)); !errors.Is(err, block.ErrBuffersHeld) {
				t.Fatalf("Append: %v", err)
			}
			dev.setHold(nil)
			// The handle is as it was; the next write takes another buffer.
			if err := h.Append(make([]byte, 4096)); err != nil {
				t.Fatal(err)
			}
		}},
		{"read", func(t *testing.T, fs *FS, dev *bufDev) {
			h := fs.Empty()
			model := make([]byte, 8192)
			if err := h.Append(model); err != nil {
				t.Fatal(err)
			}
			dev.setHold(func(write bool, sector int64) bool { return !write })
			if _, err := h.ReadAt(make([]byte, 512), 0); !errors.Is(err, block.ErrBuffersHeld) {
				t.Fatalf("ReadAt: %v", err)
			}
			dev.setHold(nil)
			checkRead(t, h, model, 0, 512)
		}},
		{"write-behind", func(t *testing.T, fs *FS, dev *bufDev) {
			h := fs.Empty()
			dev.setHold(func(write bool, sector int64) bool { return write && sector >= 2048 })
			var err error
			for i := 0; i < 64 && err == nil; i++ {
				err = h.Append(make([]byte, 64<<10))
			}
			if err == nil {
				err = h.Sync()
			}
			if !errors.Is(err, block.ErrBuffersHeld) {
				t.Fatalf("got %v, want ErrBuffersHeld", err)
			}
			dev.setHold(nil)
			if _, err := h.ReadAt(make([]byte, 10), 0); !errors.Is(err, block.ErrBuffersHeld) {
				t.Errorf("ReadAt of a handle that lost bytes: %v", err)
			}
			if err := h.Free(); err != nil {
				t.Fatal(err)
			}
			if err := h.Append(make([]byte, 3<<20)); err != nil {
				t.Errorf("Append after Free: %v", err)
			}
		}},
		{"read-ahead", func(t *testing.T, fs *FS, dev *bufDev) {
			h := fs.Empty()
			model := make([]byte, 4<<20)
			for i := range model {
				model[i] = byte(i >> 9)
			}
			appendChunks(t, h, model, 64<<10)
			if err := h.Sync(); err != nil {
				t.Fatal(err)
			}
			dev.setHold(func(write bool, sector int64) bool { return !write && sector >= 4096 })
			p := make([]byte, 4096)
			var err error
			for off := int64(0); off < int64(len(model)) && err == nil; off += 4096 {
				_, err = h.ReadAt(p, off)
			}
			if !errors.Is(err, block.ErrBuffersHeld) {
				t.Fatalf("got %v, want ErrBuffersHeld", err)
			}
			dev.setHold(nil)
			checkRead(t, h, model, 0, 4096)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dev := newBufDev(16 * 2048)
			var opts []Option
			if c.name == "write" {
				opts = append(opts, WithStreamBuffers(0))
			}
			fs := mustNew(t, dev, opts...)
			c.run(t, fs, dev)
			if fs.HeldBuffers() == 0 {
				t.Error("no buffer given up")
			}
			if err := fs.Close(); err != nil {
				t.Fatal(err)
			}
			dev.mu.Lock()
			if n := len(dev.live) - len(dev.held); n != 0 {
				t.Errorf("%d buffers neither held nor given back", n)
			}
			dev.mu.Unlock()
			dev.check(t)
			t.Logf("%d buffers given up, %d allocated, %d freed", fs.HeldBuffers(), dev.allocs, dev.frees)
		})
	}
}
