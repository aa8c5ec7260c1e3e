package sdmmctest

// Card status bits (SD §4.10.1).
const (
	stsOutOfRange     = 1 << 31
	stsAddressError   = 1 << 30
	stsBlockLenError  = 1 << 29
	stsEraseSeqError  = 1 << 28
	stsEraseParam     = 1 << 27
	stsWPViolation    = 1 << 26
	stsIllegalCommand = 1 << 22
	stsCardECCFailed  = 1 << 21
	stsCCError        = 1 << 20
	stsError          = 1 << 19
	stsWPEraseSkip    = 1 << 15
	stsReadyForData   = 1 << 8
	stsSwitchError    = 1 << 7
	stsAppCmd         = 1 << 5
)

func (c *Card) emmc() bool { return c.cfg.Kind == EMMC }

func (c *Card) writeProtected() bool { return c.cfg.PermWP || c.cfg.TmpWP }

// statusLocked is the R1 card status: error bits gathered since the last
// status, the current state, READY_FOR_DATA and APP_CMD.
func (c *Card) statusLocked() uint32 {
	st := c.status | uint32(c.state)<<9
	if c.state == stTran || c.state == stRcv && c.xfer.left != 0 {
		st |= stsReadyForData
	}
	if c.app {
		st |= stsAppCmd
	}
	return st
}

// r1 returns the status for an R1 response and clears the reported
// error bits ("clear on read", SD Table 4-42).
func (c *Card) r1() Response {
	st := c.statusLocked()
	c.status = 0
	return Response{R: [4]uint32{st}}
}

// illegal records an illegal command: no response, ILLEGAL_COMMAND in
// the next status (SD §4.3.x).
func (c *Card) illegal() (Response, bool) {
	c.status |= stsIllegalCommand
	c.app = false
	return Response{}, false
}

// Command runs one command and returns the card's response; ok is false
// when the card does not answer (the host sees a response timeout).
func (c *Card) Command(index uint8, arg uint32) (resp Response, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fault.NoResponse {
		return Response{}, false
	}
	c.commands[index&63]++
	resp, ok = c.command(index, arg)
	if ok {
		c.responses++
		if n := c.fault.CmdCRCEvery; n > 0 && c.responses%n == 0 {
			resp.CRC = true
		}
		if c.fault.CmdCRCAt > 0 {
			if c.fault.CmdCRCAt--; c.fault.CmdCRCAt == 0 {
				resp.CRC = true
			}
		}
	}
	return resp, ok
}

