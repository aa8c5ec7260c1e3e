package virtioblk

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/virtio"
)

// maxPending bounds the requests one call keeps in flight; a call split
// into more waits for its oldest before issuing the next.
const maxPending = 32

// pipeline tracks the requests of one call, oldest first.
type pipeline struct {
	d    *Device
	q    *queue // the call's queue (pick); slots come from it
	read bool
	pend [maxPending]*slot
	head int
	n    int
	err  error // the first error, which stops further requests
}

func (p *pipeline) push(s *slot) {
	p.pend[(p.head+p.n)%maxPending] = s
	p.n++
	if p.n == maxPending {
		p.finishOldest()
	}
}

// finishOldest waits for the oldest request, copies bounced read data out
// and gives the slot back.
func (p *pipeline) finishOldest() {
	s := p.pend[p.head]
	p.pend[p.head] = nil
	p.head = (p.head + 1) % maxPending
	p.n--
	err := p.d.wait(s)
	if err == nil && p.read {
		for _, c := range s.copies {
			copy(c.dst, s.bounce[c.off:])
		}
	}
	// The call's error is its first, unless a later request lent
	// buffers to a device that may keep them: the caller must hear that.
	if err != nil && (p.err == nil || errors.Is(err, block.ErrBuffersHeld) && !errors.Is(p.err, block.ErrBuffersHeld)) {
		p.err = err
	}
	s.q.release(s)
}

// newPipeline starts a call on the queue pick chooses.
func (d *Device) newPipeline(read bool) pipeline {
	return pipeline{d: d, q: d.pick(), read: read}
}

// acquire returns an idle slot from the call's queue, finishing this
// call's own requests while there is none, or, with none of its own in
// flight, taking one from another queue or waiting for other callers'.
func (p *pipeline) acquire(op string, sector int64) *slot {
	w := waiter{d: p.d, q: p.q}
	for p.err == nil {
		s, err := p.q.tryAcquire()
		if s == nil && err == nil && p.n == 0 {
			s, err = p.elsewhere()
		}
		switch {
		case err != nil:
			p.err = p.d.refuse(op, sector, err)
		case s != nil:
			s.op, s.sector = op, sector
			return s
		case p.n > 0:
			p.finishOldest()
		default:
			p.q.poll()
			w.q = p.q
			if err := w.pause(); err != nil {
				p.err = p.d.refuse(op, sector, err)
			}
		}
	}
	return nil
}

// elsewhere takes an idle slot from another queue than the call's, which
// then becomes the call's queue; nil if every queue is full.
func (p *pipeline) elsewhere() (*slot, error) {
	qs := p.d.qs
	for k := 1; k < len(qs); k++ {
		q := &qs[(p.q.index+k)%len(qs)]
		s, err := q.tryAcquire()
		if err != nil || s != nil {
			if s != nil {
				p.q = q
			}
			return s, err
		}
	}
	return nil, nil
}

// issue submits s, or gives it back and records the error.
func (p *pipeline) issue(s *slot) bool {
	if err := p.d.submit(s); err != nil {
		if p.err == nil {
			p.err = p.d.refuse(s.op, s.sector, err)
		}
		s.q.release(s)
		return false
	}
	p.push(s)
	return true
}

// drain waits for every request and returns the call's first error.
func (p *pipeline) drain() error {
	for p.n > 0 {
		p.finishOldest()
	}
	return p.err
}

// refuse is the error for a call the device cannot take: disconnected,
// or broken (an I/O error that wraps the cause).
func (d *Device) refuse(op string, sector int64, err error) error {
	var oe *block.OpError
	switch {
	case errors.As(err, &oe):
		return err
	case errors.Is(err, block.ErrDisconnected):
		return block.Errorf(op, sector, block.ErrDisconnected)
	}
	return block.Errorf(op, sector, fmt.Errorf("%w: %w", block.ErrIO, err))
}

// precheck refuses a call on a disconnected device, and a write to a
// read-only one.
// The order is Mem's: disconnected, read-only, then (the caller's)
// argument checks, and a broken device last (stateCheck).
func (d *Device) precheck(op string, sector int64, write bool) error {
	if d.closedFlag.Load() {
		return block.Errorf(op, sector, block.ErrDisconnected)
	}
	if write && !d.info.ReadWrite {
		return block.Errorf(op, sector, block.ErrReadOnly)
	}
	return nil
}

// stateCheck refuses a call on a broken or disconnected device.
func (d *Device) stateCheck(op string, sector int64) error {
	if !d.closedFlag.Load() && !d.brokenFlag.Load() {
		return nil
	}
	d.mu.Lock()
	err := d.stateErr()
	d.mu.Unlock()
	if err != nil {
		return d.refuse(op, sector, err)
	}
	return nil
}

