package swapfs

import (
	"errors"
	"sync"
)

// readAhead is a handle's read-ahead: two stream buffers, each holding a
// granule of the file's on-device bytes, or being filled with one in the
// background. A read that continues where the last one ended, or falls
// in a held granule, is served from them; the granule after the one it
// ends in is fetched while the caller goes on. The file's bytes on the
// device never change until the handle is freed (it is append-only), so
// what a slot holds stays true until then.
type readAhead struct {
	mu    sync.Mutex
	next  int64 // file offset where the last read on the device ended
	slots [2]raSlot
}

type raSlot struct {
	j     *job  // buffer and transfer; nil until lent
	g     int64 // granule held or being read
	units int64 // units of it held, from its start; 0: none
	// Encrypted: the units are opened (in place). The worker only
	// reads them; the reader opens them when it first needs them.
	opened bool
}

// lend gives both slots a stream buffer, reporting whether they have one.
func (ra *readAhead) lend(fs *FS) bool {
	for i := range ra.slots {
		s := &ra.slots[i]
		if s.j == nil {
			s.j = newJob(fs, false)
		}
		if s.j.buf == nil {
			if s.j.buf = fs.tryStage(); s.j.buf == nil {
				ra.drop(fs) // one is no use without the other
				return false
			}
			s.units = 0
		}
	}
	return true
}

// drop waits for the slots' transfers and gives their buffers back. The
// caller holds st.mu for writing, or ra.mu.
func (ra *readAhead) drop(fs *FS) {
	for i := range ra.slots {
		s := &ra.slots[i]
		if s.j == nil || s.j.buf == nil {
			continue
		}
		// Read ahead, never asked for: only a held buffer matters.
		if ra.reuse(fs, s) == nil {
			fs.putStage(s.j.buf)
		}
		s.j.buf, s.j.err, s.units, s.opened = nil, nil, 0, false
	}
	ra.next = 0
}

// reuse waits for s's transfer before its buffer serves again. If the
// transfer failed with the buffer still held by the device, the buffer
// leaves the FS for good, s has none, and reuse returns that error.
func (ra *readAhead) reuse(fs *FS, s *raSlot) error {
	if err := s.j.wait(); held(err) {
		fs.recycle(fs.stage, &fs.nstage, s.j.buf, err)
		s.j.buf, s.j.err, s.units = nil, nil, 0
		return err
	}
	return nil
}

// readDisk fills p from the file's bytes on the device, from offset off;
// the device holds the file up to diskEnd. It returns how many bytes of
// p, from the start, it filled. The caller holds st.mu for reading.
func (fs *FS) readDisk(st *hstate, p []byte, off, diskEnd int64) (int, error) {
	if len(p) == 0 {
		return 0, nil // no read, and no sign of a stream
	}
	if cap(fs.stage) == 0 || int64(len(p)) > fs.granule/2 {
		return fs.readUnits(st, p, off) // large reads are large requests already
	}
	ra := &st.ra
	ra.mu.Lock()
	defer ra.mu.Unlock()
	end := off + int64(len(p))
	seq := off == ra.next
	if (!seq && ra.holding(fs, off) < 0) || !ra.lend(fs) {
		// Not a stream: straight to the device.
		ra.next = end
		return fs.readUnits(st, p, off)
	}
	ra.next = end
	done := 0
	last := -1
	for done < len(p) {
		o := off + int64(done)
		g := o / fs.granule
		need := ceilDiv(min(end, (g+1)*fs.granule)-g*fs.granule, fs.unitPayload)
		i, err := ra.load(fs, st, g, need, diskEnd)
		if err == errNoSlot {
			ra.next = 0
			m, err := fs.readUnits(st, p[done:], o)
			return done + m, err
		}
		if err != nil {
			return done, err
		}
		s := &ra.slots[i]
		if fs.seal != nil && !s.opened {
			// Start reading the next granule first, so that the
			// device reads it while this one is opened here.
			if seq {
				ra.prefetch(fs, st, g+1, 1-i, diskEnd)
			}
			if err := s.j.open(); err != nil {
				// A granule is opened whole, so one unit that
				// fails authentication fails it all: read the rest
				// unit by unit, which fails only the bad units.
				s.units = 0
				ra.next = 0
				m, err := fs.readUnits(st, p[done:], o)
				return done + m, err
			}
			s.opened = true
		}
		done += fs.heldCopy(p[done:], s.j.buf.b, o-g*fs.granule, s.units)
		last = i
	}
	// A stream: fetch the next granule into the other slot, unless it is
	// there.
	if seq {
		ra.prefetch(fs, st, (end-1)/fs.granule+1, 1-last, diskEnd)
	}
	return done, nil
}

