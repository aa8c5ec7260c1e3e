package sdmmc_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/block/blocktest"
	"github.com/tamaswap/tamaswap/drivers/sdmmc"
	"github.com/tamaswap/tamaswap/drivers/sdmmc/sdmmctest"
	"github.com/tamaswap/tamaswap/drivers/usdhc"
	"github.com/tamaswap/tamaswap/drivers/usdhc/usdhctest"
)

type rig struct {
	card  *sdmmctest.Card
	model *usdhctest.Controller
	host  *usdhc.Host
	dev   *sdmmc.Card
}

// newRig builds card, controller model, uSDHC driver and sdmmc card.
func newRig(t testing.TB, cfg sdmmctest.Config, mc usdhctest.Config, setup func(*usdhc.Host), opts sdmmc.Options) (*rig, error) {
	t.Helper()
	card, err := sdmmctest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mc.Card = card
	m := usdhctest.New(mc)
	h := &usdhc.Host{Regs: m.Regs(), DMA: m.DMA(), Width: sdmmc.Width8}
	if setup != nil {
		setup(h)
	}
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	r := &rig{card: card, model: m, host: h}
	r.dev, err = sdmmc.New(h, opts)
	return r, err
}

func mustRig(t testing.TB, cfg sdmmctest.Config) *rig {
	t.Helper()
	r, err := newRig(t, cfg, usdhctest.Config{}, nil, sdmmc.Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// clean fails the test if the model saw the driver do anything wrong or
// a buffer is still lent to the device.
func (r *rig) clean(t testing.TB) {
	t.Helper()
	for _, v := range r.model.Violations() {
		t.Errorf("model: %s", v)
	}
	if n := r.model.DMA().Outstanding(); n != 0 {
		t.Errorf("%d buffers still shared with the device", n)
	}
}

var kinds = []struct {
	name   string
	cfg    sdmmctest.Config
	kind   sdmmc.Kind
	width  sdmmc.BusWidth
	cmd23  bool
	hs     bool
	blkLen uint8
}{
	{"SDv1-64M", sdmmctest.Config{Kind: sdmmctest.SDv1, Size: 64 << 20}, sdmmc.SDSC, 4, false, false, 9},
	{"SDSC-1G-bl10", sdmmctest.Config{Kind: sdmmctest.SDSC, Size: 1 << 30, ReadBlLen: 10}, sdmmc.SDSC, 4, false, false, 10},
	{"SDSC-2G", sdmmctest.Config{Kind: sdmmctest.SDSC, Size: 2 << 30, HighSpeed: true}, sdmmc.SDSC, 4, false, true, 10},
	{"SDHC-4G", sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 4 << 30, CMD23: true, HighSpeed: true}, sdmmc.SDHC, 4, true, true, 9},
	{"SDXC-64G-1bit", sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 64 << 30, NoWide: true, BusyPolls: 3}, sdmmc.SDHC, 1, false, false, 9},
	{"eMMC-1G-bytemode", sdmmctest.Config{Kind: sdmmctest.EMMC, Size: 1 << 30}, sdmmc.MMC, 8, true, false, 10},
	{"eMMC-8G", sdmmctest.Config{Kind: sdmmctest.EMMC, Size: 8 << 30, HighSpeed: true, Trim: true, Cache: 1 << 20, BusyPolls: 2}, sdmmc.MMC, 8, true, true, 9},
}

