package block

import (
	"errors"
	"fmt"
	"math"
	"sync"
)

// maxMemBytes bounds an in-memory device so that a bad Info is an error
// rather than an allocation failure: 1 TiB, or on 32-bit machines the
// largest int, the most a []byte can hold.
const maxMemBytes = min(1<<40, math.MaxInt)

var errGeometry = errors.New("invalid device geometry")

// Mem is an in-memory Device. Besides the Device methods it has every
// optional one (Flush, Discard, WriteZeroes, AllocBuffer) and Bytes, the
// backing store, for tests that look at or alter what a user of the device
// stored.
type Mem struct {
	mu     sync.RWMutex
	info   Info
	data   []byte
	closed bool
	bad    error // why the geometry is unusable, or nil
}

// NewMem returns an in-memory device of info.Sectors sectors of
// info.SectorSize bytes, zero-filled. An Info with a sector size that is
// not a positive power of two, negative sectors or more than 1 TiB (on
// 32-bit machines 2 GiB - 1) gives a device whose every call fails.
func NewMem(info Info) *Mem {
	m := &Mem{info: info}
	ss := int64(info.SectorSize)
	switch {
	case ss <= 0 || ss&(ss-1) != 0 || info.Sectors < 0:
		m.bad = fmt.Errorf("%w: %d sectors of %d bytes", errGeometry, info.Sectors, info.SectorSize)
	case info.Sectors > maxMemBytes/ss:
		m.bad = fmt.Errorf("%w: %d sectors of %d bytes exceed an in-memory device's limit of %d bytes", errGeometry, info.Sectors, info.SectorSize, int64(maxMemBytes))
	}
	if m.bad != nil {
		return m
	}
	m.data = make([]byte, ss*info.Sectors)
	return m
}

// Info returns the device's geometry.
func (m *Mem) Info() Info { return m.info }

// Bytes returns the backing store. Callers that change it while the
// device is in use must provide their own synchronisation.
func (m *Mem) Bytes() []byte { return m.data }

// SetReadWrite changes whether writes are allowed, as a host that
// re-attaches a disk read-only would.
func (m *Mem) SetReadWrite(rw bool) {
	m.mu.Lock()
	m.info.ReadWrite = rw
	m.mu.Unlock()
}

func (m *Mem) check(op string, sector int64, write bool) error {
	switch {
	case m.closed:
		return Errorf(op, sector, ErrDisconnected)
	case m.bad != nil:
		return Errorf(op, sector, m.bad)
	case write && !m.info.ReadWrite:
		return Errorf(op, sector, ErrReadOnly)
	}
	return nil
}

// Read copies sectors into bufs.
func (m *Mem) Read(sector int64, bufs ...[]byte) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.check("read", sector, false); err != nil {
		return err
	}
	if _, err := CheckRequest(m.info, "read", sector, bufs); err != nil {
		return err
	}
	off := sector * int64(m.info.SectorSize)
	for _, b := range bufs {
		off += int64(copy(b, m.data[off:]))
	}
	return nil
}

// Write copies bufs into sectors.
func (m *Mem) Write(sector int64, bufs ...[]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("write", sector, true); err != nil {
		return err
	}
	if _, err := CheckRequest(m.info, "write", sector, bufs); err != nil {
		return err
	}
	off := sector * int64(m.info.SectorSize)
	for _, b := range bufs {
		off += int64(copy(m.data[off:], b))
	}
	return nil
}

// Flush does nothing: memory is as durable as it gets.
func (m *Mem) Flush() error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.check("flush", 0, false)
}

// Discard zeroes the range, as a thin-provisioned disk would.
func (m *Mem) Discard(sector, count int64) error { return m.zero("discard", sector, count) }

// WriteZeroes zeroes the range.
func (m *Mem) WriteZeroes(sector, count int64) error { return m.zero("write-zeroes", sector, count) }

func (m *Mem) zero(op string, sector, count int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(op, sector, true); err != nil {
		return err
	}
	if err := CheckRange(m.info, op, sector, count); err != nil {
		return err
	}
	ss := int64(m.info.SectorSize)
	clear(m.data[sector*ss : (sector+count)*ss])
	return nil
}

// AllocBuffer returns a zeroed buffer; any memory is Mem's fastest path.
func (m *Mem) AllocBuffer(size int) ([]byte, error) {
	if size < 0 {
		return nil, errors.New("block: negative buffer size")
	}
	return make([]byte, size), nil
}

// Disconnect makes every later call fail with ErrDisconnected.
func (m *Mem) Disconnect() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	return nil
}
