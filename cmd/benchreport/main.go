// Command benchreport is `make bench`: it boots the same QEMU
// configuration several times through qemu/run, runs the shell's `bench`
// workloads over each storage path, measures the device's own ceiling
// with qemu-img bench on the same image and cache mode, and writes the
// medians to results/: bench.tsv for tools, bench.md for people and
// bench.svg, a plot of the table.
//
// Paths, each for the mmio (QEMU microvm) and pci transports:
//
//	ours     our driver in the hosted guest (Linux user space, /dev/mem)
//	kernel   the guest kernel's virtio_blk, O_DIRECT on /dev/vda, same workload code
//	tamago   our driver in the TamaGo unikernel, when a TamaGo compiler exists
//	fio      Debian's fio on the guest kernel's virtio_blk (/dev/vda), one
//	         boot giving two paths: fio-psync and fio-uring (fio.go)
//	ceiling  qemu-img bench -f raw -t none -i threads -d 1 -s 1M [-w] on the host
//
// Usage:
//
//	benchreport [-arch amd64|arm64] [-boots 5] [-size 128M] [-ms 2000]
//	            [-paths ours,kernel,tamago,fio] [-transports mmio,pci]
//	            [-rounds 15] [-round-size 64M] [-round-ms 500] [-vs-qemu system|10|none]
//	            [-irq-rounds 3] [-irq-modes interrupt,hybrid-200,poll] [-irq-swap 1G] [-packed-rounds 5]
//	            [-scale-rounds 7]
//	            [-image out/bench.img] [-image-size 256M] [-out results]
//
// Ratios hold still only when both figures were measured close together
// (rounds.go): each guest boot ends with `bench --rounds N` (-rounds,
// -round-size, -round-ms), whose raw, swap and copy workloads give the
// swap ratios within each round, and ratios between paths pair the boots
// of one round. With -qemu 10 every boot alternates with the same boot on
// the system's QEMU (-vs-qemu), and the report compares the two.
//
// Where the tamago path runs, each transport also gets the mode boots
// (modes.go): one TamaGo boot in which interrupt mode, hybrid polls and
// polling take turns (-irq-rounds, -irq-modes, -irq-swap), and one with a
// split-ring and a packed-ring disk taking turns (-packed-rounds); on
// amd64 also boots with 1 and 2 CPUs in turn, each with a 1-queue and a
// 2-queue disk (-scale-rounds, scaling.go). Their rows follow the others
// in bench.tsv (paths tamago-MODE and tamago-cpusC-qQ, ratios
// WORKLOAD/poll, WORKLOAD/split, WORKLOAD/q1, WORKLOAD/cpus1 and
// randread-4K-qd16-jobs2/randread-4K-qd16) and bench.md, and every sample is in
// bench-modes-rounds.tsv. `benchreport modes` runs them alone.
//
// With -arch arm64 every boot is an arm64 guest on QEMU's virt machine
// (mmio: its virtio-mmio transports; pci: its PCIe host) and the files are
// results/bench-arm64.{tsv,md,svg} and bench-arm64-boots.tsv.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Workloads of the benchmark table (results/README.md), in its order:
// raw I/O and plain swap, then encrypted swap and the cipher it is
// measured against (aead-seal-4K and aead-open-4K seal and open 4 KiB
// units in place as the encrypted swap manager does, with no device).
var workloads = []string{
	"seqwrite-1M", "seqread-1M", "randread-4K-qd1", "randwrite-4K-qd1",
	"randread-4K-qd16", "swap-append-64K", "swap-read-64K", "seed-append", "seed-read",
	"swap-append-64K-enc", "swap-read-64K-enc", "aead-seal-4K", "aead-open-4K",
}

// encrypted are the workloads only our driver's paths run: the kernel
// path's figures for them would say nothing the plain ones do not.
var encrypted = []string{"swap-append-64K-enc", "swap-read-64K-enc", "aead-seal-4K", "aead-open-4K"}

// references are run in every guest boot beside the workloads, to
// explain them, and kept out of bench.tsv: copy-64K is the guest's memory
// copy, which bounds the swap workloads where it is slower than the
// device.
var references = []string{"copy-64K"}

