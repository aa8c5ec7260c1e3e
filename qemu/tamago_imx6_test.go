package qemu_test

// TamaGo boot tests on arm: cmd/tamaswap built for the USB armory Mk II
// and the i.MX6ULL EVK boards, booted on QEMU's mcimx6ul-evk with SD cards
// on its uSDHC controllers. Data written in the guest is checked in the
// host's image, on a 1 GiB standard-capacity card (byte addressed) and
// 4 and 8 GiB high-capacity ones (block addressed) at LBAs past 2 GiB and
// past 4 GiB, where byte addresses would no longer fit a 32-bit argument. The images are sparse, so only the
// sectors around each write are read back. Without a TamaGo compiler they
// skip.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/qemu"
	"github.com/tamaswap/tamaswap/qemu/internal/harness"
)

// armImage builds the arm images once per test binary, or skips.
func armImage(t *testing.T) harness.Image {
	t.Helper()
	tamagoNeeds(t, "qemu-system-arm", "qemu-system-arm")
	img, err := harness.BuildArch("tamago", "arm", tamagoLog{t})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// armBoot boots machine on QEMU q with the SD card images and the commands; the
// guest must exit with status 0.
func armBoot(t *testing.T, q, machine string, cards []string, cmds ...string) []tamagoLine {
	t.Helper()
	opts := harness.Options{QEMU: q, Arch: "arm", Machine: machine, Timeout: 8 * time.Minute}
	for _, c := range cards {
		opts.Drives = append(opts.Drives, harness.DiskDrive(c))
	}
	return tamagoBootImage(t, armImage(t), opts, cmds...)
}

// sdCard creates a sparse card image of size bytes (QEMU wants a power of
// two).
func sdCard(t *testing.T, name string, size int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return path
}

// armFill is a fill command and what it wrote.
type armFill struct {
	lba, count int64
	v          byte
}

// armCheck reads the sectors from 8 before to 8 after each fill (and
// the first 16) from the image and checks that they hold the fill's value
// and zero around it.
func armCheck(t *testing.T, path string, fills ...armFill) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	sectors := st.Size() / tamagoSector
	want := func(lba int64) byte {
		for _, w := range fills {
			if lba >= w.lba && lba < w.lba+w.count {
				return w.v
			}
		}
		return 0
	}
	check := func(from, to int64) {
		buf := make([]byte, tamagoSector)
		for lba := max(from, 0); lba < min(to, sectors); lba++ {
			if _, err := f.ReadAt(buf, lba*tamagoSector); err != nil {
				t.Fatal(err)
			}
			if v := want(lba); !bytes.Equal(buf, bytes.Repeat([]byte{v}, tamagoSector)) {
				t.Errorf("%s: sector %d does not hold %#x only", filepath.Base(path), lba, v)
				return
			}
		}
	}
	check(0, 16)
	for _, w := range fills {
		check(w.lba-8, w.lba+w.count+8)
	}
}

// armSum returns the SHA-256 of sectors [lba, lba+count) of the image.
func armSum(t *testing.T, path string, lba, count int64) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, count*tamagoSector)
	if _, err := f.ReadAt(buf, lba*tamagoSector); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(buf)
	return hex.EncodeToString(h[:])
}

// armInfo checks that the banner's and info's line for disk n name the
// controller, the card type and the size.
func armInfo(t *testing.T, lines []tamagoLine, n int, controller, kind string, sectors int64) {
	t.Helper()
	want := fmt.Sprintf("disk=%d transport=usdhc controller=%s version=%s sectors=%d sector_size=%d ro=false features=WIDTH",
		n, controller, kind, sectors, tamagoSector)
	found := 0
	for _, r := range tamagoResults(lines, "info") {
		if strings.HasPrefix(r, want) {
			found++
		}
	}
	if found < 2 {
		t.Errorf("no info line starting %q (banner and command)", want)
	}
}

