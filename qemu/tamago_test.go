package qemu_test

// TamaGo boot tests: cmd/tamaswap built GOOS=tamago with board/microvm,
// booted by the qemu/run harness under TCG. Each boot checks that `info`
// names the transport and version it asked for, that `fill` in the guest
// changed exactly those bytes of the image on the host, and that `sum`
// matches the image's SHA-256. Without a TamaGo compiler they skip.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/qemu"
	"github.com/tamaswap/tamaswap/qemu/internal/harness"
)

const tamagoSector = 512

// tamagoLine is a guest serial line and when the host got it.
type tamagoLine struct {
	text string
	at   time.Time
	tsc  uint64 // the host's TSC at arrival (harness.HostTSC; 0 off amd64)
}

// tamagoOutput records the guest's lines; the harness writes each whole.
type tamagoOutput struct {
	t     *testing.T
	mu    sync.Mutex
	lines []tamagoLine
}

func (o *tamagoOutput) Write(p []byte) (int, error) {
	now := time.Now()
	tsc, _ := harness.HostTSC()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		o.lines = append(o.lines, tamagoLine{l, now, tsc})
		o.t.Logf("guest: %s", l)
	}
	return len(p), nil
}

type tamagoLog struct{ t *testing.T }

func (l tamagoLog) Write(p []byte) (int, error) {
	l.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// tamagoNeeds skips the test unless there is a TamaGo compiler and the
// QEMU binary (from the Debian package pkg), and the run is not -short.
func tamagoNeeds(t *testing.T, qemu, pkg string) {
	t.Helper()
	if _, err := harness.FindTamaGo(); err != nil {
		t.Skip("skipped: no TamaGo compiler")
	}
	if _, err := exec.LookPath(qemu); err != nil {
		t.Skipf("skipped: %s not found (install the %s package)", qemu, pkg)
	}
	if testing.Short() {
		t.Skip("skipped: boot tests do not run with -short")
	}
}

// tamagoImage builds the image for arch ("" is amd64) once per test
// binary, or skips.
func tamagoImage(t *testing.T, arch string) harness.Image {
	t.Helper()
	a, err := harness.LookupArch(arch)
	if err != nil {
		t.Fatal(err)
	}
	tamagoNeeds(t, a.QEMU, a.QEMUPackage)
	img, err := harness.BuildArch("tamago", arch, tamagoLog{t})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// tamagoBoot boots the image with opts and the commands, and returns the
// guest's lines; the guest must exit with status 0.
func tamagoBoot(t *testing.T, opts harness.Options, cmds ...string) []tamagoLine {
	t.Helper()
	return tamagoBootImage(t, tamagoImage(t, opts.Arch), opts, cmds...)
}

// tamagoBootImage is tamagoBoot for a given image.
func tamagoBootImage(t *testing.T, img harness.Image, opts harness.Options, cmds ...string) []tamagoLine {
	t.Helper()
	out := &tamagoOutput{t: t}
	opts.Runtime = "tamago"
	if opts.Stdin == nil { // else the caller's script (tamago_silent_test.go)
		opts.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	}
	opts.Stdout = out
	opts.Stderr = tamagoLog{t}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Minute
	}
	status, err := harness.Boot(img, opts)
	if err != nil {
		t.Fatalf("boot: %v", err)
	}
	if status != 0 {
		t.Fatalf("guest exit status %d, want 0", status)
	}
	return out.lines
}

// tamagoDisk writes an image of n sectors, each filled with pattern(i).
func tamagoDisk(t *testing.T, name string, sectors int, pattern func(int) byte) string {
	t.Helper()
	b := make([]byte, sectors*tamagoSector)
	for i := 0; i < sectors; i++ {
		for j := 0; j < tamagoSector; j++ {
			b[i*tamagoSector+j] = pattern(i)
		}
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func zeroSectors(int) byte { return 0 }

// tamagoResults returns the text after "name: " of every line of command
// name.
func tamagoResults(lines []tamagoLine, name string) []string {
	var r []string
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(l.text, name+": "); ok {
			r = append(r, rest)
		}
	}
	return r
}

// tamagoInfo checks the banner's and `info`'s line for disk n.
func tamagoInfo(t *testing.T, lines []tamagoLine, n int, transport, version string, sectors int, ro bool) {
	t.Helper()
	want := fmt.Sprintf("disk=%d transport=%s version=%s sectors=%d sector_size=%d ro=%t features=",
		n, transport, version, sectors, tamagoSector, ro)
	found := 0
	for _, r := range tamagoResults(lines, "info") {
		if strings.HasPrefix(r, want) {
			found++
		}
	}
	if found < 2 { // the banner's and the command's
		t.Errorf("no info line starting %q (banner and command)", want)
	}
}

// tamagoCheckFill checks that the image holds v in [lba, lba+count) and
// was zero elsewhere, and that the guest's sum of the first sumCount
// sectors is the image's.
func tamagoCheckImage(t *testing.T, path string, lba, count int, v byte, sumCount int, sum string) {
	t.Helper()
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(img)/tamagoSector; i++ {
		want := byte(0)
		if i >= lba && i < lba+count {
			want = v
		}
		s := img[i*tamagoSector : (i+1)*tamagoSector]
		if !bytes.Equal(s, bytes.Repeat([]byte{want}, tamagoSector)) {
			t.Errorf("sector %d of the image does not hold %#x only", i, want)
			break
		}
	}
	h := sha256.Sum256(img[:sumCount*tamagoSector])
	if want := hex.EncodeToString(h[:]); sum != want {
		t.Errorf("guest sum %s, image SHA-256 %s", sum, want)
	}
}

// tamagoFillSum runs the fill/sum check on one disk.
func tamagoFillSum(t *testing.T, opts harness.Options, transport, version string) []tamagoLine {
	const sectors = 2048
	path := tamagoDisk(t, "disk.img", sectors, zeroSectors)
	opts.Drives = []string{harness.DiskDrive(path)}
	cmds := append([]string{"info", "fill 8 4 171", "sum 0 16"}, sleepCmds...)
	lines := tamagoBoot(t, opts, append(cmds, "exit 0")...)
	tamagoInfo(t, lines, 0, transport, version, sectors, false)
	if r := tamagoResults(lines, "fill"); len(r) != 1 || r[0] != "ok" {
		t.Fatalf("fill: %q", r)
	}
	r := tamagoResults(lines, "sum")
	if len(r) != 1 {
		t.Fatalf("sum: %q", r)
	}
	tamagoCheckImage(t, path, 8, 4, 171, 16, r[0])
	return lines
}

// sleepCmds are the commands whose results tamagoSleep times: three
// rounds of sleep 0, 1000 and 3000, between two readings of the guest
// clock.
var sleepCmds = []string{"clock", "sleep 0", "sleep 1000", "sleep 3000", "sleep 0", "sleep 1000", "sleep 3000", "sleep 0", "sleep 1000", "sleep 3000", "clock"}

// sleepTotal is the guest time sleepCmds sleep.
const sleepTotal = 12 * time.Second

// tamagoSleep checks that the guest keeps host time while it sleeps:
//
//   - Rate. The guest clock advances as host time within 3% across the
//     sleeps, from the two clock lines (ns= against the host's time of
//     arrival). The window is over 12 s, so the delay of the two lines
//     through the console (up to 150 ms each on a loaded host, seen
//     in CI) is under 2.5% of it, while a wrong clock calibration is
//     wrong by its whole error.
//   - The sleeps sleep. The host time between the clock lines is at
//     least the 12 s the sleeps ask for, less 3%.
//   - Each sleep lasts its length. The harness sends each command when
//     the previous result has arrived, so the time between two results
//     is the sleep plus one round trip through the console. Each round
//     times sleep 1000 and sleep 3000 from the result before each and
//     takes the difference: the round trip cancels in the mean, the
//     guest clock's rate stays. The median of the three rounds must be
//     2 s within 10%: wider than the rate check, because each round
//     carries two round trips' noise, and a host shared with the race
//     detector's tests has delayed one line by 120 ms.
func tamagoSleep(t *testing.T, lines []tamagoLine) {
	t.Helper()
	var done []time.Time
	var clocks []tamagoLine
	var ns []int64
	for _, l := range lines {
		if l.text == "sleep: done" {
			done = append(done, l.at)
		}
		var n int64
		if _, err := fmt.Sscanf(l.text, "clock: ns=%d", &n); err == nil {
			clocks = append(clocks, l)
			ns = append(ns, n)
		}
	}
	if len(done) != len(sleepCmds)-2 || len(clocks) != 2 {
		t.Fatalf("%d sleep: done lines and %d clock lines, want %d and 2", len(done), len(clocks), len(sleepCmds)-2)
	}
	host := clocks[1].at.Sub(clocks[0].at)
	guest := time.Duration(ns[1] - ns[0])
	rate := float64(guest) / float64(host)
	t.Logf("guest clock: %v in %v of host time (rate %.4f)", guest, host, rate)
	if rate < 0.97 || rate > 1.03 {
		// Under TCG an amd64 guest's TSC is the host's. A host that is
		// itself paused for a while stops its TSC but not its
		// CLOCK_MONOTONIC (see harness.HostTSC): then the guest clock
		// is right to count what the host's TSC counted.
		ok := false
		if khz := harness.HostTSCkHz(); clocks[0].tsc != 0 && khz > 0 {
			hostTSC := time.Duration(float64(clocks[1].tsc-clocks[0].tsc) * 1e6 / float64(khz))
			tscRate := float64(guest) / float64(hostTSC)
			t.Logf("host TSC: %v in the same window (guest clock rate against it %.4f)", hostTSC, tscRate)
			ok = tscRate >= 0.97 && tscRate <= 1.03
		}
		if !ok {
			t.Errorf("guest clock advanced %v in %v of host time (rate %.4f), want 1 within 3%%", guest, host, rate)
		}
	}
	if host < sleepTotal*97/100 {
		t.Errorf("the sleeps took %v of host time, want at least %v less 3%%", host, sleepTotal)
	}
	var ds []time.Duration
	for i := 0; i < len(done); i += 3 {
		short, long := done[i+1].Sub(done[i]), done[i+2].Sub(done[i+1])
		ds = append(ds, long-short)
	}
	slices.Sort(ds)
	d := ds[1]
	t.Logf("sleep 3000 minus sleep 1000 took %v of host time (median of %v)", d, ds)
	if d < 1800*time.Millisecond || d > 2200*time.Millisecond {
		t.Errorf("sleep 3000 minus sleep 1000 took %v of host time (median of %v), want 2s ± 10%%", d, ds)
	}
}

func TestTamaGoMMIOModern(t *testing.T) {
	qemu.ForQEMUs(t, func(t *testing.T, q string) {
		lines := tamagoFillSum(t, harness.Options{QEMU: q, Machine: harness.MachineMicrovm}, "mmio", "modern")
		tamagoSleep(t, lines)
	})
}

func TestTamaGoMMIOLegacy(t *testing.T) {
	qemu.ForQEMUs(t, func(t *testing.T, q string) {
		lines := tamagoFillSum(t, harness.Options{QEMU: q, Machine: harness.MachineMicrovm, Legacy: true}, "mmio", "legacy")
		tamagoSleep(t, lines)
	})
}

func TestTamaGoPCIModern(t *testing.T) {
	qemu.ForQEMUs(t, func(t *testing.T, q string) {
		lines := tamagoFillSum(t, harness.Options{QEMU: q, Machine: harness.MachinePCI}, "pci", "modern")
		tamagoSleep(t, lines)
	})
}

// TestTamaGoPacked: with packed=on the driver takes packed virtqueues on
// microvm's virtio-mmio and PCIe (ring=packed, RING_PACKED negotiated),
// and fill, sum, the conformance suite and swaptest run on them, the
// image checked from the host.
func TestTamaGoPacked(t *testing.T) { qemu.ForQEMUs(t, testTamaGoPacked) }

func testTamaGoPacked(t *testing.T, q string) {
	for _, c := range []struct{ machine, transport string }{
		{harness.MachineMicrovm, "mmio"}, {harness.MachinePCI, "pci"},
	} {
		t.Run(c.transport, func(t *testing.T) {
			const sectors = 1 << 18 // 128 MiB, blank: swaptest 64M takes it whole
			path := tamagoDisk(t, "packed.img", sectors, zeroSectors)
			opts := harness.Options{QEMU: q, Machine: c.machine, Packed: true, Drives: []string{harness.DiskDrive(path)}}
			lines := tamagoBoot(t, opts, "info", "selftest", "swaptest 64M", "fill 8 4 171", "sum 0 16", "exit 0")
			tamagoInfo(t, lines, 0, c.transport, "modern", sectors, false)
			for _, r := range tamagoResults(lines, "info") {
				if !strings.Contains(r, "RING_PACKED") || !strings.Contains(r, " queues=1 ring=packed ") {
					t.Errorf("info %q: want RING_PACKED and ring=packed", r)
				}
			}
			if r := tamagoResults(lines, "fill"); len(r) != 1 || r[0] != "ok" {
				t.Fatalf("fill: %q", r)
			}
			sum := tamagoResults(lines, "sum")
			if len(sum) != 1 {
				t.Fatalf("sum: %q", sum)
			}
			if r := tamagoResults(lines, "selftest"); len(r) != 1 || r[0] != "PASS" {
				t.Errorf("selftest: %q", r)
			}
			if r := tamagoResults(lines, "swaptest"); len(r) != 1 || !strings.HasPrefix(r[0], "PASS") {
				t.Errorf("swaptest: %q", r)
			}
			// The sum came last: the image's first 16 sectors are what
			// the guest summed, swaptest's data around the fill.
			img, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.Sum256(img[:16*tamagoSector])
			if want := hex.EncodeToString(h[:]); sum[0] != want {
				t.Errorf("guest sum %s, image SHA-256 %s", sum[0], want)
			}
		})
	}
}

// TestTamaGoARM64Sleep: on virt the generic timer is the clock, and it
// keeps host time while the guest sleeps (tamagoSleep).
func TestTamaGoARM64Sleep(t *testing.T) {
	qemu.ForQEMUs(t, func(t *testing.T, q string) {
		lines := tamagoFillSum(t, harness.Options{QEMU: q, Arch: "arm64"}, "mmio", "modern")
		tamagoSleep(t, lines)
	})
}

// TestTamaGoARM64NoEntropy: on a CPU without RNDR (cortex-a53) the virt
// board stops with its status and says why, instead of seeding random
// numbers from anything predictable.
func TestTamaGoARM64NoEntropy(t *testing.T) { qemu.ForQEMUs(t, testTamaGoARM64NoEntropy) }

func testTamaGoARM64NoEntropy(t *testing.T, q string) {
	img := tamagoImage(t, "arm64")
	out := &tamagoOutput{t: t}
	status, err := harness.Boot(img, harness.Options{QEMU: q, Extra: []string{"-cpu", "cortex-a53"}, Stdout: out, Stderr: tamagoLog{t}, Timeout: time.Minute})
	if err != nil || status != 120 {
		t.Errorf("boot on cortex-a53: status %d, %v; want 120 (virt.NoEntropyStatus)", status, err)
	}
	if len(out.lines) == 0 || !strings.Contains(out.lines[0].text, "no RNDR") {
		t.Errorf("guest said %v, want that the CPU has no RNDR", out.lines)
	}
}

func TestTamaGoReadOnly(t *testing.T) { qemu.ForQEMUs(t, testTamaGoReadOnly) }

func testTamaGoReadOnly(t *testing.T, q string) {
	const sectors = 1024
	pattern := func(i int) byte { return byte(i*7 + 1) }
	path := tamagoDisk(t, "ro.img", sectors, pattern)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := tamagoBoot(t, harness.Options{
		QEMU: q, Drives: []string{harness.DiskDrive(path) + ",readonly=on"},
	}, "info", "fill 0 1 0", "sum 0 64", "exit 0")
	tamagoInfo(t, lines, 0, "mmio", "modern", sectors, true)
	if r := tamagoResults(lines, "fill"); len(r) != 1 || !strings.HasPrefix(r[0], "error: ") || !strings.Contains(r[0], "read-only") {
		t.Errorf("fill on a read-only disk: %q, want an error naming read-only", r)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("the read-only image changed")
	}
	h := sha256.Sum256(before[:64*tamagoSector])
	if r := tamagoResults(lines, "sum"); len(r) != 1 || r[0] != hex.EncodeToString(h[:]) {
		t.Errorf("sum %q, image SHA-256 %x", r, h)
	}
}

func TestTamaGoTwoDisks(t *testing.T) { qemu.ForQEMUs(t, testTamaGoTwoDisks) }

func testTamaGoTwoDisks(t *testing.T, q string) {
	first := tamagoDisk(t, "first.img", 2048, zeroSectors)
	second := tamagoDisk(t, "second.img", 4096, zeroSectors)
	lines := tamagoBoot(t, harness.Options{
		QEMU: q, Drives: []string{harness.DiskDrive(first), harness.DiskDrive(second)},
	}, "info", "use 1", "fill 100 3 66", "sum 0 128", "exit 0")
	// Disks are numbered in command-line order.
	tamagoInfo(t, lines, 0, "mmio", "modern", 2048, false)
	tamagoInfo(t, lines, 1, "mmio", "modern", 4096, false)
	if r := tamagoResults(lines, "use"); len(r) != 1 || r[0] != "disk=1" {
		t.Errorf("use: %q", r)
	}
	r := tamagoResults(lines, "sum")
	if len(r) != 1 {
		t.Fatalf("sum: %q", r)
	}
	tamagoCheckImage(t, second, 100, 3, 66, 128, r[0])
	tamagoCheckImage(t, first, 0, 0, 0, 0, hex.EncodeToString(func() []byte { h := sha256.Sum256(nil); return h[:] }()))
}

// Legacy virtio-pci needs an I/O window microvm does not have: qemu/run
// says so instead of booting a guest that would find no disk.
func TestTamaGoLegacyPCIRefused(t *testing.T) {
	img := tamagoImage(t, "")
	_, err := harness.Args(img, &harness.Options{Machine: harness.MachinePCI, Legacy: true})
	if err == nil || !strings.Contains(err.Error(), "hosted") {
		t.Errorf("legacy pci under tamago: %v, want an error pointing at the hosted runtime", err)
	}
}

// TestTamaGoSwaptest streams a swap file through the TamaGo guest's
// driver and QEMU's device: swaptest verifies every byte it reads back
// against its position-dependent pattern, and the host finds pieces of
// that pattern, regenerated from the seed on the PASS line, in the image.
func TestTamaGoSwaptest(t *testing.T) { qemu.ForQEMUs(t, testTamaGoSwaptest) }

func testTamaGoSwaptest(t *testing.T, q string) {
	const size = 16 << 20
	path := tamagoDisk(t, "swap.img", 64<<20/tamagoSector, zeroSectors)
	lines := tamagoBoot(t, harness.Options{QEMU: q, Drives: []string{harness.DiskDrive(path)}}, "swaptest 16M", "exit 0")
	r := tamagoResults(lines, "swaptest")
	if len(r) == 0 || !strings.HasPrefix(r[len(r)-1], fmt.Sprintf("PASS size=%d ", size)) {
		t.Fatalf("swaptest 16M printed %q, want PASS", r)
	}
	seed := qemu.SwaptestSeed(t, r[len(r)-1])
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if found, pieces := qemu.SwaptestScan(raw, seed, size); found != pieces {
		t.Errorf("%d of %d pieces of the pattern (seed %d) in the image", found, pieces, seed)
	}
}
