package sdmmc

import (
	"encoding/binary"
	"fmt"
)

// reg128 is a 128-bit card register (CID, CSD) as an R2 response carries
// it: Resp[0] holds bits 127:96.
type reg128 [4]uint32

// bits returns register bits hi..lo (hi-lo < 32), as the specifications
// number them.
func (r reg128) bits(hi, lo uint) uint32 {
	var v uint64
	for b := hi + 1; b > lo; b-- {
		i := b - 1
		w := r[3-i/32]
		v = v<<1 | uint64(w>>(i%32)&1)
	}
	return uint32(v)
}

// CSD is the part of the card-specific data this driver uses (SD §5.3;
// JESD84-B51 §7.3).
type CSD struct {
	Structure    uint8  // CSD_STRUCTURE: SD 0 = v1.0, 1 = v2.0; eMMC 0..3
	TranSpeed    uint8  // TRAN_SPEED
	CCC          uint16 // card command classes
	ReadBlLen    uint8  // READ_BL_LEN, log2 bytes
	Capacity     int64  // bytes; 0 for an eMMC whose size is in EXT_CSD
	EraseBlkEn   bool   // SD: erase is in write blocks, not only sectors
	SectorSize   uint32 // SD: erasable unit, in write blocks (SECTOR_SIZE+1)
	EraseGrpSize uint32 // eMMC v1 erase group, in write blocks
	PermWP       bool   // PERM_WRITE_PROTECT
	TmpWP        bool   // TMP_WRITE_PROTECT
	SpecVers     uint8  // eMMC SPEC_VERS
	// TAAC (asynchronous read access time, ns) and NSAC (in units of
	// 100 clocks) and R2W_FACTOR (writes take 2^R2W_FACTOR times as
	// long): SD §5.3.2, JESD84-B51 §7.3.
	TAACns    uint32
	NSAC      uint8
	R2WFactor uint8
}

// taacNs decodes TAAC: time value (bits 6:3, in tenths) × unit (bits
// 2:0: 1 ns × 10^unit).
func taacNs(t uint32) uint32 {
	value := [16]uint32{0, 10, 12, 13, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 70, 80}[t>>3&0xf]
	unit := uint32(1)
	for i := uint32(0); i < t&7; i++ {
		unit *= 10
	}
	return value * unit / 10
}

// accessTimes fills TAAC, NSAC and R2W_FACTOR, where SD and eMMC agree.
func (c *CSD) accessTimes(r reg128) {
	c.TAACns = taacNs(r.bits(119, 112))
	c.NSAC = uint8(r.bits(111, 104))
	c.R2WFactor = uint8(r.bits(28, 26))
}

// parseSDCSD decodes an SD card's CSD.
func parseSDCSD(r reg128) (CSD, error) {
	c := CSD{
		Structure: uint8(r.bits(127, 126)),
		TranSpeed: uint8(r.bits(103, 96)),
		CCC:       uint16(r.bits(95, 84)),
		ReadBlLen: uint8(r.bits(83, 80)),
		PermWP:    r.bits(13, 13) == 1,
		TmpWP:     r.bits(12, 12) == 1,
	}
	c.accessTimes(r)
	switch c.Structure {
	case 0:
		// Capacity = (C_SIZE+1) * 2^(C_SIZE_MULT+2) * 2^READ_BL_LEN
		// (SD §5.3.2). READ_BL_LEN may be 9, 10 or 11 for a 1 or
		// 2 GiB card; the block address is still in 512-byte units
		// once SET_BLOCKLEN 512 is sent.
		cSize := int64(r.bits(73, 62))
		mult := uint(r.bits(49, 47))
		if c.ReadBlLen < 9 || c.ReadBlLen > 11 {
			return c, fmt.Errorf("sdmmc: CSD v1 READ_BL_LEN %d is not 9..11", c.ReadBlLen)
		}
		c.Capacity = (cSize + 1) << (mult + 2 + uint(c.ReadBlLen))
		c.EraseBlkEn = r.bits(46, 46) == 1
		c.SectorSize = r.bits(45, 39) + 1
	case 1:
		// Capacity = (C_SIZE+1) * 512 KiB (SD §5.3.3); READ_BL_LEN
		// is fixed at 9 and erase works on write blocks.
		c.Capacity = (int64(r.bits(69, 48)) + 1) << 19
		c.ReadBlLen = 9
		c.EraseBlkEn = true
		c.SectorSize = r.bits(45, 39) + 1
	default:
		// Version 3.0 (SDUC, over 2 TiB) is not supported.
		return c, fmt.Errorf("sdmmc: unsupported SD CSD_STRUCTURE %d", c.Structure)
	}
	return c, nil
}