// A 1 GiB card on the USB armory's microSD controller: standard capacity,
// byte addressed up to its last sector; the conformance checks pass and
// restore what they write. The eMMC controller has no card, and says so
// without holding up the boot.
func TestTamaGoARMStandardCapacity(t *testing.T) { qemu.ForQEMUs(t, testTamaGoARMStandardCapacity) }

func testTamaGoARMStandardCapacity(t *testing.T, q string) {
	card := sdCard(t, "sdsc.img", 1<<30)
	const last = 1<<30/tamagoSector - 1
	lines := armBoot(t, q, harness.MachineUSBArmory, []string{card},
		"info", "fill 8 4 171", fmt.Sprintf("fill %d 1 9", last), "sum 0 16",
		fmt.Sprintf("sum %d 8", last-7), "selftest", "exit 0")
	armInfo(t, lines, 0, "usdhc1", "sdsc", last+1)
	if r := tamagoResults(lines, "fill"); len(r) != 2 || r[0] != "ok" || r[1] != "ok" {
		t.Fatalf("fill: %q", r)
	}
	if r := tamagoResults(lines, "selftest"); len(r) != 1 || r[0] != "PASS" {
		t.Errorf("selftest: %q", r)
	}
	armCheck(t, card, armFill{8, 4, 171}, armFill{last, 1, 9})
	r := tamagoResults(lines, "sum")
	if len(r) != 2 {
		t.Fatalf("sum: %q", r)
	}
	if want := armSum(t, card, 0, 16); r[0] != want {
		t.Errorf("guest sum of sectors 0-15 %s, image %s", r[0], want)
	}
	if want := armSum(t, card, last-7, 8); r[1] != want {
		t.Errorf("guest sum of the last 8 sectors %s, image %s", r[1], want)
	}
	empty := false
	for _, r := range tamagoResults(lines, "tamaswap") {
		empty = empty || strings.HasPrefix(r, "usdhc2 (eMMC): ") && strings.Contains(r, "no card")
	}
	if !empty {
		t.Error("no line saying that uSDHC2 has no card")
	}
}

// Two cards on the EVK: a 1 GiB one on uSDHC1 and a 4 GiB high-capacity
// one on uSDHC2, written past 2 GiB and at its end; disks are numbered
// in controller order.
func TestTamaGoARMHighCapacity(t *testing.T) { qemu.ForQEMUs(t, testTamaGoARMHighCapacity) }

func testTamaGoARMHighCapacity(t *testing.T, q string) {
	sdsc := sdCard(t, "sdsc.img", 1<<30)
	sdhc := sdCard(t, "sdhc.img", 4<<30)
	const past2G = 2<<30/tamagoSector + 7
	const last = 4<<30/tamagoSector - 8
	lines := armBoot(t, q, harness.MachineMX6ULLEVK, []string{sdsc, sdhc},
		"info", "use 1", fmt.Sprintf("fill %d 3 66", past2G), fmt.Sprintf("fill %d 8 77", last),
		fmt.Sprintf("sum %d 16", past2G-7), fmt.Sprintf("sum %d 8", last), "exit 0")
	armInfo(t, lines, 0, "usdhc1", "sdsc", 1<<30/tamagoSector)
	armInfo(t, lines, 1, "usdhc2", "sdhc", 4<<30/tamagoSector)
	armCheck(t, sdhc, armFill{past2G, 3, 66}, armFill{last, 8, 77})
	armCheck(t, sdsc)
	r := tamagoResults(lines, "sum")
	if len(r) != 2 {
		t.Fatalf("sum: %q", r)
	}
	if want := armSum(t, sdhc, past2G-7, 16); r[0] != want {
		t.Errorf("guest sum past 2 GiB %s, image %s", r[0], want)
	}
	if want := armSum(t, sdhc, last, 8); r[1] != want {
		t.Errorf("guest sum of the last 8 sectors %s, image %s", r[1], want)
	}
}

// The swap manager over a 4 GiB card: a swap file written, read back at
// random offsets and freed, every block free again after.
func TestTamaGoARMSwaptest(t *testing.T) { qemu.ForQEMUs(t, testTamaGoARMSwaptest) }

