package swapfs

import (
	"fmt"
	"runtime"
)

// Streaming: write-behind and read-ahead in whole I/O buffers.
//
// A device request has a fixed cost besides its bytes (under TCG about
// what 300 KiB cost), so a file streamed in 64 KiB pieces moves best in
// 1 MiB requests, issued while the caller goes on. An FS therefore
// lends each handle that grows past one I/O buffer (a granule: ioUnits
// units, 1 MiB) a stream buffer for its tail: appends gather there until
// a granule is complete, which is then written in the background (one
// request) from that very buffer while later appends fill another. A
// handle read sequentially in pieces smaller than half a granule is read
// a whole granule at a time into two stream buffers, the next granule
// being fetched while the caller consumes the current one.
//
// Encrypted files stream the same way, the cipher's work placed so that
// it overlaps the device's: a stream buffer always holds plaintext, the
// file's bytes in file order, so that reads of bytes not yet on the
// device and a failed write work as for a plain file. Beside it, a second
// stream buffer (twire) takes the tail's units sealed, in the device's
// layout (each unit's data followed by its tag), as each unit completes:
// the appender seals a granule while the worker writes the previous one.
// Without a second buffer free, the worker seals the granule into an I/O
// buffer just before writing it. A failed write is sealed again, under
// new counters, when retried. A read-ahead reads a granule's units into a
// stream buffer on the worker; the reader opens them in place when it
// first needs them, after starting the read of the next granule, so that
// opening one granule overlaps reading the next; each unit's data then
// lies at the start of its unit (heldCopy).
//
// Stream buffers are few (WithStreamBuffers, 4 by default) and lent
// without waiting: a handle that finds none works unbuffered, unit by
// unit, exactly as with WithStreamBuffers(0). A handle gives its buffers
// back when it is freed (Free or the garbage collector).

// DefaultStreamBuffers is the number of stream buffers an FS may lend
// when WithStreamBuffers is not given: enough for one handle to append
// (two) and another, or the same, to read ahead (two).
const DefaultStreamBuffers = 4

// DefaultEncryptedStreamBuffers is the number for an encrypted FS: an
// appending handle takes four (the plaintext and the sealed units of its
// tail, and of the granule being written behind), leaving two for a
// read-ahead.
const DefaultEncryptedStreamBuffers = 6

// WithStreamBuffers sets how many I/O buffers (1 MiB each, or the whole
// device if smaller) an FS may lend to handles for write-behind and
// read-ahead, plain or encrypted (DefaultStreamBuffers and
// DefaultEncryptedStreamBuffers without it); 0 turns both off. With
// encryption the cipher's work overlaps the device's: an appender seals
// units into a second stream buffer as they complete, while the previous
// granule is written behind, and a reader opens a granule while the next
// is read ahead. New fails on a negative count.
func WithStreamBuffers(n int) Option {
	return func(c *config) { c.streamBufs, c.streamBufsSet = n, true }
}

// tryStage lends a stream buffer, making one while fewer than the FS's
// limit exist; it returns nil rather than wait.
func (fs *FS) tryStage() *ioBuf { return fs.take(fs.stage, &fs.nstage, false) }

func (fs *FS) putStage(b *ioBuf) { fs.stage <- b } // never blocks: at most cap(fs.stage) exist

// run is a piece of a job: n bytes of the job's buffer from off, to or
// from the device from sector on.
type run struct {
	sector int64
	off, n int
}

// job is one background transfer between a stream buffer and the
// device. Its runs are worked out when it is made, under the handle's
// lock, so the worker never looks at the handle's extents.
type job struct {
	fs    *FS
	write bool
	buf   *ioBuf
	// An encrypted write's sealed units, in the device's layout, when
	// the handle had a stream buffer for them: units [0, sealed) of
	// the job are sealed already. Nil: do seals into an I/O buffer.
	wire   *ioBuf
	sealed int
	runs   []run
	done   chan error // the worker's result; capacity 1
	err    error
	busy   bool // queued and not yet waited for
}

func newJob(fs *FS, write bool) *job {
	return &job{fs: fs, write: write, done: make(chan error, 1)}
}

// plan sets the job's runs: units [lu, end) of st, which lie in its
// buffer from byte 0 on (as plaintext, in file order, for an encrypted
// write; in the device's layout otherwise). Runs' offsets are in the
// device's layout. The caller holds st.mu.
func (j *job) plan(fs *FS, st *hstate, lu, end int64) {
	j.runs = j.runs[:0]
	off := 0
	for lu < end {
		sector, n := fs.mapRun(st, lu, end)
		j.runs = append(j.runs, run{sector: sector, off: off, n: int(n * fs.unitSize)})
		off += int(n * fs.unitSize)
		lu += n
	}
}

// size returns the bytes the job moves.
func (j *job) size() int {
	if len(j.runs) == 0 {
		return 0
	}
	r := j.runs[len(j.runs)-1]
	return r.off + r.n
}

