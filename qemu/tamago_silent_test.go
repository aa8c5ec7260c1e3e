package qemu_test

// A disk that stops answering, and switches of the completion mode with
// requests in flight, on real boots of every virtio TamaGo board, in
// interrupt mode (the boards' default).
//
// The silent disk is QEMU's own throttling, set over QMP to one byte a
// second (block_set_io_throttle): the leaky bucket, empty when the
// limit is set, lets one more request through and holds each later one
// for about its size in seconds (util/throttle.c,
// throttle_compute_wait). (Set on the command line instead, it would
// hold the guest's first request: QEMU reads sector 0 through it when it
// starts, to guess a geometry.) The held read waits past the timeout set
// with `timeout`, the driver declares the device broken and resets it;
// QEMU's reset drains the request first (hw/block/virtio-blk.c
// virtio_blk_reset: blk_drain, which releases throttled requests), so
// the reset is acknowledged and the device is not quarantined. Every
// request then fails at once with an I/O error, until the test lifts the
// throttle (every limit 0) and `info` finds the disk again
// (cmd/tamaswap's virtioDisk: a new driver on the same transport, in
// interrupt mode again): the data written before reads back, and
// selftest passes.
//
// On the same boot a disk throttled to 200 requests and 4 MiB a second
// runs `bench ... &` and then `fill ... &` in the background while the
// shell switches `irq off` and `irq on`; the fill is checked from the
// host, and no request fails.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/qemu"
	"github.com/tamaswap/tamaswap/qemu/internal/harness"
)

// silentTarget is a board and transport the test boots.
type silentTarget struct {
	name      string
	opts      harness.Options
	transport string
	// lines are disk 0's and disk 1's interrupt lines, as info prints
	// them; nil: a range (virt's PCI INTx, swizzled).
	lines []string
	line  func(n int) bool
	// extra runs the blkdebug faults and the sleeps on a third disk:
	// the one target where no other test runs them in interrupt mode.
	extra bool
}

// TestTamaGoSilentDisk: microvm's virtio-mmio (I/O APIC GSIs 47, 46) and
// PCI (MSI-X vectors 80, 81), virt's virtio-mmio (GIC INTIDs 79, 78) and
// PCI (INTx, INTIDs 35-38).
func TestTamaGoSilentDisk(t *testing.T) {
	qemu.ForQEMUs(t, func(t *testing.T, q string) {
		for _, tg := range []silentTarget{
			{name: "microvm", opts: harness.Options{Machine: harness.MachineMicrovm}, transport: "mmio", lines: []string{"47", "46"}},
			{name: "microvm-pci", opts: harness.Options{Machine: harness.MachinePCI}, transport: "pci", lines: []string{"80", "81"}},
			{name: "virt", opts: harness.Options{Arch: "arm64"}, transport: "mmio", lines: []string{"79", "78"}},
			{name: "virt-pci", opts: harness.Options{Arch: "arm64", Machine: harness.MachinePCI}, transport: "pci",
				line: func(n int) bool { return n >= 35 && n <= 38 }, extra: true},
		} {
			t.Run(tg.name, func(t *testing.T) {
				tg.opts.QEMU = q
				silentDisk(t, tg)
			})
		}
	})
}

// busySectors is what the background fill writes on the busy disk: 8
// MiB, two seconds at its 4 MiB a second.
const busySectors = 16384

