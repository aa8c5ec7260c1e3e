// Package blocktest checks that a block.Device keeps the semantics
// package block defines, as testing/fstest checks an fs.FS: a device's
// own tests call TestDevice and TestDisconnect, and so can a program on
// a disk in use (the in-image selftest), since TestDevice restores every
// sector it writes.
//
// The checks use the device's block.BufferAllocator when it has one, so
// a driver's zero-copy path is covered too, and give those buffers back
// through block.BufferFreer. The package does not import testing, so a
// program can link it.
package blocktest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/tamaswap/tamaswap/drivers/block"
)

// TestDevice checks that dev keeps the semantics every block.Device
// keeps: it returns nil, or an error listing every check that failed. It
// restores every sector it writes and does not disconnect dev. On a
// read-only device it checks that writes are refused and change nothing.
// It needs a device of at least 4 sectors.
func TestDevice(dev block.Device) error {
	c := &checker{dev: dev, info: dev.Info()}
	defer c.freeBuffers()
	c.run()
	return c.err()
}

// TestDisconnect disconnects dev and checks that every later call fails
// with block.ErrDisconnected and that Disconnect is idempotent. dev is
// unusable afterwards.
func TestDisconnect(dev block.Device) error {
	c := &checker{dev: dev, info: dev.Info()}
	if err := dev.Disconnect(); err != nil {
		c.failf("Disconnect: %v", err)
	}
	if err := dev.Disconnect(); err != nil {
		c.failf("second Disconnect: %v", err)
	}
	ss := max(c.info.SectorSize, 1)
	buf := make([]byte, ss)
	c.wantErr("read after disconnect", "read", 0, dev.Read(0, buf), block.ErrDisconnected)
	c.wantErr("write after disconnect", "write", 0, dev.Write(0, buf), block.ErrDisconnected)
	if f, ok := dev.(block.Flusher); ok {
		c.wantErr("flush after disconnect", "flush", 0, f.Flush(), block.ErrDisconnected)
	}
	if d, ok := dev.(block.Discarder); ok {
		c.wantErr("discard after disconnect", "discard", 0, d.Discard(0, 1), block.ErrDisconnected)
	}
	if z, ok := dev.(block.WriteZeroer); ok {
		c.wantErr("write-zeroes after disconnect", "write-zeroes", 0, z.WriteZeroes(0, 1), block.ErrDisconnected)
	}
	return c.err()
}

type checker struct {
	dev   block.Device
	info  block.Info
	fails []string

	mu    sync.Mutex
	alloc [][]byte // buffers from the device's allocator, given back at the end
}

func (c *checker) freeBuffers() {
	if f, ok := c.dev.(block.BufferFreer); ok {
		for _, b := range c.alloc {
			f.FreeBuffer(b)
		}
	}
	c.alloc = nil
}

func (c *checker) failf(format string, args ...any) {
	c.fails = append(c.fails, fmt.Sprintf(format, args...))
}

func (c *checker) err() error {
	if len(c.fails) == 0 {
		return nil
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "blocktest: %d conformance check(s) failed:", len(c.fails))
	for _, f := range c.fails {
		b.WriteString("\n\t")
		b.WriteString(f)
	}
	return errors.New(b.String())
}

// wantErr checks that err matches want and is a *block.OpError naming
// op and sector.
func (c *checker) wantErr(what, op string, sector int64, err, want error) {
	if !errors.Is(err, want) {
		c.failf("%s: got error %v, want %v", what, err, want)
		return
	}
	var oe *block.OpError
	if !errors.As(err, &oe) {
		c.failf("%s: error %q is not a *block.OpError", what, err)
		return
	}
	if oe.Op != op || oe.Sector != sector {
		c.failf("%s: error names %s sector %d, want %s sector %d", what, oe.Op, oe.Sector, op, sector)
	}
}

// pattern fills b with bytes that depend on seed and position, so that a
// sector written to the wrong place is noticed.
func pattern(b []byte, seed int64) {
	x := uint64(seed)*0x9e3779b97f4a7c15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
}

// buf returns a buffer for n sectors, from the device's allocator when it
// has one (so that the check also covers its zero-copy path).
func (c *checker) buf(n int) []byte {
	size := n * c.info.SectorSize
	if a, ok := c.dev.(block.BufferAllocator); ok {
		if b, err := a.AllocBuffer(size); err == nil && len(b) == size {
			c.mu.Lock()
			c.alloc = append(c.alloc, b)
			c.mu.Unlock()
			return b
		}
	}
	return make([]byte, size)
}

func (c *checker) run() {
	i := c.info
	if i.SectorSize <= 1 || i.SectorSize&(i.SectorSize-1) != 0 {
		c.failf("Info: sector size %d is not a positive power of two", i.SectorSize)
		return
	}
	if i.Sectors < 4 {
		c.failf("Info: %d sectors; the checks need at least 4", i.Sectors)
		return
	}
	if again := c.dev.Info(); again != i {
		c.failf("Info: changed between calls: %+v then %+v", i, again)
	}
	c.checkReads()
	c.checkBadRequests()
	if i.ReadWrite {
		c.checkWrites()
		c.checkOptional()
		c.checkConcurrent()
	} else {
		c.checkReadOnly()
	}
}

