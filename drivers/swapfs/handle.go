package swapfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"sync"

	"github.com/tamaswap/tamaswap/drivers/block"
)

// Handle is an anonymous, append-only file. It is safe for concurrent
// use. A Handle that becomes unreachable has its blocks freed by the
// garbage collector.
type Handle struct {
	st *hstate
}

// hstate is a handle's state, apart from the Handle so that the cleanup
// that frees its blocks can hold it without keeping the Handle alive.
//
// A file's bytes lie in up to three places, in file order: on the device
// up to pendOff (or up to the tail without a write-behind), in the
// write-behind's buffer (bytes [pendOff, size-len(tail))), and in the
// tail (the last len(tail) bytes, which start at a unit boundary).
type hstate struct {
	fs     *FS
	mu     sync.RWMutex
	ext    []extent
	blocks int64 // logical blocks owned: ext[len(ext)-1].lend
	size   int64 // bytes appended

	// tail holds the bytes not yet written: under a unit, in small; or,
	// with a stream buffer tbuf, up to the end of a granule.
	tail  []byte
	small []byte // the tail's own memory without a stream buffer
	tbuf  *ioBuf
	// Encrypted, with a second stream buffer: the tail's first sealed
	// units, in the device's layout (stream.go).
	twire  *ioBuf
	sealed int

	pend    *job  // the granule being written behind, or nil
	pendOff int64 // file offset of pend's first byte
	wjob    *job  // pend's memory, kept for reuse

	jobs chan *job // the worker's queue; nil while it is not running
	ra   readAhead

	// lost is set when bytes of the file sat in a buffer the device may
	// still hold (block.ErrBuffersHeld): every call fails with it until
	// the handle is freed.
	lost error
}

// Empty returns a handle to a new, empty file. On a nil FS it returns a
// handle whose every operation fails.
func (fs *FS) Empty() *Handle {
	if fs == nil {
		return &Handle{}
	}
	st := &hstate{fs: fs}
	h := &Handle{st: st}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.closed.Load() {
		return h // every call fails with ErrClosed
	}
	fs.handles[st] = struct{}{}
	runtime.AddCleanup(h, (*hstate).collected, st)
	return h
}

// collected is the cleanup of a handle the garbage collector found
// unreachable. It runs on the runtime's cleanup goroutine, which every
// cleanup in the program shares, so it only queues st: releasing it may
// wait for the device.
func (st *hstate) collected() {
	fs := st.fs
	fs.lostMu.Lock()
	fs.lost = append(fs.lost, st)
	start := !fs.releasing
	fs.releasing = true
	fs.lostMu.Unlock()
	if start {
		go fs.releaseLost()
	}
}

// releaseLost releases the handles the garbage collector found, until
// none is left.
func (fs *FS) releaseLost() {
	for {
		fs.lostMu.Lock()
		if len(fs.lost) == 0 {
			fs.lost = nil
			fs.releasing = false
			fs.lostMu.Unlock()
			return
		}
		st := fs.lost[0]
		fs.lost[0] = nil
		fs.lost = fs.lost[1:]
		fs.lostMu.Unlock()
		st.release()
		fs.mu.Lock()
		delete(fs.handles, st)
		fs.mu.Unlock()
	}
}

// check returns the error that stops every call on st: the FS closed, or
// bytes lost to a device that holds their buffer. The caller holds st.mu.
func (st *hstate) check() error {
	if st.fs.closed.Load() {
		return ErrClosed
	}
	return st.lost
}

// release frees st's blocks and empties it. After Close it does nothing:
// Close took the buffers back, and the blocks no longer matter.
func (st *hstate) release() {
	st.mu.Lock()
	defer st.mu.Unlock()
	fs := st.fs
	if fs.closed.Load() {
		return
	}
	st.drop()
	fs.shrink(st, 0)
	st.ext = nil
	st.size = 0
	st.tail = st.small[:0]
	st.lost = nil
}

// drop waits for st's transfers, so that nothing is in flight to or from
// blocks or buffers given back, and gives its stream buffers back. The
// caller holds st.mu for writing.
func (st *hstate) drop() {
	fs := st.fs
	if j := st.pend; j != nil {
		// The bytes are being dropped: only a held buffer matters.
		j.giveBack(j.wait())
		j.err, st.pend = nil, nil
	}
	st.ra.drop(fs)
	st.stopWorker()
	if st.tbuf != nil {
		fs.putStage(st.tbuf)
		st.tbuf = nil
	}
	if st.twire != nil {
		fs.putStage(st.twire)
		st.twire, st.sealed = nil, 0
	}
}

