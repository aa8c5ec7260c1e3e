package sdmmc

import (
	"errors"
	"fmt"
	"time"

	"github.com/tamaswap/tamaswap/drivers/block"
)

// identify runs card identification (SD §4.2, Figure 4-2; JESD84-B51
// §6.4) and the data-transfer-mode set-up.
func (c *Card) identify() error {
	c.ios = IOS{Clock: identClock, Width: Width1}
	if err := c.host.SetIOS(c.ios); err != nil {
		return fmt.Errorf("sdmmc: identification clock: %w", err)
	}
	if _, err := c.command(cmdGoIdleState, 0, RespNone); err != nil {
		return err
	}
	// CMD8 tells a version 2.00+ SD card the host knows high capacity;
	// no answer means SD 1.x or (e)MMC. It says nothing about capacity.
	v2 := false
	r7, err := c.command(cmdSendIfCond, ifCondVHS|ifCondPattern, RespR7)
	switch {
	case err == nil:
		if r7&0xfff != ifCondVHS|ifCondPattern {
			return fmt.Errorf("sdmmc: CMD8 echoed %#x, want %#x: card unusable at this voltage", r7&0xfff, ifCondVHS|ifCondPattern)
		}
		v2 = true
	case errors.Is(err, ErrTimeout):
	default:
		return err
	}
	ocr, sdErr := c.sdPowerUp(v2)
	if sdErr == nil {
		if ocr&ocrCCS != 0 && v2 {
			c.kind, c.blockAddr = SDHC, true
		} else {
			c.kind = SDSC
		}
		return c.identifySD()
	}
	// Any ACMD41 failure means "not SD": no answer, an illegal command,
	// or an eMMC answering CMD55 without APP_CMD. Try (e)MMC.
	if _, err := c.command(cmdGoIdleState, 0, RespNone); err != nil {
		return err
	}
	ocr, err = c.mmcPowerUp()
	if errors.Is(err, ErrTimeout) && r7 == 0 && errors.Is(sdErr, ErrTimeout) {
		// Neither CMD8, ACMD41 nor CMD1 was answered: an empty slot
		// whose card-detect is not wired (an eMMC slot).
		return fmt.Errorf("sdmmc: no card answers CMD8, ACMD41 or CMD1: %w (%w)", ErrNoCard, err)
	}
	if err != nil {
		return fmt.Errorf("%w (as SD: %w)", err, sdErr)
	}
	c.kind = MMC
	c.blockAddr = ocr&ocrAccessMask == ocrSectorMode
	return c.identifyMMC(c.blockAddr)
}

func (c *Card) hostOCR() uint32 {
	if c.caps.OCR != 0 {
		return c.caps.OCR & 0x00ffff80
	}
	return ocrVoltages
}