func TestCardsConform(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			// Completion a few status reads after each command, as on
			// silicon and in QEMU.
			r, err := newRig(t, k.cfg, usdhctest.Config{Latency: 3}, nil, sdmmc.Options{})
			if err != nil {
				t.Fatal(err)
			}
			d := r.dev
			if d.Kind() != k.kind {
				t.Errorf("kind %v, want %v", d.Kind(), k.kind)
			}
			if got, want := d.Info().Sectors, k.cfg.Size/512; got != want {
				t.Errorf("%d sectors, want %d", got, want)
			}
			if d.CSD().ReadBlLen != k.blkLen {
				t.Errorf("READ_BL_LEN %d, want %d", d.CSD().ReadBlLen, k.blkLen)
			}
			bus := d.Bus()
			if bus.Width != k.width || bus.HighSpeed != k.hs {
				t.Errorf("bus %+v, want width %d hs %t", bus, k.width, k.hs)
			}
			if !d.Info().ReadWrite {
				t.Error("read-only")
			}
			t.Log(d)
			if err := blocktest.TestDevice(d); err != nil {
				t.Error(err)
			}
			if err := blocktest.TestDisconnect(d); err != nil {
				t.Error(err)
			}
			_, _, stops := r.model.Commands()
			if k.cmd23 && (r.card.Commands(23) == 0 || stops != 0) {
				t.Errorf("CMD23 card: %d SET_BLOCK_COUNT, %d auto CMD12", r.card.Commands(23), stops)
			}
			if !k.cmd23 && (r.card.Commands(23) != 0 || stops == 0) {
				t.Errorf("CMD12 card: %d SET_BLOCK_COUNT, %d auto CMD12", r.card.Commands(23), stops)
			}
			r.clean(t)
		})
	}
}

// Data lands at the byte offset the sector means, for byte- and
// block-addressed cards, past 2 GiB included.
func TestSectorsLandWhereTheyShould(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			r := mustRig(t, k.cfg)
			n := r.dev.Info().Sectors
			for _, s := range []int64{0, 1, n/2 + 3, n - 1} {
				buf := bytes.Repeat([]byte{byte(s), 0x5a, byte(s >> 8), byte(s >> 16)}, 128)
				if err := r.dev.Write(s, buf); err != nil {
					t.Fatalf("write %d: %v", s, err)
				}
				got := make([]byte, 512)
				r.card.ReadAt(got, s*512)
				if !bytes.Equal(got, buf) {
					t.Errorf("sector %d is not at byte %d of the card", s, s*512)
				}
			}
			r.clean(t)
		})
	}
}

// A request over the controller's 65535-block count and over the
// descriptor table goes out as several commands, and arrives whole.
func TestLargeRequestsSplit(t *testing.T) {
	for _, direct := range []bool{true, false} {
		r, err := newRig(t, sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 1 << 30},
			usdhctest.Config{DMASize: 80 << 20}, nil, sdmmc.Options{})
		if err != nil {
			t.Fatal(err)
		}
		const size = 40 << 20 // 81920 sectors
		var buf []byte
		if direct {
			buf, err = r.dev.AllocBuffer(size)
			if err != nil {
				t.Fatal(err)
			}
		} else {
			buf = make([]byte, size)
		}
		for i := range buf {
			buf[i] = byte(i*7 + i>>9)
		}
		cmds0, _, _ := r.model.Commands()
		if err := r.dev.Write(100, buf); err != nil {
			t.Fatal(err)
		}
		cmds, blocks, _ := r.model.Commands()
		writes := r.card.Commands(25)
		if direct && writes != 2 {
			t.Errorf("direct 81920-sector write took %d CMD25s, want 2 (65535 + 16385)", writes)
		}
		if !direct && writes < size/(256<<10) {
			t.Errorf("bounced write took %d CMD25s; the bounce buffer is 256 KiB", writes)
		}
		t.Logf("direct=%t: %d commands, %d blocks, %d CMD25", direct, cmds-cmds0, blocks, writes)
		got := make([]byte, size)
		r.card.ReadAt(got, 100*512)
		if !bytes.Equal(got, buf) {
			t.Error("card holds other data")
		}
		clear(got)
		if err := r.dev.Read(100, got); err != nil || !bytes.Equal(got, buf) {
			t.Errorf("read back: %v, equal %t", err, bytes.Equal(got, buf))
		}
		r.clean(t)
	}
}