// Read reads whole sectors starting at sector into bufs, back to back.
func (d *Device) Read(sector int64, bufs ...[]byte) error {
	return d.transfer("read", false, sector, bufs)
}

// Write writes bufs, back to back, to whole sectors starting at sector.
func (d *Device) Write(sector int64, bufs ...[]byte) error {
	return d.transfer("write", true, sector, bufs)
}

// transfer splits a read or write into requests of at most d.segs
// segments of at most d.segBytes each (§5.2.6.1: seg_max, size_max),
// bouncing buffers the device cannot reach through the slot's bounce
// buffer, and keeps up to maxPending of them in flight.
func (d *Device) transfer(op string, write bool, sector int64, bufs [][]byte) error {
	if err := d.precheck(op, sector, write); err != nil {
		return err
	}
	if _, err := block.CheckRequest(d.info, op, sector, bufs); err != nil {
		return err
	}
	if err := d.stateCheck(op, sector); err != nil {
		return err
	}
	typ := uint32(typeIn)
	if write {
		typ = typeOut
	}
	ss := d.info.SectorSize
	p := d.newPipeline(!write)
	bi, off := 0, 0
	for sec := sector; bi < len(bufs); {
		s := p.acquire(op, sec)
		if s == nil {
			break
		}
		s.header(typ, uint64(sec*d.perSect))
		used, bytes := 0, 0
		for bi < len(bufs) && len(s.bufs)-1 < d.segs {
			b := bufs[bi][off:]
			n := min(len(b), d.segBytes)
			if addr, ok := d.dma.Addr(b[:n]); ok {
				s.bufs = append(s.bufs, virtio.Buffer{Addr: addr, Len: uint32(n), Writable: !write})
			} else {
				n = min(n, len(s.bounce)-used)
				if n == 0 {
					break // the bounce buffer is full: next request
				}
				if write {
					copy(s.bounce[used:], b[:n])
				} else {
					s.copies = append(s.copies, copyBack{dst: b[:n], off: used})
				}
				addr := s.bounceAddr + uint64(used)
				used += n
				// Bounced pieces are contiguous: one segment holds
				// as many as size_max allows.
				if last := &s.bufs[len(s.bufs)-1]; len(s.bufs) > 1 &&
					last.Addr+uint64(last.Len) == addr && int(last.Len)+n <= d.segBytes {
					last.Len += uint32(n)
				} else {
					s.bufs = append(s.bufs, virtio.Buffer{Addr: addr, Len: uint32(n), Writable: !write})
				}
			}
			bytes += n
			if off += n; off == len(bufs[bi]) {
				bi, off = bi+1, 0
			}
		}
		if !p.issue(s) {
			break
		}
		sec += int64(bytes / ss)
	}
	return p.drain()
}

// Flush makes completed writes durable (VIRTIO_BLK_T_FLUSH), or returns
// block.ErrUnimplemented when the device has no VIRTIO_BLK_F_FLUSH.
func (d *Device) Flush() error {
	if err := d.precheck("flush", 0, false); err != nil {
		return err
	}
	if !d.features.Has(FeatureFlush) {
		return block.Errorf("flush", 0, block.ErrUnimplemented)
	}
	p := d.newPipeline(false)
	if s := p.acquire("flush", 0); s != nil {
		s.header(typeFlush, 0)
		p.issue(s)
	}
	return p.drain()
}

// Discard tells the device that count sectors from sector are unused
// (VIRTIO_BLK_T_DISCARD), or returns block.ErrUnimplemented without
// VIRTIO_BLK_F_DISCARD.
func (d *Device) Discard(sector, count int64) error {
	return d.zeroes("discard", FeatureDiscard, typeDiscard, d.maxDiscard, sector, count)
}

// WriteZeroes writes zeroes to count sectors from sector
// (VIRTIO_BLK_T_WRITE_ZEROES), or returns block.ErrUnimplemented without
// VIRTIO_BLK_F_WRITE_ZEROES.
func (d *Device) WriteZeroes(sector, count int64) error {
	return d.zeroes("write-zeroes", FeatureWriteZeroes, typeWriteZeroes, d.maxWriteZeroes, sector, count)
}