// loseTail gives up st's stream buffer after err said the device may
// still hold it: the bytes there are lost. The caller holds st.mu for
// writing.
func (st *hstate) loseTail(err error) error {
	fs := st.fs
	if fs.seal != nil {
		// The device had the sealed units (twire, or an I/O buffer
		// that do gave up), never the plaintext.
		fs.putStage(st.tbuf)
		if st.twire != nil {
			fs.recycle(fs.stage, &fs.nstage, st.twire, err)
		}
		st.twire, st.sealed = nil, 0
	} else {
		fs.recycle(fs.stage, &fs.nstage, st.tbuf, err)
	}
	st.tbuf = nil
	st.tail = st.small[:0]
	st.lost = err
	return err
}

// held reports whether err says that the device may still use the
// request's buffers.
func held(err error) bool { return err != nil && errors.Is(err, block.ErrBuffersHeld) }

// Size returns the number of bytes appended since the handle was made or
// last freed.
func (h *Handle) Size() int64 {
	if h == nil || h.st == nil {
		return 0
	}
	h.st.mu.RLock()
	defer h.st.mu.RUnlock()
	return h.st.size
}

// Free gives the handle's blocks back and empties it; the handle stays
// usable. Freeing an empty handle does nothing.
func (h *Handle) Free() error {
	if h == nil || h.st == nil {
		return errNilHandle
	}
	defer runtime.KeepAlive(h)
	if h.st.fs.closed.Load() {
		return fmt.Errorf("swapfs: free: %w", ErrClosed)
	}
	h.st.release()
	return nil
}

