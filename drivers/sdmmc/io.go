package sdmmc

import (
	"errors"
	"fmt"

	"github.com/tamaswap/tamaswap/drivers/block"
)

// sectorsPerAU is the erase timeout's unit: SD §4.14 gives 250 ms per
// allocation unit when the SD status has no erase timeout; 4 MiB is the
// AU of most cards.
const sectorsPerAU = 8192

// maxEraseSectors bounds one erase command, so that its timeout stays
// within seconds.
const maxEraseSectors = 1 << 16

// bufferHost is a host that hands out memory its DMA reaches directly.
type bufferHost interface {
	AllocBuffer(size int) ([]byte, error)
	FreeBuffer(buf []byte)
}

// Info reports the geometry: 512-byte sectors.
func (c *Card) Info() block.Info { return c.info }

// Read reads len(bufs...) bytes starting at sector.
func (c *Card) Read(sector int64, bufs ...[]byte) error {
	return c.transfer("read", sector, bufs, false)
}

// Write writes the buffers starting at sector and returns once the card
// has taken them: programmed, or, on an eMMC with its cache on, in the
// cache until Flush (see the package comment).
func (c *Card) Write(sector int64, bufs ...[]byte) error {
	return c.transfer("write", sector, bufs, true)
}

func (c *Card) check(op string, sector int64, write bool) error {
	if c.closed {
		return block.Errorf(op, sector, block.ErrDisconnected)
	}
	if write && !c.info.ReadWrite {
		return block.Errorf(op, sector, block.ErrReadOnly)
	}
	if c.err != nil {
		return block.Errorf(op, sector, fmt.Errorf("%w: %w", block.ErrIO, c.err))
	}
	return nil
}

func (c *Card) transfer(op string, sector int64, bufs [][]byte, write bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(op, sector, write); err != nil {
		return err
	}
	if _, err := block.CheckRequest(c.info, op, sector, bufs); err != nil {
		return err
	}
	if !c.host.CardPresent() {
		return block.Errorf(op, sector, fmt.Errorf("%w: %w", block.ErrIO, ErrNoCard))
	}
	at := sector
	bi, off := 0, 0 // next byte: bufs[bi][off:]
	for bi < len(bufs) {
		n := c.gather(bufs, bi, off, write)
		if err := c.rwRetried(at, n, write); err != nil {
			clear(c.bufs[:cap(c.bufs)])
			c.bufs = c.bufs[:0]
			return block.Errorf(op, at, c.mapErr(err))
		}
		at += int64(n)
		// Advance by n blocks.
		for left := n * 512; left > 0; {
			k := min(left, len(bufs[bi])-off)
			left -= k
			off += k
			if off == len(bufs[bi]) {
				bi, off = bi+1, 0
			}
		}
	}
	clear(c.bufs[:cap(c.bufs)]) // drop references to the caller's memory
	c.bufs = c.bufs[:0]
	return nil
}

// gather puts the next command's buffers, from bufs[bi][off:], in c.bufs
// and returns its block count: at most the host's MaxBlocks, then what
// Host.Fit accepts.
func (c *Card) gather(bufs [][]byte, bi, off int, write bool) int {
	c.bufs = c.bufs[:0]
	blocks := 0
	for i := bi; i < len(bufs) && blocks < c.caps.MaxBlocks && len(c.bufs) < cap(c.bufs); i++ {
		b := bufs[i]
		if i == bi {
			b = b[off:]
		}
		if room := (c.caps.MaxBlocks - blocks) * 512; len(b) > room {
			b = b[:room]
		}
		c.bufs = append(c.bufs, b)
		blocks += len(b) / 512
	}
	n := c.host.Fit(c.bufs, 512, write)
	n = max(1, min(n, blocks))
	// Trim c.bufs to exactly n blocks.
	left := n * 512
	for i, b := range c.bufs {
		if len(b) >= left {
			c.bufs[i] = b[:left]
			c.bufs = c.bufs[:i+1]
			break
		}
		left -= len(b)
	}
	return n
}

