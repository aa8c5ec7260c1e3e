package qemu

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/qemu/internal/harness"
)

// The hosted runtime's boot matrix. Every boot runs a command
// script in the guest's shell and checks its result lines, its exit
// status, and, from the host, the disk images.

const bootTimeout = 5 * time.Minute

// cannotRun says why this machine cannot boot guests, or "".
func cannotRun() string {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		return "qemu-system-x86_64 not found (install the qemu-system-x86 package)"
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		if m, _ := filepath.Glob("../cache/kernel/*/.complete"); len(m) == 0 {
			return "no apt-get to fetch the guest kernel (the hosted runtime needs a Debian-based host)"
		}
	}
	return ""
}

// needQEMU skips the test when QEMU cannot run here, except in CI
// (CI=true), where that is a failure: there the tests must run.
func needQEMU(t *testing.T) {
	t.Helper()
	if why := cannotRun(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot boot guests in CI: %s", why)
		}
		t.Skipf("skipped: %s", why)
	}
	if testing.Short() {
		t.Skip("skipped: boot tests do not run with -short")
	}
}

// lockedBuffer collects the build's output from parallel tests.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var buildLog lockedBuffer

// guest is one boot's result.
type guest struct {
	lines  []string
	status int
	took   time.Duration
}

// boot builds opts' runtime (hosted when unset) for its arch, once, and
// boots it with opts, sending commands, and fails the test unless the
// guest exits with a status.
func boot(t *testing.T, opts harness.Options, commands ...string) guest {
	t.Helper()
	if opts.Runtime == "" {
		opts.Runtime = "hosted"
	}
	img, err := harness.BuildArch(opts.Runtime, opts.Arch, &buildLog)
	if err != nil {
		t.Fatalf("building the %s runtime: %v\n%s", opts.Runtime, err, buildLog.String())
	}
	var out, errOut bytes.Buffer
	opts.Stdin = strings.NewReader(strings.Join(commands, "\n") + "\n")
	opts.Stdout, opts.Stderr = &out, &errOut
	if opts.Timeout == 0 {
		opts.Timeout = bootTimeout
	}
	start := time.Now()
	status, err := harness.Boot(img, opts)
	g := guest{lines: strings.Split(strings.TrimRight(out.String(), "\n"), "\n"), status: status, took: time.Since(start)}
	t.Logf("boot took %v", g.took.Round(time.Millisecond))
	if err != nil {
		t.Fatalf("boot: %v\nguest output:\n%s\nqemu stderr:\n%s", err, out.String(), errOut.String())
	}
	if t.Failed() {
		return g
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("guest output:\n%s\nqemu stderr:\n%s", out.String(), errOut.String())
		}
	})
	return g
}

// results returns the result lines of command name, in order.
func (g guest) results(name string) []string {
	var r []string
	for _, l := range g.lines {
		if strings.HasPrefix(l, name+": ") {
			r = append(r, strings.TrimPrefix(l, name+": "))
		}
	}
	return r
}

// want checks that command name printed exactly the lines want, where a
// want ending in "*" matches by prefix.
func (g guest) want(t *testing.T, name string, want ...string) {
	t.Helper()
	got := g.results(name)
	if len(got) != len(want) {
		t.Errorf("%s printed %d result lines %q, want %d like %q", name, len(got), got, len(want), want)
		return
	}
	for i := range want {
		if p, ok := strings.CutSuffix(want[i], "*"); ok {
			if !strings.HasPrefix(got[i], p) {
				t.Errorf("%s line %d = %q, want prefix %q", name, i, got[i], p)
			}
		} else if got[i] != want[i] {
			t.Errorf("%s line %d = %q, want %q", name, i, got[i], want[i])
		}
	}
}