// Paths and transports, in table order.
var (
	allPaths      = []string{"ours", "kernel", "tamago", "fio", "ceiling"}
	allTransports = []string{"mmio", "pci"}
)

type config struct {
	arch       string // qemu/run --arch
	qemu       string // qemu/run --qemu: system or 10
	base       string // results' file names: bench, or bench-ARCH
	root       string
	boots      int
	size, ms   string
	paths      []string
	transports []string
	image      string
	imageSize  int64
	out        string
	logDir     string
	timeout    int
	cacheMode  string
	mem        string
	ceilingMiB int
	verbose    bool
	hostedArgs []string // extra QEMU arguments for the hosted boots (A/B experiments)
	fioImage   string   // the fio path's read-only disk
	fioVersion string   // Debian's fio package version

	// bench --rounds at the end of each boot (rounds.go); rounds 0: none
	rounds             int
	roundSize, roundMs string
	vsQEMU             string // the other QEMU booted beside each boot (qemu/run --qemu), or ""

	// the mode boots (modes.go): interrupts against polling, packed
	// against split rings; run when the tamago path is
	modes modeConfig
}

func main() {
	run := run
	if len(os.Args) > 1 && (os.Args[1] == "modes" || os.Args[1] == "irq") { // modes.go
		run = func() error { return runModesCommand(os.Args[2:]) }
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run() error {
	var c config
	var paths, transports, imageSize string
	flag.StringVar(&c.arch, "arch", "amd64", "guest architecture (qemu/run --arch): amd64 or arm64")
	flag.StringVar(&c.qemu, "qemu", "system", "which QEMU boots the guests (qemu/run --qemu): system, or 10 (cache/qemu-10); 10 writes results/bench[-ARCH]-qemu10.*")
	flag.IntVar(&c.boots, "boots", 5, "boots per path and transport; each figure is their median")
	flag.StringVar(&c.size, "size", "128M", "byte budget of each workload (bench --size)")
	flag.StringVar(&c.ms, "ms", "2000", "time budget of each workload in ms (bench --ms)")
	flag.StringVar(&paths, "paths", "", "guest paths to boot: ours, kernel, tamago, fio (ceiling always runs); default all, and on arm64 all but fio")
	flag.StringVar(&transports, "transports", "mmio,pci", "transports: mmio (microvm), pci")
	flag.StringVar(&c.image, "image", "out/bench.img", "scratch disk image (its contents are destroyed)")
	flag.StringVar(&imageSize, "image-size", "256M", "size of the scratch image")
	flag.StringVar(&c.out, "out", "results", "folder for bench.tsv, bench.md, bench.svg")
	flag.IntVar(&c.timeout, "timeout", 300, "seconds per boot")
	flag.StringVar(&c.cacheMode, "cache", "none", "QEMU cache mode of the disk, also qemu-img bench -t")
	flag.StringVar(&c.mem, "mem", "512M", "guest RAM for every boot")
	flag.IntVar(&c.rounds, "rounds", 15, "rounds of raw, swap and copy workloads in turn at the end of each boot, for the ratios within a boot (bench --rounds); 0: none")
	flag.StringVar(&c.roundSize, "round-size", "64M", "byte budget of each workload of a round")
	flag.StringVar(&c.roundMs, "round-ms", "500", "time budget of each workload of a round, in ms")
	vsQEMU := flag.String("vs-qemu", "", "boot every path on this QEMU too (system or 10), alternating with -qemu's boots, and compare the two; default: system when -qemu 10, else none")
	flag.IntVar(&c.ceilingMiB, "ceiling-mib", 512, "MiB per 1 MiB qemu-img bench run (4 KiB runs move a sixteenth)")
	flag.BoolVar(&c.verbose, "v", false, "copy every guest line to standard error")
	flag.IntVar(&c.modes.irqRounds, "irq-rounds", 3, "rounds of the TamaGo boot per transport that compares interrupt modes with polling (modes.go); 0: none")
	irqModes := flag.String("irq-modes", "interrupt,hybrid-200,poll", "modes of that boot: interrupt (sleep at once), poll, hybrid-US (poll the used ring US µs, then sleep)")
	flag.IntVar(&c.modes.packedRounds, "packed-rounds", 5, "rounds of the TamaGo boot per transport with a split and a packed disk (modes.go); 0: none")
	flag.IntVar(&c.modes.scaleRounds, "scale-rounds", 7, "rounds of TamaGo boots per transport with 1 and 2 CPUs, each with a 1-queue and a 2-queue disk (scaling.go; amd64 only); 0: none")
	flag.StringVar(&c.modes.swap, "irq-swap", "1G", "swaptest size of the interrupt-mode boots")
	hostedArgs := flag.String("hosted-qemu-args", "", "extra QEMU arguments (space-separated) for the ours and kernel boots, e.g. \"-initrd other.cpio\" to try a modified guest; the report says so")
	flag.Parse()
	if flag.NArg() != 0 || c.boots < 1 || c.rounds < 0 {
		flag.Usage()
		return errors.New("bad arguments")
	}
	c.hostedArgs = strings.Fields(*hostedArgs)
	if err := c.modes.setModes(*irqModes); err != nil {
		return err
	}
	c.base = "bench"
	switch c.arch {
	case "amd64":
		if paths == "" {
			paths = "ours,kernel,tamago,fio"
		}
	case "arm64":
		c.base += "-" + c.arch
		if paths == "" {
			// The fio path fetches and boots amd64 packages only.
			paths = "ours,kernel,tamago"
		}
	default:
		return fmt.Errorf("-arch %s: amd64 or arm64", c.arch)
	}
	switch c.qemu {
	case "system":
	case "10":
		c.base += "-qemu10"
	default:
		return fmt.Errorf("-qemu %s: system or 10", c.qemu)
	}
	switch *vsQEMU {
	case "":
		if c.qemu == "10" {
			c.vsQEMU = "system"
		}
	case "none":
	case "system", "10":
		if *vsQEMU != c.qemu {
			c.vsQEMU = *vsQEMU
		}
	default:
		return fmt.Errorf("-vs-qemu %s: system, 10 or none", *vsQEMU)
	}
	var err error
	if c.imageSize, err = parseSize(imageSize); err != nil {
		return err
	}
	if c.paths, err = pick("-paths", paths, allPaths[:4]); err != nil {
		return err
	}
	if c.arch != "amd64" && slices.Contains(c.paths, "fio") {
		return fmt.Errorf("-paths fio: the fio path runs on amd64 only, not %s", c.arch)
	}
	if c.transports, err = pick("-transports", transports, allTransports); err != nil {
		return err
	}
	if c.root, err = moduleRoot(); err != nil {
		return err
	}
	c.logDir = filepath.Join(c.root, "out", c.base+"-logs")
	if err := os.MkdirAll(c.logDir, 0o755); err != nil {
		return err
	}
	if !filepath.IsAbs(c.image) {
		c.image = filepath.Join(c.root, c.image)
	}
	if !filepath.IsAbs(c.out) {
		c.out = filepath.Join(c.root, c.out)
	}
	start := time.Now()
	c.paths = usablePaths(&c)
	if err := makeImage(c.image, c.imageSize); err != nil {
		return err
	}
	fmt.Printf("benchreport: %s: %d boot(s) each of %s over %s; bench --size %s --ms %s, then --rounds %d --size %s --ms %s; disk %s (%s), cache=%s, -m %s\n",
		c.arch, c.boots, strings.Join(c.paths, ","), strings.Join(c.transports, ","), c.size, c.ms, c.rounds, c.roundSize, c.roundMs, rel(c.root, c.image), imageSize, c.cacheMode, c.mem)
	if c.vsQEMU != "" {
		fmt.Printf("benchreport: every boot on QEMU %s alternates with one on QEMU %s\n", c.qemu, c.vsQEMU)
	}

	s := newSamples()
	vs := newSamples() // the boots on c.vsQEMU
	var failures []string
	booted, bootFailures := 0, 0
	// Boots interleave paths and transports, so that a slow spell of the
	// shared host spreads over all of them rather than one.
	for boot := 1; boot <= c.boots; boot++ {
		for _, tr := range c.transports {
			for _, path := range c.paths {
				// With a second QEMU, the two take turns at going
				// first, so that neither always follows the other.
				order := []string{c.qemu}
				if c.vsQEMU != "" {
					order = append(order, c.vsQEMU)
					if boot%2 == 0 {
						order[0], order[1] = order[1], order[0]
					}
				}
				for _, q := range order {
					into := s
					if q != c.qemu {
						into = vs
					}
					got, err := bootBench(&c, q, path, tr, boot)
					booted++
					for k, m := range got.figures {
						into.addAt(tr, k.workload, k.path, boot, m)
					}
					into.addRounds(tr, path, got.rounds)
					if err != nil {
						bootFailures++
						failures = append(failures, fmt.Sprintf("%s %s boot %d (QEMU %s): %v", tr, path, boot, q, err))
						fmt.Printf("  %s %s boot %d (QEMU %s): FAILED: %v\n", tr, path, boot, q, err)
					}
				}
			}
		}
		// The ceiling once per round, between the boots, so that it
		// sees the same host.
		var line []string
		for _, cr := range ceilingRuns {
			m, err := ceiling(&c, cr)
			if err != nil {
				failures = append(failures, fmt.Sprintf("ceiling %s round %d: %v", cr.workload, boot, err))
				fmt.Printf("  ceiling %s round %d: FAILED: %v\n", cr.workload, boot, err)
				continue
			}
			line = append(line, fmt.Sprintf("%s=%.1f", cr.workload, m.mibs))
			for _, tr := range c.transports {
				s.addAt(tr, cr.workload, "ceiling", boot, m)
			}
		}
		fmt.Printf("  ceiling     round %d: %s\n", boot, strings.Join(line, " "))
	}
	modes := &modeResults{}
	if slices.Contains(c.paths, "tamago") && (c.modes.irqRounds > 0 || c.modes.packedRounds > 0 || c.modes.scaleRounds > 0) {
		m := &c.modes
		m.arch, m.qemu, m.root, m.transports = c.arch, c.qemu, c.root, c.transports
		m.size, m.ms, m.throttledMs, m.throttleIOPS = "128M", 1000, 3000, 200
		m.timeout = 3600
		m.logDir, m.imageDir = c.logDir, filepath.Join(c.root, "out", c.base+"-modes")
		fmt.Printf("benchreport: mode boots (TamaGo): %s against poll, %d rounds; split against packed, %d rounds; scaling, %d rounds\n", strings.Join(m.irqModes[:len(m.irqModes)-1], ","), m.irqRounds, m.packedRounds, m.scaleRounds)
		modes = runModes(m)
		failures = append(failures, modes.failures...)
	}
	paths = strings.Join(tablePaths(c.paths), ",")
	t := s.table(&c)
	if c.vsQEMU != "" {
		t.compareQEMU(s, vs, qemuLabel(&c, c.vsQEMU))
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	env := describeMachine(&c)
	env.command = "make bench"
	if c.arch != "amd64" {
		env.command += " ARCH=" + c.arch
	}
	if len(os.Args) > 1 {
		env.command = "qemu/bench " + strings.Join(os.Args[1:], " ")
	}
	env.elapsed = time.Since(start)
	env.failures = failures
	env.booted, env.bootFailures = booted, bootFailures
	env.paths = paths
	env.qemuLabel = qemuLabel(&c, c.qemu)
	if err := writeFile(filepath.Join(c.out, c.base+".tsv"), func(w io.Writer) error {
		if err := t.writeTSV(w); err != nil {
			return err
		}
		modes.writeTSVRows(w)
		return nil
	}); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(c.out, c.base+"-boots.tsv"), func(w io.Writer) error {
		return s.writeRaw(w, vs, qemuLabel(&c, c.vsQEMU))
	}); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(c.out, c.base+".md"), func(w io.Writer) error {
		if err := t.writeMarkdown(w, &c, env, vs); err != nil {
			return err
		}
		fmt.Fprintln(w)
		modes.writeMarkdown(w)
		return nil
	}); err != nil {
		return err
	}
	if len(modes.samples) > 0 {
		if err := writeFile(filepath.Join(c.out, c.base+"-modes-rounds.tsv"), modes.writeRounds); err != nil {
			return err
		}
	}
	if err := writeFile(filepath.Join(c.out, c.base+".svg"), func(w io.Writer) error { return t.writeSVG(w, &c, env) }); err != nil {
		return err
	}
	fmt.Println()
	t.writeMarkdownTables(os.Stdout, &c)
	fmt.Println()
	t.writeQEMUComparison(os.Stdout, qemuLabel(&c, c.qemu), vs)
	t.writeTargets(os.Stdout, &c)
	modes.writeMarkdown(os.Stdout)
	fmt.Printf("\nbenchreport: %d of %d guest boots failed\n", bootFailures, booted)
	fmt.Printf("benchreport: wrote %s/%s.{tsv,md,svg} in %v\n", rel(c.root, c.out), c.base, env.elapsed.Round(time.Second))
	if len(failures) > 0 {
		return fmt.Errorf("%d boot(s) or run(s) failed (see above; guest logs in %s)", len(failures), rel(c.root, c.logDir))
	}
	return nil
}

// measurement is one workload's figure from one boot.
type measurement struct{ mibs, iops float64 }

// benchLine is a result of the shell's bench or, with an engine, of the
// fio path's fio command: any key=value fields after iops= (bench's
// p50_us=, p99_us=, ops=) are skipped, and bench --rounds's round=, last,
// is taken.
var benchLine = regexp.MustCompile(`^(?:bench:|fio: (psync|io_uring)) (\S+) mib_s=([0-9.]+) iops=([0-9.]+)(?:\s+\S+=\S+)*?(?: round=([0-9]+))?\s*$`)

// fioPaths are the table's paths of the fio boots, by engine.
var fioPaths = map[string]string{"psync": "fio-psync", "io_uring": "fio-uring"}

// tablePaths returns the paths of the table for the boot paths: fio's
// boots give two, and the ceiling comes last.
func tablePaths(boot []string) []string {
	var out []string
	for _, p := range boot {
		if p == "fio" {
			out = append(out, "fio-psync", "fio-uring")
			continue
		}
		out = append(out, p)
	}
	return append(out, "ceiling")
}

// guestCommands returns what a boot of path runs, and the results it
// should print (path, workload).
func guestCommands(c *config, path string) (string, []key) {
	var want []key
	if path == "fio" {
		var specs []string
		for _, engine := range []string{"psync", "io_uring"} {
			for _, w := range workloads[:5] {
				if engine == "psync" && strings.HasSuffix(w, "-qd16") {
					continue // psync is synchronous: depth 1 only
				}
				specs = append(specs, engine+":"+w)
				want = append(want, key{workload: w, path: fioPaths[engine]})
			}
		}
		return fmt.Sprintf("info\nfio --size %s --ms %s %s\nexit 0\n", c.size, c.ms, strings.Join(specs, " ")), want
	}
	var run []string
	for _, w := range append(slices.Clone(workloads), references...) {
		if path == "kernel" && slices.Contains(encrypted, w) {
			continue
		}
		run = append(run, w)
		want = append(want, key{workload: w, path: path})
	}
	cmds := fmt.Sprintf("info\nbench --size %s --ms %s %s\n", c.size, c.ms, strings.Join(run, " "))
	if c.rounds > 0 {
		cmds += fmt.Sprintf("bench --rounds %d --size %s --ms %s %s\n", c.rounds, c.roundSize, c.roundMs, strings.Join(roundWorkloads, " "))
	}
	return cmds + "exit 0\n", want
}

// bootResult is what one boot printed: the figures of the workload
// list, by workload and table path, and the rounds of bench --rounds.
type bootResult struct {
	figures map[key]measurement
	rounds  []round
}

// addLine records a result line of a boot of path; false if it is none.
func (b *bootResult) addLine(line, path string, boot int) bool {
	m := benchLine.FindStringSubmatch(line)
	if m == nil {
		return false
	}
	mibs, err1 := strconv.ParseFloat(m[3], 64)
	iops, err2 := strconv.ParseFloat(m[4], 64)
	if err1 != nil || err2 != nil {
		return false
	}
	if m[5] != "" {
		r, err := strconv.Atoi(m[5])
		if err != nil || r < 1 {
			return false
		}
		for len(b.rounds) < r {
			b.rounds = append(b.rounds, round{boot: boot, mibs: map[string]float64{}})
		}
		b.rounds[r-1].mibs[m[2]] = mibs
		return true
	}
	p := path
	if m[1] != "" {
		p = fioPaths[m[1]]
	}
	b.figures[key{workload: m[2], path: p}] = measurement{mibs, iops}
	return true
}

// roundResults counts the figures of b's rounds.
func (b *bootResult) roundResults() int {
	n := 0
	for _, r := range b.rounds {
		n += len(r.mibs)
	}
	return n
}

// bootBench boots path over transport once on QEMU qemu (qemu/run
// --qemu) and returns what `bench` (or `fio`) printed.
func bootBench(c *config, qemu, path, tr string, boot int) (bootResult, error) {
	args := []string{"--arch", c.arch, "--qemu", qemu, "--mem", c.mem, "--timeout", strconv.Itoa(c.timeout),
		"--drive", fmt.Sprintf("file=%s,format=raw,cache=%s,aio=threads", strings.ReplaceAll(c.image, ",", ",,"), c.cacheMode)}
	switch tr {
	case "mmio":
		// The arch's virtio-mmio machine: microvm on amd64, virt on arm64.
	case "pci":
		args = append(args, "--machine", "pci")
	}
	switch path {
	case "ours":
		args = append(args, "--runtime", "hosted")
	case "kernel":
		args = append(args, "--runtime", "hosted", "--append", "tamaswap.path=kernel")
	case "fio":
		// The disk to measure first, so that it is /dev/vda; fio's own
		// read-only disk after it.
		args = append(args, "--runtime", "hosted", "--append", "tamaswap.path=fio",
			"--drive", fmt.Sprintf("file=%s,format=raw,readonly=on", strings.ReplaceAll(c.fioImage, ",", ",,")))
	case "tamago":
		args = append(args, "--runtime", "tamago")
	}
	if path != "tamago" && len(c.hostedArgs) > 0 {
		args = append(append(args, "--"), c.hostedArgs...)
	}
	cmds, run := guestCommands(c, path)
	logName := filepath.Join(c.logDir, fmt.Sprintf("%s-%s-%d.log", tr, path, boot))
	if qemu != c.qemu {
		logName = filepath.Join(c.logDir, fmt.Sprintf("%s-%s-%d-qemu%s.log", tr, path, boot, qemu))
	}
	res := bootResult{figures: map[key]measurement{}}
	logf, err := os.Create(logName)
	if err != nil {
		return res, err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "$ qemu/run %s\n%s", strings.Join(args, " "), cmds)

	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(c.timeout+120)*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.root, "qemu", "run"), args...)
	cmd.Dir = c.root
	cmd.Stdin = strings.NewReader(cmds)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return res, err
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return res, err
	}
	got := res.figures
	var guestErrs []string
	var info string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(logf, line)
		if c.verbose {
			fmt.Fprintln(os.Stderr, line)
		}
		switch {
		case strings.HasPrefix(line, "info: ") && info == "":
			info = line
		case strings.HasPrefix(line, "bench: error: "), strings.HasPrefix(line, "fio: error: "):
			guestErrs = append(guestErrs, line[strings.Index(line, "error: ")+7:])
		}
		res.addLine(line, path, boot)
	}
	werr := cmd.Wait()
	var summary []string
	for _, k := range run {
		if m, ok := got[k]; ok {
			name := k.workload
			if k.path != path {
				name = k.path + ":" + name
			}
			summary = append(summary, fmt.Sprintf("%s=%.1f", name, m.mibs))
		}
	}
	if len(res.rounds) > 0 {
		sw := ratiosWithin(res.rounds, roundRatios[2])
		sr := ratiosWithin(res.rounds, roundRatios[3])
		summary = append(summary, fmt.Sprintf("rounds=%d append/min(raw,copy)=%s read/min(raw,copy)=%s", len(res.rounds), fmtSpread(summarize(sw)), fmtSpread(summarize(sr))))
	}
	q := ""
	if c.vsQEMU != "" {
		q = " qemu " + qemu
	}
	fmt.Printf("  %-4s %-6s boot %d%s (%4.1fs): %s\n", tr, path, boot, q, time.Since(t0).Seconds(), strings.Join(summary, " "))
	if info != "" && boot == 1 {
		fmt.Printf("         %s\n", info)
	}
	wantRounds := 0
	if path != "fio" {
		wantRounds = c.rounds * len(roundWorkloads)
	}
	switch {
	case werr != nil:
		return res, fmt.Errorf("qemu/run: %v (log %s)", werr, rel(c.root, logName))
	case len(guestErrs) > 0:
		return res, fmt.Errorf("guest: %s (log %s)", strings.Join(guestErrs, "; "), rel(c.root, logName))
	case len(got) < len(run):
		return res, fmt.Errorf("only %d of %d workloads reported (log %s)", len(got), len(run), rel(c.root, logName))
	case res.roundResults() < wantRounds:
		return res, fmt.Errorf("only %d of %d round results reported (log %s)", res.roundResults(), wantRounds, rel(c.root, logName))
	}
	return res, nil
}

