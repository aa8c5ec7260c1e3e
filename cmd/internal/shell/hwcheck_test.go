package shell

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/sdmmc"
	"github.com/tamaswap/tamaswap/drivers/sdmmc/sdmmctest"
	"github.com/tamaswap/tamaswap/drivers/usdhc"
	"github.com/tamaswap/tamaswap/drivers/usdhc/usdhctest"
)

// hwcheck passes on an empty SD card behind the uSDHC model, says what
// the card is, and leaves it empty.
func TestHwcheckPasses(t *testing.T) {
	card, err := sdmmctest.New(sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 64 << 20, HighSpeed: true})
	if err != nil {
		t.Fatal(err)
	}
	m := usdhctest.New(usdhctest.Config{Card: card, DMASize: 32 << 20})
	h := &usdhc.Host{Regs: m.Regs(), DMA: m.DMA()}
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	dev, err := sdmmc.New(h, sdmmc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := run(t, []Disk{{Dev: dev, Transport: "usdhc"}}, "hwcheck\nsum 0 34816")
	want(t, got,
		"hwcheck: disk=0 region=2048+32768",
		"~hwcheck: bus: held: high speed .*",
		"~hwcheck: cid=[0-9a-f]{32}",
		"hwcheck: dirty-cache-read ok",
		"hwcheck: fresh-buffer-write ok",
		"hwcheck: aligned-and-bounced-reads ok",
		"hwcheck: stream-with-neighbour-writes ok",
		"hwcheck: retries=0 retry_failures=0 status_errors=0 gone=0",
		"~hwcheck: PASS checks=4 mib=[0-9]+ seconds=[0-9.]+",
		"sum: "+sha(make([]byte, 34816*512)),
	)
	for _, v := range m.Violations() {
		t.Errorf("model: %s", v)
	}
}

// hwcheck refuses a disk that holds something, and writes nothing.
func TestHwcheckRefusesADiskWithData(t *testing.T) {
	d := mem(1<<16, 512)
	b := make([]byte, 512)
	b[100] = 1
	if err := d.Write(1, b); err != nil {
		t.Fatal(err)
	}
	got, _ := run(t, []Disk{mkdisk(d)}, "hwcheck\nsum 2048 32768")
	if len(got) != 2 || !strings.HasPrefix(got[0], "hwcheck: FAIL the disk holds data: sector 1 is not zero") {
		t.Fatalf("got %q", got)
	}
	if got[1] != "sum: "+sha(make([]byte, 32768*512)) {
		t.Error("hwcheck wrote to a disk that holds data")
	}
}

// A card that stopped answering is marked gone; the next info finds it
// again once it answers.
func TestInfoReidentifiesAGoneCard(t *testing.T) {
	card, err := sdmmctest.New(sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	m := usdhctest.New(usdhctest.Config{Card: card})
	h := &usdhc.Host{Regs: m.Regs(), DMA: m.DMA()}
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	dev, err := sdmmc.New(h, sdmmc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	card.SetFault(sdmmctest.Fault{NoResponse: true})
	if err := dev.Read(0, make([]byte, 512)); err == nil || !dev.Gone() {
		t.Fatalf("read of a silent card: %v, gone %t", err, dev.Gone())
	}
	card.SetFault(sdmmctest.Fault{})
	got, _ := run(t, []Disk{{Dev: dev, Transport: "usdhc"}}, "info\nsum 0 1")
	want(t, got,
		"info: disk=0 re-identified",
		"~info: disk=0 transport=usdhc .*",
		"sum: "+sha(make([]byte, 512)),
	)
}

// On a disk with an MBR, hwcheck runs inside the swap partition (type
// 0x82), whatever swap left there, and changes no byte outside it.
func TestHwcheckStaysInTheSwapPartition(t *testing.T) {
	const ss, start, sectors = 512, 8192, 40960 // swap from 4 MiB, 20 MiB long
	m := block.NewMem(block.Info{ReadWrite: true, SectorSize: ss, Sectors: 65536})
	b := m.Bytes()
	for i := range b {
		b[i] = byte(i*7 + 3) // data everywhere, the swap partition included
	}
	mbr := b[:ss]
	clear(mbr[446:])
	e := mbr[446:462]
	e[4] = 0x82
	binary.LittleEndian.PutUint32(e[8:], start)
	binary.LittleEndian.PutUint32(e[12:], sectors)
	mbr[510], mbr[511] = 0x55, 0xaa
	before := sha(b[:start*ss]) + sha(b[(start+sectors)*ss:])
	got, _ := run(t, []Disk{mkdisk(m)}, "hwcheck")
	want(t, got,
		"swap: disk=0 space=0p1 type=linux-swap start=8192 sectors=40960",
		"hwcheck: disk=0p1 region=2048+32768",
		"hwcheck: dirty-cache-read ok",
		"hwcheck: fresh-buffer-write ok",
		"hwcheck: aligned-and-bounced-reads ok",
		"hwcheck: stream-with-neighbour-writes ok",
		"~hwcheck: PASS checks=4 mib=[0-9]+ seconds=[0-9.]+",
	)
	if after := sha(b[:start*ss]) + sha(b[(start+sectors)*ss:]); after != before {
		t.Error("hwcheck changed bytes outside the swap partition")
	}
}