// Write appends p; it is io.Writer's form of Append: it writes all of p
// or nothing.
func (h *Handle) Write(p []byte) (int, error) {
	if err := h.Append(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Append adds p to the end of the file. It adds all of p or, on an
// error, nothing: the handle is left exactly as it was and no block is
// leaked. Without room for p it fails with ErrOutOfSpace.
//
// With write-behind (see WithStreamBuffers), Append may return before
// the bytes are on the device; they are readable all the same. If such a
// background write fails, the bytes stay in memory, still readable, and
// the error comes back from the next call that needs the buffer back (an
// Append that completes the next granule, or Sync), after one more try.
func (h *Handle) Append(p []byte) error {
	if h == nil || h.st == nil {
		return errNilHandle
	}
	defer runtime.KeepAlive(h)
	st := h.st
	fs := st.fs
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := st.check(); err != nil {
		return fmt.Errorf("swapfs: append %d bytes at offset %d: %w", len(p), st.size, err)
	}
	if len(p) == 0 {
		return nil
	}
	if int64(len(p)) > fs.capacity-st.size {
		return fmt.Errorf("swapfs: append %d bytes at offset %d: %w", len(p), st.size, ErrOutOfSpace)
	}
	newSize := st.size + int64(len(p))
	if st.small == nil {
		st.small = make([]byte, 0, fs.unitPayload)
		if st.tbuf == nil {
			st.tail = st.small
		}
	}
	st.stream(newSize)
	tailOff := st.size - int64(len(st.tail)) // a unit boundary
	// flushEnd: the file offset up to which bytes go to the device now;
	// the rest stays in the tail.
	flushEnd := newSize / fs.unitPayload * fs.unitPayload
	if st.tbuf != nil {
		flushEnd = newSize / fs.granule * fs.granule
	}
	if flushEnd <= tailOff {
		// All in memory; the blocks are taken now all the same, so that
		// running out of space shows at once.
		if err := st.growTo(newSize); err != nil {
			return fmt.Errorf("swapfs: append %d bytes at offset %d: %w", len(p), st.size, err)
		}
		st.tail = append(st.tail, p...)
		st.size = newSize
		st.sealTail()
		return nil
	}
	if err := st.settle(); err != nil {
		return fmt.Errorf("swapfs: append %d bytes at offset %d: %w", len(p), st.size, err)
	}
	oldBlocks := st.blocks
	if err := st.growTo(newSize); err != nil {
		return fmt.Errorf("swapfs: append %d bytes at offset %d: %w", len(p), st.size, err)
	}
	rest := p[len(p)-int(newSize-flushEnd):] // the new tail
	if st.tbuf != nil && flushEnd == st.fs.granuleEnd(tailOff) {
		// One granule completes, all of it in the stream buffer.
		if err := st.writeBehind(tailOff, flushEnd, p[:len(p)-len(rest)]); err != nil {
			fs.shrink(st, oldBlocks)
			return fmt.Errorf("swapfs: append %d bytes at offset %d: %w", len(p), st.size, err)
		}
	} else if err := fs.writeUnits(st, p, flushEnd/fs.unitPayload); err != nil {
		fs.shrink(st, oldBlocks)
		return fmt.Errorf("swapfs: append %d bytes at offset %d: %w", len(p), st.size, err)
	}
	if st.tbuf != nil {
		st.tail = append(st.tbuf.b[:0], rest...)
	} else {
		st.tail = append(st.small[:0], rest...)
	}
	st.size = newSize
	st.sealed = 0
	st.sealTail()
	return nil
}

// Sync puts every complete unit of the file on the device: it waits for
// a write-behind under way and writes the complete units still gathering
// in memory; only the partial last unit, which is written once complete,
// stays in memory. It returns the error of a failed write (a failed
// write-behind after one more try); the bytes stay readable either way.
// Swap dies with its FS, so Sync is not about durability: it bounds what
// a later failure can report and what RAM the handle's bytes take.
func (h *Handle) Sync() error {
	if h == nil || h.st == nil {
		return errNilHandle
	}
	defer runtime.KeepAlive(h)
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	if err := h.st.check(); err != nil {
		return fmt.Errorf("swapfs: sync: %w", err)
	}
	if err := h.st.sync(); err != nil {
		return fmt.Errorf("swapfs: sync: %w", err)
	}
	return nil
}

// growTo makes st own the blocks a file of size bytes needs. The caller
// holds st.mu for writing.
func (st *hstate) growTo(size int64) error {
	if need := ceilDiv(size, st.fs.blockPayload) - st.blocks; need > 0 {
		return st.fs.grow(st, need)
	}
	return nil
}

// writeUnits writes the units of tail+p before logical unit end, which
// lies past the tail. The caller holds st.mu for writing and has
// allocated the blocks.
func (fs *FS) writeUnits(st *hstate, p []byte, end int64) (err error) {
	base := st.size - int64(len(st.tail)) // a unit boundary: where tail starts
	lu := base / fs.unitPayload
	buf := fs.getBuf()
	defer func() { fs.recycle(fs.bufs, &fs.nbufs, buf, err) }()
	off := 0 // bytes of tail+p consumed
	for lu < end {
		sector, n := fs.mapRun(st, lu, end)
		b := buf.b[:n*fs.unitSize]
		if fs.seal == nil {
			off += st.fill(b, p, off)
		} else {
			pu := sector / fs.unitSectors
			for k := int64(0); k < n; k++ {
				u := b[k*fs.unitSize : (k+1)*fs.unitSize]
				payload := u[:fs.unitPayload]
				if off >= len(st.tail) {
					// All of it in p: sealed straight from there.
					from := off - len(st.tail)
					payload = p[from : from+int(fs.unitPayload)]
					off += len(payload)
				} else {
					off += st.fill(payload, p, off)
				}
				if err := fs.seal.seal(buf, pu+k, u, payload); err != nil {
					return fmt.Errorf("sector %d: %w", sector+k*fs.unitSectors, err)
				}
			}
		}
		if err := fs.dev.Write(sector, buf.one(b)...); err != nil {
			return err
		}
		lu += n
	}
	return nil
}

// fill copies into dst the bytes of tail+p from index off on, and returns
// len(dst); the caller knows they are there.
func (st *hstate) fill(dst, p []byte, off int) int {
	k := copy(dst, st.tail[min(off, len(st.tail)):])
	copy(dst[k:], p[max(off-len(st.tail), 0):])
	return len(dst)
}

// mapRun returns the first sector of logical unit lu and how many units
// from lu on, before end, are contiguous on the device and fit one I/O
// buffer.
func (fs *FS) mapRun(st *hstate, lu, end int64) (sector, n int64) {
	lb := lu / fs.unitsPerBlock
	i := st.findExtent(lb)
	ls := st.lstart(i)
	e := st.ext[i]
	pu := (e.pstart+lb-ls)*fs.unitsPerBlock + lu%fs.unitsPerBlock
	n = min(end-lu, e.lend*fs.unitsPerBlock-lu, fs.ioUnits)
	return pu * fs.unitSectors, n
}

// ReadAt reads len(p) bytes at offset off, as io.ReaderAt: fewer only at
// the end of the file, with io.EOF, or on an error. A negative offset is
// an error matching fs.ErrInvalid.
func (h *Handle) ReadAt(p []byte, off int64) (int, error) {
	if h == nil || h.st == nil {
		return 0, errNilHandle
	}
	defer runtime.KeepAlive(h)
	if off < 0 {
		return 0, fmt.Errorf("swapfs: read at offset %d: %w", off, fs.ErrInvalid)
	}
	st := h.st
	st.mu.RLock()
	defer st.mu.RUnlock()
	if err := st.check(); err != nil {
		return 0, fmt.Errorf("swapfs: read %d bytes at offset %d: %w", len(p), off, err)
	}
	if off >= st.size {
		if off == st.size && len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), st.size-off))
	end := off + int64(n)
	tailOff := st.size - int64(len(st.tail))
	diskEnd := tailOff
	if st.pend != nil {
		diskEnd = st.pendOff
	}
	done := 0
	if off < diskEnd {
		m, err := st.fs.readDisk(st, p[:min(end, diskEnd)-off], off, diskEnd)
		done += m
		if err != nil {
			return done, fmt.Errorf("swapfs: read %d bytes at offset %d: %w", len(p), off, err)
		}
	}
	if st.pend != nil && end > diskEnd && off < tailOff {
		from := max(off, diskEnd)
		done += copy(p[from-off:min(end, tailOff)-off], st.pend.buf.b[from-diskEnd:])
	}
	if end > tailOff {
		from := max(off, tailOff)
		done += copy(p[from-off:n], st.tail[from-tailOff:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readUnits fills p from the device, from file offset off; the whole of p
// lies before the in-memory tail. It returns how many bytes of p, from the
// start, it filled. The caller holds st.mu.
func (fs *FS) readUnits(st *hstate, p []byte, off int64) (_ int, err error) {
	end := off + int64(len(p))
	lu := off / fs.unitPayload
	luEnd := ceilDiv(end, fs.unitPayload)
	buf := fs.getBuf()
	defer func() { fs.recycle(fs.bufs, &fs.nbufs, buf, err) }()
	done := 0
	for lu < luEnd {
		sector, n := fs.mapRun(st, lu, luEnd)
		b := buf.b[:n*fs.unitSize]
		if err := fs.dev.Read(sector, buf.one(b)...); err != nil {
			return done, err
		}
		if fs.seal == nil {
			// The run's bytes are file bytes lu*unitPayload on.
			runOff := lu * fs.unitPayload
			from := max(off, runOff)
			done += copy(p[from-off:], b[from-runOff:])
		} else {
			pu := sector / fs.unitSectors
			for k := int64(0); k < n; k++ {
				u := b[k*fs.unitSize : (k+1)*fs.unitSize]
				unitOff := (lu + k) * fs.unitPayload
				if unitOff >= off && unitOff+fs.unitPayload <= end {
					// All of it wanted: opened straight into p.
					// On failure that part of p holds zeros,
					// past the bytes reported read.
					at := unitOff - off
					pt, err := fs.seal.open(buf, pu+k, p[at:at+fs.unitPayload:at+fs.unitPayload], u)
					if err != nil {
						return done, fmt.Errorf("sector %d: %w", sector+k*fs.unitSectors, err)
					}
					done += len(pt)
					continue
				}
				pt, err := fs.seal.open(buf, pu+k, u, u)
				if err != nil {
					return done, fmt.Errorf("sector %d: %w", sector+k*fs.unitSectors, err)
				}
				from := max(off, unitOff)
				done += copy(p[from-off:], pt[from-unitOff:])
			}
		}
		lu += n
	}
	return done, nil
}