// qemuLabel names a QEMU of qemu/run --qemu in the report, by its
// version: "QEMU 7.2", "QEMU 10.0"; "" for none.
func qemuLabel(c *config, qemu string) string {
	if qemu == "" {
		return ""
	}
	if out, err := exec.Command(qemuBinary(c, qemu), "--version").Output(); err == nil {
		if m := regexp.MustCompile(`version ([0-9]+\.[0-9]+)`).FindSubmatch(out); m != nil {
			return "QEMU " + string(m[1])
		}
	}
	return "QEMU " + qemu
}

// qemuBinary is the system emulator of qemu/run --qemu qemu for c's arch.
func qemuBinary(c *config, qemu string) string {
	bin := "qemu-system-x86_64"
	if c.arch == "arm64" {
		bin = "qemu-system-aarch64"
	}
	if qemu == "10" {
		bin = filepath.Join(c.root, "cache", "qemu-10", "usr", "bin", bin)
	}
	return bin
}

var qemuImgRun = regexp.MustCompile(`Run completed in ([0-9.]+) seconds`)

// ceilingRun is one qemu-img bench measurement: the 1 MiB ones of the targets,
// and 4 KiB ones at depth 1 that show the device's own latency beside the
// random 4 KiB workloads (qemu-img bench has no random mode: it steps
// through the image, here 4 KiB requests 1 MiB + 4 KiB apart, so that no
// two hit the same host block in a row).
type ceilingRun struct {
	workload string
	size     int // bytes per request
	step     int // bytes between requests; 0 is size
	write    bool
}

