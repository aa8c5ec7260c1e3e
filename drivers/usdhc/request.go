package usdhc

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/tamaswap/tamaswap/drivers/sdmmc"
)

// direct reports the device address of buf when the controller can move
// it in place: reachable, 32-bit addressable, and aligned for ADMA2 (and,
// for reads, to whole cache lines).
func (h *Host) direct(buf []byte, write bool) (uint64, bool) {
	a, ok := h.DMA.Addr(buf)
	if !ok || a%admaAlign != 0 || (a+uint64(len(buf)))>>32 != 0 {
		return 0, false
	}
	if !write && (a%uint64(h.DMAAlign) != 0 || len(buf)%h.DMAAlign != 0) {
		return 0, false
	}
	return a, true
}

// Fit returns how many blocks from the start of bufs one request can
// carry: within the block count register, the descriptor table and the
// bounce buffer.
func (h *Host) Fit(bufs [][]byte, blockSize int, write bool) int {
	if blockSize <= 0 {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	descs, bounced, bytes := 0, 0, 0
	for _, b := range bufs {
		n := len(b)
		if _, ok := h.direct(b, write); !ok {
			n = min(n, len(h.bounce)-bounced)
			bounced += (n + h.DMAAlign - 1) &^ (h.DMAAlign - 1)
		}
		room := (h.Descriptors - descs) * admaMaxLen
		n = min(n, room)
		bytes += n
		descs += (n + admaMaxLen - 1) / admaMaxLen
		if n < len(b) || descs >= h.Descriptors || bytes/blockSize >= maxBlockCount {
			break
		}
	}
	return min(bytes/blockSize, maxBlockCount)
}

// plan lays out d's buffers as segments and writes the descriptor table.
func (h *Host) plan(d *sdmmc.Data) error {
	h.segs = h.segs[:0]
	descs, bounced, total := 0, 0, 0
	for _, b := range d.Bufs {
		if len(b) == 0 {
			continue
		}
		total += len(b)
		seg := segment{buf: b}
		if a, ok := h.direct(b, d.Write); ok {
			seg.addr = a
		} else {
			if bounced+len(b) > len(h.bounce) {
				return fmt.Errorf("usdhc: %d bytes to bounce, %d available: %w", bounced+len(b), len(h.bounce), sdmmc.ErrBadParam)
			}
			seg.bounced = h.bounce[bounced : bounced+len(b)]
			seg.addr = h.bounceA + uint64(bounced)
			bounced += (len(b) + h.DMAAlign - 1) &^ (h.DMAAlign - 1)
		}
		for off := 0; off < len(b); off += admaMaxLen {
			if descs == h.Descriptors {
				return fmt.Errorf("usdhc: request needs over %d ADMA2 descriptors: %w", h.Descriptors, sdmmc.ErrBadParam)
			}
			n := min(len(b)-off, admaMaxLen)
			e := h.table[descs*admaDescSize:]
			binary.LittleEndian.PutUint32(e, uint32(n)<<16|admaValid|admaActTran)
			binary.LittleEndian.PutUint32(e[4:], uint32(seg.addr)+uint32(off))
			descs++
		}
		h.segs = append(h.segs, seg)
	}
	if total != d.Bytes() || descs == 0 {
		return fmt.Errorf("usdhc: buffers hold %d bytes, the command moves %d: %w", total, d.Bytes(), sdmmc.ErrBadParam)
	}
	last := h.table[(descs-1)*admaDescSize:]
	binary.LittleEndian.PutUint32(last, binary.LittleEndian.Uint32(last)|admaEnd)
	return nil
}

// share lends the segments and the table to the controller.
func (h *Host) share(write bool) {
	dir := FromDevice
	if write {
		dir = ToDevice
	}
	for i := range h.segs {
		s := &h.segs[i]
		if s.bounced != nil {
			if write {
				copy(s.bounced, s.buf)
			}
			h.DMA.Share(s.bounced, dir)
		} else {
			h.DMA.Share(s.buf, dir)
		}
	}
	h.DMA.Share(h.table, ToDevice)
}

// unshare takes the segments back; after a successful read it copies
// bounced data to the caller.
func (h *Host) unshare(write, ok bool) {
	dir := FromDevice
	if write {
		dir = ToDevice
	}
	h.DMA.Unshare(h.table, ToDevice)
	for i := range h.segs {
		s := &h.segs[i]
		if s.bounced != nil {
			h.DMA.Unshare(s.bounced, dir)
			if !write && ok {
				copy(s.buf, s.bounced)
			}
		} else {
			h.DMA.Unshare(s.buf, dir)
		}
		*s = segment{}
	}
	h.segs = h.segs[:0]
}

// Request sends one command and runs its data phase (sdmmc.Host).
func (h *Host) Request(cmd *sdmmc.Command, timeout time.Duration) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.ready {
		return fmt.Errorf("usdhc: not initialised: %w", sdmmc.ErrHost)
	}
	xfr := uint32(cmd.Index&0x3f) << CMD_XFR_TYP_CMDINX
	busy := false
	switch cmd.Response {
	case sdmmc.RespNone:
		xfr |= rspNone << CMD_XFR_TYP_RSPTYP
	case sdmmc.RespR2:
		xfr |= rsp136<<CMD_XFR_TYP_RSPTYP | 1<<CMD_XFR_TYP_CCCEN
	case sdmmc.RespR3:
		xfr |= rsp48 << CMD_XFR_TYP_RSPTYP
	case sdmmc.RespR1b:
		xfr |= rsp48Busy<<CMD_XFR_TYP_RSPTYP | 1<<CMD_XFR_TYP_CCCEN | 1<<CMD_XFR_TYP_CICEN
		busy = true
	default: // R1, R6, R7
		xfr |= rsp48<<CMD_XFR_TYP_RSPTYP | 1<<CMD_XFR_TYP_CCCEN | 1<<CMD_XFR_TYP_CICEN
	}
	abort := cmd.Index == 12 && cmd.Data == nil
	if abort {
		xfr |= cmdTypeAbort << CMD_XFR_TYP_CMDTYP
	}
	d := cmd.Data
	inhibit := uint32(1 << PRES_STATE_CIHB)
	if (d != nil || busy) && !abort {
		inhibit |= 1 << PRES_STATE_CDIHB
	}
	if !h.pollClear(USDHCx_PRES_STATE, inhibit, inhibitTimeout) {
		h.resetLines(true)
		return fmt.Errorf("usdhc: CMD%d: controller busy (PRES_STATE %#08x): %w", cmd.Index, h.Regs.Read32(USDHCx_PRES_STATE), sdmmc.ErrTimeout)
	}
	// Status enables before every command, as TamaGo's soc/nxp/usdhc
	// does: a controller that clears them on RSTC/RSTD would otherwise
	// report nothing, and every command after the first error would
	// time out.
	h.Regs.Write32(USDHCx_INT_STATUS_EN, intEnabled)
	h.Regs.Write32(USDHCx_INT_STATUS, ^uint32(0))

	// The transfer mode is written whole before every command, so that
	// no direction or multi-block bit of an earlier command survives.
	mix := h.mixCtrl
	if d != nil {
		if d.BlockSize <= 0 || d.BlockSize > maxBlockSize || d.Blocks <= 0 || d.Blocks > maxBlockCount {
			return fmt.Errorf("usdhc: CMD%d: %d blocks of %d bytes: %w", cmd.Index, d.Blocks, d.BlockSize, sdmmc.ErrBadParam)
		}
		if err := h.plan(d); err != nil {
			clear(h.segs)
			h.segs = h.segs[:0]
			return err
		}
		h.share(d.Write)
		h.Regs.Write32(USDHCx_ADMA_SYS_ADDR, uint32(h.tableA))
		h.Regs.Write32(USDHCx_BLK_ATT, uint32(d.Blocks)<<BLK_ATT_BLKCNT|uint32(d.BlockSize)<<BLK_ATT_BLKSIZE)
		mix |= 1<<MIX_CTRL_DMAEN | 1<<MIX_CTRL_BCEN
		if d.Blocks > 1 {
			mix |= 1 << MIX_CTRL_MSBSEL
			if d.AutoCMD12 {
				mix |= 1 << MIX_CTRL_AC12EN
			}
		}
		if !d.Write {
			mix |= 1 << MIX_CTRL_DTDSEL
		}
		xfr |= 1 << CMD_XFR_TYP_DPSEL
	}
	h.Regs.Write32(USDHCx_MIX_CTRL, mix)
	h.Regs.Write32(USDHCx_CMD_ARG, cmd.Arg)
	h.Regs.Write32(USDHCx_CMD_XFR_TYP, xfr)

	err := h.finish(cmd, timeout, busy)
	if d != nil {
		if held := h.stopData(err); held != nil {
			return held
		}
		h.unshare(d.Write, err == nil)
	}
	return err
}

