package sdmmc_test

// Tests against the strict models: what a real USB armory's uSDHC and
// cards do that QEMU forgives. Each names the fix it guards.

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/block/blocktest"
	"github.com/tamaswap/tamaswap/drivers/sdmmc"
	"github.com/tamaswap/tamaswap/drivers/sdmmc/sdmmctest"
	"github.com/tamaswap/tamaswap/drivers/usdhc/usdhctest"
)

var (
	sdhc4G = sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 4 << 30, HighSpeed: true}
	emmc4G = sdmmctest.Config{Kind: sdmmctest.EMMC, Size: 4 << 30, HighSpeed: true, Trim: true, Cache: 1 << 20}
)

// Init brings a controller left by a boot ROM (1.8 V select and
// CRC_CHK_DIS in VEND_SPEC, which RSTA keeps; watermarks, burst length
// enable, DLL_CTRL, ERR004536) into the state the driver needs: the card
// answers, and a corrupted block is caught by its CRC.
func TestInitFromBootROMState(t *testing.T) {
	for _, cfg := range []sdmmctest.Config{sdhc4G, emmc4G} {
		r, err := newRig(t, cfg, usdhctest.Config{BootROM: true}, nil, sdmmc.Options{})
		if err != nil {
			t.Fatalf("%v: New after a boot ROM: %v", cfg.Kind, err)
		}
		want := bytes.Repeat([]byte{0x6b}, 4096)
		if err := r.dev.Write(64, want); err != nil {
			t.Fatal(err)
		}
		r.card.SetFault(sdmmctest.Fault{DataCRCOnce: true})
		got := make([]byte, 4096)
		if err := r.dev.Read(64, got); err != nil {
			t.Fatalf("%v: read with one CRC error: %v", cfg.Kind, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%v: a block that failed its CRC was delivered (CRC_CHK_DIS left set)", cfg.Kind)
		}
		r.clean(t)
	}
}

// No SYS_CTRL write pulls IPP_RST_N low: the eMMC is never reset behind
// the driver's back, through identification, I/O and error recovery.
func TestIPPRstNStaysHigh(t *testing.T) {
	r, err := newRig(t, emmc4G, usdhctest.Config{}, nil, sdmmc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8192)
	if err := r.dev.Write(8, buf); err != nil {
		t.Fatal(err)
	}
	r.card.SetFault(sdmmctest.Fault{DataCRCOnce: true}) // error recovery resets the lines
	if err := r.dev.Read(8, buf); err != nil {
		t.Fatal(err)
	}
	if err := blocktest.TestDevice(r.dev); err != nil {
		t.Error(err)
	}
	if n := r.model.HardwareResets(); n != 0 {
		t.Errorf("IPP_RST_N pulled low %d times", n)
	}
	r.clean(t)
}

// The model clears INT_STATUS_EN on RSTC/RSTD; eMMC identification goes
// through one (CMD8 unanswered), and I/O after a command error works.
func TestStatusEnablesSurviveResets(t *testing.T) {
	r, err := newRig(t, emmc4G, usdhctest.Config{Latency: 2}, nil, sdmmc.Options{})
	if err != nil {
		t.Fatalf("eMMC identification: %v", err)
	}
	r.card.SetFault(sdmmctest.Fault{CmdCRCAt: 1})
	buf := make([]byte, 512)
	_ = r.dev.Read(0, buf)
	if err := r.dev.Read(0, buf); err != nil {
		t.Errorf("read after a command error: %v", err)
	}
	r.clean(t)
}

// After R1b, the driver waits for DAT0 high (the model lets CDIHB go at
// once); a card stuck busy is an error as soon as the controller reports
// the data timeout.
func TestR1bBusy(t *testing.T) {
	r, err := newRig(t, emmc4G, usdhctest.Config{BusyReads: 16}, nil, sdmmc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.dev.Discard(0, 4096); err != nil {
		t.Fatal(err)
	}
	if err := r.dev.Flush(); err != nil {
		t.Fatal(err)
	}
	r.clean(t)

	r = mustRig(t, sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 64 << 20})
	r.card.SetFault(sdmmctest.Fault{StuckBusy: true})
	start := time.Now()
	err = r.dev.Discard(0, 64<<20>>9)
	if !errors.Is(err, sdmmc.ErrTimeout) || !strings.Contains(err.Error(), "data timeout during busy") {
		t.Errorf("erase on a card stuck busy: %v, want the data timeout during busy", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("stuck busy took %v to fail: the data timeout was not seen", d)
	}
}

// Errors the card reports in the auto CMD12 response fail the request.
func TestStopResponseErrors(t *testing.T) {
	for _, bit := range []uint32{1 << 31, 1 << 21, 1 << 20, 1 << 19} { // OUT_OF_RANGE, CARD_ECC_FAILED, CC_ERROR, ERROR
		r := mustRig(t, sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 64 << 20})
		r.card.SetFault(sdmmctest.Fault{StopError: bit})
		var se *sdmmc.StatusError
		err := r.dev.Read(0, make([]byte, 8192))
		if !errors.Is(err, block.ErrIO) || !errors.As(err, &se) || se.Status&bit == 0 {
			t.Errorf("stop response with %#x: %v, want a StatusError", bit, err)
		}
		if err := r.dev.Read(0, make([]byte, 8192)); err != nil {
			t.Errorf("next read: %v", err)
		}
		r.clean(t)
	}
}

// An ECC failure on a read fails that read, and not the next request.
func TestECCFailureBelongsToItsRead(t *testing.T) {
	for _, cfg := range []sdmmctest.Config{{Kind: sdmmctest.SDHC, Size: 64 << 20, CMD23: true}, emmc4G} {
		r := mustRig(t, cfg)
		r.card.SetFault(sdmmctest.Fault{ECC: true, ECCSector: 5})
		var se *sdmmc.StatusError
		if err := r.dev.Read(5, make([]byte, 512)); !errors.As(err, &se) || se.Status&(1<<21) == 0 {
			t.Errorf("%v: read of a sector failing ECC: %v, want CARD_ECC_FAILED", cfg.Kind, err)
		}
		r.card.SetFault(sdmmctest.Fault{})
		if err := r.dev.Write(0, make([]byte, 512)); err != nil {
			t.Errorf("%v: the next request failed: %v", cfg.Kind, err)
		}
		r.clean(t)
	}
}

// One data CRC error or data timeout is retried and counted; a second
// failure is ErrIO.
func TestTransientErrorsRetriedOnce(t *testing.T) {
	r := mustRig(t, sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 64 << 20})
	want := bytes.Repeat([]byte{0xc3}, 4096)
	r.card.SetFault(sdmmctest.Fault{DataTimeoutOnce: true})
	if err := r.dev.Write(0, want); err != nil {
		t.Fatalf("write with one data timeout: %v", err)
	}
	r.card.SetFault(sdmmctest.Fault{DataCRCOnce: true})
	got := make([]byte, 4096)
	if err := r.dev.Read(0, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read with one CRC error: %v", err)
	}
	if st := r.dev.Stats(); st.Retries != 2 || st.RetryFailures != 0 {
		t.Errorf("stats %+v, want 2 retries", st)
	}
	r.card.SetFault(sdmmctest.Fault{DataCRCEvery: 1})
	if err := r.dev.Read(0, got); !errors.Is(err, block.ErrIO) || !errors.Is(err, sdmmc.ErrCRC) {
		t.Errorf("read with CRC errors every time: %v, want ErrIO", err)
	}
	if st := r.dev.Stats(); st.Retries != 3 || st.RetryFailures != 1 {
		t.Errorf("stats %+v, want 3 retries, 1 failed", st)
	}
	r.clean(t)
}

