package qemu_test

// Interrupt-mode boot tests of board/microvm: every disk completes its
// requests by interrupt (virtio-mmio: the slot's I/O APIC line; PCI:
// MSI-X), and the CPU halts while it waits. One boot a machine and QEMU
// carries three disks: a plain one (fill/sum checked from the host,
// selftest, irq off and on), one whose blkdebug rules fail a read and a
// write once (then swaptest passes on it), and one throttled to 5 requests a second, on
// which each of 16 requests in flight waits for up to 3 s, hundreds of
// the driver's 10 ms re-checks, and the bench still ends without the
// device being declared broken.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/qemu"
	"github.com/tamaswap/tamaswap/qemu/internal/harness"
)

func TestTamaGoIRQMMIO(t *testing.T) {
	qemu.ForQEMUs(t, func(t *testing.T, q string) {
		// QEMU fills the virtio-mmio slots from the last (23): GSIs 47,
		// 46, 45 (board/microvm/irq.go).
		tamagoIRQ(t, harness.Options{QEMU: q, Machine: harness.MachineMicrovm}, "mmio", [3]int{47, 46, 45})
	})
}

func TestTamaGoIRQPCI(t *testing.T) {
	qemu.ForQEMUs(t, func(t *testing.T, q string) {
		// MSI-X vectors from 80, in bus order.
		tamagoIRQ(t, harness.Options{QEMU: q, Machine: harness.MachinePCI}, "pci", [3]int{80, 81, 82})
	})
}

func tamagoIRQ(t *testing.T, opts harness.Options, transport string, lines [3]int) {
	const sectors = 64 << 20 / tamagoSector
	plain := tamagoDisk(t, "plain.img", sectors, zeroSectors)
	faulty := tamagoDisk(t, "faulty.img", sectors, zeroSectors)
	slow := tamagoDisk(t, "slow.img", 2048, zeroSectors)
	cfg := filepath.Join(t.TempDir(), "blkdebug.conf")
	rule := func(event, iotype, extra string) string {
		return fmt.Sprintf("[inject-error]\nevent = \"%s\"\niotype = \"%s\"\nerrno = \"5\"\nonce = \"on\"\n%s\n", event, iotype, extra)
	}
	// Sector 1000: QEMU itself reads sector 0 when it starts.
	if err := os.WriteFile(cfg, []byte(rule("read_aio", "read", "sector = \"1000\"\n")+rule("write_aio", "write", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	opts.Drives = []string{
		harness.DiskDrive(plain),
		fmt.Sprintf("driver=raw,file.driver=blkdebug,file.config=%s,file.image.filename=%s,werror=report,rerror=report", cfg, faulty),
		harness.DiskDrive(slow) + ",throttling.iops-total=5",
	}
	opts.Timeout = 10 * time.Minute
	cmds := []string{
		"info",
		"fill 8 4 171", "irq off", "info", "sum 0 16", "irq on", "sum 0 16",
		"selftest",
		"use 1", "sum 1000 8", "fill 0 8 1", "sum 1000 8", "swaptest 32M",
		"use 2", "bench --ms 1000 randread-4K-qd16", "irq off", "irq on", "sum 0 64",
		"use 0",
	}
	cmds = append(cmds, sleepCmds...)
	out := tamagoBoot(t, opts, append(cmds, "exit 0")...)

	info := tamagoResults(out, "info")
	for n, line := range lines {
		want := fmt.Sprintf("disk=%d transport=%s ", n, transport)
		found := false
		for _, l := range info {
			if strings.HasPrefix(l, want) && strings.HasSuffix(l, fmt.Sprintf(" irq=%d", line)) {
				found = true
			}
		}
		if !found {
			t.Errorf("no info line for disk %d with irq=%d: %q", n, line, info)
		}
	}
	polled := false
	for _, l := range info {
		if strings.HasPrefix(l, "disk=0 ") && strings.HasSuffix(l, " irq=poll") {
			polled = true
		}
	}
	if !polled {
		t.Errorf("after irq off, info did not say irq=poll for disk 0: %q", info)
	}
	wantIRQ := []string{"disk=0 mode=poll", "disk=0 mode=interrupt", "disk=2 mode=poll", "disk=2 mode=interrupt"}
	if r := tamagoResults(out, "irq"); strings.Join(r, "|") != strings.Join(wantIRQ, "|") {
		t.Errorf("irq printed %q, want %q", r, wantIRQ)
	}
	if r := tamagoResults(out, "fill"); len(r) != 2 || r[0] != "ok" || !strings.Contains(r[1], "I/O error") {
		t.Errorf("fill printed %q, want ok, then an I/O error on the faulty disk", r)
	}
	sums := tamagoResults(out, "sum")
	if len(sums) != 5 {
		t.Fatalf("sum printed %q, want 5 results", sums)
	}
	if sums[0] != sums[1] {
		t.Errorf("sum by polling %s, by interrupt %s", sums[0], sums[1])
	}
	tamagoCheckImage(t, plain, 8, 4, 171, 16, sums[0])
	if !strings.HasPrefix(sums[2], "error: ") || !strings.Contains(sums[2], "I/O error") {
		t.Errorf("sum under an injected read error printed %q, want an I/O error", sums[2])
	}
	// The image was zero then (swaptest writes it later).
	if zero := sha256.Sum256(make([]byte, 8*tamagoSector)); sums[3] != hex.EncodeToString(zero[:]) {
		t.Errorf("sum after the faults = %s, want that of zeros", sums[3])
	}
	if r := tamagoResults(out, "selftest"); len(r) != 1 || r[0] != "PASS" {
		t.Errorf("selftest printed %q", r)
	}
	r := tamagoResults(out, "swaptest")
	if len(r) == 0 || !strings.HasPrefix(r[len(r)-1], "PASS size=33554432 ") {
		t.Errorf("swaptest 32M on the faulty disk, its rules spent, printed %q, want PASS", r)
	}
	b := tamagoResults(out, "bench")
	if len(b) != 1 || !strings.HasPrefix(b[0], "randread-4K-qd16 mib_s=") {
		t.Errorf("bench on the throttled disk printed %q, want one result", b)
	}
	if sums[4] != tamagoHashRange(t, slow, 0, 64) {
		t.Errorf("sum of the throttled disk after the bench = %s, want the image's", sums[4])
	}
	tamagoSleep(t, out)
}

// tamagoHashRange is the hex SHA-256 of count sectors of the image from
// lba.
func tamagoHashRange(t *testing.T, path string, lba, count int) string {
	t.Helper()
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(img[lba*tamagoSector : (lba+count)*tamagoSector])
	return hex.EncodeToString(h[:])
}