// read reads n sectors at sector in one buffer.
func (c *checker) read(sector int64, n int) ([]byte, error) {
	b := c.buf(n)
	return b, c.dev.Read(sector, b)
}

// checkReads: the first and last sectors read; a read split over several
// buffers returns what one buffer does.
func (c *checker) checkReads() {
	last := c.info.Sectors - 1
	if _, err := c.read(0, 1); err != nil {
		c.failf("read sector 0: %v", err)
	}
	if _, err := c.read(last, 1); err != nil {
		c.failf("read last sector %d: %v", last, err)
	}
	whole, err := c.read(0, 4)
	if err != nil {
		c.failf("read sectors 0-3: %v", err)
		return
	}
	ss := c.info.SectorSize
	a, b, d := c.buf(1), c.buf(2), c.buf(1)
	if err := c.dev.Read(0, a, b, d); err != nil {
		c.failf("read sectors 0-3 into 3 buffers: %v", err)
		return
	}
	if !bytes.Equal(a, whole[:ss]) || !bytes.Equal(b, whole[ss:3*ss]) || !bytes.Equal(d, whole[3*ss:]) {
		c.failf("read into 3 buffers differs from read into one")
	}
}

// checkBadRequests: wrong sizes and out-of-range sectors fail with the
// right error and transfer nothing.
func (c *checker) checkBadRequests() {
	ss := c.info.SectorSize
	n := c.info.Sectors
	const canary = 0xA5
	canaried := func(size int) []byte { return bytes.Repeat([]byte{canary}, size) }
	untouched := func(b []byte) bool { return bytes.Count(b, []byte{canary}) == len(b) }

	for _, size := range []int{0, 1, ss - 1, ss + 1, 2*ss - 1} {
		if size != 0 && size%ss == 0 {
			continue
		}
		good := canaried(ss)
		bad := canaried(size)
		c.wantErr(fmt.Sprintf("read with a %d-byte buffer", size), "read", 0, c.dev.Read(0, good, bad), block.ErrUnaligned)
		if !untouched(good) {
			c.failf("read with a %d-byte buffer: the valid buffer before it was filled", size)
		}
		if c.info.ReadWrite {
			c.wantErr(fmt.Sprintf("write with a %d-byte buffer", size), "write", 0, c.dev.Write(0, bad), block.ErrUnaligned)
		}
	}
	type bad struct {
		sector int64
		count  int
	}
	for _, r := range []bad{{-1, 1}, {n, 1}, {n - 1, 2}, {n - 3, 4}, {math.MaxInt64, 1}, {math.MaxInt64 - 1, 4}, {math.MinInt64, 1}, {n + 1<<40, 1}} {
		b := canaried(r.count * ss)
		c.wantErr(fmt.Sprintf("read of %d sectors at %d", r.count, r.sector), "read", r.sector, c.dev.Read(r.sector, b), block.ErrOutOfRange)
		if !untouched(b) {
			c.failf("read of %d sectors at %d: buffer was filled", r.count, r.sector)
		}
		if c.info.ReadWrite {
			c.wantErr(fmt.Sprintf("write of %d sectors at %d", r.count, r.sector), "write", r.sector, c.dev.Write(r.sector, b), block.ErrOutOfRange)
		}
	}
	// A range that ends just past the device, spread over two buffers,
	// fails as a whole: the first buffer is not filled either.
	first, second := canaried(ss), canaried(ss)
	c.wantErr("read over the end in two buffers", "read", n-1, c.dev.Read(n-1, first, second), block.ErrOutOfRange)
	if !untouched(first) {
		c.failf("read over the end in two buffers: the first buffer was filled")
	}
}

// save reads sectors [sector, sector+n) so that restore can put them back.
func (c *checker) save(sector int64, n int) []byte {
	b, err := c.read(sector, n)
	if err != nil {
		c.failf("save sectors %d+%d: %v", sector, n, err)
		return nil
	}
	return append([]byte(nil), b...)
}

func (c *checker) restore(sector int64, old []byte) {
	if old == nil {
		return
	}
	b := c.buf(len(old) / c.info.SectorSize)
	copy(b, old)
	if err := c.dev.Write(sector, b); err != nil {
		c.failf("restore sectors at %d: %v", sector, err)
	}
}