func silentDisk(t *testing.T, tg silentTarget) {
	busy := tamagoDisk(t, "busy.img", 64<<20/tamagoSector, zeroSectors)
	silent := tamagoDisk(t, "silent.img", 2048, zeroSectors)
	opts := tg.opts
	opts.Drives = []string{
		harness.DiskDrive(busy) + ",throttling.iops-total=200,throttling.bps-total=4194304",
		harness.DiskDrive(silent),
	}
	var faulty string
	if tg.extra {
		faulty = tamagoDisk(t, "faulty.img", 64<<20/tamagoSector, zeroSectors)
		opts.Drives = append(opts.Drives, blkdebugDrive(t, faulty))
	}
	sock := qmpSocket(t)
	opts.Extra = append(opts.Extra, "-qmp", "unix:"+sock+",server=on,wait=off")
	opts.Timeout = 10 * time.Minute

	var hookErrs []error
	setBPS := func(bps int) func() {
		return func() {
			// disk1 is the silent disk's drive (harness.virtioDisks).
			err := qmpExecute(sock, "block_set_io_throttle", map[string]any{
				"device": "disk1", "bps": bps, "bps_rd": 0, "bps_wr": 0, "iops": 0, "iops_rd": 0, "iops_wr": 0,
			})
			if err != nil {
				hookErrs = append(hookErrs, err)
			}
		}
	}
	throttle, lift := setBPS(1), setBPS(0)
	cmds := []step{
		{line: "info"},
		// Completion mode switched with requests in flight.
		{line: "bench --ms 3000 randread-4K-qd16 &"},
		{line: "sleep 400"}, {line: "irq off"}, {line: "sleep 400"}, {line: "irq on"},
		{line: "sleep 400"}, {line: "irq off"}, {line: "irq on"},
		{line: "wait"},
		{line: fmt.Sprintf("fill 0 %d 77 &", busySectors)},
		{line: "sleep 300"}, {line: "irq off"}, {line: "sleep 300"}, {line: "irq on"},
		{line: "wait"},
		{line: fmt.Sprintf("sum 0 %d", busySectors+16)},
		// The silent disk works; then, throttled, it lets one more
		// read through, and the next waits for its timeout: the disk is
		// broken, and the read after fails at once.
		{line: "use 1"}, {line: "fill 0 8 33"}, {line: "sum 0 16"},
		{line: "timeout 1000", before: throttle}, {line: "sum 0 8"}, {line: "sum 8 8"}, {line: "sum 0 8"},
		// It answers again: info finds it.
		{line: "info", before: lift},
		{line: "timeout 30000"}, {line: "sum 0 16"}, {line: "selftest"},
		// Its completions come by interrupt: a lost one would cost the
		// driver's 10 ms re-check.
		{line: "bench --ms 500 randread-4K-qd1"},
	}
	if tg.extra {
		cmds = append(cmds, step{line: "use 2"}, step{line: "sum 1000 8"}, step{line: "fill 0 8 1"},
			step{line: "swaptest 16M"}, step{line: "sum 1000 8"})
		for _, c := range sleepCmds {
			cmds = append(cmds, step{line: c})
		}
	}
	cmds = append(cmds, step{line: "exit 0"})
	opts.Stdin = &script{steps: cmds}
	start := time.Now()
	out := tamagoBoot(t, opts)
	t.Logf("boot took %v", time.Since(start))
	if len(hookErrs) != 0 {
		t.Fatalf("QMP: %v", hookErrs)
	}

	// Both irq switches happened while the job ran: before its result.
	var order []string
	for _, l := range out {
		for _, p := range []string{"irq: ", "wait: ", "bench: ", "fill: "} {
			if strings.HasPrefix(l.text, p) {
				f, _, _ := strings.Cut(l.text, " mib_s=")
				order = append(order, f)
			}
		}
	}
	wantOrder := []string{
		"bench: job=1 started",
		"irq: disk=0 mode=poll", "irq: disk=0 mode=interrupt", "irq: disk=0 mode=poll", "irq: disk=0 mode=interrupt",
		"bench: randread-4K-qd16", "wait: done job=1",
		"fill: job=2 started", "irq: disk=0 mode=poll", "irq: disk=0 mode=interrupt", "fill: ok", "wait: done job=2",
	}
	if len(order) < len(wantOrder) || strings.Join(order[:len(wantOrder)], "|") != strings.Join(wantOrder, "|") {
		t.Errorf("irq, job and wait lines %q, want %q", order, wantOrder)
	}
	sums := tamagoResults(out, "sum")
	if len(sums) != 6 && !(tg.extra && len(sums) == 8) {
		t.Fatalf("sum printed %q", sums)
	}
	tamagoCheckImage(t, busy, 0, busySectors, 77, busySectors+16, sums[0])

	// The silent disk: the read the throttle let through and the sums
	// before and after the silence agree with the image.
	tamagoCheckImage(t, silent, 0, 8, 33, 16, sums[1])
	if sums[5] != sums[1] || sums[2] != tamagoHashRange(t, silent, 0, 8) {
		t.Errorf("sums of the silent disk before, through and after the silence: %q", sums[1:6])
	}
	for i, s := range sums[3:5] {
		if !strings.HasPrefix(s, "error: ") || !strings.Contains(s, "I/O error") || !strings.Contains(s, "device broken") {
			t.Errorf("sum %d on the silent disk printed %q, want an I/O error saying the device broke", i+1, s)
		}
	}
	if !strings.Contains(sums[3], "read sector 8: ") || !strings.Contains(sums[3], "no completion on queue 0 for 1s") {
		t.Errorf("the read the throttle held printed %q, want the timeout", sums[3])
	}
	if at := silentGap(out); at < 900*time.Millisecond || at > 10*time.Second {
		t.Errorf("the held read failed %v after the read before it, want about 1 s", at)
	}
	if r := tamagoResults(out, "selftest"); len(r) != 1 || r[0] != "PASS" {
		t.Errorf("selftest after the disk came back: %q", r)
	}
	var p50 float64
	if b := tamagoResults(out, "bench"); len(b) < 1 {
		t.Errorf("bench printed %q", b)
	} else if _, after, ok := strings.Cut(b[len(b)-1], " p50_us="); !ok {
		t.Errorf("bench on the disk found again printed %q", b[len(b)-1])
	} else if _, err := fmt.Sscan(after, &p50); err != nil || p50 > 5000 {
		t.Errorf("reads on the disk found again took %.0f µs (p50): its interrupt does not come", p50)
	}
	info := tamagoResults(out, "info")
	found := false
	for _, l := range info {
		if l == "disk=1 re-identified" {
			found = true
		}
	}
	if !found {
		t.Errorf("info did not re-identify disk 1: %q", info)
	}
	// Each disk's info line names its interrupt, banner to last info
	// (after the silent disk came back): in interrupt mode throughout.
	for n := 0; n < 2; n++ {
		var irqs []string
		for _, l := range info {
			if strings.HasPrefix(l, fmt.Sprintf("disk=%d transport=%s ", n, tg.transport)) {
				_, v, _ := strings.Cut(l, " irq=")
				irqs = append(irqs, v)
			}
		}
		if len(irqs) != 3 {
			t.Errorf("disk %d: %d info lines %q, want 3", n, len(irqs), irqs)
			continue
		}
		for _, v := range irqs {
			var got int
			_, err := fmt.Sscan(v, &got)
			if ok := tg.lines != nil && v == tg.lines[n] || tg.line != nil && err == nil && tg.line(got); !ok {
				t.Errorf("disk %d: info said irq=%q, want its line", n, irqs)
				break
			}
		}
	}
	if tg.extra {
		checkFaults(t, out, sums[6:], faulty)
		// The sleeps from the first clock line on: the background jobs'
		// sleeps came before.
		for i, l := range out {
			if strings.HasPrefix(l.text, "clock: ") {
				tamagoSleep(t, out[i:])
				break
			}
		}
	}
}

