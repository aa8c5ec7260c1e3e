package qemu_test

// SMP boot tests of board/microvm: two CPUs (qemu/run --cpus 2), the
// secondary one started by the board, on virtio-mmio and PCI, with disks
// of two request queues each (--queues 2: VIRTIO_BLK_F_MQ, one queue per
// CPU; on PCI an MSI-X vector per queue), completing by interrupt (the default) and by polling. Two
// goroutines fill one disk at once (fill --jobs 2), checked from the host;
// the two-submitter bench runs in both modes; selftest and swaptest 64M
// pass; the guest clock keeps host time while both CPUs idle.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/qemu"
	"github.com/tamaswap/tamaswap/qemu/internal/harness"
)

func TestTamaGoSMPMMIO(t *testing.T) {
	qemu.ForQEMUs(t, func(t *testing.T, q string) {
		tamagoSMP(t, harness.Options{QEMU: q, Machine: harness.MachineMicrovm, CPUs: 2, Queues: 2})
	})
}

func TestTamaGoSMPPCI(t *testing.T) {
	qemu.ForQEMUs(t, func(t *testing.T, q string) {
		tamagoSMP(t, harness.Options{QEMU: q, Machine: harness.MachinePCI, CPUs: 2, Queues: 2})
	})
}

func tamagoSMP(t *testing.T, opts harness.Options) {
	const (
		half   = 4096 // sectors each fill writes, 2 MiB
		filled = 2 * half * tamagoSector
	)
	fillDisk := tamagoDisk(t, "fill.img", 16<<20/tamagoSector, zeroSectors)
	swapDisk := tamagoDisk(t, "swap.img", 128<<20/tamagoSector, zeroSectors)
	opts.Drives = []string{harness.DiskDrive(fillDisk), harness.DiskDrive(swapDisk)}
	opts.Timeout = 10 * time.Minute
	bench := "bench --ms 1000 randread-4K-qd16-jobs2"
	cmds := []string{
		"info",
		"fill 0 4096 171 --jobs 2", "sum 0 8192", bench,
		"irq off", "fill 4096 4096 85 --jobs 2", "sum 0 8192", bench, "irq on",
		"use 1", "selftest", "swaptest 64M", "irq off", "selftest", "irq on",
		"use 0",
	}
	cmds = append(cmds, sleepCmds...)
	out := tamagoBoot(t, opts, append(cmds, "exit 0")...)

	if b := tamagoResults(out, "tamaswap"); len(b) == 0 || !strings.Contains(b[0], " cpus=2 ") {
		t.Errorf("banner %q, want cpus=2: the board did not start the second CPU", b)
	}
	var disks int
	for _, l := range tamagoResults(out, "info") {
		if strings.HasPrefix(l, "disk=") {
			disks++
			if !strings.Contains(l, " queues=2 ") {
				t.Errorf("info printed %q, want queues=2: the driver did not set up a queue per CPU", l)
			}
		}
	}
	if disks == 0 {
		t.Error("info printed no disk")
	}
	wantIRQ := []string{"disk=0 mode=poll", "disk=0 mode=interrupt", "disk=1 mode=poll", "disk=1 mode=interrupt"}
	if r := tamagoResults(out, "irq"); strings.Join(r, "|") != strings.Join(wantIRQ, "|") {
		t.Errorf("irq printed %q, want %q", r, wantIRQ)
	}
	if r := tamagoResults(out, "fill"); len(r) != 2 || r[0] != "ok" || r[1] != "ok" {
		t.Errorf("fill --jobs 2 printed %q, want ok twice", r)
	}
	first := append(repeat(171, half), make([]byte, half*tamagoSector)...)
	final := append(repeat(171, half), repeat(85, half)...)
	sums := tamagoResults(out, "sum")
	if len(sums) != 2 || sums[0] != hexSum(first) || sums[1] != hexSum(final) {
		t.Errorf("sum printed %q, want %s (by interrupt) and %s (by polling)", sums, hexSum(first), hexSum(final))
	}
	img, err := os.ReadFile(fillDisk)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img[:filled], final) || !bytes.Equal(img[filled:], make([]byte, len(img)-filled)) {
		t.Error("the image does not hold 2 MiB of 171, 2 MiB of 85, then zeros: fill --jobs 2 wrote the wrong bytes")
	}
	b := tamagoResults(out, "bench")
	if len(b) != 2 {
		t.Errorf("bench printed %q, want two results", b)
	}
	for _, l := range b {
		if !strings.HasPrefix(l, "randread-4K-qd16-jobs2 mib_s=") || !strings.Contains(l, " p99_us=") || strings.Contains(l, "error") {
			t.Errorf("bench printed %q, want randread-4K-qd16-jobs2's figures", l)
		}
	}
	if r := tamagoResults(out, "selftest"); len(r) != 2 || r[0] != "PASS" || r[1] != "PASS" {
		t.Errorf("selftest printed %q, want PASS by interrupt and by polling", r)
	}
	if r := tamagoResults(out, "swaptest"); len(r) == 0 || !strings.HasPrefix(r[len(r)-1], "PASS size=67108864 ") {
		t.Errorf("swaptest 64M printed %q, want PASS", r)
	}
	tamagoSleep(t, out)
}

func repeat(v byte, sectors int) []byte { return bytes.Repeat([]byte{v}, sectors*tamagoSector) }

func hexSum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
