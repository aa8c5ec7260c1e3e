package shell

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tamaswap/tamaswap/cmd/internal/workload"
	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/sdmmc"
)

// hwcheck is the first-run check of a board's disk path: what QEMU cannot
// show (it models no caches), run on the board itself. It writes only
// where hwcheckTarget allows, and zeroes what it wrote before it ends.
const (
	hwcheckZeroBytes   = 1 << 20  // the start of the disk that must hold nothing
	hwcheckRegionBytes = 16 << 20 // what the checks write, after that
	hwcheckChunk       = 256 << 10
	hwcheckGuard       = 256 // bytes of neighbouring memory on each side
)

var errNotEmpty = errors.New("the disk holds data")

// hwcheckTarget returns the device and the sector range hwcheck may
// write on the current disk: inside its swap space (swapFS's choice,
// swapfs.FindSpace: the disk's swap partition, or a disk with no table
// and no known signature). A swap partition is swap's to overwrite; a
// whole disk must also hold nothing where hwcheck looks: its first MiB
// and the range itself read as zeroes.
func hwcheckTarget(s *shell, d *disk) (space *disk, start, count int64, err error) {
	space, err = s.swapSpace(d, false)
	if err != nil {
		return nil, 0, 0, err
	}
	info := space.Dev.Info()
	ss := int64(info.SectorSize)
	start = hwcheckZeroBytes / ss
	count = hwcheckRegionBytes / ss
	if start+count > info.Sectors {
		return nil, 0, 0, fmt.Errorf("swap space of %d sectors is smaller than the %d MiB hwcheck needs", info.Sectors, (hwcheckZeroBytes+hwcheckRegionBytes)>>20)
	}
	if !info.ReadWrite {
		return nil, 0, 0, block.ErrReadOnly
	}
	if space.parent == nil {
		for _, r := range [][2]int64{{0, start}, {start, count}} {
			if err := allZero(space.Dev, info, r[0], r[1]); err != nil {
				return nil, 0, 0, err
			}
		}
	}
	return space, start, count, nil
}

// allZero reads count sectors from lba and fails unless all are zero.
func allZero(dev block.Device, info block.Info, lba, count int64) error {
	buf := make([]byte, hwcheckChunk)
	ss := int64(info.SectorSize)
	for done := int64(0); done < count; {
		n := min(int64(len(buf))/ss, count-done)
		if err := dev.Read(lba+done, buf[:n*ss]); err != nil {
			return err
		}
		if i := bytes.IndexFunc(buf[:n*ss], func(r rune) bool { return r != 0 }); i >= 0 {
			return fmt.Errorf("%w: sector %d is not zero; hwcheck writes only to a disk that holds nothing (use a scratch card)", errNotEmpty, lba+done+int64(i)/ss)
		}
		done += n
	}
	return nil
}

// cardInfo is what an SD/MMC disk tells about itself (sdmmc.Card).
type cardInfo interface {
	Ladder() string
	CIDHex() string
	Stats() sdmmc.Stats
}

func runHwcheck(s *shell, args []string) (int, bool) {
	if len(args) != 0 {
		s.usage("hwcheck", nil)
		return 0, false
	}
	d, ok := s.current("hwcheck")
	if !ok {
		return 0, false
	}
	space, start, count, err := hwcheckTarget(s, d)
	if err != nil {
		s.printf("hwcheck: FAIL %s", oneLine(err.Error()))
		return 0, false
	}
	dev := space.Dev
	s.printf("hwcheck: disk=%s region=%d+%d", space.label(), start, count)
	if c, ok := d.Dev.(cardInfo); ok {
		s.printf("hwcheck: bus: %s", c.Ladder())
		s.printf("hwcheck: cid=%s", c.CIDHex())
	}
	t0 := time.Now()
	h := &hwcheck{dev: dev, ss: int64(dev.Info().SectorSize), start: start, count: count}
	checks := []struct {
		name string
		run  func() error
	}{
		{"dirty-cache-read", h.dirtyCacheRead},
		{"fresh-buffer-write", h.freshBufferWrite},
		{"aligned-and-bounced-reads", h.alignedAndBounced},
		{"stream-with-neighbour-writes", h.streamWithNeighbours},
	}
	var failed error
	for _, c := range checks {
		if err := c.run(); err != nil {
			failed = fmt.Errorf("%s: %w", c.name, err)
			break
		}
		s.printf("hwcheck: %s ok", c.name)
	}
	// Leave the region as it was found: zeroes.
	if err := fill(dev, dev.Info(), start, count, 0); err != nil && failed == nil {
		failed = fmt.Errorf("zeroing the region: %w", err)
	}
	if c, ok := d.Dev.(cardInfo); ok {
		st := c.Stats()
		s.printf("hwcheck: retries=%d retry_failures=%d status_errors=%d gone=%d",
			st.Retries, st.RetryFailures, st.StatusErrors, st.Gone)
	}
	if failed != nil {
		s.printf("hwcheck: FAIL %s", oneLine(failed.Error()))
		return 0, false
	}
	s.printf("hwcheck: PASS checks=%d mib=%d seconds=%.1f", len(checks), h.moved>>20, time.Since(t0).Seconds())
	return 0, false
}

type hwcheck struct {
	dev          block.Device
	ss           int64
	start, count int64
	moved        int64
}

// pattern fills p with a pattern of (tag, byte offset on disk) that no
// other sector or run has.
func hwPattern(p []byte, tag byte, off int64) {
	for i := range p {
		o := off + int64(i)
		p[i] = byte(o>>9) ^ byte(o) ^ tag ^ byte(o>>17)*7
	}
}