// do carries the job out on the calling goroutine. An encrypted write
// seals the units not sealed yet into its wire buffer (an I/O buffer if
// it has none) and writes from there, leaving the stream buffer's
// plaintext as it was. An encrypted read leaves its units sealed.
func (j *job) do() (err error) {
	fs := j.fs
	wire := j.buf
	if j.write && fs.seal != nil {
		if wire = j.wire; wire == nil {
			wire = fs.getBuf()
			defer func() { fs.recycle(fs.bufs, &fs.nbufs, wire, err) }()
			j.sealed = 0
		}
	}
	for _, r := range j.runs {
		d := wire.b[r.off : r.off+r.n]
		if j.write && fs.seal != nil {
			if err := j.sealRun(wire, r, d); err != nil {
				return err
			}
		}
		if j.write {
			err = fs.dev.Write(r.sector, wire.one(d)...)
		} else {
			err = fs.dev.Read(r.sector, wire.one(d)...)
		}
		if err != nil {
			return fmt.Errorf("sector %d: %w", r.sector, err)
		}
	}
	return nil
}

// sealRun seals run r's units that are not sealed yet into d, their
// place in wire, from the plaintext in the job's buffer.
func (j *job) sealRun(wire *ioBuf, r run, d []byte) error {
	fs := j.fs
	pu := r.sector / fs.unitSectors
	us, up := int(fs.unitSize), int(fs.unitPayload)
	first := r.off / us // the run's first unit in the job
	for k := max(j.sealed-first, 0); k*us < len(d); k++ {
		src := (first + k) * up
		if err := fs.seal.seal(wire, pu+int64(k), d[k*us:(k+1)*us], j.buf.b[src:src+up]); err != nil {
			return fmt.Errorf("sector %d: %w", r.sector+int64(k)*fs.unitSectors, err)
		}
	}
	return nil
}

// open opens a finished encrypted read's units in place, on the calling
// goroutine. A unit that fails authentication fails it.
func (j *job) open() error {
	fs := j.fs
	us := int(fs.unitSize)
	for _, r := range j.runs {
		pu := r.sector / fs.unitSectors
		d := j.buf.b[r.off : r.off+r.n]
		for k := 0; k*us < len(d); k++ {
			u := d[k*us : (k+1)*us]
			if _, err := fs.seal.open(j.buf, pu+int64(k), u, u); err != nil {
				return fmt.Errorf("sector %d: %w", r.sector+int64(k)*fs.unitSectors, err)
			}
		}
	}
	return nil
}

// start queues the job on st's worker, starting the worker if need be.
// The caller holds st.mu for writing, or for reading and st.ra.mu (the
// two exclude each other).
func (st *hstate) start(j *job) {
	if st.jobs == nil {
		st.jobs = make(chan *job, 4)
		go work(st.jobs)
	}
	j.busy = true
	st.jobs <- j // never blocks: a handle has at most three jobs
	// Let the worker submit the request before the caller goes on: with
	// one processor (TamaGo; a one-CPU guest) it would otherwise not run
	// until the caller blocks, waiting for this very job, and the device
	// would idle meanwhile.
	runtime.Gosched()
}

// work runs a handle's background jobs one after another until the
// handle is released.
func work(jobs <-chan *job) {
	for j := range jobs {
		j.done <- j.do()
	}
}

// wait returns the job's result once it has finished. It is idempotent.
func (j *job) wait() error {
	if j.busy {
		j.err = <-j.done
		j.busy = false
	}
	return j.err
}

// stopWorker ends st's worker; the caller has waited for every job.
func (st *hstate) stopWorker() {
	if st.jobs != nil {
		close(st.jobs)
		st.jobs = nil
	}
}

// granuleEnd returns the file offset where the granule holding byte off
// ends.
func (fs *FS) granuleEnd(off int64) int64 { return (off/fs.granule + 1) * fs.granule }

// stream lends st a stream buffer for its tail when the file grows past
// a granule and one is free; the tail moves there. The caller holds st.mu
// for writing.
func (st *hstate) stream(newSize int64) {
	fs := st.fs
	if st.tbuf != nil || cap(fs.stage) == 0 || newSize <= fs.granule {
		return
	}
	if b := fs.tryStage(); b != nil {
		st.tbuf = b
		st.tail = append(b.b[:0], st.tail...)
		if fs.seal != nil {
			st.twire, st.sealed = fs.tryStage(), 0
		}
	}
}

// sealTail seals the tail's complete units not sealed yet into twire, if
// the handle has one, so that a granule is mostly sealed by the time it
// is written. A unit that cannot be sealed (its counter worn out) is left
// for the write to seal and fail on. The caller holds st.mu for writing.
func (st *hstate) sealTail() { st.sealUnits(st.size-int64(len(st.tail)), st.tail) }

