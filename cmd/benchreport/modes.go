package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Modes: rows that compare two ways of driving the same disk in one
// TamaGo boot, the ways taking turns workload by workload and round by
// round, so that a slow spell of the shared host falls on both alike.
// Every ratio is the median (min–max) over rounds of the ratio within a
// round, as for the other rows (rounds.go).
//
//   - irq: completion by interrupt against polling (virtio 1.2 §2.7.10
//     and §2.7.14 on when the device notifies; the shell's irq and
//     hybrid commands). Disk 0 is throttled by QEMU
//     (throttling.iops-total): an unpaced `bench randread-4K-qd1` on it
//     gives the QEMU process's host CPU seconds (utime+stime of
//     /proc/PID/stat, read just before and after) per 1000 requests.
//     Disk 1 is unthrottled: randread-4K-qd1 (IOPS, p50, p99),
//     seqwrite-1M, seqread-1M and swaptest (MiB/s).
//   - packed: a split-ring disk against a packed-ring one (virtio 1.2
//     §2.7 and §2.8), two drives of the same size and options, the
//     second with the device property packed=on.
//   - scaling: 1 and 2 CPUs, 1 and 2 request queues (scaling.go).

// modeConfig is what the mode boots run.
type modeConfig struct {
	arch, qemu, root string
	transports       []string
	irqModes         []string // interrupt, poll, hybrid-US
	irqRounds        int      // 0: no irq boots
	packedRounds     int      // 0: no packed boots
	scaleRounds      int      // 0: no scaling boots (scaling.go)
	size             string   // bench --size of the unthrottled workloads
	ms               int      // bench --ms of the unthrottled workloads
	throttledMs      int      // bench --ms on the throttled disk
	throttleIOPS     int      // its throttling.iops-total
	swap             string   // swaptest size on the unthrottled disk
	timeout          int      // seconds per boot
	logDir, imageDir string
}

// A mode is one way of driving a disk, with the shell commands that
// select it on the current disk.
type mode struct {
	name string
	cmds []string
}

// parseMode reads a mode of -irq-modes: interrupt (sleep at once), poll,
// or hybrid-US (interrupt mode, polling the used ring US µs first).
func parseMode(s string) (mode, error) {
	switch s {
	case "poll":
		return mode{s, []string{"irq off"}}, nil
	case "interrupt":
		return mode{s, []string{"irq on", "hybrid 0"}}, nil
	}
	if us, ok := strings.CutPrefix(s, "hybrid-"); ok {
		if n, err := strconv.Atoi(us); err == nil && n > 0 && n <= maxHybridUs {
			return mode{s, []string{"irq on", "hybrid " + us}}, nil
		}
	}
	return mode{}, fmt.Errorf("mode %q: interrupt, poll or hybrid-US (1 to %d µs)", s, maxHybridUs)
}

// maxHybridUs is the shell's bound on hybrid's window.
const maxHybridUs = 1_000_000

// modeSample is one figure of one variant in one round of one boot.
type modeSample struct {
	kind      string // "irq" or "packed"
	transport string
	variant   string // a mode; or split, packed
	workload  string
	field     string // mib_s, iops, p50_us, p99_us, cpu_s_per_1000
	round     int
	value     float64
}

// modeRef is the variant each kind's others are divided by.
var modeRef = map[string]string{"irq": "poll", "packed": "split"}

// packedWorkloads run on both rings in each round of a packed boot.
var packedWorkloads = []string{"randread-4K-qd1", "randread-4K-qd16", "seqwrite-1M", "seqread-1M"}

// modeResults is what the mode boots measured.
type modeResults struct {
	samples  []modeSample
	failures []string
}

func (r *modeResults) add(s modeSample) { r.samples = append(r.samples, s) }

