package qemu_test

// Interrupt-driven completion on the TamaGo boards (see the README's
// table of defaults): the disks of QEMU virt (arm64) complete by
// interrupt from boot, over virtio-mmio and virtio-pci INTx; `irq off`
// and `irq on` switch a disk between polling and interrupts, and data
// written and read in either mode is checked from the host. The other
// boot tests of tamago-arm64 (boot_test.go: transports, read-only,
// blkdebug faults; the sleep test) run in the default mode too, and
// TestTamaGoSilentDisk (tamago_silent_test.go) runs blkdebug faults and
// the sleeps on virt's PCI.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/tamaswap/tamaswap/qemu"
	"github.com/tamaswap/tamaswap/qemu/internal/harness"
)

// irqCmds fill and sum in interrupt mode, switch to polling and back,
// checking each mode with selftest, then stream 16 MiB through swap.
var irqCmds = []string{
	"info", "fill 8 4 171", "sum 0 16", "selftest",
	"irq off", "info", "sum 0 16", "selftest",
	"irq on", "info", "swaptest 16M", "exit 0",
}

// irqCheck checks irqCmds' results: info says irq=line, then poll, then
// the line again; the sums agree with the image; selftest and swaptest
// pass. (swaptest writes over the image, so the fill is checked from
// the sum, and the fill/sum tests check images from the host.)
func irqCheck(t *testing.T, lines []tamagoLine, line func(int) bool) {
	t.Helper()
	var irqs []string
	for _, r := range tamagoResults(lines, "info") {
		if _, v, ok := strings.Cut(r, " irq="); ok {
			irqs = append(irqs, v)
		}
	}
	// The banner's info, then the three commands'.
	if len(irqs) != 4 || irqs[0] != irqs[1] || irqs[2] != "poll" || irqs[3] != irqs[1] {
		t.Fatalf("info said irq=%q, want the line, the line, poll, the line", irqs)
	}
	var n int
	if _, err := fmt.Sscanf(irqs[1], "%d", &n); err != nil || !line(n) {
		t.Errorf("irq=%s is not the disk's interrupt line", irqs[1])
	}
	if r := tamagoResults(lines, "irq"); len(r) != 2 || r[0] != "disk=0 mode=poll" || r[1] != "disk=0 mode=interrupt" {
		t.Errorf("irq printed %q", r)
	}
	sums := tamagoResults(lines, "sum")
	if len(sums) != 2 || sums[0] != sums[1] {
		t.Fatalf("sum in interrupt and in poll mode: %q", sums)
	}
	// swaptest has written over the image since: the sum is checked
	// against the sectors fill left.
	want := make([]byte, 16*tamagoSector)
	copy(want[8*tamagoSector:], bytes.Repeat([]byte{171}, 4*tamagoSector))
	if h := sha256.Sum256(want); sums[0] != hex.EncodeToString(h[:]) {
		t.Errorf("sum %s, want %x", sums[0], h)
	}
	if r := tamagoResults(lines, "selftest"); len(r) != 2 || r[0] != "PASS" || r[1] != "PASS" {
		t.Errorf("selftest: %q", r)
	}
	r := tamagoResults(lines, "swaptest")
	if len(r) == 0 || !strings.HasPrefix(r[len(r)-1], "PASS ") {
		t.Errorf("swaptest: %q", r)
	}
}

// TestTamaGoARM64Interrupts: virtio-mmio's first device sits in slot 31,
// SPI 16+31, INTID 79; a virtio-blk-pci function's INTx is one of SPIs
// 3-6, INTIDs 35-38.
func TestTamaGoARM64Interrupts(t *testing.T) {
	qemu.ForQEMUs(t, func(t *testing.T, q string) {
		for _, c := range []struct {
			machine string
			line    func(int) bool
		}{
			{"", func(n int) bool { return n == 79 }},
			{harness.MachinePCI, func(n int) bool { return n >= 35 && n <= 38 }},
		} {
			t.Run("virt"+c.machine, func(t *testing.T) {
				path := tamagoDisk(t, "disk.img", 64<<20/tamagoSector, zeroSectors)
				lines := tamagoBoot(t, harness.Options{QEMU: q, Arch: "arm64", Machine: c.machine,
					Drives: []string{harness.DiskDrive(path)}}, irqCmds...)
				irqCheck(t, lines, c.line)
			})
		}
	})
}