// finish waits for the response and the data phase or busy.
func (h *Host) finish(cmd *sdmmc.Command, timeout time.Duration, busy bool) error {
	st := h.waitInt(1<<INT_STATUS_CC|intCmdErrors, timeout)
	if st&intCmdErrors != 0 || st == 0 {
		h.resetLines(cmd.Data != nil)
		return cmdError(cmd.Index, st)
	}
	h.Regs.Write32(USDHCx_INT_STATUS, 1<<INT_STATUS_CC)
	if cmd.Response == sdmmc.RespR2 {
		// RSP3..RSP0 hold response bits 127:8 as bits 119:0.
		r0, r1 := h.Regs.Read32(USDHCx_CMD_RSP0), h.Regs.Read32(USDHCx_CMD_RSP1)
		r2, r3 := h.Regs.Read32(USDHCx_CMD_RSP2), h.Regs.Read32(USDHCx_CMD_RSP3)
		cmd.Resp = [4]uint32{r3<<8 | r2>>24, r2<<8 | r1>>24, r1<<8 | r0>>24, r0 << 8}
	} else if cmd.Response != sdmmc.RespNone {
		cmd.Resp = [4]uint32{h.Regs.Read32(USDHCx_CMD_RSP0)}
	}
	switch {
	case cmd.Data != nil:
		st = h.waitInt(1<<INT_STATUS_TC|intDatErrors, timeout)
		if st&intDatErrors != 0 || st == 0 {
			return dataError(cmd.Index, st, h.Regs.Read32(USDHCx_AUTOCMD12_ERR_STATUS), h.Regs.Read32(USDHCx_ADMA_ERR_STATUS))
		}
		if cmd.Data.AutoCMD12 && cmd.Data.Blocks > 1 {
			// The auto CMD12's R1b response (IMX6ULLRM 58.8.5
			// CMD_RSP3: "the response of the Auto CMD12").
			cmd.Data.StopResp = h.Regs.Read32(USDHCx_CMD_RSP3)
		}
	case busy:
		if err := h.waitBusy(cmd.Index, timeout); err != nil {
			h.resetLines(true)
			return err
		}
	}
	h.Regs.Write32(USDHCx_INT_STATUS, ^uint32(0))
	return nil
}