// Buffers from AllocBuffer go to the controller in place: the
// descriptors point into them.
func TestAllocBufferIsZeroCopy(t *testing.T) {
	r := mustRig(t, sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 64 << 20})
	buf, err := r.dev.AllocBuffer(128 << 10)
	if err != nil {
		t.Fatal(err)
	}
	addr, ok := r.model.DMA().Addr(buf)
	if !ok {
		t.Fatal("AllocBuffer memory outside DMA memory")
	}
	if err := r.dev.Read(8, buf); err != nil {
		t.Fatal(err)
	}
	d := r.model.LastDescriptors()
	if len(d) != 3 || uint64(d[0].Addr) != addr || d[0].Len+d[1].Len+d[2].Len != len(buf) {
		t.Errorf("descriptors %v, want three covering %#x+%d", d, addr, len(buf))
	}
	// A misaligned read buffer (not whole cache lines) is bounced.
	odd := buf[4 : 4+512]
	if err := r.dev.Read(8, odd); err != nil {
		t.Fatal(err)
	}
	if d := r.model.LastDescriptors(); len(d) != 1 || uint64(d[0].Addr) == addr+4 {
		t.Errorf("misaligned read went direct: %v", d)
	}
	r.dev.FreeBuffer(buf)
	r.clean(t)
}

func TestReadWriteDoNotAllocate(t *testing.T) {
	r := mustRig(t, sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 64 << 20, CMD23: true})
	buf, _ := r.dev.AllocBuffer(64 << 10)
	for _, write := range []bool{false, true} {
		n := testing.AllocsPerRun(20, func() {
			var err error
			if write {
				err = r.dev.Write(64, buf)
			} else {
				err = r.dev.Read(64, buf)
			}
			if err != nil {
				t.Fatal(err)
			}
		})
		// The card model allocates nothing per block either way, so
		// this counts the driver's allocations.
		if n != 0 {
			t.Errorf("write=%t: %.1f allocations per request", write, n)
		}
	}
}

func TestWriteProtected(t *testing.T) {
	cases := []struct {
		name  string
		cfg   sdmmctest.Config
		mc    usdhctest.Config
		setup func(*usdhc.Host)
		ro    bool
	}{
		{"CSD-PERM_WRITE_PROTECT", sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 8 << 20, PermWP: true}, usdhctest.Config{}, nil, true},
		{"CSD-TMP_WRITE_PROTECT", sdmmctest.Config{Kind: sdmmctest.SDSC, Size: 8 << 20, TmpWP: true}, usdhctest.Config{}, nil, true},
		{"WP-pin", sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 8 << 20}, usdhctest.Config{WriteProtect: true}, nil, true},
		{"WP-pin-not-wired", sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 8 << 20}, usdhctest.Config{WriteProtect: true},
			func(h *usdhc.Host) { h.NoWriteProtect = true }, false},
		{"eMMC-PERM_WRITE_PROTECT", sdmmctest.Config{Kind: sdmmctest.EMMC, Size: 8 << 20, PermWP: true}, usdhctest.Config{}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := newRig(t, tc.cfg, tc.mc, tc.setup, sdmmc.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if r.dev.Info().ReadWrite == tc.ro {
				t.Fatalf("ReadWrite %t, want %t", r.dev.Info().ReadWrite, !tc.ro)
			}
			if err := blocktest.TestDevice(r.dev); err != nil {
				t.Error(err)
			}
			if tc.ro {
				err := r.dev.Write(0, make([]byte, 512))
				if !errors.Is(err, block.ErrReadOnly) {
					t.Errorf("write: %v, want ErrReadOnly", err)
				}
				if r.card.Commands(24)+r.card.Commands(25) != 0 {
					t.Error("a write command reached the protected card")
				}
			}
			r.clean(t)
		})
	}
}

func TestEmptySlot(t *testing.T) {
	m := usdhctest.New(usdhctest.Config{})
	h := &usdhc.Host{Regs: m.Regs(), DMA: m.DMA()}
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	if _, err := sdmmc.New(h, sdmmc.Options{}); !errors.Is(err, sdmmc.ErrNoCard) {
		t.Errorf("New on an empty slot: %v, want ErrNoCard", err)
	}
}

// A card that never answers fails identification with a timeout, in
// bounded time.
func TestDeadCardTimesOut(t *testing.T) {
	card, _ := sdmmctest.New(sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 8 << 20})
	card.SetFault(sdmmctest.Fault{NoResponse: true})
	m := usdhctest.New(usdhctest.Config{Card: card})
	h := &usdhc.Host{Regs: m.Regs(), DMA: m.DMA()}
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := sdmmc.New(h, sdmmc.Options{})
	if !errors.Is(err, sdmmc.ErrTimeout) {
		t.Errorf("New: %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("New took %v", d)
	}
}