// zeroes issues discard or write-zeroes requests of one segment (struct
// virtio_blk_discard_write_zeroes) each, at most limit sectors long.
func (d *Device) zeroes(op string, f virtio.Feature, typ uint32, limit uint32, sector, count int64) error {
	if err := d.precheck(op, sector, false); err != nil {
		return err
	}
	if !d.features.Has(f) {
		return block.Errorf(op, sector, block.ErrUnimplemented)
	}
	if !d.info.ReadWrite {
		return block.Errorf(op, sector, block.ErrReadOnly)
	}
	if err := block.CheckRange(d.info, op, sector, count); err != nil {
		return err
	}
	if err := d.stateCheck(op, sector); err != nil {
		return err
	}
	p := d.newPipeline(false)
	for count > 0 {
		n := min(count, int64(limit))
		s := p.acquire(op, sector)
		if s == nil {
			break
		}
		// The header's sector is unused for these requests (§5.2.6).
		s.header(typ, 0)
		seg := s.ctl[ctlPayload : ctlPayload+16]
		binary.LittleEndian.PutUint64(seg[0:], uint64(sector*d.perSect))
		binary.LittleEndian.PutUint32(seg[8:], uint32(n*d.perSect))
		binary.LittleEndian.PutUint32(seg[12:], 0) // flags: no unmap
		s.bufs = append(s.bufs, virtio.Buffer{Addr: s.ctlAddr + ctlPayload, Len: 16})
		if !p.issue(s) {
			break
		}
		sector, count = sector+n, count-n
	}
	return p.drain()
}

// Serial returns the disk's identifier (VIRTIO_BLK_T_GET_ID): up to 20
// bytes, without the NUL padding.
func (d *Device) Serial() (string, error) {
	const op = "get-id"
	if err := d.precheck(op, 0, false); err != nil {
		return "", err
	}
	p := d.newPipeline(false)
	s := p.acquire(op, 0)
	if s == nil {
		return "", p.err
	}
	s.header(typeGetID, 0)
	id := s.ctl[ctlPayload : ctlPayload+idBytes]
	clear(id)
	s.bufs = append(s.bufs, virtio.Buffer{Addr: s.ctlAddr + ctlPayload, Len: idBytes, Writable: true})
	if err := d.submit(s); err != nil {
		s.q.release(s)
		return "", d.refuse(op, 0, err)
	}
	err := d.wait(s)
	var serial string
	if err == nil {
		n := 0
		for n < idBytes && id[n] != 0 {
			n++
		}
		serial = string(id[:n])
	}
	s.q.release(s)
	return serial, err
}

// AllocBuffer returns size bytes of DMA memory: reads and writes through
// it go to the device without a copy. Give it back with FreeBuffer.
func (d *Device) AllocBuffer(size int) ([]byte, error) {
	if size <= 0 {
		return nil, fmt.Errorf("virtioblk: buffer size %d", size)
	}
	buf, _, err := d.dma.Alloc(size, 4096)
	if err != nil {
		return nil, fmt.Errorf("virtioblk: %w", err)
	}
	return buf, nil
}

// FreeBuffer gives back a buffer from AllocBuffer, unless it was lent
// to a quarantined device (its request failed with
// block.ErrBuffersHeld): then it does nothing, and the buffer is never
// handed out again.
func (d *Device) FreeBuffer(buf []byte) {
	d.mu.Lock()
	held := d.heldBuffer(buf)
	if held {
		d.refusedFrees++
	}
	d.mu.Unlock()
	if !held {
		d.dma.Free(buf)
	}
}

// Disconnect resets the device, fails the requests in flight on every
// queue with block.ErrDisconnected and every later call likewise. The
// DMA memory is given back once no call uses it. A device that does not
// acknowledge the reset is quarantined instead (the requests in flight
// fail as after a timeout, and nothing it could reach is freed), and
// Disconnect returns an error wrapping virtio.ErrDeviceBroken.
// Idempotent.
func (d *Device) Disconnect() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.lockQueues()
	defer d.unlockQueues()
	var err error
	if d.err == nil {
		for i := range d.qs {
			d.qs[i].vq.Break(block.ErrDisconnected)
		}
		if rerr := virtio.ResetWithin(d.t, d.resetLimit); rerr != nil {
			err = fmt.Errorf("virtioblk: disconnect: %w", rerr)
			d.err = err
			d.brokenFlag.Store(true)
			d.quarantine(block.ErrDisconnected, rerr)
		}
	}
	d.closed = true
	d.closedFlag.Store(true)
	for i := range d.qs {
		d.qs[i].closed = true
	}
	d.abort(func(s *slot) error { return block.Errorf(s.op, s.sector, block.ErrDisconnected) })
	for i := range d.qs {
		if q := &d.qs[i]; q.busy == 0 {
			q.freeMemory()
		}
	}
	return err
}
