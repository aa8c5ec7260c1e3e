package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// benchreport irq: what interrupts cost and save on the TamaGo microvm
// board, interrupt mode against polling (and any other mode the board
// offers), interleaved round by round so that a slow spell of the shared
// host falls on every mode alike. Each boot has two disks:
//
//   - disk 0 throttled by QEMU (throttling.iops-total), read by an
//     unpaced `bench randread-4K-qd1`: the QEMU process's host CPU
//     seconds (utime+stime of /proc/PID/stat, read just before and
//     after the bench) per 1000 requests, and the requests' p50/p99
//     latency from the guest's clock;
//   - disk 1 unthrottled: randread-4K-qd1 (IOPS, p50, p99), seqread-1M,
//     seqwrite-1M and swaptest (MiB/s).
//
// It prints one line per boot and a summary of per-round ratios against
// polling (median and range), and writes them to results/irq.tsv.
func runIRQ(args []string) error {
	fs := flag.NewFlagSet("benchreport irq", flag.ContinueOnError)
	rounds := fs.Int("rounds", 3, "rounds; each boots every transport in every mode once")
	ms := fs.Int("ms", 3000, "bench --ms of each workload")
	iops := fs.Int("iops", 200, "throttling.iops-total of disk 0")
	swap := fs.String("swap", "256M", "swaptest size on disk 1 (its image is twice that, at least 512M)")
	qemu := fs.String("qemu", "system", "qemu/run --qemu: system or 10")
	transports := fs.String("transports", "mmio,pci", "mmio (microvm), pci (microvm,pcie=on)")
	modes := fs.String("modes", "interrupt,poll", "irq modes: interrupt (irq on), poll (irq off)")
	out := fs.String("out", "results/irq.tsv", "TSV of every boot's figures")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	swapBytes, err := parseSize(*swap)
	if err != nil {
		return err
	}
	dir := filepath.Join(root, "out", "irq")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	slow, fast := filepath.Join(dir, "slow.img"), filepath.Join(dir, "fast.img")
	if err := makeImage(slow, 64<<20); err != nil {
		return err
	}
	if err := makeImage(fast, max(2*swapBytes, 512<<20)); err != nil {
		return err
	}
	clk, err := clockTicks()
	if err != nil {
		return err
	}
	var rows []irqRow
	for r := 1; r <= *rounds; r++ {
		for _, tr := range strings.Split(*transports, ",") {
			for _, mode := range strings.Split(*modes, ",") {
				row, err := irqBoot(root, *qemu, tr, mode, slow, fast, *iops, *ms, *swap, clk)
				row.round, row.transport, row.mode = r, tr, mode
				if err != nil {
					return fmt.Errorf("round %d %s %s: %w", r, tr, mode, err)
				}
				fmt.Println(row.String())
				rows = append(rows, row)
			}
		}
	}
	fmt.Println()
	summary := irqSummary(rows)
	fmt.Print(summary)
	if !filepath.IsAbs(*out) {
		*out = filepath.Join(root, *out)
	}
	return writeFile(*out, func(w io.Writer) error {
		fmt.Fprintf(w, "# benchreport irq %s\n", strings.Join(args, " "))
		fmt.Fprintln(w, irqHeader)
		for _, r := range rows {
			fmt.Fprintln(w, r.tsv())
		}
		for _, l := range strings.Split(strings.TrimRight(summary, "\n"), "\n") {
			fmt.Fprintln(w, "# "+l)
		}
		return nil
	})
}

// irqRow is one boot's figures.
type irqRow struct {
	round                                  int
	transport, mode                        string
	cpuPer1000                             float64 // host CPU s of QEMU per 1000 throttled requests
	slowIOPS                               float64
	slowP50, slowP99                       float64 // µs
	iops                                   float64 // unthrottled randread-4K-qd1
	p50, p99                               float64
	seqRead, seqWrite, swapWrite, swapRead float64 // MiB/s
}

const irqHeader = "round\ttransport\tmode\tcpu_s_per_1000\tslow_iops\tslow_p50_us\tslow_p99_us\tqd1_iops\tqd1_p50_us\tqd1_p99_us\tseqread_mib_s\tseqwrite_mib_s\tswap_write_mib_s\tswap_read_mib_s"

func (r irqRow) tsv() string {
	return fmt.Sprintf("%d\t%s\t%s\t%.4f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f",
		r.round, r.transport, r.mode, r.cpuPer1000, r.slowIOPS, r.slowP50, r.slowP99, r.iops, r.p50, r.p99, r.seqRead, r.seqWrite, r.swapWrite, r.swapRead)
}