// newImage writes a raw image of size bytes: random data, or a sparse
// file of zeroes when random is false.
func newImage(t *testing.T, name string, size int64, random bool) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if !random {
		f, err := os.Create(p)
		if err == nil {
			err = errors.Join(f.Truncate(size), f.Close())
		}
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	b := make([]byte, size)
	r := rand.NewChaCha8([32]byte{byte(size), byte(len(name))})
	r.Read(b)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// hashImage returns the SHA-256 of count sectors at lba, as `sum` prints it.
func hashImage(t *testing.T, path string, sectorSize, lba, count int64) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	end := (lba + count) * sectorSize
	if end > int64(len(b)) {
		t.Fatalf("%s: sectors %d+%d beyond its %d bytes", path, lba, count, len(b))
	}
	h := sha256.Sum256(b[lba*sectorSize : end])
	return hex.EncodeToString(h[:])
}

func sumOf(value byte, n int64) string {
	h := sha256.Sum256(bytes.Repeat([]byte{value}, int(n)))
	return hex.EncodeToString(h[:])
}

// TestTransports boots each transport and version, checks that info
// reports what was asked for, and round-trips data between the guest and
// the host: fill in the guest, bytes checked on the host; sum in the
// guest, compared with the host's hash of the image.
func TestTransports(t *testing.T) { forTargets(t, testTransports) }

func testTransports(t *testing.T, tg target) {
	for _, c := range []struct {
		machine   string
		legacy    bool
		packed    bool // QEMU offers packed virtqueues (packed=on)
		transport string
		version   string
	}{
		{"", false, false, "mmio", "modern"}, // the arch's mmio machine
		{"", true, false, "mmio", "legacy"},
		{harness.MachinePCI, false, false, "pci", "modern"},
		{harness.MachinePCI, true, false, "pci", "legacy"},
		{"", false, true, "mmio", "modern"},
		{harness.MachinePCI, false, true, "pci", "modern"},
	} {
		name, ring := c.transport+"-"+c.version, "split"
		if c.packed {
			name, ring = name+"-packed", "packed"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			img := newImage(t, "disk.img", 16<<20, true)
			untouched := hashImage(t, img, 512, 64, 64)
			opts := tg.options()
			opts.Machine, opts.Legacy, opts.Packed, opts.Drives = c.machine, c.legacy, c.packed, []string{harness.DiskDrive(img)}
			g := boot(t, opts, "info", "fill 0 64 165", "sum 0 64", "sum 64 64", "selftest", "exit 7")
			if g.status != 7 {
				t.Errorf("exit status %d, want 7", g.status)
			}
			g.want(t, "info",
				fmt.Sprintf("disk=0 transport=%s version=%s sectors=32768 sector_size=512 ro=false features=*", c.transport, c.version),
				fmt.Sprintf("disk=0 transport=%s version=%s sectors=32768 sector_size=512 ro=false features=*", c.transport, c.version))
			if info := g.results("info"); len(info) > 0 && strings.Contains(info[0], "VERSION_1") == c.legacy {
				t.Errorf("info %q: VERSION_1 negotiated on a %s device", info[0], c.version)
			}
			// The driver takes a packed queue where QEMU offers one.
			if info := g.results("info"); len(info) > 0 && (!strings.Contains(info[0], " queues=1 ring="+ring+" ") || strings.Contains(info[0], "RING_PACKED") != c.packed) {
				t.Errorf("info %q: want queues=1 ring=%s, RING_PACKED negotiated only with packed=on", info[0], ring)
			}
			g.want(t, "fill", "ok")
			g.want(t, "sum", sumOf(165, 64*512), untouched)
			g.want(t, "selftest", "PASS")
			if got := hashImage(t, img, 512, 0, 64); got != sumOf(165, 64*512) {
				t.Errorf("image sectors 0..63 hash %s on the host, want %d bytes of 165", got, 64*512)
			}
			if got := hashImage(t, img, 512, 64, 64); got != untouched {
				t.Errorf("image sectors 64..127 changed: hash %s, was %s", got, untouched)
			}
		})
	}
}

// TestReadOnly: a readonly=on disk refuses writes with an error that says
// read-only, and its image is unchanged.
func TestReadOnly(t *testing.T) { forTargets(t, testReadOnly) }