// silentGap is the host time from the result of the sum before the
// first that failed to that one's.
func silentGap(out []tamagoLine) time.Duration {
	var last time.Time
	for _, l := range out {
		if strings.HasPrefix(l.text, "sum: error: ") {
			return l.at.Sub(last)
		}
		if strings.HasPrefix(l.text, "sum: ") {
			last = l.at
		}
	}
	return -1
}

// blkdebugDrive is a disk whose first read of sector 1000 and first
// write fail with EIO (QEMU's blkdebug under the raw format, as
// tamago_irq_test.go's).
func blkdebugDrive(t *testing.T, img string) string {
	cfg := filepath.Join(t.TempDir(), "blkdebug.conf")
	rule := func(event, iotype, extra string) string {
		return fmt.Sprintf("[inject-error]\nevent = \"%s\"\niotype = \"%s\"\nerrno = \"5\"\nonce = \"on\"\n%s\n", event, iotype, extra)
	}
	if err := os.WriteFile(cfg, []byte(rule("read_aio", "read", "sector = \"1000\"\n")+rule("write_aio", "write", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("driver=raw,file.driver=blkdebug,file.config=%s,file.image.filename=%s,werror=report,rerror=report", cfg, img)
}

// checkFaults checks the faulty disk's results: sums (the read failed,
// then the zeros the image held), one failed fill, swaptest passing with
// the rules spent.
func checkFaults(t *testing.T, out []tamagoLine, sums []string, img string) {
	t.Helper()
	if len(sums) != 2 || !strings.HasPrefix(sums[0], "error: ") || !strings.Contains(sums[0], "I/O error") {
		t.Errorf("sum on the faulty disk printed %q, want an I/O error first", sums)
	} else if want := tamagoHashRange(t, img, 1000, 8); sums[1] != want {
		t.Errorf("sum after the faults = %s, want the image's %s", sums[1], want)
	}
	fills := tamagoResults(out, "fill")
	if len(fills) == 0 || !strings.Contains(fills[len(fills)-1], "I/O error") {
		t.Errorf("fill on the faulty disk printed %q, want an I/O error", fills)
	}
	r := tamagoResults(out, "swaptest")
	if len(r) == 0 || !strings.HasPrefix(r[len(r)-1], "PASS size=16777216 ") {
		t.Errorf("swaptest 16M on the faulty disk, its rules spent, printed %q, want PASS", r)
	}
}

// step is one command line of a script, and what to do on the host
// before the guest gets it.
type step struct {
	line   string
	before func()
}

// script is the guest's standard input: one line each Read, and each
// step's before just before its line is read. The harness reads the next
// line once the guest printed the previous command's result (see
// harness.Console), so before runs after that result.
type script struct {
	mu    sync.Mutex
	steps []step
	rest  string
}

func (s *script) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rest == "" {
		if len(s.steps) == 0 {
			return 0, io.EOF
		}
		st := s.steps[0]
		s.steps = s.steps[1:]
		if st.before != nil {
			st.before()
		}
		s.rest = st.line + "\n"
	}
	n := copy(p, s.rest)
	s.rest = s.rest[n:]
	return n, nil
}

// qmpSocket is a path for QEMU's QMP socket, short enough for a Unix
// socket's address (108 bytes) whatever the test's name.
func qmpSocket(t *testing.T) string {
	dir, err := os.MkdirTemp("", "qmp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s")
}

// qmpExecute runs one QMP command (QEMU docs/interop/qmp-spec: the
// greeting, qmp_capabilities, then the command; events in between are
// skipped) and returns its error reply as an error.
func qmpExecute(sock, cmd string, args map[string]any) error {
	c, err := net.DialTimeout("unix", sock, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	reply := func() (map[string]json.RawMessage, error) {
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return nil, err
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(line, &m); err != nil {
				return nil, fmt.Errorf("QMP reply %q: %w", line, err)
			}
			if _, ev := m["event"]; !ev {
				return m, nil
			}
		}
	}
	if _, err := reply(); err != nil { // the greeting
		return err
	}
	for _, req := range []map[string]any{{"execute": "qmp_capabilities"}, {"execute": cmd, "arguments": args}} {
		b, _ := json.Marshal(req)
		if _, err := c.Write(append(b, '\n')); err != nil {
			return err
		}
		m, err := reply()
		if err != nil {
			return err
		}
		if e, ok := m["error"]; ok {
			return fmt.Errorf("QMP %s: %s", req["execute"], e)
		}
	}
	return nil
}
