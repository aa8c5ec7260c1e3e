package qemu_test

// The CPU cost of waiting, measured: TestIRQCPU boots a TamaGo guest and
// runs `bench --ms 3000 randread-4K-qd1` in interleaved rounds with the
// disk in interrupt mode and in polling mode, reading the QEMU process's
// CPU time (/proc/PID/stat utime+stime) as each result line arrives. It
// is a measurement, not a check: it runs only with TAMASWAP_IRQCPU set
// (to a QEMU drive option suffix such as ",throttling.iops-total=200",
// or "-" for an unthrottled disk), and logs one line per round and the
// medians. Arch and machine come from TAMASWAP_IRQCPU_ARCH (arm64,
// arm) and TAMASWAP_IRQCPU_MACHINE ("", pci, usbarmory, ...).

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/qemu/internal/harness"
)

// qemuChild finds the QEMU process this test started: a child of ours
// whose command name starts qemu-system.
func qemuChild() int {
	ents, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, e := range ents {
		b, err := os.ReadFile(e)
		if err != nil {
			continue
		}
		s := string(b)
		i, j := strings.Index(s, "("), strings.LastIndex(s, ")")
		if i < 0 || j < i {
			continue
		}
		f := strings.Fields(s[j+1:])
		if len(f) < 2 || !strings.HasPrefix(s[i+1:j], "qemu-system") {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == os.Getpid() {
			pid, _ := strconv.Atoi(strings.Fields(s)[0])
			return pid
		}
	}
	return 0
}

// cpuSeconds is a process's utime+stime (/proc/PID/stat fields 14 and
// 15, in clock ticks of 1/100 s on Linux).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndex(s, ")")+1:])
	// f[0] is field 3 (state): utime is field 14, stime 15.
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100
}

// cpuLines records each guest line with the QEMU process's CPU time at
// its arrival.
type cpuLines struct {
	t     *testing.T
	mu    sync.Mutex
	pid   int
	lines []string
	cpu   []float64
}

func (c *cpuLines) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pid == 0 {
		c.pid = qemuChild()
	}
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		c.lines = append(c.lines, l)
		c.cpu = append(c.cpu, cpuSeconds(c.pid))
	}
	return len(p), nil
}

func TestIRQCPU(t *testing.T) {
	drive := os.Getenv("TAMASWAP_IRQCPU")
	if drive == "" {
		t.Skip("skipped: a measurement; set TAMASWAP_IRQCPU")
	}
	if drive == "-" {
		drive = ""
	}
	arch, machine := os.Getenv("TAMASWAP_IRQCPU_ARCH"), os.Getenv("TAMASWAP_IRQCPU_MACHINE")
	if arch == "" {
		arch = "arm64"
	}
	rounds := 4
	if n, err := strconv.Atoi(os.Getenv("TAMASWAP_IRQCPU_ROUNDS")); err == nil {
		rounds = n
	}
	img := tamagoImage(t, arch)
	path := tamagoDisk(t, "cpu.img", 64<<20/tamagoSector, zeroSectors)
	const ms = 3000
	var cmds []string
	for range rounds {
		for _, mode := range []string{"on", "off"} {
			cmds = append(cmds, "irq "+mode, fmt.Sprintf("bench --ms %d randread-4K-qd1", ms))
		}
	}
	out := &cpuLines{t: t}
	opts := harness.Options{Runtime: "tamago", Arch: arch, Machine: machine, QEMU: os.Getenv("TAMASWAP_IRQCPU_QEMU"),
		Drives: []string{harness.DiskDrive(path) + drive}, Stdout: out, Stderr: tamagoLog{t},
		Stdin: strings.NewReader(strings.Join(append(cmds, "exit 0"), "\n") + "\n"), Timeout: 30 * time.Minute}
	if status, err := harness.Boot(img, opts); err != nil || status != 0 {
		t.Fatalf("boot: status %d, %v", status, err)
	}
	// Each bench line with the irq line before it: the CPU between
	// their arrivals is the bench's (and one command's round trip).
	per := map[string][]float64{}
	iops := map[string][]float64{}
	var pairCPU, pairIOPS []float64
	mode := ""
	var at float64
	for i, l := range out.lines {
		if r, ok := strings.CutPrefix(l, "irq: disk=0 mode="); ok {
			mode, at = r, out.cpu[i]
			continue
		}
		var mibs, n float64
		if _, err := fmt.Sscanf(l, "bench: randread-4K-qd1 mib_s=%g iops=%g", &mibs, &n); err != nil || mode == "" {
			continue
		}
		cpu := out.cpu[i] - at
		reqs := n * ms / 1000
		k := cpu / reqs * 1000
		t.Logf("round: mode=%s iops=%.1f requests=%.0f qemu_cpu_s=%.2f cpu_s_per_1000=%.3f", mode, n, reqs, cpu, k)
		per[mode] = append(per[mode], k)
		iops[mode] = append(iops[mode], n)
		// Rounds alternate interrupt, poll: the pair's ratios.
		if mode == "poll" && len(per["interrupt"]) == len(per["poll"]) {
			j := len(per["poll"]) - 1
			pairCPU = append(pairCPU, per["interrupt"][j]/per["poll"][j])
			pairIOPS = append(pairIOPS, iops["interrupt"][j]/iops["poll"][j])
		}
	}
	med := func(v []float64) float64 {
		if len(v) == 0 {
			return 0
		}
		v = slices.Clone(v)
		slices.Sort(v)
		return v[len(v)/2]
	}
	ci, cp := med(per["interrupt"]), med(per["poll"])
	ii, ip := med(iops["interrupt"]), med(iops["poll"])
	t.Logf("median: interrupt %.3f CPU s/1000 req at %.1f IOPS, poll %.3f at %.1f IOPS: CPU ratio %.3f, IOPS ratio %.3f (arch=%s machine=%q drive=%q)",
		ci, ii, cp, ip, ci/cp, ii/ip, arch, machine, drive)
	t.Logf("median of the rounds' pairs: CPU ratio %.3f, IOPS ratio %.3f", med(pairCPU), med(pairIOPS))
}