func testReadOnly(t *testing.T, tg target) {
	img := newImage(t, "ro.img", 4<<20, true)
	before := hashImage(t, img, 512, 0, 8192)
	opts := tg.options()
	opts.Drives = []string{harness.DiskDrive(img) + ",readonly=on"}
	g := boot(t, opts, "info", "fill 0 8 1", "sum 0 8192", "exit 0")
	if g.status != 0 {
		t.Errorf("exit status %d, want 0", g.status)
	}
	g.want(t, "info", "disk=0 transport=mmio version=modern sectors=8192 sector_size=512 ro=true *", "disk=0 transport=mmio version=modern sectors=8192 sector_size=512 ro=true *")
	if fill := g.results("fill"); len(fill) != 1 || !strings.HasPrefix(fill[0], "error: ") || !strings.Contains(fill[0], "read-only") {
		t.Errorf("fill on a read-only disk printed %q, want one error containing read-only", fill)
	}
	g.want(t, "sum", before)
	if after := hashImage(t, img, 512, 0, 8192); after != before {
		t.Errorf("read-only image changed: hash %s, was %s", after, before)
	}
}

// TestFaultInjection uses QEMU's blkdebug, with the raw format on top so
// that its rules fire (DESIGN.md): one read and two writes fail with EIO,
// each rule once. The errors reach the shell as I/O errors; swaptest
// fails cleanly, leaving every swap block free; once the rules are spent
// a new swaptest passes.
func TestFaultInjection(t *testing.T) { forTargets(t, testFaultInjection) }

func testFaultInjection(t *testing.T, tg target) {
	img := newImage(t, "faulty.img", 64<<20, false)
	cfg := filepath.Join(t.TempDir(), "blkdebug.conf")
	rule := func(event, iotype, extra string) string {
		// iotype keeps a rule that an earlier event left active from
		// firing on the other kind of request.
		return fmt.Sprintf("[inject-error]\nevent = \"%s\"\niotype = \"%s\"\nerrno = \"5\"\nonce = \"on\"\n%s\n", event, iotype, extra)
	}
	// The read rule is for sector 1000 only: QEMU itself reads sector 0
	// when it starts (virtio-blk guesses a CHS geometry from it).
	conf := rule("read_aio", "read", "sector = \"1000\"\n") + rule("write_aio", "write", "") + rule("write_aio", "write", "")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	drive := fmt.Sprintf("driver=raw,file.driver=blkdebug,file.config=%s,file.image.filename=%s,werror=report,rerror=report", cfg, img)
	opts := tg.options()
	opts.Drives = []string{drive}
	g := boot(t, opts, "sum 1000 8", "fill 0 8 1", "swaptest 16M", "swapstat", "swaptest 16M", "swapstat", "sum 1000 8", "exit 0")
	if g.status != 0 {
		t.Errorf("exit status %d, want 0", g.status)
	}
	sums := g.results("sum")
	if len(sums) != 2 || !strings.HasPrefix(sums[0], "error: ") || !strings.Contains(sums[0], "I/O error") {
		t.Errorf("sum under an injected read error printed %q, want an error containing I/O error first", sums)
	} else if want := hashImage(t, img, 512, 1000, 8); sums[1] != want {
		t.Errorf("sum after the faults = %s, want the image's %s", sums[1], want)
	}
	if fill := g.results("fill"); len(fill) != 1 || !strings.HasPrefix(fill[0], "error: ") || !strings.Contains(fill[0], "I/O error") {
		t.Errorf("fill under an injected write error printed %q, want an error containing I/O error", fill)
	}
	var final []string
	for _, l := range g.results("swaptest") {
		if !strings.HasPrefix(l, "progress ") {
			final = append(final, l)
		}
	}
	if len(final) != 2 || !strings.HasPrefix(final[0], "FAIL ") || !strings.Contains(final[0], "I/O error") || !strings.HasPrefix(final[1], "PASS ") {
		t.Errorf("swaptest results %q, want a FAIL with an I/O error, then a PASS", final)
	}
	stats := g.results("swapstat")
	if len(stats) != 2 {
		t.Fatalf("swapstat printed %q, want 2 lines", stats)
	}
	for _, s := range stats {
		var total, free int64
		if _, err := fmt.Sscanf(s, "total=%d free=%d", &total, &free); err != nil || total == 0 || free != total {
			t.Errorf("swapstat %q: want every block free", s)
		}
	}
}

