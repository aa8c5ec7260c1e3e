package workload

import (
	"errors"
	"fmt"
	"io"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/swapfs"
)

// Swap workloads: the swap manager's Append and ReadAt in 64 KiB pieces,
// and the seed swap manager's I/O pattern on the same data as the
// baseline (the target: swap at least 20 times the seed).

const swapChunk = 64 << 10

// swap returns the run's swap manager: Config.Swap's, or a fresh one
// that the run closes when it ends (free), giving its I/O and stream
// buffers back to the device.
func (e *env) swap(encrypt bool) (*swapfs.FS, error) {
	if e.cfg.Swap != nil {
		return e.cfg.Swap(encrypt)
	}
	fs, err := NewSwap(e.cfg.Dev, encrypt)
	if err == nil {
		e.owned = append(e.owned, fs)
	}
	return fs, err
}

// NewSwap returns a swap manager over dev with the default blocking
// factor, encrypted (swapfs.WithEncryption) or not.
func NewSwap(dev block.Device, encrypt bool, opts ...swapfs.Option) (*swapfs.FS, error) {
	if encrypt {
		opts = append(opts, swapfs.WithEncryption())
	}
	return swapfs.New(dev, opts...)
}

// swapBudget returns how many bytes, in whole chunks, a swap file may
// take: the byte budget, capped by the manager's free space. Free blocks
// times BlockSize overestimates the room when some of a block holds no
// file data (encryption's tags), so the loops also stop, without error,
// at ErrOutOfSpace once they have some data.
func (e *env) swapBudget(fs *swapfs.FS) (int64, error) {
	st := fs.Stats()
	room := st.FreeBlocks * st.BlockSize
	n := min(e.bytes, room) / swapChunk * swapChunk
	if n <= 0 {
		return 0, fmt.Errorf("%w: %d bytes of free swap, need %d", ErrRegion, room, swapChunk)
	}
	return n, nil
}

// freeHandle gives h's blocks back, keeping the first error.
func freeHandle(h *swapfs.Handle, err *error) {
	if ferr := h.Free(); ferr != nil && *err == nil {
		*err = fmt.Errorf("free: %w", ferr)
	}
}

// swapSetup gives a swap workload a fresh handle of the disk's swap
// manager, a chunk of the pattern, and its byte budget.
// A reader's manager warms up its read-ahead too.
func swapSetup(e *env, encrypt, read bool) (*swapfs.Handle, []byte, int64, error) {
	fs, err := e.swap(encrypt)
	if err != nil {
		return nil, nil, 0, err
	}
	limit, err := e.swapBudget(fs)
	if err != nil {
		return nil, nil, 0, err
	}
	chunk, err := e.buffer(swapChunk)
	if err != nil {
		return nil, nil, 0, err
	}
	fillPattern(chunk)
	if err := warmUp(fs, chunk, limit, read); err != nil {
		return nil, nil, 0, err
	}
	return fs.Empty(), chunk, limit, nil
}

// warmUp brings the manager to the steady state a long-running program's
// would be in, before any clock starts, as the raw workloads allocate
// their buffers first: a file streamed over a few granules and read
// back makes the I/O and stream buffers a manager keeps for its lifetime
// (and pays for the garbage collection that may set off). Without it the
// first workload of a boot would time that.
func warmUp(fs *swapfs.FS, chunk []byte, limit int64, read bool) (err error) {
	h := fs.Empty()
	defer freeHandle(h, &err)
	for n := min(limit, 3<<20); h.Size() < n; {
		if err := h.Append(chunk); err != nil {
			return fmt.Errorf("warm-up append: %w", err)
		}
	}
	for off := int64(0); read && off < 2*swapChunk && off < h.Size(); off += swapChunk {
		if _, err := h.ReadAt(chunk, off); err != nil && err != io.EOF {
			return fmt.Errorf("warm-up read: %w", err)
		}
	}
	return nil
}

func swapAppend(e *env, encrypt bool) (r Result, err error) {
	h, chunk, limit, err := swapSetup(e, encrypt, false)
	if err != nil {
		return Result{}, err
	}
	defer freeHandle(h, &err)
	var moved, ops int64
	e.startClock()
	for moved < limit && !e.done(moved) {
		if err := h.Append(chunk); err != nil {
			if errors.Is(err, swapfs.ErrOutOfSpace) && moved > 0 {
				break // the budget's estimate of free space was generous
			}
			return e.result(moved, ops), fmt.Errorf("append at %d: %w", moved, err)
		}
		moved += swapChunk
		ops++
	}
	// On the clock: the write-behind still under way and the complete
	// units still in memory, as the raw writes have all landed.
	if err := h.Sync(); err != nil {
		return e.result(moved, ops), fmt.Errorf("sync after %d: %w", moved, err)
	}
	return e.result(moved, ops), nil
}