func (r irqRow) String() string {
	return fmt.Sprintf("round %d %-4s %-9s cpu=%.3fs/1000 slow_iops=%.0f slow_p50=%.0fus qd1_iops=%.0f p50=%.0fus p99=%.0fus seqread=%.0f seqwrite=%.0f swap=%.1f/%.1f MiB/s",
		r.round, r.transport, r.mode, r.cpuPer1000, r.slowIOPS, r.slowP50, r.iops, r.p50, r.p99, r.seqRead, r.seqWrite, r.swapWrite, r.swapRead)
}

// irqSummary gives, per transport and mode other than poll, the median
// and range over rounds of each figure's ratio to polling's in the same
// round.
func irqSummary(rows []irqRow) string {
	var b strings.Builder
	type k struct {
		round     int
		transport string
	}
	poll := map[k]irqRow{}
	for _, r := range rows {
		if r.mode == "poll" {
			poll[k{r.round, r.transport}] = r
		}
	}
	figs := []struct {
		name string
		f    func(irqRow) float64
	}{
		{"cpu_per_1000", func(r irqRow) float64 { return r.cpuPer1000 }},
		{"qd1_iops", func(r irqRow) float64 { return r.iops }},
		{"qd1_p50", func(r irqRow) float64 { return r.p50 }},
		{"qd1_p99", func(r irqRow) float64 { return r.p99 }},
		{"seqread", func(r irqRow) float64 { return r.seqRead }},
		{"seqwrite", func(r irqRow) float64 { return r.seqWrite }},
		{"swap_write", func(r irqRow) float64 { return r.swapWrite }},
		{"swap_read", func(r irqRow) float64 { return r.swapRead }},
	}
	seen := map[[2]string]bool{}
	for _, r := range rows {
		key := [2]string{r.transport, r.mode}
		if r.mode == "poll" || seen[key] {
			continue
		}
		seen[key] = true
		fmt.Fprintf(&b, "%s %s / poll:", r.transport, r.mode)
		for _, f := range figs {
			var ratios []float64
			for _, x := range rows {
				p, ok := poll[k{x.round, x.transport}]
				if x.transport == r.transport && x.mode == r.mode && ok && f.f(p) > 0 {
					ratios = append(ratios, f.f(x)/f.f(p))
				}
			}
			if len(ratios) == 0 {
				continue
			}
			slices.Sort(ratios)
			n := len(ratios)
			med := (ratios[(n-1)/2] + ratios[n/2]) / 2
			fmt.Fprintf(&b, " %s=%.3f [%.3f-%.3f]", f.name, med, ratios[0], ratios[n-1])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// irqBoot boots the TamaGo image once and runs the commands one by one,
// each after the previous result, reading QEMU's CPU time around the
// throttled bench.
func irqBoot(root, qemu, tr, mode, slow, fast string, iops, ms int, swap string, clk float64) (irqRow, error) {
	var row irqRow
	args := []string{"--runtime", "tamago", "--qemu", qemu, "--mem", "512M", "--timeout", "900",
		"--drive", fmt.Sprintf("file=%s,format=raw,throttling.iops-total=%d", slow, iops),
		"--drive", fmt.Sprintf("file=%s,format=raw,cache=none,aio=threads", fast)}
	if tr == "pci" {
		args = append(args, "--machine", "pci")
	}
	cmd := exec.Command(filepath.Join(root, "qemu", "run"), args...)
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return row, err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return row, err
	}
	if err := cmd.Start(); err != nil {
		return row, err
	}
	defer cmd.Wait()
	defer in.Close()
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(outp)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	await := func(prefix string) (string, error) {
		timeout := time.After(10 * time.Minute)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					return "", fmt.Errorf("guest stopped before %q", prefix)
				}
				if strings.HasPrefix(l, prefix) && !strings.HasPrefix(l, "swaptest: progress") {
					if strings.Contains(l, ": error:") || strings.Contains(l, ": FAIL") {
						return l, errors.New(l)
					}
					return l, nil
				}
			case <-timeout:
				return "", fmt.Errorf("no %q in 10 minutes", prefix)
			}
		}
	}
	send := func(c, prefix string) (string, error) {
		if _, err := fmt.Fprintln(in, c); err != nil {
			return "", err
		}
		return await(prefix)
	}
	if _, err := await("tamaswap: runtime="); err != nil {
		return row, err
	}
	var on string
	switch mode {
	case "interrupt":
		on = "on"
	case "poll":
		on = "off"
	default:
		return row, fmt.Errorf("mode %s: interrupt or poll", mode)
	}
	for _, d := range []string{"0", "1"} {
		if _, err := send("use "+d, "use:"); err != nil {
			return row, err
		}
		if _, err := send("irq "+on, "irq:"); err != nil {
			return row, err
		}
	}
	pid, err := qemuPID(cmd.Process.Pid)
	if err != nil {
		return row, err
	}
	if _, err := send("use 0", "use:"); err != nil {
		return row, err
	}
	cpu0, err := cpuSeconds(pid, clk)
	if err != nil {
		return row, err
	}
	l, err := send(fmt.Sprintf("bench --ms %d randread-4K-qd1", ms), "bench:")
	if err != nil {
		return row, err
	}
	cpu1, err := cpuSeconds(pid, clk)
	if err != nil {
		return row, err
	}
	f := keyValues(l)
	row.slowIOPS, row.slowP50, row.slowP99 = f["iops"], f["p50_us"], f["p99_us"]
	if f["ops"] > 0 {
		row.cpuPer1000 = (cpu1 - cpu0) / f["ops"] * 1000
	}
	if _, err := send("use 1", "use:"); err != nil {
		return row, err
	}
	if l, err = send(fmt.Sprintf("bench --ms %d randread-4K-qd1", ms), "bench:"); err != nil {
		return row, err
	}
	f = keyValues(l)
	row.iops, row.p50, row.p99 = f["iops"], f["p50_us"], f["p99_us"]
	for _, w := range []string{"seqread-1M", "seqwrite-1M"} {
		if l, err = send(fmt.Sprintf("bench --ms %d %s", ms, w), "bench:"); err != nil {
			return row, err
		}
		if w == "seqread-1M" {
			row.seqRead = keyValues(l)["mib_s"]
		} else {
			row.seqWrite = keyValues(l)["mib_s"]
		}
	}
	if l, err = send("swaptest "+swap, "swaptest:"); err != nil {
		return row, err
	}
	f = keyValues(l)
	row.swapWrite, row.swapRead = f["write_mib_s"], f["read_mib_s"]
	_, err = send("exit 0", "\x00") // the guest powers off: lines end
	if err != nil && !strings.Contains(err.Error(), "guest stopped") {
		return row, err
	}
	return row, nil
}