// A card that stops answering, or whose data stops coming, after
// identification: every call fails with ErrIO in bounded time, and the
// card works again once it recovers (a card that stopped answering
// after Reidentify, as the shell's info does).
func TestCardTimeoutsAreErrors(t *testing.T) {
	for _, f := range []sdmmctest.Fault{{NoResponse: true}, {DataTimeout: true}} {
		r := mustRig(t, sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 8 << 20})
		r.card.SetFault(f)
		buf := make([]byte, 4096)
		start := time.Now()
		if err := r.dev.Read(0, buf); !errors.Is(err, block.ErrIO) || !errors.Is(err, sdmmc.ErrTimeout) {
			t.Errorf("%+v: read: %v, want ErrIO and ErrTimeout", f, err)
		}
		if err := r.dev.Write(0, buf); !errors.Is(err, block.ErrIO) {
			t.Errorf("%+v: write: %v, want ErrIO", f, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%+v: failing took %v", f, d)
		}
		r.card.SetFault(sdmmctest.Fault{})
		if f.NoResponse {
			if !r.dev.Gone() {
				t.Errorf("%+v: card not marked gone", f)
			}
			if err := r.dev.Reidentify(); err != nil {
				t.Fatalf("%+v: Reidentify: %v", f, err)
			}
		}
		if err := r.dev.Write(0, buf); err != nil {
			t.Errorf("%+v: write after recovery: %v", f, err)
		}
		if err := r.dev.Read(0, buf); err != nil {
			t.Errorf("%+v: read after recovery: %v", f, err)
		}
		r.clean(t)
	}
}

// Data CRC errors fail the request with ErrIO (and ErrCRC), leave nothing
// half-lent, and the next request works.
func TestCRCErrors(t *testing.T) {
	r := mustRig(t, sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 8 << 20})
	want := bytes.Repeat([]byte{0x3c}, 8*512)
	if err := r.dev.Write(16, want); err != nil {
		t.Fatal(err)
	}
	r.card.SetFault(sdmmctest.Fault{DataCRCEvery: 5})
	got := make([]byte, len(want))
	err := r.dev.Read(16, got)
	if !errors.Is(err, block.ErrIO) || !errors.Is(err, sdmmc.ErrCRC) {
		t.Errorf("read across a CRC error: %v, want ErrIO and ErrCRC", err)
	}
	other := bytes.Repeat([]byte{0xc3}, 8*512)
	if err := r.dev.Write(16, other); !errors.Is(err, sdmmc.ErrCRC) {
		t.Errorf("write across a CRC error: %v, want ErrCRC", err)
	}
	r.card.SetFault(sdmmctest.Fault{})
	if err := r.dev.Read(16, got); err != nil {
		t.Fatalf("read after the fault: %v", err)
	}
	if r.card.State() != 4 {
		t.Errorf("card left in state %d, want tran", r.card.State())
	}
	r.clean(t)
}

// A response CRC error during identification restarts it.
func TestCommandCRCRetried(t *testing.T) {
	card, _ := sdmmctest.New(sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 8 << 20})
	card.SetFault(sdmmctest.Fault{CmdCRCAt: 5}) // CMD3's R6
	m := usdhctest.New(usdhctest.Config{Card: card})
	h := &usdhc.Host{Regs: m.Regs(), DMA: m.DMA()}
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	if _, err := sdmmc.New(h, sdmmc.Options{}); err != nil {
		t.Errorf("identification with a corrupted response: %v", err)
	}
	if card.Commands(0) < 2 {
		t.Errorf("identification did not restart (%d CMD0)", card.Commands(0))
	}
	// With every response corrupted it fails, saying why.
	card.SetFault(sdmmctest.Fault{CmdCRCEvery: 1})
	if _, err := sdmmc.New(h, sdmmc.Options{}); !errors.Is(err, sdmmc.ErrCRC) {
		t.Errorf("identification with every response corrupted: %v, want ErrCRC", err)
	}
}