// TestTamaGoARM64InterruptsSlowDisk: a disk throttled to 200 requests a
// second, in interrupt mode: every request waits milliseconds for its
// completion, asleep, and the rate comes out as the throttle's.
func TestTamaGoARM64InterruptsSlowDisk(t *testing.T) {
	qemu.ForQEMUs(t, func(t *testing.T, q string) {
		path := tamagoDisk(t, "slow.img", 64<<20/tamagoSector, zeroSectors)
		lines := tamagoBoot(t, harness.Options{QEMU: q, Arch: "arm64",
			Drives: []string{harness.DiskDrive(path) + ",throttling.iops-total=200"}},
			"bench --ms 2000 randread-4K-qd1", "irq off", "bench --ms 2000 randread-4K-qd1", "irq on", "selftest", "exit 0")
		r := tamagoResults(lines, "bench")
		if len(r) != 2 {
			t.Fatalf("bench: %q", r)
		}
		for i, b := range r {
			var mibs, iops float64
			if _, err := fmt.Sscanf(b, "randread-4K-qd1 mib_s=%g iops=%g", &mibs, &iops); err != nil {
				t.Fatalf("bench line %q: %v", b, err)
			}
			mode := []string{"interrupt", "poll"}[i]
			t.Logf("%s: %.0f IOPS", mode, iops)
			if iops < 150 || iops > 250 {
				t.Errorf("%s mode on a 200 IOPS disk: %.0f IOPS", mode, iops)
			}
		}
		if s := tamagoResults(lines, "selftest"); len(s) != 1 || s[0] != "PASS" {
			t.Errorf("selftest: %q", s)
		}
	})
}

// TestTamaGoARMInterrupts: the uSDHC card of the USB armory's microSD
// slot (uSDHC1, INTID 54) and of the EVK's second slot (uSDHC2, INTID 55)
// complete by interrupt from boot. Fill and sum run in interrupt mode and
// after `irq off`, and the image is checked from the host; selftest and
// sleeps run in interrupt mode again, and swaptest on the other slot's
// card (also by interrupt), so that it leaves the checked image alone.
// The other arm boot tests run in the default mode too. blkdebug faults
// are not among them: QEMU's SD card ignores a failed host read or write
// (hw/sd/sd.c, sd_blk_read and sd_blk_write only print "read error on
// host side"), so no fault reaches the controller or the driver.
func TestTamaGoARMInterrupts(t *testing.T) {
	qemu.ForQEMUs(t, func(t *testing.T, q string) {
		for _, c := range []struct {
			machine string
			slot    int // the checked card's disk: 0 on uSDHC1, 1 on uSDHC2
			line    int
		}{
			{harness.MachineUSBArmory, 0, 54},
			{harness.MachineMX6ULLEVK, 1, 55},
		} {
			t.Run(c.machine, func(t *testing.T) {
				card, other := sdCard(t, "card.img", 256<<20), sdCard(t, "other.img", 256<<20)
				cards := []string{card, other}
				if c.slot == 1 {
					cards = []string{other, card}
				}
				cmds := []string{fmt.Sprintf("use %d", c.slot), "info", "fill 8 4 171", "sum 0 16", "irq off", "info",
					"fill 32 2 66", "sum 0 40", "irq on", "info", "selftest"}
				cmds = append(cmds, sleepCmds...)
				cmds = append(cmds, fmt.Sprintf("use %d", 1-c.slot), "swaptest 16M", "exit 0")
				lines := armBoot(t, q, c.machine, cards, cmds...)
				var irqs []string
				for _, r := range tamagoResults(lines, "info") {
					if strings.HasPrefix(r, fmt.Sprintf("disk=%d ", c.slot)) {
						_, v, _ := strings.Cut(r, " irq=")
						irqs = append(irqs, v)
					}
				}
				want := fmt.Sprint(c.line)
				if len(irqs) != 4 || irqs[0] != want || irqs[1] != want || irqs[2] != "poll" || irqs[3] != want {
					t.Errorf("info said irq=%q, want %s (banner), %[2]s, poll, %[2]s", irqs, want)
				}
				if r := tamagoResults(lines, "irq"); len(r) != 2 || r[0] != fmt.Sprintf("disk=%d mode=poll", c.slot) || r[1] != fmt.Sprintf("disk=%d mode=interrupt", c.slot) {
					t.Errorf("irq printed %q", r)
				}
				armCheck(t, card, armFill{8, 4, 171}, armFill{32, 2, 66})
				sums := tamagoResults(lines, "sum")
				if len(sums) != 2 || sums[0] != armSum(t, card, 0, 16) || sums[1] != armSum(t, card, 0, 40) {
					t.Errorf("sums %q, not the image's", sums)
				}
				if r := tamagoResults(lines, "selftest"); len(r) != 1 || r[0] != "PASS" {
					t.Errorf("selftest: %q", r)
				}
				if r := tamagoResults(lines, "swaptest"); len(r) == 0 || !strings.HasPrefix(r[len(r)-1], "PASS ") {
					t.Errorf("swaptest on the other card: %q", r)
				}
				tamagoSleep(t, lines)
			})
		}
	})
}
