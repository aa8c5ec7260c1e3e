package sdmmc

import (
	"testing"
	"time"
)

// Erase and TRIM timeouts as Linux's mmc_mmc_erase_timeout and the SD
// status give them, capped.
func TestEraseTimeouts(t *testing.T) {
	mmc := &Card{kind: MMC, eraseU: 1024, ext: ExtCSD{EraseTimeout: 2 * 300, TrimTimeout: 3 * 300}}
	if got := mmc.eraseTimeout(0, 4*1024); got != 4*600*time.Millisecond {
		t.Errorf("eMMC erase of 4 groups: %v", got)
	}
	mmc.trim = true
	if got := mmc.eraseTimeout(1000, 100); got != 2*900*time.Millisecond {
		t.Errorf("eMMC TRIM touching 2 groups: %v", got)
	}
	if got := mmc.eraseTimeout(0, 1<<30); got != maxEraseTimeout {
		t.Errorf("huge TRIM: %v, want the cap", got)
	}
	if c := mmc.eraseChunk(1024); mmc.eraseTimeout(0, c) >= maxEraseTimeout {
		t.Errorf("erase chunk %d reaches the cap", c)
	}
	sd := &Card{kind: SDHC, eraseU: 1, sdErase: sdEraseInfo{auSectors: 8192, timeoutPerAU: 500 * time.Millisecond, offset: time.Second}}
	if got := sd.eraseTimeout(0, 4*8192); got != 3*time.Second {
		t.Errorf("SD erase of 4 AUs from the SD status: %v", got)
	}
	sd.sdErase = sdEraseInfo{}
	if got := sd.eraseTimeout(0, 8*8192); got != 2*time.Second {
		t.Errorf("SD erase of 8 AUs, spec default: %v", got)
	}
}