// checkWrites: single- and multi-buffer writes land where they should,
// including the last sectors, and failed writes change nothing.
func (c *checker) checkWrites() {
	ss := c.info.SectorSize
	last := c.info.Sectors
	for _, at := range []int64{0, last - 3} {
		old := c.save(at, 3)
		if old == nil {
			continue
		}
		a, b := c.buf(1), c.buf(2)
		pattern(a, at+1)
		pattern(b, at+2)
		if err := c.dev.Write(at, a, b); err != nil {
			c.failf("write 2 buffers at %d: %v", at, err)
			c.restore(at, old)
			continue
		}
		got, err := c.read(at, 3)
		switch {
		case err != nil:
			c.failf("read back at %d: %v", at, err)
		case !bytes.Equal(got[:ss], a) || !bytes.Equal(got[ss:], b):
			c.failf("read back at %d: data differs from what was written", at)
		}
		// A rejected write (one bad buffer after a good one) writes
		// nothing, not even the good buffer.
		good := c.buf(1)
		pattern(good, at+3)
		_ = c.dev.Write(at, good, make([]byte, ss+1))
		if again, err := c.read(at, 1); err == nil && !bytes.Equal(again, got[:ss]) {
			c.failf("rejected write at %d changed the disk", at)
		}
		c.restore(at, old)
	}
}

// checkReadOnly: writes fail with block.ErrReadOnly and change nothing.
func (c *checker) checkReadOnly() {
	before, err := c.read(0, 2)
	if err != nil {
		c.failf("read-only: read: %v", err)
		return
	}
	before = append([]byte(nil), before...)
	b := c.buf(2)
	pattern(b, 99)
	c.wantErr("write to a read-only device", "write", 0, c.dev.Write(0, b), block.ErrReadOnly)
	if after, err := c.read(0, 2); err != nil || !bytes.Equal(before, after) {
		c.failf("read-only: a refused write changed the disk (err %v)", err)
	}
	if z, ok := c.dev.(block.WriteZeroer); ok {
		if err := z.WriteZeroes(0, 1); !errors.Is(err, block.ErrReadOnly) {
			c.failf("write-zeroes on a read-only device: got %v, want block.ErrReadOnly", err)
		}
	}
	if d, ok := c.dev.(block.Discarder); ok {
		if err := d.Discard(0, 1); !errors.Is(err, block.ErrReadOnly) {
			c.failf("discard on a read-only device: got %v, want block.ErrReadOnly", err)
		}
	}
}

// checkOptional: Flush, Discard and WriteZeroes either work or say
// block.ErrUnimplemented, and check their ranges.
func (c *checker) checkOptional() {
	n := c.info.Sectors
	if f, ok := c.dev.(block.Flusher); ok {
		if err := f.Flush(); err != nil && !errors.Is(err, block.ErrUnimplemented) {
			c.failf("flush: %v", err)
		}
	}
	if z, ok := c.dev.(block.WriteZeroer); ok {
		at := n - 2
		old := c.save(at, 2)
		switch err := z.WriteZeroes(at, 2); {
		case errors.Is(err, block.ErrUnimplemented):
		case err != nil:
			c.failf("write-zeroes 2 sectors at %d: %v", at, err)
		default:
			if got, err := c.read(at, 2); err != nil || bytes.Count(got, []byte{0}) != len(got) {
				c.failf("write-zeroes at %d: sectors not zero after it (err %v)", at, err)
			}
			if err := z.WriteZeroes(n-1, 2); !errors.Is(err, block.ErrOutOfRange) {
				c.failf("write-zeroes over the end: got %v, want block.ErrOutOfRange", err)
			}
			if err := z.WriteZeroes(-1, 1); !errors.Is(err, block.ErrOutOfRange) {
				c.failf("write-zeroes at -1: got %v, want block.ErrOutOfRange", err)
			}
		}
		c.restore(at, old)
	}
	if d, ok := c.dev.(block.Discarder); ok {
		at := n - 2
		old := c.save(at, 2)
		switch err := d.Discard(at, 2); {
		case errors.Is(err, block.ErrUnimplemented):
		case err != nil:
			c.failf("discard 2 sectors at %d: %v", at, err)
		default:
			if err := d.Discard(n, 1); !errors.Is(err, block.ErrOutOfRange) {
				c.failf("discard past the end: got %v, want block.ErrOutOfRange", err)
			}
			if err := d.Discard(math.MaxInt64, math.MaxInt64); !errors.Is(err, block.ErrOutOfRange) {
				c.failf("discard of a huge range: got %v, want block.ErrOutOfRange", err)
			}
		}
		c.restore(at, old)
	}
}

// checkConcurrent: goroutines writing and reading distinct sectors at once
// each read back their own data.
func (c *checker) checkConcurrent() {
	const workers = 8
	n := min(int64(workers), c.info.Sectors)
	base := c.info.Sectors/2 - n/2
	old := c.save(base, int(n))
	if old == nil {
		return
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for w := int64(0); w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := c.buf(1)
			for round := int64(0); round < 8; round++ {
				pattern(b, w*100+round)
				want := append([]byte(nil), b...)
				if err := c.dev.Write(base+w, b); err != nil {
					errs[w] = fmt.Errorf("write: %w", err)
					return
				}
				if err := c.dev.Read(base+w, b); err != nil {
					errs[w] = fmt.Errorf("read: %w", err)
					return
				}
				if !bytes.Equal(b, want) {
					errs[w] = errors.New("read back other data")
					return
				}
			}
		}()
	}
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			c.failf("concurrent worker %d on sector %d: %v", w, base+int64(w), err)
		}
	}
	c.restore(base, old)
}