// TestSmallQueues: four descriptors and seg_max 2 (QEMU refuses fewer;
// seg-max-adjust=off keeps seg_max at queue size - 2), on virtio-pci.
func TestSmallQueues(t *testing.T) { forQEMUs(t, testSmallQueues) }

func testSmallQueues(t *testing.T, q string) {
	needQEMU(t)
	t.Parallel()
	img := newImage(t, "small.img", 16<<20, true)
	g := boot(t, harness.Options{Runtime: "hosted", QEMU: q, Machine: harness.MachinePCI, Drives: []string{harness.DiskDrive(img)},
		Extra: []string{"-global", "virtio-blk-device.queue-size=4", "-global", "virtio-blk-device.seg-max-adjust=off"}},
		// swaptest writes over the disk: it runs first, so that the
		// image the host reads at the end is what the sums saw.
		"swaptest 8M", "fill 100 2048 90", "sum 100 2048", "sum 2148 1000", "selftest", "exit 0")
	if g.status != 0 {
		t.Errorf("exit status %d, want 0", g.status)
	}
	g.want(t, "fill", "ok")
	g.want(t, "sum", sumOf(90, 2048*512), hashImage(t, img, 512, 2148, 1000))
	g.want(t, "selftest", "PASS")
	if got := hashImage(t, img, 512, 100, 2048); got != sumOf(90, 2048*512) {
		t.Errorf("image sectors 100..2147 hash %s on the host, want 1 MiB of 90", got)
	}
	if r := g.results("swaptest"); len(r) == 0 || !strings.HasPrefix(r[len(r)-1], "PASS ") {
		t.Errorf("swaptest printed %q, want PASS", r)
	}
}

// TestTwoDisks: two disks at once, numbered in -device order, each
// written only where asked.
func TestTwoDisks(t *testing.T) { forQEMUs(t, testTwoDisks) }

func testTwoDisks(t *testing.T, q string) {
	needQEMU(t)
	t.Parallel()
	a := newImage(t, "a.img", 8<<20, false)
	b := newImage(t, "b.img", 4<<20, false)
	g := boot(t, harness.Options{Runtime: "hosted", QEMU: q, Legacy: true, Drives: []string{harness.DiskDrive(a), harness.DiskDrive(b)}},
		"info", "use 1", "fill 0 8 2", "use 0", "fill 8 8 1", "sum 8 8", "use 1", "sum 0 8", "exit 0")
	if g.status != 0 {
		t.Errorf("exit status %d, want 0", g.status)
	}
	g.want(t, "info",
		"disk=0 transport=mmio version=legacy sectors=16384 *", "disk=1 transport=mmio version=legacy sectors=8192 *",
		"disk=0 transport=mmio version=legacy sectors=16384 *", "disk=1 transport=mmio version=legacy sectors=8192 *")
	g.want(t, "use", "disk=1", "disk=0", "disk=1")
	g.want(t, "sum", sumOf(1, 8*512), sumOf(2, 8*512))
	for _, c := range []struct {
		img       string
		lba       int64
		value     byte
		untouched int64
	}{{a, 8, 1, 0}, {b, 0, 2, 8}} {
		if got := hashImage(t, c.img, 512, c.lba, 8); got != sumOf(c.value, 8*512) {
			t.Errorf("%s sectors %d..: hash %s, want 8 sectors of %d", filepath.Base(c.img), c.lba, got, c.value)
		}
		if got := hashImage(t, c.img, 512, c.untouched, 8); got != sumOf(0, 8*512) {
			t.Errorf("%s sectors %d..: written, want zeroes", filepath.Base(c.img), c.untouched)
		}
	}
}

// TestLogicalBlockSize4K: a disk with 4 KiB logical blocks; every request
// is whole 4 KiB sectors.
func TestLogicalBlockSize4K(t *testing.T) { forTargets(t, testLogicalBlockSize4K) }

