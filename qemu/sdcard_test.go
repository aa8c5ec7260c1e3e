package qemu_test

// The USB armory's card from make sdcard (board/imx6/mksdcard): MBR,
// the .imx at byte 1024 and a swap partition beside it, padded to the
// next power of two as QEMU's SD card wants. The program (loaded with
// -kernel, as in the other arm tests) must swap in the partition only:
// the bytes before it, MBR and boot image, keep their SHA-256. TamaGo
// only; without a compiler it skips.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tamaswap/tamaswap/qemu"
	"github.com/tamaswap/tamaswap/qemu/internal/harness"
)

// sdcardImage runs mksdcard for a card of size bytes and pads the image
// to card bytes; it returns the image and the partition's first sector.
func sdcardImage(t *testing.T, machine string, size, card int64) (string, int64) {
	t.Helper()
	armImage(t) // skips without a compiler or QEMU
	if _, err := exec.LookPath("sfdisk"); err != nil {
		if _, err := os.Stat("/sbin/sfdisk"); err != nil {
			t.Skip("skipped: sfdisk not found (qemu/setup installs it)")
		}
	}
	out := filepath.Join(t.TempDir(), machine+".img")
	cmd := exec.Command("../board/imx6/mksdcard", machine, fmt.Sprint(size), out)
	b, err := cmd.CombinedOutput()
	t.Logf("%s", b)
	if err != nil {
		t.Fatalf("mksdcard: %v", err)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	start := st.Size() / tamagoSector
	imx, err := os.ReadFile(filepath.Join("..", "out", "imx", machine, "tamaswap.imx"))
	if err != nil {
		t.Fatal(err)
	}
	end := int64(1024 + len(imx))
	if st.Size()%(4<<20) != 0 || st.Size() < end || st.Size() >= end+4<<20 {
		t.Errorf("image of %d bytes: want the first 4 MiB boundary past the boot image's end at %d", st.Size(), end)
	}
	if got := headSum(t, out, end); got != imxAt1024(imx, out, t) {
		t.Errorf("the image does not hold the .imx at byte 1024")
	}
	if err := os.Truncate(out, card); err != nil {
		t.Fatal(err)
	}
	return out, start
}

// headSum is the SHA-256 of the image's first n bytes.
func headSum(t *testing.T, path string, n int64) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(h, f, n); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestTamaGoARMSDCard: selftest and swaptest 256M on the swap partition
// of make sdcard's default card (3584 MiB, padded to 4 GiB); fill
// through use 0p1 lands at the partition's start + LBA.
func TestTamaGoARMSDCard(t *testing.T) { qemu.ForQEMUs(t, testTamaGoARMSDCard) }

func testTamaGoARMSDCard(t *testing.T, q string) {
	const size = 3584 << 20
	img, start := sdcardImage(t, "usbarmory", size, 4<<30)
	sectors := size/tamagoSector - start
	before := headSum(t, img, start*tamagoSector)
	lba := sectors - 8
	lines := armBoot(t, q, harness.MachineUSBArmory, []string{img},
		"info", "use 0p1", "selftest", fmt.Sprintf("fill %d 4 90", lba), "use 0", "swaptest 256M", "swapstat", "exit 0")
	wantPart := fmt.Sprintf("disk=0 index=1 type=linux-swap start=%d sectors=%d", start, sectors)
	if r := tamagoResults(lines, "part"); len(r) != 1 || r[0] != wantPart {
		t.Errorf("part: %q, want %q", r, wantPart)
	}
	if r := tamagoResults(lines, "selftest"); len(r) != 1 || r[0] != "PASS" {
		t.Errorf("selftest on 0p1: %q", r)
	}
	if r := tamagoResults(lines, "swap"); len(r) != 1 || !strings.HasPrefix(r[0], "disk=0 space=0p1 ") {
		t.Errorf("swap: %q, want space=0p1", r)
	}
	r := tamagoResults(lines, "swaptest")
	if len(r) == 0 || !strings.HasPrefix(r[len(r)-1], "PASS size=268435456 ") {
		t.Fatalf("swaptest: %q", r)
	}
	t.Logf("swaptest: %s", r[len(r)-1])
	if after := headSum(t, img, start*tamagoSector); after != before {
		t.Errorf("the MBR and boot image (first %d bytes) changed: sha256 %s before, %s after", start*tamagoSector, before, after)
	} else {
		t.Logf("first %d bytes (MBR, .imx): sha256 %s before and after", start*tamagoSector, after)
	}
	if got, want := armSum(t, img, start+lba, 4), sumOf(90, 4*tamagoSector); got != want {
		t.Errorf("fill %d 4 90 through use 0p1: image sectors %d+4 hash %s, want %s", lba, start+lba, got, want)
	}
}

// The i.MX6ULL EVK's card from make sdcard MACHINE=mx6ullevk, in its SD
// slot (uSDHC1): swap goes to the partition, the boot image stays.
func TestTamaGoARMSDCardEVK(t *testing.T) { qemu.ForQEMUs(t, testTamaGoARMSDCardEVK) }

func testTamaGoARMSDCardEVK(t *testing.T, q string) {
	img, start := sdcardImage(t, "mx6ullevk", 1<<30, 1<<30)
	before := headSum(t, img, start*tamagoSector)
	lines := armBoot(t, q, harness.MachineMX6ULLEVK, []string{img}, "info", "swaptest 32M", "exit 0")
	wantPart := fmt.Sprintf("disk=0 index=1 type=linux-swap start=%d sectors=%d", start, 1<<30/tamagoSector-start)
	if r := tamagoResults(lines, "part"); len(r) != 1 || r[0] != wantPart {
		t.Errorf("part: %q, want %q", r, wantPart)
	}
	if r := tamagoResults(lines, "swaptest"); len(r) == 0 || !strings.HasPrefix(r[len(r)-1], "PASS size=33554432 ") {
		t.Errorf("swaptest: %q", r)
	}
	if after := headSum(t, img, start*tamagoSector); after != before {
		t.Errorf("the MBR and boot image changed: sha256 %s before, %s after", before, after)
	}
}

// A card smaller than the SIZE the image was made for: the partition
// runs past its end, and swap refuses it.
func TestTamaGoARMSDCardTooSmall(t *testing.T) { qemu.ForQEMUs(t, testTamaGoARMSDCardTooSmall) }

func testTamaGoARMSDCardTooSmall(t *testing.T, q string) {
	img, start := sdcardImage(t, "usbarmory", 3584<<20, 2<<30)
	before := headSum(t, img, start*tamagoSector)
	lines := armBoot(t, q, harness.MachineUSBArmory, []string{img}, "swaptest 8M", "exit 0")
	if r := tamagoResults(lines, "swaptest"); len(r) != 1 || !strings.Contains(r[0], "error: swapfs: not swap space: ") || !strings.Contains(r[0], "mbr entry 1") || !strings.Contains(r[0], "past the end") {
		t.Errorf("swaptest: %q, want a refusal of entry 1 past the end", r)
	}
	if after := headSum(t, img, start*tamagoSector); after != before {
		t.Error("the image changed")
	}
}

// imxAt1024 returns the SHA-256 the image's first 1024+len(imx) bytes
// have when they hold its first 1024 bytes and then imx.
func imxAt1024(imx []byte, path string, t *testing.T) string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mbr := make([]byte, 1024)
	if _, err := f.ReadAt(mbr, 0); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	h.Write(mbr)
	h.Write(imx)
	return hex.EncodeToString(h.Sum(nil))
}

func sumOf(v byte, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = v
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