// prefetch starts reading granule g into slot i, unless a slot holds it
// or it is not on the device.
func (ra *readAhead) prefetch(fs *FS, st *hstate, g int64, i int, diskEnd int64) {
	if g*fs.granule >= diskEnd || ra.holding(fs, g*fs.granule) >= 0 {
		return
	}
	if s := &ra.slots[i]; ra.reuse(fs, s) == nil && s.j.buf != nil {
		ra.fill(fs, st, s, g, diskEnd)
		st.start(s.j)
	}
}

// errNoSlot is load's word for a slot left without a buffer: the device
// still holds the one it had.
var errNoSlot = errors.New("swapfs: read-ahead slot without a buffer")

// heldCopy copies into p the bytes of a granule that a read-ahead
// buffer b holds, the first units of it, from granule offset from on,
// and returns how many it copied. Plain units are the file's bytes as
// they are; an opened encrypted unit has its data at its start, followed
// by the room of its tag.
func (fs *FS) heldCopy(p, b []byte, from, units int64) int {
	if fs.seal == nil {
		return copy(p, b[from:units*fs.unitPayload])
	}
	done := 0
	for k := from / fs.unitPayload; k < units && done < len(p); k++ {
		in := max(from-k*fs.unitPayload, 0)
		done += copy(p[done:], b[k*fs.unitSize+in:k*fs.unitSize+fs.unitPayload])
	}
	return done
}

// holding returns the slot that holds, or is fetching, file offset off,
// or -1.
func (ra *readAhead) holding(fs *FS, off int64) int {
	for i := range ra.slots {
		s := &ra.slots[i]
		if s.j != nil && s.j.buf != nil && s.g == off/fs.granule && off-s.g*fs.granule < s.units*fs.unitPayload {
			return i
		}
	}
	return -1
}

// load returns the slot holding granule g's first need units, reading
// them here if no slot holds them, or if their read ahead failed.
func (ra *readAhead) load(fs *FS, st *hstate, g, need, diskEnd int64) (int, error) {
	for i := range ra.slots {
		s := &ra.slots[i]
		if s.g != g || s.units < need {
			continue
		}
		if s.j.wait() == nil {
			return i, nil
		}
		if err := ra.reuse(fs, s); err != nil {
			return 0, err
		}
		// The read ahead failed: try again, now that it is wanted.
		s.opened = false
		if err := ra.read(fs, s); err != nil {
			return 0, err
		}
		return i, nil
	}
	// Neither: read it into the slot not being fetched into, if one is.
	i := 0
	if ra.slots[0].j.busy {
		i = 1
	}
	s := &ra.slots[i]
	if err := ra.reuse(fs, s); err != nil {
		return 0, err
	}
	if s.j.buf == nil {
		return 0, errNoSlot // given up earlier in this read
	}
	ra.fill(fs, st, s, g, diskEnd)
	if err := ra.read(fs, s); err != nil {
		return 0, err
	}
	return i, nil
}

// read carries out s's job here. On failure s holds nothing, and if the
// device may still hold the buffer, s has none.
func (ra *readAhead) read(fs *FS, s *raSlot) error {
	s.j.err = s.j.do()
	if s.j.err != nil {
		err := s.j.err
		s.units = 0
		ra.reuse(fs, s)
		return err
	}
	return nil
}

// fill makes s's job read granule g, as much of it as is on the device.
func (ra *readAhead) fill(fs *FS, st *hstate, s *raSlot, g, diskEnd int64) {
	lu := g * fs.ioUnits
	s.g, s.opened = g, false
	s.units = min(fs.ioUnits, diskEnd/fs.unitPayload-lu)
	s.j.plan(fs, st, lu, lu+s.units)
}