func testLogicalBlockSize4K(t *testing.T, tg target) {
	img := newImage(t, "4k.img", 16<<20, true)
	opts := tg.options()
	opts.Machine, opts.Legacy, opts.Drives = harness.MachinePCI, true, []string{harness.DiskDrive(img)}
	opts.Extra = []string{"-global", "virtio-blk-device.logical_block_size=4096", "-global", "virtio-blk-device.physical_block_size=4096"}
	g := boot(t, opts, "info", "swaptest 8M", "fill 3 5 77", "sum 3 5", "sum 8 100", "selftest", "exit 0")
	if g.status != 0 {
		t.Errorf("exit status %d, want 0", g.status)
	}
	g.want(t, "info", "disk=0 transport=pci version=legacy sectors=4096 sector_size=4096 *", "disk=0 transport=pci version=legacy sectors=4096 sector_size=4096 *")
	g.want(t, "fill", "ok")
	g.want(t, "sum", sumOf(77, 5*4096), hashImage(t, img, 4096, 8, 100))
	g.want(t, "selftest", "PASS")
	if got := hashImage(t, img, 4096, 3, 5); got != sumOf(77, 5*4096) {
		t.Errorf("image 4 KiB sectors 3..7 hash %s on the host, want 20 KiB of 77", got)
	}
	if r := g.results("swaptest"); len(r) == 0 || !strings.HasPrefix(r[len(r)-1], "PASS ") {
		t.Errorf("swaptest printed %q, want PASS", r)
	}
}

// TestSwapSmallRAM streams twice the guest's RAM through swap.
func TestSwapSmallRAM(t *testing.T) { forQEMUs(t, testSwapSmallRAM) }

func testSwapSmallRAM(t *testing.T, q string) {
	needQEMU(t)
	t.Parallel()
	img := newImage(t, "swap.img", 1<<30, false)
	g := boot(t, harness.Options{Runtime: "hosted", QEMU: q, Mem: 128 << 20, Drives: []string{harness.DiskDrive(img)}},
		"swaptest 256M", "swapstat", "exit 0")
	if g.status != 0 {
		t.Errorf("exit status %d, want 0", g.status)
	}
	r := g.results("swaptest")
	if len(r) == 0 || !strings.HasPrefix(r[len(r)-1], "PASS size=268435456 ") {
		t.Errorf("swaptest 256M on 128 MiB of RAM printed %q, want PASS", r)
	}
	g.want(t, "swapstat", "total=1024 free=1024")
}

// TestRunScript drives qemu/run itself: the guest's exit status becomes
// the script's, end of input ends the shell with 0, and a guest that runs
// too long is stopped with status 124.
func TestRunScript(t *testing.T) { forQEMUs(t, testRunScript) }

func testRunScript(t *testing.T, q string) {
	needQEMU(t)
	t.Parallel()
	img := newImage(t, "run.img", 1<<20, false)
	version := qemuVersion(t, q)
	for _, c := range []struct {
		name   string
		args   []string
		input  string
		status int
		output string
	}{
		{"exit", nil, "info\nexit 42\n", 42, "info: disk=0 transport=mmio version=modern sectors=2048 "},
		{"end-of-input", nil, "sum 0 1\n", 0, "sum: " + sumOf(0, 512)},
		{"timeout", []string{"--timeout", "1"}, "", 124, ""},
	} {
		cmd := exec.Command("./run", append([]string{"--runtime", "hosted", "--qemu", q, "--disk", img}, c.args...)...)
		cmd.Stdin = strings.NewReader(c.input)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		status := 0
		if exitErr, ok := err.(*exec.ExitError); ok {
			status = exitErr.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: qemu/run: %v", c.name, err)
		}
		if status != c.status || !strings.Contains(out.String(), c.output) {
			t.Errorf("%s: qemu/run exited %d with output containing %q?\n%s\nstderr:\n%s", c.name, status, c.output, out.String(), errOut.String())
		}
		// It says which QEMU it starts, the one asked for.
		if !strings.Contains(errOut.String(), "qemu/run: qemu "+version+" (") {
			t.Errorf("%s: qemu/run's standard error does not say qemu/run: qemu %s (PATH):\n%s", c.name, version, errOut.String())
		}
	}
}