// waitBusy waits out an R1b busy phase: CDIHB clear and DAT0 high
// (PRES_STATE DLSL[0]). The silicon may let CDIHB go before the card
// releases DAT0, and QEMU's model raises no transfer complete for busy,
// so neither alone says the card is done. A data timeout the controller
// reports meanwhile is the card's busy outlasting DTOCV: an error.
func (h *Host) waitBusy(index uint8, timeout time.Duration) error {
	var deadline time.Time
	for spin := 0; ; spin++ {
		if st := h.Regs.Read32(USDHCx_INT_STATUS); st&(1<<INT_STATUS_DTOE) != 0 {
			return fmt.Errorf("usdhc: CMD%d: data timeout during busy: %w", index, sdmmc.ErrTimeout)
		}
		ps := h.Regs.Read32(USDHCx_PRES_STATE)
		if ps&(1<<PRES_STATE_CDIHB) == 0 && ps&(1<<PRES_STATE_DLSL0) != 0 {
			return nil
		}
		if spin == 0 {
			deadline = time.Now().Add(timeout)
			continue
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("usdhc: CMD%d: busy after %v (PRES_STATE %#08x): %w", index, timeout, ps, sdmmc.ErrTimeout)
		}
		if spin > spinsBeforeSleep {
			time.Sleep(pollSleep)
		}
	}
}