// parseMMCCSD decodes an eMMC's CSD. Capacity is 0 for a device of over
// 2 GiB, whose size is EXT_CSD SEC_COUNT.
func parseMMCCSD(r reg128) (CSD, error) {
	c := CSD{
		Structure: uint8(r.bits(127, 126)),
		SpecVers:  uint8(r.bits(125, 122)),
		TranSpeed: uint8(r.bits(103, 96)),
		CCC:       uint16(r.bits(95, 84)),
		ReadBlLen: uint8(r.bits(83, 80)),
		PermWP:    r.bits(13, 13) == 1,
		TmpWP:     r.bits(12, 12) == 1,
	}
	c.accessTimes(r)
	cSize := int64(r.bits(73, 62))
	if cSize != 0xfff {
		mult := uint(r.bits(49, 47))
		if c.ReadBlLen < 9 || c.ReadBlLen > 11 {
			return c, fmt.Errorf("sdmmc: eMMC CSD READ_BL_LEN %d is not 9..11", c.ReadBlLen)
		}
		c.Capacity = (cSize + 1) << (mult + 2 + uint(c.ReadBlLen))
	}
	// ERASE_GRP_SIZE and ERASE_GRP_MULT (JESD84-B51 §7.3.34), in
	// write blocks.
	c.EraseGrpSize = (r.bits(46, 42) + 1) * (r.bits(41, 37) + 1)
	return c, nil
}

// CID is the card identification (SD §5.2; JESD84-B51 §7.2).
type CID struct {
	Manufacturer uint8  // MID
	Product      string // PNM, printable characters only
	Serial       uint32 // PSN
}

func parseCID(r reg128, mmc bool) CID {
	c := CID{Manufacturer: uint8(r.bits(127, 120))}
	var name []byte
	if mmc {
		// PNM is 6 characters at 103:56; PSN at 47:16.
		for hi := uint(103); hi >= 63; hi -= 8 {
			name = append(name, byte(r.bits(hi, hi-7)))
		}
		c.Serial = r.bits(47, 16)
	} else {
		// PNM is 5 characters at 103:64; PSN at 55:24.
		for hi := uint(103); hi >= 71; hi -= 8 {
			name = append(name, byte(r.bits(hi, hi-7)))
		}
		c.Serial = r.bits(55, 24)
	}
	for i, b := range name {
		if b < 0x20 || b > 0x7e {
			name[i] = '?'
		}
	}
	c.Product = string(name)
	return c
}

// SCR is the SD configuration register (SD §5.6), 64 bits big-endian.
type SCR struct {
	Spec            uint8 // SD_SPEC
	Spec3           bool  // SD_SPEC3
	BusWidth4       bool  // SD_BUS_WIDTHS bit 2
	CMD23           bool  // CMD_SUPPORT: SET_BLOCK_COUNT
	DataAfterErase1 bool  // DATA_STAT_AFTER_ERASE
}

func parseSCR(b []byte) SCR {
	v := binary.BigEndian.Uint64(b)
	return SCR{
		Spec:            uint8(v >> 56 & 0xf),
		Spec3:           v>>47&1 == 1,
		BusWidth4:       v>>50&1 == 1,
		CMD23:           v>>33&1 == 1,
		DataAfterErase1: v>>55&1 == 1,
	}
}

// ExtCSD is the part of an eMMC's extended CSD this driver uses.
type ExtCSD struct {
	Rev            uint8  // EXT_CSD_REV
	Sectors        int64  // SEC_COUNT
	CardType       uint8  // CARD_TYPE: the timings the device supports
	HCEraseGrpSize uint32 // in 512-byte sectors; 0 if not given
	EraseTimeout   uint32 // ms per HC erase group, 0 if not given
	TrimTimeout    uint32 // ms per TRIM, 0 if not given
	Trim           bool   // SEC_GB_CL_EN
	CacheBytes     int64  // CACHE_SIZE
	GenericCMD6ms  uint32 // GENERIC_CMD6_TIME, ms; 0 if not given
	PartitionCfg   uint8  // PARTITION_CONFIG; bits 2:0 PARTITION_ACCESS (0: user area)
}

func parseExtCSD(b []byte) (ExtCSD, error) {
	if len(b) != 512 {
		return ExtCSD{}, fmt.Errorf("sdmmc: EXT_CSD is %d bytes", len(b))
	}
	e := ExtCSD{
		Rev:            b[extRev],
		Sectors:        int64(binary.LittleEndian.Uint32(b[extSecCount:])),
		CardType:       b[extCardType],
		HCEraseGrpSize: uint32(b[extHCEraseGrpSize]) * 1024, // 512 KiB units
		EraseTimeout:   uint32(b[extEraseTimeoutMult]) * 300,
		TrimTimeout:    uint32(b[extTrimMult]) * 300,
		Trim:           b[extSecFeatureSupp]&extSecGBClEn != 0,
		GenericCMD6ms:  uint32(b[extGenericCMD6Time]) * 10,
		PartitionCfg:   b[extPartitionConfig],
	}
	if e.Rev >= 5 { // CACHE_SIZE exists from eMMC 4.5 (EXT_CSD_REV 6); 5 reads 0
		e.CacheBytes = int64(binary.LittleEndian.Uint32(b[extCacheSize:])) * 1024
	}
	return e, nil
}
