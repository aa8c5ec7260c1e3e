package sdmmc

import "time"

// Manufacturer IDs (Linux drivers/mmc/core/card.h, CID_MANFID_*).
const cidManfidKingston = 0x70

// trimQuirks are eMMC parts whose TRIM is known to lose data: Linux's
// drivers/mmc/core/quirks.h marks Kingston V10008 and V10016
// MMC_QUIRK_TRIM_BROKEN ("performing trim can result in unrecoverable
// data corruption occasionally due to a firmware bug"). Discard erases
// whole erase groups on them instead.
var trimQuirks = []struct {
	manfid  uint8
	product string
}{
	{cidManfidKingston, "V10008"},
	{cidManfidKingston, "V10016"},
}

// trimBroken reports whether the eMMC with this CID must not be TRIMmed.
func trimBroken(raw reg128) bool {
	cid := parseCID(raw, true)
	for _, q := range trimQuirks {
		if cid.Manufacturer == q.manfid && cid.Product == q.product {
			return true
		}
	}
	return false
}

// sdEraseInfo is the erase timing from the SD status (SD §4.10.2.5,
// Table 4-46): ERASE_TIMEOUT seconds per ERASE_SIZE AUs, plus
// ERASE_OFFSET seconds.
type sdEraseInfo struct {
	auSectors    int64
	timeoutPerAU time.Duration
	offset       time.Duration
}

// auSizes is AU_SIZE in 512-byte sectors (SD Table 4-47).
var auSizes = [16]int64{0, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 24576, 32768, 49152, 65536, 131072}

// readSDStatus reads ACMD13's SD status for the erase timeout; a card
// that gives none keeps the specification's default (250 ms per AU).
func (c *Card) readSDStatus() {
	st := make([]byte, 64)
	if err := c.appRead(acmdSDStatus, 0, st); err != nil {
		c.recover()
		return
	}
	// Bit b of the 512-bit status is in byte (511-b)/8.
	au := auSizes[st[10]>>4]
	eraseSize := int64(st[11])<<8 | int64(st[12])
	eraseTimeout := int64(st[13] >> 2)
	eraseOffset := int64(st[13] & 3)
	if au == 0 || eraseSize == 0 || eraseTimeout == 0 {
		return
	}
	c.sdErase = sdEraseInfo{
		auSectors:    au,
		timeoutPerAU: time.Duration(eraseTimeout) * time.Second / time.Duration(eraseSize),
		offset:       time.Duration(eraseOffset) * time.Second,
	}
}