func (h *hwcheck) write(lba int64, b []byte) error {
	h.moved += int64(len(b))
	return h.dev.Write(lba, b)
}

func (h *hwcheck) read(lba int64, b []byte) error {
	h.moved += int64(len(b))
	return h.dev.Read(lba, b)
}

func mismatch(got, want []byte) error {
	if i := firstDiff(got, want); i >= 0 {
		return fmt.Errorf("byte %d reads %#02x, want %#02x", i, got[i], want[i])
	}
	return nil
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// dirtyCacheRead: the CPU fills a DMA buffer (its cache lines are dirty),
// then the controller reads the disk into it. If the lines were not
// cleaned and invalidated, an eviction overwrites the DMA'd data, or the
// CPU sees its own stale bytes.
func (h *hwcheck) dirtyCacheRead() error {
	want := make([]byte, hwcheckChunk)
	hwPattern(want, 1, h.start*h.ss)
	if err := h.write(h.start, want); err != nil {
		return err
	}
	buf, err := workload.AllocBuffer(h.dev, hwcheckChunk)
	if err != nil {
		return err
	}
	defer buf.Free()
	for round := 0; round < 8; round++ {
		for i := range buf.Bytes {
			buf.Bytes[i] = 0xee ^ byte(round)
		}
		if err := h.read(h.start, buf.Bytes); err != nil {
			return err
		}
		if err := mismatch(buf.Bytes, want); err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
	}
	return nil
}

// freshBufferWrite: the CPU fills a DMA buffer and writes it at once; if
// the lines were not cleaned first, the controller sends what memory held
// before.
func (h *hwcheck) freshBufferWrite() error {
	buf, err := workload.AllocBuffer(h.dev, hwcheckChunk)
	if err != nil {
		return err
	}
	defer buf.Free()
	got := make([]byte, hwcheckChunk)
	lba := h.start + int64(hwcheckChunk)/h.ss
	for round := 0; round < 8; round++ {
		hwPattern(buf.Bytes, byte(2+round), lba*h.ss)
		if err := h.write(lba, buf.Bytes); err != nil {
			return err
		}
		if err := h.read(lba, got); err != nil {
			return err
		}
		if err := mismatch(got, buf.Bytes); err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
	}
	return nil
}

// alignedAndBounced reads the same sectors into a cache-aligned DMA
// buffer (moved in place) and into a misaligned heap buffer (bounced).
func (h *hwcheck) alignedAndBounced() error {
	lba := h.start + 2*int64(hwcheckChunk)/h.ss
	want := make([]byte, hwcheckChunk)
	hwPattern(want, 11, lba*h.ss)
	if err := h.write(lba, want); err != nil {
		return err
	}
	aligned, err := workload.AllocBuffer(h.dev, hwcheckChunk)
	if err != nil {
		return err
	}
	defer aligned.Free()
	heap := make([]byte, hwcheckChunk+1)[1:]
	for name, b := range map[string][]byte{"aligned": aligned.Bytes, "bounced": heap} {
		if err := h.read(lba, b); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := mismatch(b, want); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// streamWithNeighbours writes and reads the whole region back in chunks
// while another goroutine keeps writing the memory right before and
// after the buffer: cache maintenance that reaches past the buffer (or
// DMA that does) shows as a neighbour byte changing under it, and a
// missing clean or invalidate as wrong data.
func (h *hwcheck) streamWithNeighbours() error {
	for _, direct := range []bool{true, false} {
		if err := h.stream(direct); err != nil {
			if direct {
				return fmt.Errorf("DMA buffer: %w", err)
			}
			return fmt.Errorf("heap buffer: %w", err)
		}
	}
	return nil
}

func (h *hwcheck) stream(direct bool) error {
	var slab []byte
	if direct {
		b, err := workload.AllocBuffer(h.dev, hwcheckChunk+2*hwcheckGuard)
		if err != nil {
			return err
		}
		defer b.Free()
		slab = b.Bytes
	} else {
		slab = make([]byte, hwcheckChunk+2*hwcheckGuard+3)[3:] // misaligned: bounced reads
	}
	buf := slab[hwcheckGuard : hwcheckGuard+hwcheckChunk]
	before, after := slab[:hwcheckGuard], slab[hwcheckGuard+hwcheckChunk:]
	var stop atomic.Bool
	var wg sync.WaitGroup
	var neighbourErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for v := byte(1); !stop.Load(); v++ {
			for i := range before {
				before[i], after[i] = v, v^0xff
			}
			for i := range before {
				if before[i] != v || after[i] != v^0xff {
					neighbourErr = fmt.Errorf("neighbouring memory changed under the transfer (byte %d)", i)
					return
				}
			}
		}
	}()
	err := h.streamPass(buf)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		return err
	}
	return neighbourErr
}

func (h *hwcheck) streamPass(buf []byte) error {
	per := int64(len(buf)) / h.ss
	want := make([]byte, len(buf))
	for lba := h.start; lba+per <= h.start+h.count; lba += per {
		hwPattern(buf, 21, lba*h.ss)
		if err := h.write(lba, buf); err != nil {
			return err
		}
	}
	for lba := h.start; lba+per <= h.start+h.count; lba += per {
		if err := h.read(lba, buf); err != nil {
			return err
		}
		hwPattern(want, 21, lba*h.ss)
		if err := mismatch(buf, want); err != nil {
			return fmt.Errorf("sector %d: %w", lba, err)
		}
	}
	return nil
}