// stopData makes sure the DMA engine has let go of the buffers after a
// failed data phase: a data reset stops it. If the reset does not
// complete, the buffers stay lent to the device.
func (h *Host) stopData(err error) error {
	if err == nil {
		return nil
	}
	if !h.resetLines(true) {
		return fmt.Errorf("%w: %w", sdmmc.ErrBuffersHeld, err)
	}
	return nil
}

// resetLines resets the command circuit and, with data, the data
// circuit, one at a time (QEMU's model honours one reset bit per write).
// It reports whether the resets completed.
func (h *Host) resetLines(data bool) bool {
	ok := true
	h.writeSysCtrl(h.sysCtrl | 1<<SYS_CTRL_RSTC)
	ok = h.pollClear(USDHCx_SYS_CTRL, 1<<SYS_CTRL_RSTC, resetTimeout) && ok
	if data {
		h.writeSysCtrl(h.sysCtrl | 1<<SYS_CTRL_RSTD)
		ok = h.pollClear(USDHCx_SYS_CTRL, 1<<SYS_CTRL_RSTD, resetTimeout) && ok
	}
	// The resets may clear the status enables too (the strict reading
	// of IMX6ULLRM's SYS_CTRL RSTC/RSTD); set them again.
	h.Regs.Write32(USDHCx_INT_STATUS_EN, intEnabled)
	h.Regs.Write32(USDHCx_INT_STATUS, ^uint32(0))
	return ok
}

func cmdError(index uint8, st uint32) error {
	var err error
	switch {
	case st == 0:
		err = fmt.Errorf("usdhc: CMD%d: no command complete: %w", index, sdmmc.ErrTimeout)
	case st&(1<<INT_STATUS_CTOE) != 0:
		err = fmt.Errorf("usdhc: CMD%d: response timeout: %w", index, sdmmc.ErrTimeout)
	case st&(1<<INT_STATUS_CCE) != 0:
		err = fmt.Errorf("usdhc: CMD%d: response CRC: %w", index, sdmmc.ErrCRC)
	case st&(1<<INT_STATUS_CIE) != 0:
		err = fmt.Errorf("usdhc: CMD%d: %w", index, sdmmc.ErrIndex)
	default:
		err = fmt.Errorf("usdhc: CMD%d: response end bit: %w", index, sdmmc.ErrEndBit)
	}
	return err
}

func dataError(index uint8, st, ac12, adma uint32) error {
	switch {
	case st == 0:
		return fmt.Errorf("usdhc: CMD%d: no transfer complete: %w", index, sdmmc.ErrTimeout)
	case st&(1<<INT_STATUS_DMAE|1<<sdhciADMAErr) != 0:
		return fmt.Errorf("usdhc: CMD%d: ADMA error (ADMA_ERR_STATUS %#x): %w", index, adma, sdmmc.ErrDMA)
	case st&(1<<INT_STATUS_DTOE) != 0:
		return fmt.Errorf("usdhc: CMD%d: data timeout: %w", index, sdmmc.ErrTimeout)
	case st&(1<<INT_STATUS_DCE) != 0:
		return fmt.Errorf("usdhc: CMD%d: data CRC: %w", index, sdmmc.ErrCRC)
	case st&(1<<INT_STATUS_DEBE) != 0:
		return fmt.Errorf("usdhc: CMD%d: data end bit: %w", index, sdmmc.ErrEndBit)
	default:
		return fmt.Errorf("usdhc: CMD%d: auto CMD12 error (AUTOCMD12_ERR_STATUS %#x): %w", index, ac12, sdmmc.ErrHost)
	}
}