// sdPowerUp repeats ACMD41 until the card leaves busy (SD §4.2.3.1).
func (c *Card) sdPowerUp(v2 bool) (uint32, error) {
	arg := c.hostOCR() & ocrVoltages
	if v2 {
		arg |= ocrCCS // HCS: the host supports high capacity
	}
	deadline := time.Now().Add(initTimeout)
	for {
		ocr, err := c.appCommand(acmdSDSendOpCond, arg, RespR3)
		if err != nil {
			return 0, err
		}
		if ocr&ocrBusy != 0 {
			if ocr&arg&ocrVoltages == 0 {
				return 0, fmt.Errorf("sdmmc: card OCR %#08x supports none of the host's voltages", ocr)
			}
			return ocr, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("sdmmc: ACMD41: card still powering up after %v: %w", initTimeout, ErrTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// mmcPowerUp repeats CMD1 until the device leaves busy (JESD84-B51
// §6.4.3), offering sector addressing.
func (c *Card) mmcPowerUp() (uint32, error) {
	arg := ocrSectorMode | c.hostOCR()
	deadline := time.Now().Add(initTimeout)
	for {
		ocr, err := c.command(cmdSendOpCond, arg, RespR3)
		if err != nil {
			return 0, err
		}
		if ocr&ocrBusy != 0 {
			return ocr, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("sdmmc: CMD1: device still powering up after %v: %w", initTimeout, ErrTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

func (c *Card) readReg128(index uint8, arg uint32) (reg128, error) {
	if _, err := c.command(index, arg, RespR2); err != nil {
		return reg128{}, err
	}
	return reg128(c.cmd.Resp), nil
}

// identifySD: CID, RCA, CSD, select, then bus width and speed (SD §4.2.4,
// §4.3).
func (c *Card) identifySD() error {
	cid, err := c.readReg128(cmdAllSendCID, 0)
	if err != nil {
		return err
	}
	c.cid, c.rawCID = parseCID(cid, false), cid
	r6, err := c.command(cmdSendRelativeAddr, 0, RespR6)
	if err != nil {
		return err
	}
	c.rca = r6 >> 16
	csd, err := c.readReg128(cmdSendCSD, c.rca<<16)
	if err != nil {
		return err
	}
	if c.csd, err = parseSDCSD(csd); err != nil {
		return err
	}
	if (c.csd.Structure == 1) != (c.kind == SDHC) {
		return fmt.Errorf("sdmmc: CSD version %d.0 disagrees with OCR CCS (%s)", c.csd.Structure+1, c.kind)
	}
	if _, err := c.r1(cmdSelectCard, c.rca<<16, RespR1b); err != nil {
		return err
	}
	if err := c.setClock(sdDefaultClock, false); err != nil {
		return err
	}
	if c.kind == SDSC {
		if _, err := c.r1(cmdSetBlocklen, 512, RespR1); err != nil {
			return err
		}
	}
	scr := make([]byte, 8)
	if err := c.appRead(acmdSendSCR, 0, scr); err != nil {
		return err
	}
	c.scr = parseSCR(scr)
	c.cmd23 = c.scr.CMD23 && !c.opts.NoCMD23
	if c.scr.BusWidth4 && !c.opts.Width1 && c.hostWidth(Width4) {
		if _, err := c.appCommand(acmdSetBusWidth, 2, RespR1); err != nil {
			return err
		}
		if err := c.setWidth(Width4); err != nil {
			return err
		}
	}
	c.readSDStatus()
	if c.canHighSpeed(sdHighClock) && c.csd.CCC&(1<<10) != 0 && c.scr.Spec >= 1 {
		if err := c.sdHighSpeed(); err != nil {
			if !errors.Is(err, ErrCRC) && !errors.Is(err, ErrTimeout) {
				return err
			}
			// The switch status did not come through at this
			// width: stay at default speed and let the ladder
			// (settle) find a width that holds.
			c.recover()
			c.ladderNote(fmt.Sprintf("CMD6 failed at %s, no high speed", c.busText()))
		}
	}
	// An SD card erases whole write blocks when ERASE_BLK_EN is set,
	// else only SECTOR_SIZE units (SD §5.3.2).
	c.eraseU = 1
	if !c.csd.EraseBlkEn {
		c.eraseU = int64(c.csd.SectorSize) << c.csd.ReadBlLen >> 9
	}
	return c.finish(c.csd.Capacity >> 9)
}

// sdHighSpeed switches to High Speed with CMD6 when the card has it (SD
// §4.3.10): query function group 1, then set function 1.
func (c *Card) sdHighSpeed() error {
	status := make([]byte, 64)
	if err := c.readData(cmdSwitch, 0x00fffff1, status); err != nil {
		return err
	}
	// Bits 415:400 are group 1's support bits; bit 401 is High Speed.
	if status[13]&0x02 == 0 {
		return nil
	}
	if err := c.readData(cmdSwitch, 0x80fffff1, status); err != nil {
		return err
	}
	// Bits 379:376 are the function group 1 switches to.
	if status[16]&0x0f != 1 {
		return nil
	}
	return c.setClock(sdHighClock, true)
}

// identifyMMC: CID, RCA, CSD, select, EXT_CSD, then bus width, timing,
// erase groups and cache (JESD84-B51 §6.4.4, §6.6).
func (c *Card) identifyMMC(sector bool) error {
	cid, err := c.readReg128(cmdAllSendCID, 0)
	if err != nil {
		return err
	}
	c.cid, c.rawCID = parseCID(cid, true), cid
	c.rca = 1
	if _, err := c.r1(cmdSendRelativeAddr, c.rca<<16, RespR1); err != nil {
		return err
	}
	csd, err := c.readReg128(cmdSendCSD, c.rca<<16)
	if err != nil {
		return err
	}
	if c.csd, err = parseMMCCSD(csd); err != nil {
		return err
	}
	if _, err := c.r1(cmdSelectCard, c.rca<<16, RespR1b); err != nil {
		return err
	}
	if err := c.setClock(mmcDefaultClock, false); err != nil {
		return err
	}
	sectors := c.csd.Capacity >> 9
	c.eraseU = int64(c.csd.EraseGrpSize) << c.csd.ReadBlLen >> 9
	if c.csd.SpecVers >= 4 {
		ext := make([]byte, 512)
		if err := c.readData(cmdSendIfCond, 0, ext); err != nil {
			return fmt.Errorf("sdmmc: SEND_EXT_CSD: %w", err)
		}
		if c.ext, err = parseExtCSD(ext); err != nil {
			return err
		}
		// CMD0 should have selected the user area; a device (or a
		// boot loader's hardware reset that did not reach it) may
		// still have a boot or RPMB partition selected, and every
		// sector would land there.
		if c.ext.PartitionCfg&partitionAccessMask != 0 {
			if err := c.mmcSwitch(extPartitionConfig, c.ext.PartitionCfg&^partitionAccessMask); err != nil {
				return fmt.Errorf("sdmmc: selecting the user area: %w", err)
			}
			if err := c.readData(cmdSendIfCond, 0, ext); err != nil {
				return fmt.Errorf("sdmmc: SEND_EXT_CSD: %w", err)
			}
			if c.ext, err = parseExtCSD(ext); err != nil {
				return err
			}
			if c.ext.PartitionCfg&partitionAccessMask != 0 {
				return fmt.Errorf("sdmmc: PARTITION_CONFIG %#x: the user area cannot be selected", c.ext.PartitionCfg)
			}
		}
		if sector {
			sectors = c.ext.Sectors
		}
		c.cmd23 = !c.opts.NoCMD23
		if err := c.mmcSetup(); err != nil {
			return err
		}
	} else if sector {
		return errors.New("sdmmc: sector-addressed MMC without EXT_CSD")
	}
	if !sector {
		if _, err := c.r1(cmdSetBlocklen, 512, RespR1); err != nil {
			return err
		}
	}
	return c.finish(sectors)
}

// mmcSetup applies EXT_CSD settings: bus width, HS timing, erase group
// definition, cache.
func (c *Card) mmcSetup() error {
	if !c.opts.Width1 {
		if err := c.mmcWidth(); err != nil {
			return err
		}
	}
	c.trim = c.ext.Trim && !trimBroken(c.rawCID)
	if c.ext.HCEraseGrpSize != 0 {
		if err := c.mmcSwitch(extEraseGroupDef, 1); err != nil {
			return err
		}
		c.eraseU = int64(c.ext.HCEraseGrpSize)
	}
	if c.ext.CacheBytes > 0 && !c.opts.NoCache {
		if err := c.mmcSwitch(extCacheCtrl, 1); err != nil {
			return err
		}
		c.cache = true
	}
	// High Speed last: every switch above ran at the default clock,
	// which any bus holds, and whatever fails at the new clock is the
	// ladder's to step down from (settle), not identification's.
	if c.ext.CardType&cardTypeHS52 != 0 && c.canHighSpeed(mmcHighClock) {
		if err := c.mmcSwitch(extHSTiming, 1); err != nil {
			if !errors.Is(err, ErrCRC) && !errors.Is(err, ErrTimeout) {
				return err
			}
			c.recover()
			c.ladderNote(fmt.Sprintf("HS_TIMING switch failed at %s, no high speed", c.busText()))
			return nil
		}
		if err := c.setClock(mmcHighClock, true); err != nil {
			return err
		}
	}
	return nil
}

// mmcWidth selects the widest bus that both sides have and that
// carries data: after each switch EXT_CSD is read again at the new width
// and compared with the copy read on one line (Linux's
// mmc_compare_ext_csds); a width whose read fails or differs is switched
// back and the next narrower one tried. Never switched on blind.
func (c *Card) mmcWidth() error {
	ref := make([]byte, 512)
	if err := c.readData(cmdSendIfCond, 0, ref); err != nil {
		return fmt.Errorf("sdmmc: SEND_EXT_CSD: %w", err)
	}
	got := make([]byte, 512)
	for _, w := range []struct {
		width BusWidth
		val   uint8
	}{{Width8, 2}, {Width4, 1}} {
		if !c.hostWidth(w.width) {
			continue
		}
		if err := c.mmcSwitch(extBusWidth, w.val); err != nil {
			return err
		}
		if err := c.setWidth(w.width); err != nil {
			return err
		}
		err := c.readData(cmdSendIfCond, 0, got)
		if err == nil && sameExtCSD(ref, got) {
			return nil
		}
		c.ladderNote(fmt.Sprintf("%d-bit bus failed the EXT_CSD compare", w.width))
		// Back to one line (the card may be in any state after a
		// corrupted transfer: bring it to tran first).
		c.recover()
		if err := c.setWidth(Width1); err != nil {
			return err
		}
		if err := c.mmcSwitch(extBusWidth, 0); err != nil {
			return err
		}
	}
	return nil
}

// sameExtCSD compares the EXT_CSD fields that cannot change between two
// reads (the ones Linux's mmc_compare_ext_csds compares).
func sameExtCSD(a, b []byte) bool {
	for _, i := range []int{160, 181, 192, 196, 212, 213, 214, 215, 217, 221, 223, 224, 229, 230, 231, 232} {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (c *Card) ladderNote(s string) {
	if c.ladder != "" {
		c.ladder += "; "
	}
	c.ladder += s
}

// mmcSwitch writes one EXT_CSD byte with CMD6 and waits for the device
// to finish, checking SWITCH_ERROR (JESD84-B51 §6.6.1).
func (c *Card) mmcSwitch(index, value uint8) error {
	t := time.Duration(c.ext.GenericCMD6ms) * time.Millisecond
	if t < 500*time.Millisecond {
		t = 500 * time.Millisecond
	}
	if index == extFlushCache {
		t = max(t, flushTimeout)
	}
	if _, err := c.r1T(cmdSwitch, switchArg(index, value), RespR1b, t); err != nil {
		return err
	}
	if err := c.waitReady(t); err != nil {
		return fmt.Errorf("sdmmc: SWITCH EXT_CSD[%d]=%d: %w", index, value, err)
	}
	return nil
}

func (c *Card) hostWidth(w BusWidth) bool {
	for _, hw := range c.caps.Widths {
		if hw == w {
			return true
		}
	}
	return false
}

func (c *Card) canHighSpeed(clock uint32) bool {
	return !c.opts.NoHighSpeed && c.caps.HighSpeed && c.caps.MaxClock >= clock &&
		(c.opts.MaxClock == 0 || c.opts.MaxClock >= clock)
}

func (c *Card) setClock(hz uint32, hs bool) error {
	if c.opts.MaxClock != 0 && hz > c.opts.MaxClock {
		hz = c.opts.MaxClock
	}
	if c.caps.MaxClock != 0 && hz > c.caps.MaxClock {
		hz = c.caps.MaxClock
	}
	ios := c.ios
	ios.Clock, ios.HighSpeed = hz, hs
	if err := c.host.SetIOS(ios); err != nil {
		return fmt.Errorf("sdmmc: set clock %d Hz: %w", hz, err)
	}
	c.ios = ios
	return nil
}

func (c *Card) setWidth(w BusWidth) error {
	ios := c.ios
	ios.Width = w
	if err := c.host.SetIOS(ios); err != nil {
		return fmt.Errorf("sdmmc: set bus width %d: %w", w, err)
	}
	c.ios = ios
	return nil
}

// readData runs a single-block read command of len(buf) bytes (register
// reads: SCR, switch status, EXT_CSD).
func (c *Card) readData(index uint8, arg uint32, buf []byte) error {
	c.bufs = append(c.bufs[:0], buf)
	c.data = Data{BlockSize: len(buf), Blocks: 1, Bufs: c.bufs}
	c.cmd = Command{Index: index, Arg: arg, Response: RespR1, Data: &c.data}
	timeout := regTimeout
	if c.opts.Timeout > 0 {
		timeout = c.opts.Timeout
	}
	err := c.host.Request(&c.cmd, timeout)
	c.bufs[0] = nil
	if err != nil {
		return fmt.Errorf("sdmmc: CMD%d: %w", index, err)
	}
	if st := c.cmd.Resp[0]; st&statusErrors != 0 {
		return &StatusError{Cmd: index, Status: st}
	}
	return nil
}

func (c *Card) appRead(index uint8, arg uint32, buf []byte) error {
	st, err := c.command(cmdAppCmd, c.rca<<16, RespR1)
	if err != nil {
		return err
	}
	if st&statusAppCmd == 0 {
		return fmt.Errorf("sdmmc: ACMD%d: card did not accept APP_CMD", index)
	}
	return c.readData(index, arg, buf)
}

// finish sets the device geometry and write protection.
func (c *Card) finish(sectors int64) error {
	if sectors <= 0 {
		return fmt.Errorf("sdmmc: card reports no capacity")
	}
	c.info = block.Info{ReadWrite: true, SectorSize: 512, Sectors: sectors}
	switch {
	case c.csd.PermWP:
		c.wpWhy = "CSD PERM_WRITE_PROTECT"
	case c.csd.TmpWP:
		c.wpWhy = "CSD TMP_WRITE_PROTECT"
	case c.host.WriteProtected():
		c.wpWhy = "write-protect switch"
	case c.opts.ReadOnly:
		c.wpWhy = "option"
	}
	if c.wpWhy != "" {
		c.info.ReadWrite = false
	}
	if c.eraseU <= 0 {
		c.eraseU = 1
	}
	c.bufs = make([][]byte, 0, 64)
	c.computeTimeouts()
	return nil
}