// A card stuck programming fails the write with a timeout.
func TestStuckBusy(t *testing.T) {
	r := mustRig(t, sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 8 << 20})
	r.card.SetFault(sdmmctest.Fault{StuckBusy: true})
	start := time.Now()
	if err := r.dev.Write(0, make([]byte, 512)); !errors.Is(err, sdmmc.ErrTimeout) {
		t.Errorf("write to a card stuck busy: %v, want ErrTimeout", err)
	}
	t.Logf("gave up after %v", time.Since(start))
}

// When the controller cannot stop its DMA after a failure the buffers
// stay lent: the error says so and the card refuses further work.
func TestBuffersHeld(t *testing.T) {
	r, err := newRig(t, sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 8 << 20}, usdhctest.Config{StuckDataReset: true}, nil, sdmmc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.card.SetFault(sdmmctest.Fault{DataCRCEvery: 1})
	err = r.dev.Read(0, make([]byte, 1024))
	if !errors.Is(err, sdmmc.ErrBuffersHeld) || !errors.Is(err, block.ErrBuffersHeld) || !errors.Is(err, block.ErrIO) {
		t.Errorf("read: %v, want ErrBuffersHeld", err)
	}
	r.card.SetFault(sdmmctest.Fault{})
	if err := r.dev.Read(0, make([]byte, 512)); !errors.Is(err, block.ErrIO) {
		t.Errorf("read after buffers held: %v, want ErrIO", err)
	}
}

func TestDiscard(t *testing.T) {
	for _, cfg := range []sdmmctest.Config{
		{Kind: sdmmctest.SDHC, Size: 16 << 20},
		{Kind: sdmmctest.SDSC, Size: 16 << 20, EraseOnes: true},
		{Kind: sdmmctest.EMMC, Size: 16 << 20, Trim: true},
		{Kind: sdmmctest.EMMC, Size: 16 << 20}, // erase groups of 512 KiB
	} {
		r := mustRig(t, cfg)
		data := bytes.Repeat([]byte{0x77}, 4<<20)
		if err := r.dev.Write(0, data); err != nil {
			t.Fatal(err)
		}
		// Sectors 3..2050: whole erase units inside it are erased.
		if err := r.dev.Discard(3, 2048); err != nil {
			t.Fatalf("%v: discard: %v", cfg.Kind, err)
		}
		got := make([]byte, 4<<20)
		if err := r.dev.Read(0, got); err != nil {
			t.Fatal(err)
		}
		fill := byte(0)
		if cfg.EraseOnes {
			fill = 0xff
		}
		erased := 0
		for s := 0; s < 8192; s++ {
			sec := got[s*512 : (s+1)*512]
			switch {
			case bytes.Count(sec, []byte{fill}) == 512:
				erased++
				if s < 3 || s >= 2051 {
					t.Errorf("%v: sector %d outside the range was erased", cfg.Kind, s)
				}
			case !bytes.Equal(sec, data[:512]):
				t.Errorf("%v: sector %d holds other data", cfg.Kind, s)
			}
		}
		t.Logf("%v: %d of 2048 sectors erased", cfg.Kind, erased)
		if erased == 0 && (cfg.Kind != sdmmctest.EMMC || cfg.Trim) {
			t.Errorf("%v: nothing erased", cfg.Kind)
		}
		r.clean(t)
	}
}

func TestFlushFlushesEMMCCache(t *testing.T) {
	r := mustRig(t, sdmmctest.Config{Kind: sdmmctest.EMMC, Size: 16 << 20, Cache: 512 << 10})
	if err := r.dev.Write(0, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	if err := r.dev.Flush(); err != nil {
		t.Fatal(err)
	}
	if r.card.Flushes() != 1 {
		t.Errorf("%d cache flushes, want 1", r.card.Flushes())
	}
	r.dev.Disconnect()
	if r.card.Flushes() != 2 {
		t.Errorf("Disconnect did not flush the cache (%d flushes)", r.card.Flushes())
	}
}

// A card pulled out after identification: requests fail at once.
func TestCardRemoved(t *testing.T) {
	r := mustRig(t, sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 8 << 20})
	r.model.SetCard(nil)
	err := r.dev.Read(0, make([]byte, 512))
	if !errors.Is(err, block.ErrIO) || !errors.Is(err, sdmmc.ErrNoCard) {
		t.Errorf("read with the card gone: %v, want ErrIO and ErrNoCard", err)
	}
}