// keyValues parses the key=value fields of a result line.
func keyValues(l string) map[string]float64 {
	m := map[string]float64{}
	for _, f := range strings.Fields(l) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		if x, err := strconv.ParseFloat(strings.TrimSuffix(v, ","), 64); err == nil {
			m[k] = x
		}
	}
	return m
}

// qemuPID finds the QEMU process qemu/run (pid) started: its child
// whose command starts with qemu-system.
func qemuPID(run int) (int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, ppid, err := procStat(pid)
		if err == nil && ppid == run && strings.HasPrefix(comm, "qemu-system") {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no qemu-system child of qemu/run (pid %d)", run)
}

// procStat returns the command and parent of pid (proc(5), /proc/PID/stat).
func procStat(pid int) (comm string, ppid int, err error) {
	fields, comm, err := statFields(pid)
	if err != nil {
		return "", 0, err
	}
	ppid, err = strconv.Atoi(fields[1])
	return comm, ppid, err
}

// statFields returns the fields of /proc/PID/stat after the command
// (field 3, state, is the first) and the command.
func statFields(pid int) ([]string, string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, "", err
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return nil, "", fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	fields := strings.Fields(s[end+1:])
	if len(fields) < 13 {
		return nil, "", fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	return fields, s[open+1 : end], nil
}

// cpuSeconds is pid's user and system CPU time (utime and stime, fields
// 14 and 15 of /proc/PID/stat, in clock ticks).
func cpuSeconds(pid int, clk float64) (float64, error) {
	fields, _, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	u, err1 := strconv.ParseFloat(fields[11], 64)
	s, err2 := strconv.ParseFloat(fields[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return (u + s) / clk, nil
}

// clockTicks is sysconf(_SC_CLK_TCK), the unit of /proc/PID/stat's times.
func clockTicks() (float64, error) {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		return 0, fmt.Errorf("getconf CLK_TCK: %w", err)
	}
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
}