func testTamaGoARMSwaptest(t *testing.T, q string) {
	card := sdCard(t, "swap.img", 4<<30)
	lines := armBoot(t, q, harness.MachineUSBArmory, []string{card}, "swaptest 128M", "swapstat", "exit 0")
	r := tamagoResults(lines, "swaptest")
	if len(r) == 0 || !strings.HasPrefix(r[len(r)-1], "PASS size=134217728 ") {
		t.Fatalf("swaptest: %q", r)
	}
	s := tamagoResults(lines, "swapstat")
	var total, free int
	if len(s) != 1 {
		t.Fatalf("swapstat: %q", s)
	}
	if _, err := fmt.Sscanf(s[0], "total=%d free=%d", &total, &free); err != nil || total == 0 || free != total {
		t.Errorf("swapstat: %q, want every block free", s[0])
	}
}

// The exit status reaches the host through semihosting.
func TestTamaGoARMExitStatus(t *testing.T) { qemu.ForQEMUs(t, testTamaGoARMExitStatus) }

func testTamaGoARMExitStatus(t *testing.T, q string) {
	img := armImage(t)
	status, err := harness.Boot(img, harness.Options{
		QEMU: q, Arch: "arm", Machine: harness.MachineMX6ULLEVK, Timeout: 3 * time.Minute,
		Stdin: strings.NewReader("exit 42\n"), Stdout: &tamagoOutput{t: t}, Stderr: tamagoLog{t},
	})
	if err != nil || status != 42 {
		t.Errorf("exit 42: status %d, %v", status, err)
	}
}

// Guest time is the Cortex-A7's generic timer (QEMU's runs at 62.5 MHz):
// 2000 ms of guest sleep take 2 s of host time (tamagoSleep).
func TestTamaGoARMSleep(t *testing.T) { qemu.ForQEMUs(t, testTamaGoARMSleep) }

func testTamaGoARMSleep(t *testing.T, q string) {
	lines := armBoot(t, q, harness.MachineMX6ULLEVK, nil, append(slices.Clone(sleepCmds), "exit 0")...)
	tamagoSleep(t, lines)
}

// The USB armory's eMMC controller (8 data lines) with QEMU's SD card in
// it: the card takes 4 of them. An 8 GiB card, written at its end, where
// byte addresses pass 2^32, with selftest on it.
func TestTamaGoARMEMMCSlot(t *testing.T) { qemu.ForQEMUs(t, testTamaGoARMEMMCSlot) }

func testTamaGoARMEMMCSlot(t *testing.T, q string) {
	sdsc := sdCard(t, "sdsc.img", 256<<20)
	sdhc := sdCard(t, "sdhc.img", 8<<30)
	const last = 8<<30/tamagoSector - 16
	lines := armBoot(t, q, harness.MachineUSBArmory, []string{sdsc, sdhc},
		"info", "use 1", fmt.Sprintf("fill %d 16 5", last), fmt.Sprintf("sum %d 16", last), "selftest", "exit 0")
	armInfo(t, lines, 0, "usdhc1", "sdsc", 256<<20/tamagoSector)
	armInfo(t, lines, 1, "usdhc2", "sdhc", 8<<30/tamagoSector)
	if r := tamagoResults(lines, "info"); len(r) < 2 || !strings.Contains(r[1], "features=WIDTH4,") {
		t.Errorf("info: %q, want disk 1 on a 4-bit bus", r)
	}
	if r := tamagoResults(lines, "selftest"); len(r) != 1 || r[0] != "PASS" {
		t.Errorf("selftest: %q", r)
	}
	armCheck(t, sdhc, armFill{last, 16, 5})
	if r := tamagoResults(lines, "sum"); len(r) != 1 || r[0] != armSum(t, sdhc, last, 16) {
		t.Errorf("sum: %q, image %s", r, armSum(t, sdhc, last, 16))
	}
}