// A card that stops answering costs one timeout: later calls fail at once
// without a command; Reidentify brings it back.
func TestGoneCardFailsAtOnce(t *testing.T) {
	r := mustRig(t, sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 64 << 20})
	r.card.SetFault(sdmmctest.Fault{NoResponse: true})
	buf := make([]byte, 512)
	if err := r.dev.Read(0, buf); !errors.Is(err, block.ErrIO) {
		t.Fatalf("read: %v", err)
	}
	before, _, _ := r.model.Commands()
	for i := 0; i < 10; i++ {
		if err := r.dev.Read(0, buf); !errors.Is(err, sdmmc.ErrGone) {
			t.Fatalf("read of a gone card: %v, want ErrGone", err)
		}
	}
	if after, _, _ := r.model.Commands(); after != before {
		t.Errorf("%d commands sent to a gone card", after-before)
	}
	r.card.SetFault(sdmmctest.Fault{})
	if err := r.dev.Reidentify(); err != nil {
		t.Fatal(err)
	}
	if err := r.dev.Read(0, buf); err != nil {
		t.Errorf("after Reidentify: %v", err)
	}
}

// Timeouts come from the card: SDHC/SDXC's fixed values, SDSC's and
// eMMC's from TAAC/NSAC/R2W_FACTOR, floored at Linux's.
func TestTimeoutsFromTheCard(t *testing.T) {
	for _, c := range []struct {
		cfg       sdmmctest.Config
		read, wrt time.Duration
	}{
		{sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 4 << 30}, 100 * time.Millisecond, 250 * time.Millisecond},
		{sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 64 << 30}, 100 * time.Millisecond, 500 * time.Millisecond},
	} {
		r := mustRig(t, c.cfg)
		to := r.dev.Timeouts()
		if to.ReadSpec != c.read || to.WriteSpec != c.wrt {
			t.Errorf("%v %d: spec timeouts %v/%v, want %v/%v", c.cfg.Kind, c.cfg.Size, to.ReadSpec, to.WriteSpec, c.read, c.wrt)
		}
		if to.Read != 100*time.Millisecond || to.Write != 3*time.Second {
			t.Errorf("%v: timeouts %v/%v, want Linux's 100ms/3s floors", c.cfg.Kind, to.Read, to.Write)
		}
	}
}

