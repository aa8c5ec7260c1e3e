package sdmmc

import "time"

// Timeouts a card needs, from its registers and the specifications,
// floored at what Linux uses in practice and capped so that no request
// holds the card for long.
const (
	// SD §4.6.2.1/4.6.2.2: SDHC and SDXC have fixed timeouts.
	sdhcReadTimeout  = 100 * time.Millisecond
	sdhcWriteTimeout = 250 * time.Millisecond
	sdxcWriteTimeout = 500 * time.Millisecond
	// SD §4.6.2: a standard-capacity card's read timeout is 100 times
	// its access time (TAAC + NSAC), capped at 100 ms, and writes are
	// R2W_FACTOR times slower, capped at 250 ms. eMMC: 10 times
	// (JESD84-B51 §7.3, as Linux's mmc_set_data_timeout).
	sdAccessMult  = 100
	mmcAccessMult = 10
	// Linux's mmc_set_data_timeout limits SD reads to 100 ms and lets
	// writes take 3 s ("even the previous value of 300ms is known to
	// be insufficient for some cards"); these are the floors here, for
	// SD and eMMC alike.
	linuxReadFloor  = 100 * time.Millisecond
	linuxWriteFloor = 3 * time.Second
	// maxDataTimeout caps one data command, maxBusyTimeout the
	// programming after a write (Linux waits up to 10 minutes for an
	// eMMC's busy, MMC_BLK_TIMEOUT_MS; a minute is enough for garbage
	// collection and keeps the card lock bounded).
	maxDataTimeout = 30 * time.Second
	maxBusyTimeout = 60 * time.Second
	// eMMC erase and TRIM: ERASE_TIMEOUT_MULT and TRIM_MULT × 300 ms
	// per erase group (JESD84-B51 §7.4.45, §7.4.40; Linux
	// mmc_mmc_erase_timeout); SD: 250 ms per AU when the SD status
	// gives no erase timeout (SD §4.14). One erase command is capped.
	maxEraseTimeout = 60 * time.Second
)

// Timeouts is what the card's registers give and what the driver uses.
type Timeouts struct {
	Read  time.Duration // per data command, before the per-block term
	Write time.Duration // per data command, and the programming busy after it
	// ReadSpec and WriteSpec are the card's own values (fixed, or from
	// TAAC/NSAC/R2W_FACTOR) before the floors.
	ReadSpec, WriteSpec time.Duration
}

// computeTimeouts sets c.to from the CSD and the kind (after the bus
// clock is set).
func (c *Card) computeTimeouts() {
	var rd, wr time.Duration
	switch {
	case c.kind == SDHC:
		rd, wr = sdhcReadTimeout, sdhcWriteTimeout
		if c.csd.Capacity > 32<<30 {
			wr = sdxcWriteTimeout
		}
	default:
		mult := time.Duration(sdAccessMult)
		if c.kind == MMC {
			mult = mmcAccessMult
		}
		access := time.Duration(c.csd.TAACns) * time.Nanosecond
		if c.ios.Clock > 0 {
			access += time.Duration(c.csd.NSAC) * 100 * time.Second / time.Duration(c.ios.Clock)
		}
		rd = mult * access
		wr = rd << min(c.csd.R2WFactor, 7)
		if c.kind == SDSC {
			rd, wr = min(rd, sdhcReadTimeout), min(wr, sdhcWriteTimeout)
		}
	}
	c.to = Timeouts{ReadSpec: rd, WriteSpec: wr,
		Read: min(max(rd, linuxReadFloor), maxDataTimeout), Write: min(max(wr, linuxWriteFloor), maxDataTimeout)}
	if c.opts.Timeout > 0 {
		c.to.Read, c.to.Write = c.opts.Timeout, c.opts.Timeout
	}
}

// Timeouts reports the card's timeouts as the driver uses them.
func (c *Card) Timeouts() Timeouts { return c.to }

// dataTimeout bounds one data command of n blocks: the card's timeout
// plus a 1 MiB/s floor for the transfer itself, capped.
func (c *Card) dataTimeout(n int, write bool) time.Duration {
	t := c.to.Read
	if write {
		t = c.to.Write
	}
	return min(t+time.Duration(n)*perBlockTime, maxDataTimeout)
}

// writeBusyTimeout bounds the programming after a write.
func (c *Card) writeBusyTimeout() time.Duration {
	return min(max(c.to.Write, busyTimeout), maxBusyTimeout)
}

// eraseTimeout bounds erasing (or TRIMming) n sectors from sector.
func (c *Card) eraseTimeout(sector, n int64) time.Duration {
	var t time.Duration
	switch {
	case c.kind == MMC && c.ext.EraseTimeout != 0:
		groups := (sector+n-1)/c.eraseU - sector/c.eraseU + 1
		per := time.Duration(c.ext.EraseTimeout) * time.Millisecond
		if c.trim {
			per = time.Duration(c.ext.TrimTimeout) * time.Millisecond
		}
		t = per * time.Duration(groups)
	case c.sdErase.timeoutPerAU != 0:
		aus := (n + c.sdErase.auSectors - 1) / c.sdErase.auSectors
		t = c.sdErase.timeoutPerAU*time.Duration(aus) + c.sdErase.offset
	default:
		t = erasePerAUTime * time.Duration((n+sectorsPerAU-1)/sectorsPerAU)
	}
	return min(max(t, eraseBaseTime), maxEraseTimeout)
}

// eraseChunk is the most sectors one erase command covers so that its
// timeout stays under the cap: whole erase units, at least one.
func (c *Card) eraseChunk(unit int64) int64 {
	chunk := max(maxEraseSectors/unit, 1) * unit
	for chunk > unit && c.eraseTimeout(0, chunk) >= maxEraseTimeout {
		chunk = max(chunk/2/unit, 1) * unit
	}
	return chunk
}
