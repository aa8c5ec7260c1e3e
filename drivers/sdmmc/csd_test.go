package sdmmc

import (
	"encoding/binary"
	"testing"
)

func reg(b []byte) reg128 {
	var r reg128
	for i := range r {
		r[i] = binary.BigEndian.Uint32(b[4*i:])
	}
	return r
}

// A real 2 GB SD card's CSD 1.0 (READ_BL_LEN 10, C_SIZE 3863, C_SIZE_MULT
// 7): 1 979 711 488 bytes, as Linux reports for it.
func TestCSDv1Capacity(t *testing.T) {
	var r reg128
	set := func(hi, lo uint, v uint32) {
		for i := lo; i <= hi; i++ {
			if v>>(i-lo)&1 == 1 {
				r[3-i/32] |= 1 << (i % 32)
			}
		}
	}
	set(83, 80, 10)
	set(73, 62, 3863)
	set(49, 47, 7)
	c, err := parseSDCSD(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(3864) * 512 * 1024; c.Capacity != want {
		t.Errorf("capacity %d, want %d", c.Capacity, want)
	}
	if r.bits(73, 62) != 3863 || r.bits(83, 80) != 10 {
		t.Error("bits() does not read back what was set")
	}
}

// The register parsers take any bytes a card may send without panicking,
// and never report a negative size.
func FuzzRegisters(f *testing.F) {
	f.Add(make([]byte, 512))
	seed := make([]byte, 512)
	for i := range seed {
		seed[i] = 0xff
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 16 {
			return
		}
		r := reg(b)
		if c, err := parseSDCSD(r); err == nil && c.Capacity <= 0 {
			t.Errorf("SD CSD capacity %d", c.Capacity)
		}
		if c, err := parseMMCCSD(r); err == nil && c.Capacity < 0 {
			t.Errorf("eMMC CSD capacity %d", c.Capacity)
		}
		_ = parseCID(r, false)
		_ = parseCID(r, true)
		_ = parseSCR(b[:8])
		if len(b) >= 512 {
			if e, err := parseExtCSD(b[:512]); err != nil || e.Sectors < 0 || e.CacheBytes < 0 {
				t.Errorf("EXT_CSD: %+v, %v", e, err)
			}
		}
	})
}