func (c *Card) command(index uint8, arg uint32) (Response, bool) {
	app := c.app
	c.app = false
	if app && !c.emmc() {
		switch index {
		case 6: // ACMD6 SET_BUS_WIDTH
			if c.state != stTran || (arg&3 != 0 && arg&3 != 2) || (arg&3 == 2 && c.cfg.NoWide) {
				return c.illegal()
			}
			c.wide = arg&3 == 2
			c.app = true
			r := c.r1()
			c.app = false
			return r, true
		case 41: // ACMD41 SD_SEND_OP_COND
			if c.state != stIdle {
				return c.illegal()
			}
			return c.opCond(arg), true
		case 13: // ACMD13 SD_STATUS
			if c.state != stTran {
				return c.illegal()
			}
			c.app = true
			r := c.r1()
			c.app = false
			c.startRead(-1, c.sdStatus())
			return r, true
		case 51: // ACMD51 SEND_SCR
			if c.state != stTran {
				return c.illegal()
			}
			c.app = true
			r := c.r1()
			c.app = false
			c.startRead(-1, c.scr[:])
			return r, true
		}
	}
	switch index {
	case 0: // GO_IDLE_STATE
		c.goIdle()
		return Response{}, true
	case 1: // SEND_OP_COND (eMMC)
		if !c.emmc() || c.state != stIdle {
			return c.illegal()
		}
		return c.opCond(arg), true
	case 2: // ALL_SEND_CID
		if c.state != stReady {
			return c.illegal()
		}
		c.state = stIdent
		return Response{Long: true, R: c.cid}, true
	case 3:
		if c.state != stIdent && c.state != stStby {
			return c.illegal()
		}
		if c.emmc() { // SET_RELATIVE_ADDR
			r := c.r1()
			c.rca, c.state = arg>>16, stStby
			return r, true
		}
		// SEND_RELATIVE_ADDR: R6 is the new RCA and status bits 23, 22,
		// 19, 12:0.
		c.rca, c.state = 0xb368, stStby
		st := c.statusLocked()
		c.status = 0
		return Response{R: [4]uint32{c.rca<<16 | st>>8&0x8000 | st>>8&0x4000 | st>>6&0x2000 | st&0x1fff}}, true
	case 6:
		if c.state != stTran {
			return c.illegal()
		}
		if c.emmc() {
			return c.mmcSwitch(arg), true
		}
		r := c.r1()
		c.startRead(-1, c.switchStatus(arg))
		return r, true
	case 7: // SELECT/DESELECT_CARD
		if arg>>16 != c.rca || c.rca == 0 {
			if c.state == stTran || c.state == stData || c.state == stPrg {
				c.state = stStby
			}
			return Response{}, false // not addressed: no response
		}
		if c.state != stStby {
			return c.illegal()
		}
		r := c.r1()
		c.state = stTran
		return r, true
	case 8:
		if c.emmc() { // SEND_EXT_CSD
			if c.state != stTran {
				return c.illegal()
			}
			r := c.r1()
			c.startRead(-1, c.ext[:])
			return r, true
		}
		// SEND_IF_COND
		if c.cfg.Kind == SDv1 || c.state != stIdle {
			return c.illegal()
		}
		if arg>>8&0xf != 1 {
			return Response{}, false // voltage not supported: no answer
		}
		return Response{R: [4]uint32{arg & 0xfff}}, true
	case 9: // SEND_CSD
		if c.state != stStby || arg>>16 != c.rca {
			return c.illegal()
		}
		return Response{Long: true, R: c.csd}, true
	case 12: // STOP_TRANSMISSION
		if c.state != stData && c.state != stRcv {
			return c.illegal()
		}
		r := c.r1()
		if c.fault.StopError != 0 {
			r.R[0] |= c.fault.StopError
			c.fault.StopError = 0
		}
		c.endTransfer()
		return r, true
	case 13: // SEND_STATUS
		if arg>>16 != c.rca || c.state < stStby {
			return c.illegal()
		}
		if c.state == stPrg {
			if c.fault.StuckBusy {
				return c.r1(), true
			}
			if c.busy--; c.busy <= 0 {
				c.state = stTran
			}
		}
		return c.r1(), true
	case 16: // SET_BLOCKLEN
		if c.state != stTran {
			return c.illegal()
		}
		if arg != 512 && !c.BlockAddressed() {
			c.status |= stsBlockLenError
		}
		return c.r1(), true
	case 17, 18, 24, 25:
		return c.rwCommand(index, arg), true
	case 23: // SET_BLOCK_COUNT
		if c.state != stTran || (!c.emmc() && !c.cfg.CMD23) {
			return c.illegal()
		}
		c.blockCnt = int(arg & 0xffff)
		return c.r1(), true
	case 32, 33, 35, 36:
		if (index < 35) == c.emmc() || c.state != stTran {
			return c.illegal()
		}
		addr, ok := c.address(arg)
		if !ok {
			c.status |= stsOutOfRange | stsEraseParam
			return c.r1(), true
		}
		if index == 32 || index == 35 {
			c.eraseFrom, c.eraseTo = addr, -1
		} else if c.eraseFrom < 0 || addr < c.eraseFrom {
			c.status |= stsEraseSeqError
		} else {
			c.eraseTo = addr
		}
		return c.r1(), true
	case 38: // ERASE
		if c.state != stTran {
			return c.illegal()
		}
		if c.eraseFrom < 0 || c.eraseTo < 0 {
			c.status |= stsEraseSeqError
			return c.r1(), true
		}
		r := c.r1()
		if c.writeProtected() {
			r.R[0] |= stsWPEraseSkip
		} else {
			c.erase(c.eraseFrom, c.eraseTo+512, arg == 1)
		}
		c.eraseFrom, c.eraseTo = -1, -1
		c.state, c.busy = stPrg, c.cfg.BusyPolls
		if c.busy == 0 {
			c.state = stTran
		}
		return r, true
	case 55: // APP_CMD
		if c.emmc() {
			if c.cfg.AnswersCMD55 {
				return c.r1(), true
			}
			return c.illegal()
		}
		if c.state != stIdle && arg>>16 != c.rca {
			return c.illegal()
		}
		c.app = true
		r := c.r1()
		return r, true
	}
	return c.illegal()
}

// goIdle is CMD0 or a hardware reset: back to idle with the defaults.
func (c *Card) goIdle() {
	c.state, c.rca, c.ocrReady, c.polls, c.wide, c.hs = stIdle, 0, false, 0, false, false
	c.blockLen, c.blockCnt, c.status, c.xfer = 512, 0, 0, transfer{}
	c.eraseFrom, c.eraseTo = -1, -1
	c.app = false
	if c.emmc() {
		c.ext[183], c.ext[185] = 0, 0 // BUS_WIDTH, HS_TIMING back to defaults
	}
}

// opCond answers ACMD41 or CMD1: busy for PowerUpPolls answers, then the
// OCR with CCS (SD, if the host sent HCS) or the access mode (eMMC).
func (c *Card) opCond(arg uint32) Response {
	const voltages = 0x00ff8000
	ocr := uint32(voltages)
	if c.emmc() {
		ocr |= 0x80
		if c.cfg.Size > 2<<30 {
			ocr |= 2 << 29
		}
	}
	if arg&voltages == 0 {
		// Inquiry: report the OCR without starting power-up.
		return Response{R: [4]uint32{ocr}}
	}
	hcs := arg&(1<<30) != 0
	if c.cfg.Kind == SDHC && !hcs {
		return Response{R: [4]uint32{ocr}} // stays busy: a host without HCS cannot use it
	}
	if c.polls++; c.polls <= c.cfg.PowerUpPolls {
		return Response{R: [4]uint32{ocr}}
	}
	ocr |= 1 << 31
	if c.cfg.Kind == SDHC {
		ocr |= 1 << 30
	}
	c.state = stReady
	return Response{R: [4]uint32{ocr}}
}

