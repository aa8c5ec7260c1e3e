package swapfs

import (
	"fmt"
	"runtime"

	"github.com/tamaswap/tamaswap/drivers/block"
)

// Streaming: write-behind and read-ahead in whole I/O buffers.
//
// A device request has a fixed cost besides its bytes (under TCG about
// what 300 KiB cost), so a file streamed in 64 KiB pieces moves best in
// 1 MiB requests, issued while the caller goes on. A plain FS therefore
// lends each handle that grows past one I/O buffer (a granule: ioUnits
// units, 1 MiB) a stream buffer for its tail: appends gather there until
// a granule is complete, which is then written in the background (one
// request) from that very buffer while later appends fill another. A
// handle read sequentially in pieces smaller than half a granule is read
// a whole granule at a time into two stream buffers, the next granule
// being fetched while the caller consumes the current one.
//
// Stream buffers are few (WithStreamBuffers, 4 by default) and lent
// without waiting: a handle that finds none works unbuffered, unit by
// unit, exactly as with WithStreamBuffers(0). A handle gives its buffers
// back when it is freed (Free or the garbage collector).

// DefaultStreamBuffers is the number of stream buffers an FS may lend
// when WithStreamBuffers is not given: enough for one handle to append
// (two) and another, or the same, to read ahead (two).
const DefaultStreamBuffers = 4

// WithStreamBuffers sets how many I/O buffers (1 MiB each, or the whole
// device if smaller) an FS may lend to handles for write-behind and
// read-ahead; 0 turns both off. Encrypted FSs do neither: their cost is
// the cipher's, not the requests'. New fails on a negative count.
func WithStreamBuffers(n int) Option {
	return func(c *config) { c.streamBufs = n }
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
	dev   block.Device
	write bool
	buf   *ioBuf
	runs  []run
	done  chan error // the worker's result; capacity 1
	err   error
	busy  bool // queued and not yet waited for
}

func newJob(dev block.Device, write bool) *job {
	return &job{dev: dev, write: write, done: make(chan error, 1)}
}

// plan sets the job's runs: units [lu, end) of st, which lie in its
// buffer from byte 0 on. The caller holds st.mu.
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

// do carries the job out on the calling goroutine.
func (j *job) do() error {
	for _, r := range j.runs {
		b := j.buf.one(j.buf.b[r.off : r.off+r.n])
		var err error
		if j.write {
			err = j.dev.Write(r.sector, b...)
		} else {
			err = j.dev.Read(r.sector, b...)
		}
		if err != nil {
			return fmt.Errorf("sector %d: %w", r.sector, err)
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
	}
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
	copy(st.tail[len(st.tail):cap(st.tail)], p)
	j := st.writeJob()
	j.buf = st.tbuf
	j.plan(fs, st, from/fs.unitPayload, to/fs.unitPayload)
	next := fs.tryStage()
	if next == nil {
		err := j.do()
		j.buf = nil
		if held(err) {
			return st.loseTail(err)
		}
		return err
	}
	st.start(j)
	st.pend, st.pendOff = j, from
	st.tbuf = next
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
		err = j.do()
		j.err = err
	}
	if err != nil {
		err = fmt.Errorf("write-behind of bytes %d to %d: %w", st.pendOff, st.pendOff+int64(j.size()), err)
		if held(err) {
			// The granule's bytes are in a buffer the device may
			// still write: they are gone.
			st.fs.recycle(st.fs.stage, &st.fs.nstage, j.buf, err)
			j.buf, j.err, st.pend = nil, nil, nil
			st.lost = err
		}
		return err
	}
	st.fs.putStage(j.buf)
	j.buf, j.err = nil, nil
	st.pend = nil
	return nil
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
	err := j.do()
	j.buf = nil
	if err != nil {
		err = fmt.Errorf("bytes %d to %d: %w", tailOff, end, err)
		if held(err) {
			return st.loseTail(err)
		}
		return err
	}
	st.tail = st.tail[:copy(st.tail, st.tail[end-tailOff:])]
	return nil
}

// writeJob returns st's write job, made on first use.
func (st *hstate) writeJob() *job {
	if st.wjob == nil {
		st.wjob = newJob(st.fs.dev, true)
	}
	return st.wjob
}