// runModes runs the irq and packed boots of every transport and returns
// their figures; a boot that fails is recorded and the rest go on.
func runModes(c *modeConfig) *modeResults {
	res := &modeResults{}
	// each runs boot on every transport when rounds > 0.
	each := func(rounds int, name, what string, boot func(*modeConfig, string, *modeResults) error) {
		if rounds <= 0 {
			return
		}
		for _, tr := range c.transports {
			t0 := time.Now()
			err := boot(c, tr, res)
			fmt.Printf("  %-4s tamago %s, %d rounds (%4.1fs)%s\n", tr, what, rounds, time.Since(t0).Seconds(), failed(err))
			if err != nil {
				res.failures = append(res.failures, fmt.Sprintf("%s %s: %v", tr, name, err))
			}
		}
	}
	each(c.irqRounds, "irq modes", "irq modes "+strings.Join(c.irqModes, ","), irqModesBoot)
	each(c.packedRounds, "packed", "split/packed", packedBoot)
	if c.scaleRounds > 0 && c.arch != "amd64" {
		fmt.Printf("  scaling boots skipped: %s's board runs one CPU\n", c.arch)
	} else {
		each(c.scaleRounds, "scaling", "scaling (1 and 2 CPUs, 1 and 2 queues)", scalingBoots)
	}
	return res
}

func failed(err error) string {
	if err == nil {
		return ""
	}
	return ": FAILED: " + err.Error()
}

// rotate returns v turned left by n, so that each variant goes first in
// turn.
func rotate[T any](v []T, n int) []T {
	n %= len(v)
	return append(slices.Clone(v[n:]), v[:n]...)
}

// irqModesBoot boots the TamaGo image with a throttled and an
// unthrottled disk and runs every mode on each workload in turn, round
// after round.
func irqModesBoot(c *modeConfig, tr string, res *modeResults) error {
	modes := make([]mode, len(c.irqModes))
	for i, s := range c.irqModes {
		m, err := parseMode(s)
		if err != nil {
			return err
		}
		modes[i] = m
	}
	swapBytes, err := parseSize(c.swap)
	if err != nil {
		return err
	}
	slow, fast := filepath.Join(c.imageDir, "throttled.img"), filepath.Join(c.imageDir, "fast.img")
	if err := makeImage(slow, 64<<20); err != nil {
		return err
	}
	// swaptest's file, and room for its swap manager's blocks.
	if err := makeImage(fast, max(swapBytes+swapBytes/4, 512<<20)); err != nil {
		return err
	}
	clk, err := clockTicks()
	if err != nil {
		return err
	}
	g, err := startGuest(c, tr, "irq", []string{
		"--drive", fmt.Sprintf("file=%s,format=raw,throttling.iops-total=%d", escapeDrive(slow), c.throttleIOPS),
		"--drive", fmt.Sprintf("file=%s,format=raw,cache=none,aio=threads", escapeDrive(fast)),
	})
	if err != nil {
		return err
	}
	defer g.stop()
	pid, err := qemuPID(g.cmd.Process.Pid)
	if err != nil {
		return err
	}
	sample := func(r int, m, wl, field string, v float64) {
		res.add(modeSample{kind: "irq", transport: tr, variant: m, workload: wl, field: field, round: r, value: v})
	}
	throttled := fmt.Sprintf("randread-4K-qd1@%diops", c.throttleIOPS)
	unthrottled := []string{"randread-4K-qd1", "seqwrite-1M", "seqread-1M"}
	for r := 1; r <= c.irqRounds; r++ {
		order := rotate(modes, r-1)
		if _, err := g.send("use 0", "use:"); err != nil {
			return err
		}
		for _, m := range order {
			if err := g.setMode(m); err != nil {
				return err
			}
			f, cpu, err := g.benchCPU(fmt.Sprintf("bench --ms %d randread-4K-qd1", c.throttledMs), pid, clk)
			if err != nil {
				return err
			}
			sample(r, m.name, throttled, "cpu_s_per_1000", cpu)
			benchSamples(f, func(field string, v float64) { sample(r, m.name, throttled, field, v) })
		}
		if _, err := g.send("use 1", "use:"); err != nil {
			return err
		}
		for _, wl := range unthrottled {
			for _, m := range order {
				if err := g.setMode(m); err != nil {
					return err
				}
				l, err := g.send(fmt.Sprintf("bench --size %s --ms %d %s", c.size, c.ms, wl), "bench:")
				if err != nil {
					return err
				}
				benchSamples(keyValues(l), func(field string, v float64) { sample(r, m.name, wl, field, v) })
			}
		}
		for _, m := range order {
			if err := g.setMode(m); err != nil {
				return err
			}
			l, err := g.send("swaptest "+c.swap, "swaptest:")
			if err != nil {
				return err
			}
			f := keyValues(l)
			sample(r, m.name, "swaptest-"+c.swap+"-append", "mib_s", f["write_mib_s"])
			sample(r, m.name, "swaptest-"+c.swap+"-read", "mib_s", f["read_mib_s"])
		}
	}
	return g.exit()
}