// address converts a data address argument to a byte offset.
func (c *Card) address(arg uint32) (int64, bool) {
	a := int64(arg)
	if c.BlockAddressed() {
		a *= 512
	} else if a%512 != 0 {
		return 0, false
	}
	return a, a < c.cfg.Size
}

// partitionBase is where the selected eMMC partition lives in the
// model's storage: the user area at 0, others past its end.
func (c *Card) partitionBase() int64 {
	if c.emmc() {
		return int64(c.ext[179]&7) * c.cfg.Size
	}
	return 0
}

func (c *Card) rwCommand(index uint8, arg uint32) Response {
	if c.state != stTran {
		c.status |= stsIllegalCommand
		return Response{R: [4]uint32{c.statusLocked()}}
	}
	addr, ok := c.address(arg)
	if !ok {
		c.status |= stsOutOfRange | stsAddressError
		r := c.r1()
		return r
	}
	write := index >= 24
	if write && c.writeProtected() {
		c.status |= stsWPViolation
		return c.r1()
	}
	left := 1
	if index == 18 || index == 25 {
		left = -1
		if c.blockCnt > 0 {
			left = c.blockCnt
		}
	}
	c.blockCnt = 0
	r := c.r1()
	c.xfer = transfer{write: write, addr: addr, left: left, base: c.partitionBase()}
	if write {
		c.state = stRcv
	} else {
		c.state = stData
	}
	return r
}

// startRead begins a read of register data (SCR, switch status, EXT_CSD).
func (c *Card) startRead(_ int, reg []byte) {
	c.xfer = transfer{reg: reg, left: 1}
	c.state = stData
}

func (c *Card) endTransfer() {
	if c.state == stRcv {
		c.state, c.busy = stPrg, c.cfg.BusyPolls
		if c.busy == 0 && !c.fault.StuckBusy {
			c.state = stTran
		}
	} else {
		c.state = stTran
	}
	c.xfer = transfer{}
}

// sdStatus is ACMD13's 512-bit SD status (SD §4.10.2, Table 4-44): bus
// width, AU_SIZE 4 MiB, and an erase timeout of 1 s per 2 AUs plus 1 s.
func (c *Card) sdStatus() []byte {
	s := make([]byte, 64)
	if c.wide {
		s[0] = 2 << 6 // DAT_BUS_WIDTH 4-bit
	}
	s[10] = 9 << 4      // AU_SIZE: 4 MiB
	s[11], s[12] = 0, 2 // ERASE_SIZE: 2 AUs
	s[13] = 1<<2 | 1    // ERASE_TIMEOUT 1 s, ERASE_OFFSET 1 s
	return s
}

// switchStatus is SD CMD6's 512-bit status (SD §4.3.10): function group
// 1 supports default and (if configured) High Speed.
func (c *Card) switchStatus(arg uint32) []byte {
	s := make([]byte, 64)
	s[0], s[1] = 0, 100 // max current 100 mA
	s[13] = 0x01
	if c.cfg.HighSpeed {
		s[13] |= 0x02
	}
	want := arg & 0xf
	switch {
	case want == 0xf:
		if c.hs {
			s[16] = 1
		}
	case want == 1 && c.cfg.HighSpeed:
		s[16] = 1
		if arg>>31 == 1 {
			c.hs = true
		}
	case want == 0:
		s[16] = 0
	default:
		s[16] = 0xf // cannot switch
	}
	return s
}

// mmcSwitch writes an EXT_CSD byte (JESD84-B51 §6.6.1).
func (c *Card) mmcSwitch(arg uint32) Response {
	index, value := arg>>16&0xff, byte(arg>>8)
	// SWITCH_ERROR shows in the status after the switch, not in its
	// own response.
	r := c.r1()
	c.state, c.busy = stPrg, c.cfg.BusyPolls
	if c.busy == 0 {
		c.state = stTran
	}
	if arg>>24&3 != 3 {
		c.status |= stsSwitchError
		return r
	}
	switch index {
	case 183: // BUS_WIDTH
		if value > 2 || (value != 0 && c.cfg.NoWide) {
			c.status |= stsSwitchError
		} else {
			c.ext[183] = value
		}
	case 185: // HS_TIMING
		if value > 1 || (value == 1 && !c.cfg.HighSpeed) {
			c.status |= stsSwitchError
		} else {
			c.ext[185] = value
		}
	case 33: // CACHE_CTRL
		if c.cfg.Cache == 0 {
			c.status |= stsSwitchError
		} else {
			c.ext[33] = value & 1
		}
	case 32: // FLUSH_CACHE
		c.flushes++
	case 175: // ERASE_GROUP_DEF
		c.ext[175] = value & 1
	case 179: // PARTITION_CONFIG: access bits 2:0 (0 user, 1-2 boot, 3 RPMB)
		if value&7 > 3 {
			c.status |= stsSwitchError
		} else {
			c.ext[179] = value
		}
	default:
		c.status |= stsSwitchError
	}
	return r
}