var ceilingRuns = []ceilingRun{
	{workload: "seqwrite-1M", size: 1 << 20, write: true},
	{workload: "seqread-1M", size: 1 << 20},
	{workload: "randwrite-4K-qd1", size: 4 << 10, step: 1<<20 + 4<<10, write: true},
	{workload: "randread-4K-qd1", size: 4 << 10, step: 1<<20 + 4<<10},
}

// ceiling runs qemu-img bench on the image at depth 1: what the host's
// storage under QEMU's block layer does with the guest out of the way.
// Each run moves ceilingMiB MiB (1 MiB requests) or a sixteenth of that
// (4 KiB ones).
func ceiling(c *config, r ceilingRun) (measurement, error) {
	bytes := int64(c.ceilingMiB) << 20
	if r.size < 1<<20 {
		bytes /= 16
	}
	count := bytes / int64(r.size)
	args := []string{"bench", "-f", "raw", "-t", c.cacheMode, "-i", "threads", "-d", "1",
		"-s", strconv.Itoa(r.size), "-c", strconv.FormatInt(count, 10)}
	if r.step != 0 {
		args = append(args, "-S", strconv.Itoa(r.step))
	}
	if r.write {
		args = append(args, "-w")
	}
	args = append(args, c.image)
	out, err := exec.Command("qemu-img", args...).CombinedOutput()
	if err != nil {
		return measurement{}, fmt.Errorf("qemu-img %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	m := qemuImgRun.FindSubmatch(out)
	if m == nil {
		return measurement{}, fmt.Errorf("qemu-img bench printed no run time: %s", out)
	}
	secs, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil || secs <= 0 {
		return measurement{}, fmt.Errorf("qemu-img bench: bad run time %q", m[1])
	}
	return measurement{mibs: float64(bytes) / (1 << 20) / secs, iops: float64(count) / secs}, nil
}

// usablePaths drops the paths this machine cannot boot, saying why.
func usablePaths(c *config) []string {
	var keep []string
	for _, p := range c.paths {
		switch p {
		case "kernel":
			help, _ := exec.Command(filepath.Join(c.root, "qemu", "run"), "--help").CombinedOutput()
			if !strings.Contains(string(help), "-append") {
				fmt.Println("benchreport: skipping the kernel path: qemu/run has no --append option for the kernel command line")
				continue
			}
		case "tamago":
			if why := noTamaGo(c); why != "" {
				fmt.Println("benchreport: skipping the tamago path:", why)
				continue
			}
		case "fio":
			img, ver, err := fioImage(c)
			if err != nil {
				fmt.Println("benchreport: skipping the fio path:", err)
				continue
			}
			c.fioImage, c.fioVersion = img, ver
		}
		keep = append(keep, p)
	}
	return keep
}

// noTamaGo asks qemu/run, which looks for the TamaGo compiler as
// DESIGN.md says and builds the image, whether a TamaGo guest boots here:
// one boot that only exits. It returns why not, or "".
func noTamaGo(c *config) string {
	cmd := exec.Command(filepath.Join(c.root, "qemu", "run"), "--arch", c.arch, "--qemu", c.qemu, "--runtime", "tamago", "--timeout", "120")
	cmd.Dir = c.root
	cmd.Stdin = strings.NewReader("exit 0\n")
	out, err := cmd.CombinedOutput()
	if err == nil {
		return ""
	}
	for _, l := range strings.Split(string(out), "\n") {
		// Not the line that says which QEMU starts.
		if strings.HasPrefix(l, "qemu/run: ") && !strings.HasPrefix(l, "qemu/run: qemu ") {
			return strings.TrimPrefix(l, "qemu/run: ")
		}
	}
	return err.Error()
}

// makeImage writes a raw image of size bytes full of non-zero data, so
// that reads hit allocated blocks on the host as they would on a used
// disk (a sparse image's holes read back without touching storage).
func makeImage(name string, size int64) error {
	if st, err := os.Stat(name); err == nil && st.Size() == size {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range buf {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		buf[i] = byte(x)
	}
	for off := int64(0); off < size; off += int64(len(buf)) {
		n := min(int64(len(buf)), size-off)
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// machineInfo is what the report says about where it ran.
type machineInfo struct {
	nproc   int
	cpu     string
	qemu    string
	goVer   string
	kernel  string
	date    string
	command string
	paths   string
	// qemuLabel names the QEMU of the run ("QEMU 7.2"), for the
	// comparison with the other one
	qemuLabel string
	elapsed   time.Duration
	failures  []string
	// booted guests, and how many of them failed (a crash, a timeout,
	// a bench error)
	booted, bootFailures int
}

func describeMachine(c *config) machineInfo {
	m := machineInfo{nproc: runtime.NumCPU(), goVer: runtime.Version(), date: time.Now().UTC().Format("2006-01-02 15:04 UTC")}
	if out, err := exec.Command(qemuBinary(c, c.qemu), "--version").Output(); err == nil {
		m.qemu, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(b))
	}
	return m
}

func writeFile(name string, write func(io.Writer) error) error {
	tmp := name + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, name)
}

func pick(flagName, list string, allowed []string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(allowed, p) {
			return nil, fmt.Errorf("%s: unknown %q (have %s)", flagName, p, strings.Join(allowed, ", "))
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: empty", flagName)
	}
	return out, nil
}

func parseSize(s string) (int64, error) {
	num, shift := s, 0
	if n := len(s); n > 0 {
		if i := strings.IndexByte("KMG", s[n-1]&^0x20); i >= 0 {
			num, shift = s[:n-1], 10*(i+1)
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v <= 0 || v > 1<<(40-shift) || (v<<shift)%(1<<20) != 0 {
		return 0, fmt.Errorf("bad size %q (a whole number of MiB, e.g. 256M)", s)
	}
	return v << shift, nil
}

// moduleRoot returns the folder of the main module's go.mod, as the go
// command finds it.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", errors.New("run benchreport inside the tamaswap module (go env GOMOD finds no go.mod)")
	}
	return filepath.Dir(gomod), nil
}

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}