// benchSamples passes on a bench line's figures.
func benchSamples(f map[string]float64, add func(field string, v float64)) {
	for _, k := range []string{"mib_s", "iops", "p50_us", "p99_us"} {
		if v, ok := f[k]; ok {
			add(k, v)
		}
	}
}

// packedBoot boots the TamaGo image with a split-ring disk and a
// packed-ring one and runs each workload on both in turn.
func packedBoot(c *modeConfig, tr string, res *modeResults) error {
	split, packed := filepath.Join(c.imageDir, "split.img"), filepath.Join(c.imageDir, "packed.img")
	for _, img := range []string{split, packed} {
		if err := makeImage(img, 256<<20); err != nil {
			return err
		}
	}
	// The packed disk is attached by hand: qemu/run's --packed sets
	// packed=on on every disk.
	g, err := startGuest(c, tr, "packed", append([]string{"--drive", benchDrive(split), "--"},
		handDisk(tr, packed, "packeddisk", "packed=on")...))
	if err != nil {
		return err
	}
	defer g.stop()
	lines, err := g.sendAll("info", "info: ", 2)
	if err != nil {
		return err
	}
	disks, err := disksByRing(lines)
	if err != nil {
		return err
	}
	rings := []string{"split", "packed"}
	for r := 1; r <= c.packedRounds; r++ {
		order := rotate(rings, r-1)
		for _, wl := range packedWorkloads {
			for _, ring := range order {
				if _, err := g.send(fmt.Sprintf("use %d", disks[ring]), "use:"); err != nil {
					return err
				}
				l, err := g.send(fmt.Sprintf("bench --size %s --ms %d %s", c.size, c.ms, wl), "bench:")
				if err != nil {
					return err
				}
				benchSamples(keyValues(l), func(field string, v float64) {
					res.add(modeSample{kind: "packed", transport: tr, variant: ring, workload: wl, field: field, round: r, value: v})
				})
			}
		}
	}
	return g.exit()
}

var infoRing = regexp.MustCompile(`^info: disk=([0-9]+) .* ring=(split|packed)\b`)

// disksByRing returns the disk number of the split and the packed disk
// from info's lines.
func disksByRing(lines []string) (map[string]int, error) {
	out := map[string]int{}
	for _, l := range lines {
		if m := infoRing.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			if _, dup := out[m[2]]; dup {
				return nil, fmt.Errorf("two %s disks: %q", m[2], lines)
			}
			out[m[2]] = n
		}
	}
	if len(out) != 2 {
		return nil, fmt.Errorf("want one split and one packed disk, info says %q", lines)
	}
	return out, nil
}

// benchDrive is the -drive options of an unthrottled mode-boot disk.
func benchDrive(img string) string {
	return "file=" + escapeDrive(img) + ",format=raw,cache=none,aio=threads"
}

// handDisk attaches img as a modern virtio-blk device on transport tr
// with the given device properties, past qemu/run's own disks (whose
// options apply to every disk): QEMU arguments for after qemu/run's --.
func handDisk(tr, img, id, props string) []string {
	device := "virtio-blk-device"
	if tr == "pci" {
		device = "virtio-blk-pci,disable-legacy=on,disable-modern=off"
	}
	return []string{"-drive", benchDrive(img) + ",if=none,id=" + id, "-device", device + "," + props + ",drive=" + id}
}

// escapeDrive doubles the commas of a file name in QEMU -drive options.
func escapeDrive(name string) string { return strings.ReplaceAll(name, ",", ",,") }

// modeFigure names a figure of the mode rows: a workload's field.
type modeFigure struct{ kind, transport, workload, field string }

