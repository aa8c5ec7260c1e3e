package block

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// ReaderWriterAt is an io.ReaderAt and io.WriterAt over a Device, for the
// rest of the Go ecosystem (archive/zip, debug/elf, io.SectionReader…).
// Offsets and lengths need not be sector-aligned: whole sectors in the
// middle of a request go straight to or from the caller's buffer, and the
// partial sectors at either end go through a one-sector buffer, written
// back read-modify-write. Unaligned writes are serialised so that two of
// them touching the same sector do not undo each other.
type ReaderWriterAt struct {
	dev Device

	mu  sync.Mutex // serialises partial-sector read-modify-write
	tmp []byte     // one sector, under mu
}

// NewReaderWriterAt returns an adapter over dev.
func NewReaderWriterAt(dev Device) *ReaderWriterAt {
	return &ReaderWriterAt{dev: dev}
}

// Size returns the device's size in bytes.
func (a *ReaderWriterAt) Size() int64 { return a.dev.Info().Size() }

var errNegativeOffset = errors.New("block: negative offset")

// ReadAt reads len(p) bytes at byte offset off. Like io.ReaderAt it
// returns io.EOF with a short count when the range passes the end.
func (a *ReaderWriterAt) ReadAt(p []byte, off int64) (int, error) {
	info := a.dev.Info()
	size := info.Size()
	if off < 0 {
		return 0, errNegativeOffset
	}
	if off >= size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > size-off {
		p, eof = p[:size-off], io.EOF
	}
	n, err := a.transfer(info, p, off, false)
	if err != nil {
		return n, err
	}
	return n, eof
}

// WriteAt writes p at byte offset off. Writing past the end of the device
// writes nothing past it and fails with ErrOutOfRange.
func (a *ReaderWriterAt) WriteAt(p []byte, off int64) (int, error) {
	info := a.dev.Info()
	if off < 0 {
		return 0, errNegativeOffset
	}
	if size := info.Size(); off > size || int64(len(p)) > size-off {
		return 0, Errorf("write", off/int64(max(info.SectorSize, 1)), ErrOutOfRange)
	}
	return a.transfer(info, p, off, true)
}

// transfer moves p at off, which lies inside the device.
func (a *ReaderWriterAt) transfer(info Info, p []byte, off int64, write bool) (int, error) {
	ss := int64(info.SectorSize)
	if ss <= 0 {
		return 0, fmt.Errorf("block: sector size %d", ss)
	}
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		sector, in := pos/ss, pos%ss
		rest := p[done:]
		if in == 0 && int64(len(rest)) >= ss {
			// Whole sectors: straight to or from p.
			whole := rest[:int64(len(rest))/ss*ss]
			var err error
			if write {
				err = a.dev.Write(sector, whole)
			} else {
				err = a.dev.Read(sector, whole)
			}
			if err != nil {
				return done, err
			}
			done += len(whole)
			continue
		}
		n, err := a.partial(sector, in, rest, write)
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// partial moves the part of p that falls in one sector, starting at byte
// in of that sector.
func (a *ReaderWriterAt) partial(sector, in int64, p []byte, write bool) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ss := int(a.dev.Info().SectorSize)
	if len(a.tmp) != ss {
		a.tmp = make([]byte, ss)
	}
	if err := a.dev.Read(sector, a.tmp); err != nil {
		return 0, err
	}
	if !write {
		return copy(p, a.tmp[in:]), nil
	}
	n := copy(a.tmp[in:], p)
	if err := a.dev.Write(sector, a.tmp); err != nil {
		return 0, err
	}
	return n, nil
}