// The ladder: a bus that does not hold High Speed falls back to default
// speed, one whose upper lines are bad to one line, and an eMMC whose 8-bit
// bus fails the EXT_CSD compare stays at 4 bits.
func TestLadder(t *testing.T) {
	for _, c := range []struct {
		name  string
		cfg   sdmmctest.Config
		model usdhctest.Config
		width sdmmc.BusWidth
		hs    bool
	}{
		{"sd-hs-fails", sdhc4G, usdhctest.Config{FailClock: 30_000_000}, 4, false},
		{"sd-4bit-fails", sdhc4G, usdhctest.Config{FailWidth: 4}, 1, false},
		{"emmc-8bit-fails", emmc4G, usdhctest.Config{FailWidth: 8}, 4, true},
		{"emmc-hs-fails", emmc4G, usdhctest.Config{FailClock: 30_000_000}, 8, false},
	} {
		r, err := newRig(t, c.cfg, c.model, nil, sdmmc.Options{})
		if err != nil {
			t.Errorf("%s: New: %v", c.name, err)
			continue
		}
		bus := r.dev.Bus()
		if bus.Width != c.width || bus.HighSpeed != c.hs {
			t.Errorf("%s: bus %+v, want width %d hs %t (ladder: %s)", c.name, bus, c.width, c.hs, r.dev.Ladder())
		}
		if !strings.Contains(r.dev.Ladder(), "held") {
			t.Errorf("%s: ladder %q says nothing held", c.name, r.dev.Ladder())
		}
		if err := blocktest.TestDevice(r.dev); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		t.Logf("%s: %s", c.name, r.dev.Ladder())
	}
}

// Identification: an eMMC that answers CMD55 (without APP_CMD) is still
// found, and one left with a boot partition selected is switched to the
// user area.
func TestEMMCIdentificationQuirks(t *testing.T) {
	cfg := emmc4G
	cfg.AnswersCMD55 = true
	if _, err := newRig(t, cfg, usdhctest.Config{}, nil, sdmmc.Options{}); err != nil {
		t.Errorf("eMMC answering CMD55: %v", err)
	}
	cfg = emmc4G
	cfg.PartitionAccess = 1
	r, err := newRig(t, cfg, usdhctest.Config{}, nil, sdmmc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte{0x42}, 512)
	if err := r.dev.Write(3, want); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 512)
	r.card.ReadAt(got, 3*512)
	if !bytes.Equal(got, want) {
		t.Error("data did not land in the user area")
	}
}

// TRIM is not used on parts Linux knows to corrupt data with it.
func TestTrimQuirk(t *testing.T) {
	cfg := emmc4G
	cfg.Manufacturer, cfg.Product = 0x70, "V10008"
	r := mustRig(t, cfg)
	if strings.Contains(r.dev.String(), "trim=true") {
		t.Errorf("Kingston V10008 TRIMmed: %s", r.dev)
	}
	if cid := r.dev.CIDHex(); len(cid) != 32 || !strings.HasPrefix(cid, "70") {
		t.Errorf("CID %q", cid)
	}
	r = mustRig(t, emmc4G)
	if !strings.Contains(r.dev.String(), "trim=true") {
		t.Errorf("eMMC with TRIM not TRIMmed: %s", r.dev)
	}
}