// Random reads, writes and discards over a card with faults switched on
// and off: every call returns (no hang, no panic), data read after a
// successful write is what was written, and the driver leaves nothing
// lent to the device.
func FuzzCardOps(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{3, 200, 17, 1, 0, 4, 99, 250, 3, 3, 1, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		const sectors = 4096
		r := mustRig(t, sdmmctest.Config{Kind: sdmmctest.SDHC, Size: sectors * 512, CMD23: len(ops)%2 == 0})
		shadow := make([]byte, sectors*512)
		known := make([]bool, sectors) // shadow is exact for this sector
		for i := range known {
			known[i] = true
		}
		buf, _ := r.dev.AllocBuffer(64 << 10)
		for len(ops) >= 3 {
			op, a, b := ops[0], int64(ops[1])<<4|int64(ops[2]>>4), int(ops[2]&15)+1
			ops = ops[3:]
			n := min(b*8, int(sectors-a))
			if n <= 0 {
				continue
			}
			p := buf[:n*512]
			switch op % 6 {
			case 0, 1: // write
				for i := range p {
					p[i] = byte(int(a)*3 + i + int(op))
				}
				err := r.dev.Write(a, p)
				for s := 0; s < n; s++ {
					if err == nil {
						copy(shadow[(a+int64(s))*512:], p[s*512:(s+1)*512])
						known[a+int64(s)] = true
					} else {
						known[a+int64(s)] = false // partly written
					}
				}
			case 2, 3: // read
				if err := r.dev.Read(a, p); err == nil {
					for s := 0; s < n; s++ {
						if known[a+int64(s)] && !bytes.Equal(p[s*512:(s+1)*512], shadow[(a+int64(s))*512:(a+int64(s)+1)*512]) {
							t.Fatalf("sector %d reads other data", a+int64(s))
						}
					}
				}
			case 4: // discard: contents become unknown, even when it fails
				_ = r.dev.Discard(a, int64(n))
				for s := 0; s < n; s++ {
					known[a+int64(s)] = false
				}
			case 5: // a fault, or none
				switch b % 4 {
				case 0:
					r.card.SetFault(sdmmctest.Fault{})
				case 1:
					r.card.SetFault(sdmmctest.Fault{DataCRCEvery: b})
				case 2:
					r.card.SetFault(sdmmctest.Fault{CmdCRCEvery: b + 1})
				case 3:
					r.card.SetFault(sdmmctest.Fault{DataTimeout: true})
				}
			}
		}
		r.card.SetFault(sdmmctest.Fault{})
		r.clean(t)
	})
}

// A slot without card-detect (an eMMC slot) and without a card: New says
// no card, and why.
func TestNoCardWithoutCardDetect(t *testing.T) {
	m := usdhctest.New(usdhctest.Config{})
	h := &usdhc.Host{Regs: m.Regs(), DMA: m.DMA(), NonRemovable: true}
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	_, err := sdmmc.New(h, sdmmc.Options{})
	if !errors.Is(err, sdmmc.ErrNoCard) || !errors.Is(err, sdmmc.ErrTimeout) {
		t.Errorf("New: %v, want ErrNoCard and ErrTimeout", err)
	}
	t.Log(err)
}

// A card whose CSD version contradicts its OCR is refused: its capacity
// and its addressing cannot both be right.
func TestCSDContradictingOCR(t *testing.T) {
	for _, kind := range []sdmmctest.Kind{sdmmctest.SDSC, sdmmctest.SDHC} {
		_, err := newRig(t, sdmmctest.Config{Kind: kind, Size: 64 << 20, LieCSDVersion: true}, usdhctest.Config{}, nil, sdmmc.Options{})
		if err == nil {
			t.Errorf("%v with the other CSD version accepted", kind)
		}
	}
}