// rwRetried is rw, and once more after a data CRC error or data timeout
// when the card is back in tran: a transient glitch on the lines costs a
// retry, not the request. A card that stops answering is marked gone.
func (c *Card) rwRetried(sector int64, n int, write bool) error {
	err := c.rw(sector, n, write)
	if err == nil || !transient(err) || c.err != nil {
		return c.checkGone(err)
	}
	// rw has reset the lines (the host does after every failure) and
	// sent the card back to tran; check that it is there.
	if serr := c.waitReady(cmdTimeout); serr != nil {
		return c.checkGone(err)
	}
	c.stats.Retries++
	if err = c.rw(sector, n, write); err != nil {
		c.stats.RetryFailures++
	}
	return c.checkGone(err)
}

// transient reports a failure a retry may cure: a data CRC error or a
// data timeout, not an error the card reported in its status.
func transient(err error) bool {
	var se *StatusError
	if errors.As(err, &se) || errors.Is(err, ErrBuffersHeld) {
		return false
	}
	return errors.Is(err, ErrCRC) || errors.Is(err, ErrTimeout)
}

// checkGone marks the card gone when, after a failure, it does not
// answer SEND_STATUS either: later calls fail at once instead of each
// waiting out its own timeout.
func (c *Card) checkGone(err error) error {
	if err == nil || c.err != nil || !errors.Is(err, ErrTimeout) {
		return err
	}
	if _, serr := c.command(cmdSendStatus, c.rca<<16, RespR1); serr != nil && errors.Is(serr, ErrTimeout) {
		c.err, c.gone = fmt.Errorf("%w: %w", ErrGone, err), true
		c.stats.Gone++
	}
	return err
}

// rw moves n blocks at sector through c.bufs with one data command.
func (c *Card) rw(sector int64, n int, write bool) error {
	addr := c.addr(sector)
	index := uint8(cmdReadSingleBlock)
	if write {
		index = cmdWriteBlock
	}
	c.data = Data{BlockSize: 512, Blocks: n, Write: write, Bufs: c.bufs}
	if n > 1 {
		index++ // CMD18, CMD25
		if c.cmd23 {
			if _, err := c.r1(cmdSetBlockCount, uint32(n), RespR1); err != nil {
				return err
			}
		} else {
			c.data.AutoCMD12 = c.caps.AutoCMD12
		}
	}
	c.cmd = Command{Index: index, Arg: addr, Response: RespR1, Data: &c.data}
	err := c.host.Request(&c.cmd, c.dataTimeout(n, write))
	if err == nil && c.cmd.Resp[0]&statusErrors != 0 {
		err = &StatusError{Cmd: index, Status: c.cmd.Resp[0]}
	}
	if err == nil && c.data.AutoCMD12 && c.data.StopResp&statusErrors != 0 {
		// Errors found while the blocks moved (OUT_OF_RANGE past the
		// end, CARD_ECC_FAILED, CC_ERROR, ERROR) come in the stop
		// response.
		err = &StatusError{Cmd: cmdStopTransmission, Status: c.data.StopResp}
	}
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) {
			c.stats.StatusErrors++
		}
	}
	manualStop := n > 1 && !c.cmd23 && !c.data.AutoCMD12
	if err != nil {
		if errors.Is(err, ErrBuffersHeld) {
			c.err = err
			return err
		}
		c.recover()
		return err
	}
	if manualStop {
		if _, err := c.r1(cmdStopTransmission, 0, RespR1b); err != nil {
			c.stats.StatusErrors++
			c.recover()
			return err
		}
	}
	if write || !c.data.AutoCMD12 {
		// A write is done when the card is ready for data again (SD
		// §4.3.4). After a read with no stop response to look at, the
		// card's "E X" error bits (CARD_ECC_FAILED, CC_ERROR, ERROR,
		// OUT_OF_RANGE: SD Table 4-42) come in the next status: read
		// it now, so that they fail this request and not the next.
		timeout := cmdTimeout
		if write {
			timeout = c.writeBusyTimeout()
		}
		if err := c.waitReady(timeout); err != nil {
			var se *StatusError
			if errors.As(err, &se) {
				c.stats.StatusErrors++
			}
			return err
		}
	}
	return nil
}

// addr is the data address of a sector: the sector for block-addressed
// cards (SDHC, sector-mode eMMC), its byte offset for the others.
func (c *Card) addr(sector int64) uint32 {
	if c.blockAddr {
		return uint32(sector)
	}
	return uint32(sector << 9)
}

