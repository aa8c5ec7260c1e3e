// Package block is tamaswap's block-device interface: MirageOS's
// Mirage_block.S, in Go.
//
// A Device reads and writes whole sectors. Every Device keeps the same
// semantics, which TestDevice of package
// github.com/tamaswap/tamaswap/drivers/block/blocktest checks:
//
//   - the buffers of one call are read or written back to back, starting
//     at the given sector;
//   - each buffer is a whole, non-zero number of sectors, else the call
//     fails with ErrUnaligned and transfers nothing;
//   - the whole range lies inside the device, else ErrOutOfRange and
//     nothing is transferred (huge values never overflow);
//   - a write to a read-only device is ErrReadOnly and writes nothing;
//   - after Disconnect (idempotent) every call is ErrDisconnected;
//   - a device failure is ErrIO.
//
// Errors are *OpError values that name the operation and sector and
// unwrap to one of the sentinel errors, so callers match them with
// errors.Is. Devices are safe for concurrent use.
package block

import (
	"errors"
	"fmt"
	"math"
)

// Info describes a device (Mirage_block.S's info record).
type Info struct {
	ReadWrite  bool  // writes are allowed
	SectorSize int   // bytes per sector; every request is a multiple of it
	Sectors    int64 // size of the device in sectors of SectorSize
}

// Size returns the size of the device in bytes.
func (i Info) Size() int64 { return int64(i.SectorSize) * i.Sectors }

// Device is a block device (Mirage_block.S). The package documentation
// states the semantics every implementation keeps.
type Device interface {
	// Info describes the device; it does not change while the device
	// is connected.
	Info() Info
	// Read fills bufs, back to back, from the sectors starting at
	// sector. Each buffer is a whole, non-zero number of sectors.
	Read(sector int64, bufs ...[]byte) error
	// Write writes bufs, back to back, to the sectors starting at
	// sector. On success the data is on the device, though perhaps not
	// durable until a Flush (Flusher).
	Write(sector int64, bufs ...[]byte) error
	// Disconnect releases the device; every later call fails with
	// ErrDisconnected. It is idempotent.
	Disconnect() error
}

// Optional interfaces for what some devices can do. A device that has the
// method but not the capability (a virtio-blk disk without the feature)
// returns ErrUnimplemented.
type (
	// Flusher makes completed writes durable.
	Flusher interface{ Flush() error }
	// Discarder tells the device that a range's contents are no longer
	// needed; later reads of it return unspecified data.
	Discarder interface {
		Discard(sector, count int64) error
	}
	// WriteZeroer writes zeroes to a range without transferring them.
	WriteZeroer interface {
		WriteZeroes(sector, count int64) error
	}
	// BufferAllocator hands out memory that is the device's fastest path
	// (DMA memory, for zero copy). Its buffers work like any other.
	BufferAllocator interface {
		AllocBuffer(size int) ([]byte, error)
	}
	// BufferFreer gives back a buffer from AllocBuffer, for devices whose
	// buffer memory is a fixed region rather than the Go heap.
	BufferFreer interface{ FreeBuffer(buf []byte) }
)

// The errors of Mirage_block.S, and the ones every Go device needs.
var (
	ErrDisconnected  = errors.New("device disconnected")
	ErrReadOnly      = errors.New("device is read-only")
	ErrUnaligned     = errors.New("buffer is not a whole, non-zero number of sectors")
	ErrOutOfRange    = errors.New("sector out of range")
	ErrIO            = errors.New("I/O error")
	ErrUnimplemented = errors.New("operation not implemented by the device")
)

// OpError records a failed device operation and where it happened.
type OpError struct {
	Op     string // "read", "write", "flush", "discard", "write-zeroes"
	Sector int64  // first sector of the request
	Err    error  // one of the sentinel errors above, possibly wrapped
}

// Error reads "block: OP sector N: CAUSE".
func (e *OpError) Error() string {
	return fmt.Sprintf("block: %s sector %d: %v", e.Op, e.Sector, e.Err)
}

// Unwrap returns the cause, so that errors.Is matches the sentinels.
func (e *OpError) Unwrap() error { return e.Err }

// Errorf wraps err with the operation and sector.
func Errorf(op string, sector int64, err error) error {
	return &OpError{Op: op, Sector: sector, Err: err}
}

// CheckRequest validates a Read or Write against info and returns the
// number of sectors it covers. It does not check ReadWrite: the caller
// knows whether the operation writes. Overflow-safe for any sector and any
// buffer lengths.
func CheckRequest(info Info, op string, sector int64, bufs [][]byte) (int64, error) {
	ss := info.SectorSize
	if ss <= 0 {
		return 0, Errorf(op, sector, ErrUnaligned)
	}
	var n int64
	for _, b := range bufs {
		if len(b) == 0 || len(b)%ss != 0 {
			return 0, Errorf(op, sector, ErrUnaligned)
		}
		n += int64(len(b) / ss) // cannot overflow: total length of slices fits an int
	}
	if err := CheckRange(info, op, sector, n); err != nil {
		return 0, err
	}
	return n, nil
}

// CheckRange validates that count sectors starting at sector lie inside
// the device, without overflow.
func CheckRange(info Info, op string, sector, count int64) error {
	if sector < 0 || count < 0 || sector > info.Sectors || count > info.Sectors-sector || sector > math.MaxInt64-count {
		return Errorf(op, sector, ErrOutOfRange)
	}
	return nil
}