// sealUnits seals into twire the complete units of tail, which starts at
// file offset tailOff and in twire's first unit, from st.sealed on.
func (st *hstate) sealUnits(tailOff int64, tail []byte) {
	fs := st.fs
	if st.twire == nil {
		return
	}
	us, up := fs.unitSize, fs.unitPayload
	tailLU := tailOff / up
	for k := int64(st.sealed); (k+1)*up <= int64(len(tail)); k++ {
		sector, _ := fs.mapRun(st, tailLU+k, tailLU+k+1)
		if fs.seal.seal(st.twire, sector/fs.unitSectors, st.twire.b[k*us:(k+1)*us], tail[k*up:(k+1)*up]) != nil {
			return
		}
		st.sealed = int(k + 1)
	}
}

// lendWire gives job j the tail's sealed units, if any.
func (st *hstate) lendWire(j *job) {
	j.wire, j.sealed = st.twire, st.sealed
}

// writeBehind writes bytes [from, to) of the file, one granule, which
// are the tail followed by p, from the stream buffer. It starts the write
// in the background, the tail moving to a second stream buffer, when one
// is free, and otherwise writes here. The caller holds st.mu for writing,
// has settled any earlier write-behind and has allocated the blocks; on
// success it puts the new tail into st.tbuf.
func (st *hstate) writeBehind(from, to int64, p []byte) error {
	fs := st.fs
	// Past the tail's bytes: the tail is as it was if this fails.
	n := copy(st.tail[len(st.tail):cap(st.tail)], p)
	j := st.writeJob()
	j.buf = st.tbuf
	j.plan(fs, st, from/fs.unitPayload, to/fs.unitPayload)
	// Seal what p completes here, before the worker writes the granule:
	// the seal of the units gathered so far overlapped the previous
	// granule's write.
	st.sealUnits(from, st.tail[:len(st.tail)+n])
	st.lendWire(j)
	next := fs.tryStage()
	if next == nil {
		err := j.do()
		j.buf, j.wire = nil, nil
		st.sealed = 0
		if held(err) {
			return st.loseTail(err)
		}
		return err
	}
	var nextWire *ioBuf
	if fs.seal != nil {
		nextWire = fs.tryStage()
	}
	st.start(j)
	st.pend, st.pendOff = j, from
	st.tbuf, st.twire, st.sealed = next, nextWire, 0
	return nil
}

// settle finishes st's write-behind, if any: it waits for the background
// write and, if that failed, tries once more here. On success the
// granule's buffer goes back; on failure its bytes stay there, readable,
// and the error is returned. The caller holds st.mu for writing.
func (st *hstate) settle() error {
	j := st.pend
	if j == nil {
		return nil
	}
	err := j.wait()
	if err != nil && !held(err) {
		j.sealed = 0 // a retry seals again, under new counters
		err = j.do()
		j.err = err
	}
	if err != nil {
		err = fmt.Errorf("write-behind of bytes %d to %d: %w", st.pendOff, st.pendOff+int64(j.size()), err)
		if held(err) {
			// The granule's bytes are in a buffer the device may
			// still write: they are gone.
			j.giveBack(err)
			j.err, st.pend = nil, nil
			st.lost = err
		}
		return err
	}
	j.giveBack(nil)
	j.err = nil
	st.pend = nil
	return nil
}

// giveBack returns the job's stream buffers after its result err: the one
// the device was given (the sealed units of an encrypted write, if a
// stream buffer held them; otherwise its buffer) is given up if err says
// the device may still hold it.
func (j *job) giveBack(err error) {
	fs := j.fs
	lent := j.buf
	if j.write && fs.seal != nil {
		lent = j.wire // nil: do's I/O buffer, which do gave back itself
	}
	for _, b := range [2]*ioBuf{j.buf, j.wire} {
		switch {
		case b == nil:
		case b == lent:
			fs.recycle(fs.stage, &fs.nstage, b, err)
		default:
			fs.putStage(b)
		}
	}
	j.buf, j.wire = nil, nil
}

// sync settles st's write-behind, then writes the complete units of a
// stream buffer's tail from it, leaving the partial last unit at its
// start. The caller holds st.mu for writing.
func (st *hstate) sync() error {
	if err := st.settle(); err != nil {
		return err
	}
	fs := st.fs
	tailOff := st.size - int64(len(st.tail))
	end := st.size / fs.unitPayload * fs.unitPayload
	if st.tbuf == nil || end <= tailOff {
		return nil // without a stream buffer, the tail is under a unit
	}
	j := st.writeJob()
	j.buf = st.tbuf
	j.plan(fs, st, tailOff/fs.unitPayload, end/fs.unitPayload)
	st.lendWire(j)
	err := j.do()
	j.buf, j.wire = nil, nil
	if err != nil {
		st.sealed = 0 // the next try seals again
		err = fmt.Errorf("bytes %d to %d: %w", tailOff, end, err)
		if held(err) {
			return st.loseTail(err)
		}
		return err
	}
	st.tail = st.tail[:copy(st.tail, st.tail[end-tailOff:])]
	st.sealed = 0
	return nil
}

// writeJob returns st's write job, made on first use.
func (st *hstate) writeJob() *job {
	if st.wjob == nil {
		st.wjob = newJob(st.fs, true)
	}
	return st.wjob
}
