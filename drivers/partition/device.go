package partition

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/tamaswap/tamaswap/drivers/block"
)

// Device is one partition: a block.Device over sectors [Start,
// Start+Sectors) of its disk. Sector 0 of the Device is sector Start of
// the disk; a request is checked against the partition's range
// (block.CheckRequest) and then passed to the disk with Start added, so a
// partition never reaches a sector outside its range, and costs one
// addition per request and no allocation. Errors are *block.OpError
// values that name the partition's own sector, with the disk's cause
// (errors.Is matches the disk's sentinels, including
// block.ErrBuffersHeld).
//
// Optional interfaces: a Device always has Flush, Discard, WriteZeroes,
// AllocBuffer and FreeBuffer, and forwards each to the disk, with the
// range translated, when the disk has it. Where the disk lacks Flush,
// Discard or WriteZeroes, the partition answers block.ErrUnimplemented,
// which package block defines for a method without the capability;
// without the disk's AllocBuffer it gives Go memory, and FreeBuffer
// does nothing. So one type serves every disk, and a caller that tests
// for an interface and then handles ErrUnimplemented (as swapfs and
// blocktest do) sees what the disk can do.
//
// Disconnect disconnects the partition only: the disk and its other
// partitions stay usable.
type Device struct {
	disk   block.Device
	entry  Entry
	info   block.Info
	closed atomic.Bool
	backup bool
}

// New returns a partition device over sectors [start, start+sectors) of
// disk. The range must lie inside the disk.
func New(disk block.Device, start, sectors int64) (*Device, error) {
	return newDevice(disk, Entry{Start: start, Sectors: sectors}, false)
}

// Open returns the partition numbered index of t, a table Read from disk.
func (t *Table) Open(disk block.Device, index int) (*Device, error) {
	e, ok := t.Lookup(index)
	if !ok {
		return nil, fmt.Errorf("partition: no partition %d in the %s table", index, t.Scheme)
	}
	return newDevice(disk, e, t.Backup)
}

func newDevice(disk block.Device, e Entry, backup bool) (*Device, error) {
	di := disk.Info()
	if e.Sectors < 1 || block.CheckRange(di, "open", e.Start, e.Sectors) != nil {
		return nil, fmt.Errorf("partition: sectors %d+%d do not lie inside a disk of %d sectors", e.Start, e.Sectors, di.Sectors)
	}
	return &Device{
		disk:   disk,
		entry:  e,
		info:   block.Info{ReadWrite: di.ReadWrite, SectorSize: di.SectorSize, Sectors: e.Sectors},
		backup: backup,
	}, nil
}

// Entry returns the table entry the partition was opened from (for New,
// one with only Start and Sectors).
func (p *Device) Entry() Entry { return p.entry }

// FromBackup says whether the partition's table was read from the backup
// GPT.
func (p *Device) FromBackup() bool { return p.backup }

// Disk returns the disk the partition lies on.
func (p *Device) Disk() block.Device { return p.disk }

// Info returns the partition's geometry: the disk's sector size and
// read-write state, the partition's length.
func (p *Device) Info() block.Info { return p.info }

func (p *Device) check(op string, sector int64, write bool) error {
	if p.closed.Load() {
		return block.Errorf(op, sector, block.ErrDisconnected)
	}
	if write && !p.info.ReadWrite {
		return block.Errorf(op, sector, block.ErrReadOnly)
	}
	return nil
}

// Read reads from the partition's sector on.
func (p *Device) Read(sector int64, bufs ...[]byte) error {
	if err := p.check("read", sector, false); err != nil {
		return err
	}
	if _, err := block.CheckRequest(p.info, "read", sector, bufs); err != nil {
		return err
	}
	if err := p.disk.Read(p.entry.Start+sector, bufs...); err != nil {
		return p.translate("read", sector, err)
	}
	return nil
}

// Write writes from the partition's sector on.
func (p *Device) Write(sector int64, bufs ...[]byte) error {
	if err := p.check("write", sector, true); err != nil {
		return err
	}
	if _, err := block.CheckRequest(p.info, "write", sector, bufs); err != nil {
		return err
	}
	if err := p.disk.Write(p.entry.Start+sector, bufs...); err != nil {
		return p.translate("write", sector, err)
	}
	return nil
}

// Flush flushes the disk (a disk's cache is not per partition).
func (p *Device) Flush() error {
	if err := p.check("flush", 0, false); err != nil {
		return err
	}
	f, ok := p.disk.(block.Flusher)
	if !ok {
		return block.Errorf("flush", 0, block.ErrUnimplemented)
	}
	if err := f.Flush(); err != nil {
		return p.translate("flush", 0, err)
	}
	return nil
}

// Discard discards count sectors of the partition from sector on.
func (p *Device) Discard(sector, count int64) error {
	if err := p.rangeOp("discard", sector, count); err != nil {
		return err
	}
	d, ok := p.disk.(block.Discarder)
	if !ok {
		return block.Errorf("discard", sector, block.ErrUnimplemented)
	}
	if err := d.Discard(p.entry.Start+sector, count); err != nil {
		return p.translate("discard", sector, err)
	}
	return nil
}

// WriteZeroes writes zeroes to count sectors of the partition from
// sector on.
func (p *Device) WriteZeroes(sector, count int64) error {
	if err := p.rangeOp("write-zeroes", sector, count); err != nil {
		return err
	}
	z, ok := p.disk.(block.WriteZeroer)
	if !ok {
		return block.Errorf("write-zeroes", sector, block.ErrUnimplemented)
	}
	if err := z.WriteZeroes(p.entry.Start+sector, count); err != nil {
		return p.translate("write-zeroes", sector, err)
	}
	return nil
}

func (p *Device) rangeOp(op string, sector, count int64) error {
	if err := p.check(op, sector, true); err != nil {
		return err
	}
	return block.CheckRange(p.info, op, sector, count)
}

// AllocBuffer returns the disk's buffer memory (its zero-copy path) when
// it has an allocator, else Go memory.
func (p *Device) AllocBuffer(size int) ([]byte, error) {
	if a, ok := p.disk.(block.BufferAllocator); ok {
		return a.AllocBuffer(size)
	}
	if size < 0 {
		return nil, errors.New("partition: negative buffer size")
	}
	return make([]byte, size), nil
}

// FreeBuffer gives a buffer from AllocBuffer back to the disk.
func (p *Device) FreeBuffer(buf []byte) {
	if f, ok := p.disk.(block.BufferFreer); ok {
		f.FreeBuffer(buf)
	}
}

// Disconnect disconnects the partition, not the disk; it is idempotent.
func (p *Device) Disconnect() error {
	p.closed.Store(true)
	return nil
}

// translate turns the disk's error for a request at the partition's
// sector into one that names the partition's sector: the disk's sector
// less Start when the disk names one inside the partition (a request
// split by the driver fails at its piece), else the request's.
func (p *Device) translate(op string, sector int64, err error) error {
	var oe *block.OpError
	if errors.As(err, &oe) {
		s := oe.Sector - p.entry.Start
		if s < 0 || s >= p.info.Sectors {
			s = sector
		}
		return &block.OpError{Op: oe.Op, Sector: s, Err: oe.Err}
	}
	return block.Errorf(op, sector, err)
}