// recover brings the card back to the transfer state after a failed data
// command: STOP_TRANSMISSION (harmless if it was not transferring), then
// a status poll.
func (c *Card) recover() {
	c.stop = Command{Index: cmdStopTransmission, Response: RespR1b}
	_ = c.host.Request(&c.stop, busyTimeout)
	_ = c.waitReady(busyTimeout)
}

// mapErr turns a protocol or host error into the block error it is.
func (c *Card) mapErr(err error) error {
	var se *StatusError
	if errors.As(err, &se) && se.Status&statusWPViolation != 0 {
		return fmt.Errorf("%w: %w", block.ErrReadOnly, err)
	}
	return fmt.Errorf("%w: %w", block.ErrIO, err)
}

// Discard erases the whole erase units inside the range (SD §4.3.5;
// JESD84-B51 §6.6.9), or TRIMs exactly the range on an eMMC that has TRIM.
// Erased sectors read as zeroes or ones, as the card defines; parts of
// the range smaller than an erase unit keep their data, which Discard's
// contract allows.
func (c *Card) Discard(sector, count int64) error {
	const op = "discard"
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(op, sector, true); err != nil {
		return err
	}
	if err := block.CheckRange(c.info, op, sector, count); err != nil {
		return err
	}
	unit := c.eraseU
	if c.trim {
		unit = 1
	}
	start := (sector + unit - 1) / unit * unit
	end := (sector + count) / unit * unit
	chunk := c.eraseChunk(max(unit, c.eraseU))
	for s := start; s < end; s += chunk {
		n := min(chunk, end-s)
		if err := c.erase(s, n); err != nil {
			return block.Errorf(op, s, c.mapErr(err))
		}
	}
	return nil
}

func (c *Card) erase(sector, n int64) error {
	first, last := c.addr(sector), c.addr(sector+n-1)
	startCmd, endCmd := uint8(cmdEraseWrBlkStart), uint8(cmdEraseWrBlkEnd)
	arg := uint32(eraseArgErase)
	timeout := c.eraseTimeout(sector, n)
	if c.kind == MMC {
		startCmd, endCmd = cmdEraseGroupStart, cmdEraseGroupEnd
		if c.trim {
			arg = eraseArgTrim
		}
	}
	if _, err := c.r1(startCmd, first, RespR1); err != nil {
		return err
	}
	if _, err := c.r1(endCmd, last, RespR1); err != nil {
		return err
	}
	if _, err := c.r1T(cmdErase, arg, RespR1b, timeout); err != nil {
		c.recover()
		return err
	}
	return c.waitReady(timeout)
}

// Flush writes an eMMC's volatile cache to flash (EXT_CSD FLUSH_CACHE):
// only then are the writes before it durable. A card without an enabled
// cache has programmed every write before Write returned, so Flush only
// checks that it is idle. (swapfs never calls it: swap need not survive
// power loss.)
func (c *Card) Flush() error {
	const op = "flush"
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(op, 0, false); err != nil {
		return err
	}
	var err error
	if c.cache {
		err = c.mmcSwitch(extFlushCache, 1)
	} else {
		err = c.waitReady(busyTimeout)
	}
	if err != nil {
		return block.Errorf(op, 0, c.mapErr(err))
	}
	return nil
}

// AllocBuffer returns memory the host's DMA reaches without a bounce,
// when the host has such memory; otherwise ordinary memory.
func (c *Card) AllocBuffer(size int) ([]byte, error) {
	if size < 0 {
		return nil, errors.New("sdmmc: negative buffer size")
	}
	if h, ok := c.host.(bufferHost); ok {
		return h.AllocBuffer(size)
	}
	return make([]byte, size), nil
}

// FreeBuffer gives back a buffer from AllocBuffer.
func (c *Card) FreeBuffer(buf []byte) {
	if h, ok := c.host.(bufferHost); ok {
		h.FreeBuffer(buf)
	}
}

// Disconnect flushes an eMMC cache and makes every later call fail with
// ErrDisconnected. It is idempotent.
func (c *Card) Disconnect() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	if c.cache && c.err == nil {
		_ = c.mmcSwitch(extFlushCache, 1)
	}
	c.closed = true
	return nil
}