func swapRead(e *env, encrypt bool) (r Result, err error) {
	h, chunk, limit, err := swapSetup(e, encrypt, true)
	if err != nil {
		return Result{}, err
	}
	defer freeHandle(h, &err)
	// Set-up, not measured: a file of up to the byte budget, written
	// within the time budget.
	e.startClock()
	for h.Size() == 0 || h.Size() < limit && !e.done(h.Size()) {
		if err := h.Append(chunk); err != nil {
			if errors.Is(err, swapfs.ErrOutOfSpace) && h.Size() > 0 {
				break
			}
			return Result{}, fmt.Errorf("set-up append at %d: %w", h.Size(), err)
		}
	}
	size := h.Size()
	var moved, ops, off int64
	e.startClock()
	for !e.done(moved) {
		if off >= size {
			off = 0
		}
		n, err := h.ReadAt(chunk, off)
		if n == swapChunk && err == io.EOF {
			err = nil // io.ReaderAt may say EOF with a full read at the end
		}
		if err != nil || n != swapChunk {
			if err == nil {
				err = errors.New("short read")
			}
			return e.result(moved, ops), fmt.Errorf("read at %d: %w", off, err)
		}
		off += swapChunk
		moved += swapChunk
		ops++
	}
	return e.result(moved, ops), nil
}

// seedFile is the seed swap manager's I/O pattern, reduced to what the
// device sees: a file laid out from the start of the scratch region,
// written and read with one request per sector, and a read of the partial
// last sector before every append that does not start on a sector
// boundary (the seed kept no partial sector in memory). Block allocation
// and its table scans are left out: they cost CPU, not I/O.
type seedFile struct {
	e      *env
	size   int64    // bytes
	sector []byte   // one sector, for the partial last one
	one    [][]byte // the buffer list of a request, made once
}

func (f *seedFile) read(s int64, b []byte) error {
	f.one[0] = b
	return f.e.cfg.Dev.Read(s, f.one...)
}

func (f *seedFile) write(s int64, b []byte) error {
	f.one[0] = b
	return f.e.cfg.Dev.Write(s, f.one...)
}

func (f *seedFile) append(p []byte) error {
	e := f.e
	ss := int64(e.info.SectorSize)
	if f.size+int64(len(p)) > e.count*ss {
		f.size = 0 // the region is full: start a new file over the old one
	}
	off := f.size
	if in := off % ss; in != 0 {
		s := e.start + off/ss
		if err := f.read(s, f.sector); err != nil {
			return err
		}
		n := copy(f.sector[in:], p)
		if err := f.write(s, f.sector); err != nil {
			return err
		}
		p = p[n:]
		off += int64(n)
	}
	for len(p) > 0 {
		s := e.start + off/ss
		var err error
		if int64(len(p)) >= ss {
			err = f.write(s, p[:ss])
			p = p[ss:]
			off += ss
		} else {
			n := copy(f.sector, p)
			clear(f.sector[n:])
			err = f.write(s, f.sector)
			p = nil
			off += int64(n)
		}
		if err != nil {
			return err
		}
	}
	f.size = off
	return nil
}

func newSeedFile(e *env) (*seedFile, error) {
	sector, err := e.buffer(e.info.SectorSize)
	if err != nil {
		return nil, err
	}
	return &seedFile{e: e, sector: sector, one: make([][]byte, 1)}, nil
}

// seedAppend appends 64 KiB chunks, as swap-append-64K does, in the
// seed's pattern. Chunks are sector multiples, so no read-back happens:
// the baseline is the per-sector requests alone.
func seedAppend(e *env) (Result, error) {
	if _, err := e.unit(swapChunk); err != nil {
		return Result{}, err
	}
	f, err := newSeedFile(e)
	if err != nil {
		return Result{}, err
	}
	chunk, err := e.buffer(swapChunk)
	if err != nil {
		return Result{}, err
	}
	fillPattern(chunk)
	var moved, ops int64
	e.startClock()
	for !e.done(moved) {
		if err := f.append(chunk); err != nil {
			return e.result(moved, ops), fmt.Errorf("append at %d: %w", f.size, err)
		}
		moved += swapChunk
		ops++
	}
	return e.result(moved, ops), nil
}

// seedRead reads 64 KiB pieces sequentially over the scratch region, each
// as one request per sector, as the seed's get_partial did.
func seedRead(e *env) (Result, error) {
	n, err := e.unit(swapChunk)
	if err != nil {
		return Result{}, err
	}
	chunk, err := e.buffer(int(n) * e.info.SectorSize)
	if err != nil {
		return Result{}, err
	}
	ss := int64(e.info.SectorSize)
	one := make([][]byte, 1)
	var moved, ops, pos int64
	e.startClock()
	for !e.done(moved) {
		if pos+n > e.count {
			pos = 0
		}
		for i := range n {
			one[0] = chunk[i*ss : (i+1)*ss]
			if err := e.cfg.Dev.Read(e.start+pos+i, one...); err != nil {
				return e.result(moved, ops), err
			}
		}
		pos += n
		moved += int64(len(chunk))
		ops++
	}
	return e.result(moved, ops), nil
}