// values returns every variant's samples of f by round.
func (r *modeResults) values(f modeFigure) map[string]map[int]float64 {
	out := map[string]map[int]float64{}
	for _, s := range r.samples {
		if s.kind == f.kind && s.transport == f.transport && s.workload == f.workload && s.field == f.field {
			if out[s.variant] == nil {
				out[s.variant] = map[int]float64{}
			}
			out[s.variant][s.round] = s.value
		}
	}
	return out
}

// figures returns the figures measured, in the order first measured.
func (r *modeResults) figures() []modeFigure {
	var out []modeFigure
	for _, s := range r.samples {
		f := modeFigure{s.kind, s.transport, s.workload, s.field}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// variants returns kind's variants, in the order first measured, the
// reference last.
func (r *modeResults) variants(kind string) []string {
	var out []string
	for _, s := range r.samples {
		if s.kind == kind && s.variant != modeRef[kind] && !slices.Contains(out, s.variant) {
			out = append(out, s.variant)
		}
	}
	return append(out, modeRef[kind])
}

// medianOf is the median of a variant's values over rounds.
func medianOf(byRound map[int]float64) spread {
	var v []float64
	for _, x := range byRound {
		v = append(v, x)
	}
	return summarize(v)
}

// ratio is f's per-round ratio of variant over the kind's reference.
func (r *modeResults) ratio(f modeFigure, variant string) spread {
	v := r.values(f)
	return summarize(pairedRatios(v[variant], v[modeRef[f.kind]]))
}

// modePath is the path column of a variant's rows.
func modePath(variant string) string { return "tamago-" + variant }

// ratioName is a mode ratio's name in bench.tsv: WORKLOAD/REF for MiB/s
// (the same ratio as the IOPS for a fixed request size), else
// WORKLOAD:FIELD/REF.
func ratioName(f modeFigure) string {
	if f.field == "mib_s" {
		return f.workload + "/" + modeRef[f.kind]
	}
	return f.workload + ":" + f.field + "/" + modeRef[f.kind]
}

// writeTSVRows writes the mode rows in bench.tsv's columns: each
// variant's medians (mib_s, iops), then the ratios against the
// reference.
func (r *modeResults) writeTSVRows(w io.Writer) {
	figs := r.figures()
	for _, kind := range []string{"irq", "packed"} {
		vars := r.variants(kind)
		for _, f := range figs {
			if f.kind != kind || f.field != "mib_s" {
				continue
			}
			for _, v := range vars {
				mib := medianOf(r.values(f)[v])
				if mib.n == 0 {
					continue
				}
				iops := medianOf(r.values(modeFigure{kind, f.transport, f.workload, "iops"})[v])
				io := ""
				if iops.n > 0 {
					io = fmt.Sprintf("%.1f", iops.median)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%.2f\t%s\t\t\t\t\n", f.transport, f.workload, modePath(v), mib.median, io)
			}
		}
		for _, f := range figs {
			if f.kind != kind || f.field == "iops" {
				continue
			}
			for _, v := range vars[:len(vars)-1] {
				if s := r.ratio(f, v); s.n > 0 {
					fmt.Fprintf(w, "%s\t%s\t%s\t\t\t%.3f\t%.3f\t%.3f\t%d\n", f.transport, ratioName(f), modePath(v), s.median, s.lo, s.hi, s.n)
				}
			}
		}
	}
	r.writeScalingTSV(w)
}

// writeRounds writes every sample, for tools.
func (r *modeResults) writeRounds(w io.Writer) error {
	fmt.Fprintln(w, "kind\ttransport\tvariant\tworkload\tfield\tround\tvalue")
	for _, s := range r.samples {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%g\n", s.kind, s.transport, s.variant, s.workload, s.field, s.round, s.value)
	}
	return nil
}

// fieldLabels name the fields in bench.md's tables.
var fieldLabels = map[string]string{
	"mib_s": "MiB/s", "iops": "IOPS", "p50_us": "p50 µs", "p99_us": "p99 µs", "cpu_s_per_1000": "QEMU CPU s / 1000 req",
}

// writeMarkdown writes a table per kind and transport: each variant's
// medians and its per-round ratios to the reference; then the targets.
func (r *modeResults) writeMarkdown(w io.Writer) {
	figs := r.figures()
	titles := map[string]string{
		"irq":    "Interrupts against polling (one TamaGo boot per transport; the modes take turns workload by workload)",
		"packed": "Packed against split rings (one TamaGo boot per transport, a split and a packed disk taking turns)",
	}
	for _, kind := range []string{"irq", "packed"} {
		vars := r.variants(kind)
		ref := modeRef[kind]
		for _, tr := range allTransports {
			var rows []modeFigure
			for _, f := range figs {
				if f.kind == kind && f.transport == tr && !(f.field == "iops" && !strings.Contains(f.workload, "4K")) {
					rows = append(rows, f)
				}
			}
			if len(rows) == 0 {
				continue
			}
			fmt.Fprintf(w, "### %s, %s\n\n| workload | figure |", titles[kind], tr)
			for _, v := range vars {
				fmt.Fprintf(w, " %s |", v)
			}
			for _, v := range vars[:len(vars)-1] {
				fmt.Fprintf(w, " %s / %s |", v, ref)
			}
			fmt.Fprint(w, "\n| --- | --- |")
			fmt.Fprint(w, strings.Repeat(" ---: |", 2*len(vars)-1))
			fmt.Fprintln(w)
			for _, f := range rows {
				fmt.Fprintf(w, "| %s | %s |", f.workload, fieldLabels[f.field])
				vals := r.values(f)
				for _, v := range vars {
					if s := medianOf(vals[v]); s.n > 0 {
						fmt.Fprintf(w, " %s |", fmtNum(s.median))
					} else {
						fmt.Fprint(w, " |")
					}
				}
				for _, v := range vars[:len(vars)-1] {
					fmt.Fprintf(w, " %s |", fmtSpread(r.ratio(f, v)))
				}
				fmt.Fprintln(w)
			}
			fmt.Fprintln(w)
		}
	}
	r.writeScalingMarkdown(w)
	r.writeTargets(w)
}

// modeTarget is a target on a mode ratio: the ratio of variants matching
// match, on workloads matching workload, is at most (atMost) or at least
// the bound.
type modeTarget struct {
	text            string
	kind, field     string
	workload, match *regexp.Regexp
	bound           float64
	atMost          bool
}

var modeTargets = []modeTarget{
	{"interrupts ≤ 0.25 of polling's host CPU per request (throttled disk)", "irq", "cpu_s_per_1000", regexp.MustCompile(`@`), regexp.MustCompile(`^(interrupt|hybrid-)`), 0.25, true},
	{"unpaced QD1 IOPS in interrupt mode (or with a hybrid poll) ≥ 0.9 of polling's", "irq", "mib_s", regexp.MustCompile(`^randread-4K-qd1$`), regexp.MustCompile(`^(interrupt|hybrid-)`), 0.9, false},
	{"sequential and swaptest MiB/s in interrupt mode ≥ 0.95 of polling's", "irq", "mib_s", regexp.MustCompile(`^(seq|swaptest)`), regexp.MustCompile(`^(interrupt|hybrid-)`), 0.95, false},
}

// writeTargets lists, for each target, every matching ratio's median
// and whether it meets the target.
func (r *modeResults) writeTargets(w io.Writer) {
	var lines []string
	for _, tg := range modeTargets {
		for _, f := range r.figures() {
			if f.kind != tg.kind || f.field != tg.field || !tg.workload.MatchString(f.workload) {
				continue
			}
			for _, v := range r.variants(f.kind) {
				if !tg.match.MatchString(v) {
					continue
				}
				s := r.ratio(f, v)
				if s.n == 0 {
					continue
				}
				ok := s.median >= tg.bound
				if tg.atMost {
					ok = s.median <= tg.bound
				}
				verdict := "met"
				if !ok {
					verdict = "MISSED"
				}
				lines = append(lines, fmt.Sprintf("| %s | %s %s, %s | %s | %s |", tg.text, f.transport, v, f.workload, fmtSpread(s), verdict))
			}
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(w, "### Targets of the mode rows (median of per-round ratios)\n\n| target | row | ratio | |\n| --- | --- | ---: | --- |\n%s\n\n", strings.Join(lines, "\n"))
}

// loadAverage is /proc/loadavg's first three fields, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// runModesCommand is `benchreport modes` (and its old name, irq): the
// mode boots alone, written to -out.{md,tsv} and -out-rounds.tsv.
func runModesCommand(args []string) error {
	fs := flag.NewFlagSet("benchreport modes", flag.ContinueOnError)
	c := modeConfig{}
	var transports, irqModes string
	fs.StringVar(&c.arch, "arch", "amd64", "amd64 (microvm) or arm64 (virt)")
	fs.StringVar(&c.qemu, "qemu", "system", "qemu/run --qemu: system or 10")
	fs.StringVar(&transports, "transports", "mmio,pci", "mmio, pci")
	fs.StringVar(&irqModes, "irq-modes", "interrupt,hybrid-200,poll", "modes of the irq boots: interrupt, poll, hybrid-US")
	fs.IntVar(&c.irqRounds, "rounds", 3, "rounds of the irq boots; 0: none")
	fs.IntVar(&c.packedRounds, "packed-rounds", 0, "rounds of the split/packed boots; 0: none")
	fs.IntVar(&c.scaleRounds, "scale-rounds", 0, "rounds of the scaling boots (1 and 2 CPUs, 1- and 2-queue disks; amd64); 0: none")
	fs.StringVar(&c.size, "size", "128M", "bench --size of the unthrottled workloads")
	fs.IntVar(&c.ms, "ms", 1000, "bench --ms of the unthrottled workloads")
	fs.IntVar(&c.throttledMs, "throttled-ms", 3000, "bench --ms on the throttled disk")
	fs.IntVar(&c.throttleIOPS, "iops", 200, "throttling.iops-total of the throttled disk")
	fs.StringVar(&c.swap, "swap", "1G", "swaptest size on the unthrottled disk")
	out := fs.String("out", "out/modes", "output files: OUT.md, OUT.tsv (bench.tsv's columns), OUT-rounds.tsv")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if c.root, err = moduleRoot(); err != nil {
		return err
	}
	if c.transports, err = pick("-transports", transports, allTransports); err != nil {
		return err
	}
	if err := c.setModes(irqModes); err != nil {
		return err
	}
	c.timeout = 3600
	c.logDir = filepath.Join(c.root, "out", "modes-"+c.arch+"-logs")
	c.imageDir = filepath.Join(c.root, "out", "modes")
	if !filepath.IsAbs(*out) {
		*out = filepath.Join(c.root, *out)
	}
	start, load0 := time.Now(), loadAverage()
	res := runModes(&c)
	elapsed, load1 := time.Since(start).Round(time.Second), loadAverage()
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := writeFile(*out+".tsv", func(w io.Writer) error {
		fmt.Fprintln(w, "transport\tworkload\tpath\tmib_s\tiops\tratio\tratio_min\tratio_max\trounds")
		res.writeTSVRows(w)
		return nil
	}); err != nil {
		return err
	}
	if err := writeFile(*out+"-rounds.tsv", res.writeRounds); err != nil {
		return err
	}
	md := func(w io.Writer) error {
		fmt.Fprintf(w, "# benchreport modes, %s\n\n    go run ./cmd/benchreport modes %s\n\n", c.arch, strings.Join(args, " "))
		fmt.Fprintf(w, "%s, %s; load average %s at the start, %s at the end (/proc/loadavg); %s, TCG.\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), elapsed, load0, load1, qemuLabel(&config{arch: c.arch, root: c.root}, c.qemu))
		res.writeMarkdown(w)
		for _, f := range res.failures {
			fmt.Fprintf(w, "FAILED: %s\n\n", f)
		}
		return nil
	}
	if err := writeFile(*out+".md", md); err != nil {
		return err
	}
	md(os.Stdout)
	if len(res.failures) > 0 {
		return fmt.Errorf("%d mode boot(s) failed", len(res.failures))
	}
	return nil
}

// setModes parses -irq-modes into c.
func (c *modeConfig) setModes(list string) error {
	c.irqModes = nil
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if _, err := parseMode(s); err != nil {
			return err
		}
		if !slices.Contains(c.irqModes, s) {
			c.irqModes = append(c.irqModes, s)
		}
	}
	if !slices.Contains(c.irqModes, "poll") || len(c.irqModes) < 2 {
		return errors.New("-irq-modes: poll and at least one other mode")
	}
	return nil
}
