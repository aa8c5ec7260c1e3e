package workload

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Raw device workloads: one request per operation, straight to the
// device, sequential over the scratch region (wrapping at its end) or at
// random aligned offsets inside it.

const (
	seqSize  = 1 << 20 // seqwrite-1M, seqread-1M
	randSize = 4 << 10 // randread-4K-*, randwrite-4K-*
)

func seqWrite(e *env) (Result, error) { return seqIO(e, true) }
func seqRead(e *env) (Result, error)  { return seqIO(e, false) }

func seqIO(e *env, write bool) (Result, error) {
	n, err := e.unit(seqSize)
	if err != nil {
		return Result{}, err
	}
	buf, err := e.buffer(int(n) * e.info.SectorSize)
	if err != nil {
		return Result{}, err
	}
	fillPattern(buf)
	// Pass the buffer list as a slice made once: a variadic call through
	// an interface would allocate one per request.
	bufs := [][]byte{buf}
	var moved, ops, pos int64
	e.startClock()
	for !e.done(moved) {
		if pos+n > e.count {
			pos = 0
		}
		if write {
			err = e.cfg.Dev.Write(e.start+pos, bufs...)
		} else {
			err = e.cfg.Dev.Read(e.start+pos, bufs...)
		}
		if err != nil {
			return e.result(moved, ops), err
		}
		pos += n
		moved += int64(len(buf))
		ops++
	}
	return e.result(moved, ops), nil
}

// randIO issues requests of randSize at random aligned offsets from
// jobs submitters of queue depth qd, until the budget is spent. A
// submitter of depth qd is qd goroutines, each with one request in
// flight (the qdN workloads: one submitter); jobs submitters run side
// by side, jobs×qd requests in flight in all, each goroutine with its
// own offsets (fio's numjobs; the -jobsN workloads, which give a
// scheduler with several CPUs that many independent submitters). The
// budget, the result and the latency figures are the whole run's.
func randIO(e *env, write bool, qd, jobs int) (Result, error) {
	qd *= jobs
	n, err := e.unit(randSize)
	if err != nil {
		return Result{}, err
	}
	slots := uint64(e.count / n)
	bufs := make([][]byte, qd)
	for i := range bufs {
		if bufs[i], err = e.buffer(int(n) * e.info.SectorSize); err != nil {
			return Result{}, err
		}
		fillPattern(bufs[i])
	}
	size := int64(len(bufs[0]))
	lat := make([]Latency, qd) // one a worker: recording takes no lock
	var (
		moved, ops atomic.Int64
		stop       atomic.Bool
		wg         sync.WaitGroup
		errOnce    sync.Once
		firstErr   error
	)
	worker := func(i int) {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(e.cfg.Seed, uint64(i)))
		one := bufs[i : i+1]
		for !stop.Load() {
			sector := e.start + int64(rng.Uint64N(slots))*n
			var err error
			t0 := time.Now()
			if write {
				err = e.cfg.Dev.Write(sector, one...)
			} else {
				err = e.cfg.Dev.Read(sector, one...)
			}
			if err != nil {
				errOnce.Do(func() { firstErr = err })
				stop.Store(true)
				return
			}
			lat[i].Record(time.Since(t0))
			ops.Add(1)
			if e.done(moved.Add(size)) {
				stop.Store(true)
			}
		}
	}
	e.startClock()
	wg.Add(qd)
	for i := 1; i < qd; i++ {
		go worker(i)
	}
	worker(0) // qd1 runs on the caller's goroutine: no scheduling in the way
	wg.Wait()
	r := e.result(moved.Load(), ops.Load())
	r.Latency = &lat[0]
	for i := 1; i < qd; i++ {
		r.Latency.Add(&lat[i])
	}
	return r, firstErr
}

// fillPattern gives write buffers non-zero, non-repeating-looking content
// so that no layer can shortcut zero or constant writes.
func fillPattern(b []byte) {
	x := uint32(0x9e3779b9)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
}
