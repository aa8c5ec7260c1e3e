package swapfs

import (
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"sync"
)

// Handle is an anonymous, append-only file. It is safe for concurrent
// use. A Handle that becomes unreachable has its blocks freed by the
// garbage collector.
type Handle struct {
	st *hstate
}

// hstate is a handle's state, apart from the Handle so that the cleanup
// that frees its blocks can hold it without keeping the Handle alive.
type hstate struct {
	fs     *FS
	mu     sync.RWMutex
	ext    []extent
	blocks int64  // logical blocks owned: ext[len(ext)-1].lend
	size   int64  // bytes appended
	tail   []byte // the partial last unit: size % fs.unitPayload bytes, only in memory
}

// Empty returns a handle to a new, empty file. On a nil FS it returns a
// handle whose every operation fails.
func (fs *FS) Empty() *Handle {
	if fs == nil {
		return &Handle{}
	}
	st := &hstate{fs: fs}
	h := &Handle{st: st}
	runtime.AddCleanup(h, (*hstate).release, st)
	return h
}

// release frees st's blocks and empties it.
func (st *hstate) release() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.fs.shrink(st, 0)
	st.ext = nil
	st.size = 0
	st.tail = st.tail[:0]
}

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
	h.st.release()
	runtime.KeepAlive(h)
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

// Append adds p to the end of the file. It writes all of p or, on an
// error, nothing: the handle is left exactly as it was and no block is
// leaked. Without room for p it fails with ErrOutOfSpace.
func (h *Handle) Append(p []byte) error {
	if h == nil || h.st == nil {
		return errNilHandle
	}
	defer runtime.KeepAlive(h)
	st := h.st
	fs := st.fs
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(p) == 0 {
		return nil
	}
	if int64(len(p)) > fs.capacity-st.size {
		return fmt.Errorf("swapfs: append %d bytes at offset %d: %w", len(p), st.size, ErrOutOfSpace)
	}
	newSize := st.size + int64(len(p))
	oldBlocks := st.blocks
	if need := ceilDiv(newSize, fs.blockPayload) - st.blocks; need > 0 {
		if err := fs.grow(st, need); err != nil {
			return fmt.Errorf("swapfs: append %d bytes at offset %d: %w", len(p), st.size, err)
		}
	}
	if err := fs.writeUnits(st, p); err != nil {
		fs.shrink(st, oldBlocks)
		return fmt.Errorf("swapfs: append %d bytes at offset %d: %w", len(p), st.size, err)
	}
	// The new partial unit, from the old tail when no unit completed,
	// else from the end of p.
	rest := int(newSize % fs.unitPayload)
	if st.tail == nil {
		st.tail = make([]byte, 0, fs.unitPayload)
	}
	if len(st.tail)+len(p) < int(fs.unitPayload) {
		st.tail = append(st.tail, p...)
	} else {
		st.tail = append(st.tail[:0], p[len(p)-rest:]...)
	}
	st.size = newSize
	return nil
}

// writeUnits writes the units that tail+p completes. The caller holds
// st.mu for writing and has allocated the blocks.
func (fs *FS) writeUnits(st *hstate, p []byte) error {
	base := st.size - int64(len(st.tail)) // a unit boundary: where tail starts
	lu := base / fs.unitPayload
	end := (st.size + int64(len(p))) / fs.unitPayload
	if lu == end {
		return nil // all in memory
	}
	buf := fs.getBuf()
	defer fs.putBuf(buf)
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
	if off >= st.size {
		if off == st.size && len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), st.size-off))
	end := off + int64(n)
	diskEnd := st.size - int64(len(st.tail))
	done := 0
	if off < diskEnd {
		m, err := st.fs.readUnits(st, p[:min(end, diskEnd)-off], off)
		done += m
		if err != nil {
			return done, fmt.Errorf("swapfs: read %d bytes at offset %d: %w", len(p), off, err)
		}
	}
	if end > diskEnd {
		from := max(off, diskEnd)
		done += copy(p[from-off:n], st.tail[from-diskEnd:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readUnits fills p from the device, from file offset off; the whole of p
// lies before the in-memory tail. It returns how many bytes of p, from the
// start, it filled. The caller holds st.mu.
func (fs *FS) readUnits(st *hstate, p []byte, off int64) (int, error) {
	end := off + int64(len(p))
	lu := off / fs.unitPayload
	luEnd := ceilDiv(end, fs.unitPayload)
	buf := fs.getBuf()
	defer fs.putBuf(buf)
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
