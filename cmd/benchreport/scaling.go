package main

import (
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Scaling: rows of the multi-queue driver on an SMP TamaGo microvm
// (amd64; board/virt starts one CPU). Each round boots the guest twice,
// with one CPU and with two (qemu/run --cpus; the first boot of a round
// alternates), each boot with two disks of the same size and options
// but for the device's num_queues (virtio 1.2 §5.2.4): q1 offers one
// request queue, q2 two (VIRTIO_BLK_F_MQ, §5.2.3). The driver sets up
// min(num_queues, GOMAXPROCS, 8) queues, so with one CPU both disks get
// one queue: that boot is the control, its q2/q1 only noise. In each
// boot the two disks take turns on each workload (the first alternating
// by round), in interrupt mode, and the QEMU process's host CPU seconds
// (utime+stime, /proc/PID/stat) are read around each bench.
//
// Ratios, each the median (min–max) of per-round ratios:
//   - jobs2/jobs1: randread-4K-qd16-jobs2 (two submitters of 16) over
//     randread-4K-qd16 (one), per boot and disk;
//   - q2/q1: the two disks of one boot, per workload;
//   - cpus2/cpus1: the two boots of one round, per disk and workload.
//
// The target is the multi-queue cost at queue depth one: one submitter
// pays an atomic add per call to pick a queue, which should not show.

// scaleWorkloads run on both disks of every scaling boot, in this order.
var scaleWorkloads = []string{"randread-4K-qd16", "randread-4K-qd16-jobs2", "randread-4K-qd1"}

// scaleCPUs and scaleQueues are the boots' CPU counts and the disks'
// num_queues.
var (
	scaleCPUs   = []int{1, 2}
	scaleQueues = []int{1, 2}
)

// scaleDisk names a disk by its num_queues: q1, q2.
func scaleDisk(queues int) string { return "q" + strconv.Itoa(queues) }

// scaleVariant names a boot's disk: cpus2-q1.
func scaleVariant(cpus, queues int) string {
	return fmt.Sprintf("cpus%d-%s", cpus, scaleDisk(queues))
}

// driverQueues is the sample of the queues the driver set up (info's
// queues=), recorded under this workload and field.
const driverQueues = "info"

// scalingBoots runs c.scaleRounds rounds of boots with 1 and 2 CPUs on
// transport tr.
func scalingBoots(c *modeConfig, tr string, res *modeResults) error {
	imgs := map[int]string{}
	for _, q := range scaleQueues {
		imgs[q] = filepath.Join(c.imageDir, scaleDisk(q)+".img")
		if err := makeImage(imgs[q], 256<<20); err != nil {
			return err
		}
	}
	clk, err := clockTicks()
	if err != nil {
		return err
	}
	for r := 1; r <= c.scaleRounds; r++ {
		for _, cpus := range rotate(scaleCPUs, r-1) {
			if err := scalingBoot(c, tr, cpus, r, imgs, clk, res); err != nil {
				return fmt.Errorf("round %d, %d CPUs: %w", r, cpus, err)
			}
		}
	}
	return nil
}

// scalingBoot is round r's boot with cpus CPUs: q1 through qemu/run
// (--queues 1), q2 by hand with num-queues=2.
func scalingBoot(c *modeConfig, tr string, cpus, r int, imgs map[int]string, clk float64, res *modeResults) error {
	args := []string{"--cpus", strconv.Itoa(cpus), "--queues", "1", "--drive", benchDrive(imgs[1]), "--"}
	args = append(args, handDisk(tr, imgs[2], "q2disk", "num-queues=2")...)
	g, err := startGuest(c, tr, fmt.Sprintf("scaling-cpus%d-round%d", cpus, r), args)
	if err != nil {
		return err
	}
	defer g.stop()
	if want := fmt.Sprintf(" cpus=%d ", cpus); !slices.ContainsFunc(g.banner, func(l string) bool { return strings.Contains(l+" ", want) }) {
		return fmt.Errorf("banner %q does not say cpus=%d", g.banner, cpus)
	}
	lines, err := g.sendAll("info", "info: ", 2)
	if err != nil {
		return err
	}
	disks, err := disksByQueues(lines)
	if err != nil {
		return err
	}
	sample := func(q int, wl, field string, v float64) {
		res.add(modeSample{kind: "scaling", transport: tr, variant: scaleVariant(cpus, q), workload: wl, field: field, round: r, value: v})
	}
	for q, d := range disks {
		sample(q, driverQueues, "queues", float64(d.queues))
	}
	pid, err := qemuPID(g.cmd.Process.Pid)
	if err != nil {
		return err
	}
	for _, wl := range scaleWorkloads {
		for _, q := range rotate(scaleQueues, r-1) {
			if _, err := g.send(fmt.Sprintf("use %d", disks[q].n), "use:"); err != nil {
				return err
			}
			f, cpu, err := g.benchCPU(fmt.Sprintf("bench --size %s --ms %d %s", c.size, c.ms, wl), pid, clk)
			if err != nil {
				return err
			}
			sample(q, wl, "cpu_s_per_1000", cpu)
			benchSamples(f, func(field string, v float64) { sample(q, wl, field, v) })
		}
	}
	return g.exit()
}

// scaleInfo is a disk of a scaling boot: its number in the shell and
// the request queues the driver set up.
type scaleInfo struct{ n, queues int }

var infoDisk = regexp.MustCompile(`^info: disk=([0-9]+) .*\bfeatures=(\S*) queues=([0-9]+) `)

// disksByQueues tells q1 from q2 in info's lines by the feature
// VIRTIO_BLK_F_MQ, which QEMU offers when num-queues is above 1
// (hw/block/virtio-blk.c, virtio_blk_get_features): info's queues= is
// what the driver set up, 1 on both with one CPU.
func disksByQueues(lines []string) (map[int]scaleInfo, error) {
	out := map[int]scaleInfo{}
	for _, l := range lines {
		m := infoDisk.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		q := 1
		if slices.Contains(strings.Split(m[2], ","), "MQ") {
			q = 2
		}
		if _, dup := out[q]; dup {
			return nil, fmt.Errorf("two %s disks: %q", scaleDisk(q), lines)
		}
		n, _ := strconv.Atoi(m[1])
		queues, _ := strconv.Atoi(m[3])
		out[q] = scaleInfo{n, queues}
	}
	if len(out) != 2 {
		return nil, fmt.Errorf("want a disk without MQ and one with, info says %q", lines)
	}
	return out, nil
}

// scaleRatio is one ratio of the scaling rows: figure num of variant
// numV over figure den of variant denV, paired by round.
type scaleRatio struct {
	label      string // for people: "q2/q1, cpus=2"
	name, path string // bench.tsv's workload and path columns
	field      string
	workload   string // the numerator's
	numV, denV string
	denWl      string
}

// scaleRatios lists the ratios of the scaling rows, for MiB/s (IOPS
// alike, 4 KiB requests) and for host CPU per request.
func scaleRatios() []scaleRatio {
	var out []scaleRatio
	suffix := func(field string) string {
		if field == "mib_s" {
			return ""
		}
		return ":" + field
	}
	for _, field := range []string{"mib_s", "cpu_s_per_1000"} {
		for _, cpus := range scaleCPUs {
			for _, q := range scaleQueues {
				v := scaleVariant(cpus, q)
				out = append(out, scaleRatio{fmt.Sprintf("jobs2/jobs1, cpus=%d %s", cpus, scaleDisk(q)),
					"randread-4K-qd16-jobs2" + suffix(field) + "/randread-4K-qd16", modePath(v), field, "randread-4K-qd16-jobs2", v, v, "randread-4K-qd16"})
			}
		}
		for _, wl := range scaleWorkloads {
			for _, cpus := range scaleCPUs {
				num, den := scaleVariant(cpus, 2), scaleVariant(cpus, 1)
				out = append(out, scaleRatio{fmt.Sprintf("q2/q1, cpus=%d", cpus), wl + suffix(field) + "/q1", modePath(num), field, wl, num, den, wl})
			}
			for _, q := range scaleQueues {
				num, den := scaleVariant(2, q), scaleVariant(1, q)
				out = append(out, scaleRatio{"cpus2/cpus1, " + scaleDisk(q), wl + suffix(field) + "/cpus1", modePath(num), field, wl, num, den, wl})
			}
		}
	}
	return out
}

// scaleRatio's spread on transport tr.
func (r *modeResults) scaleRatio(tr string, sr scaleRatio) spread {
	num := r.values(modeFigure{"scaling", tr, sr.workload, sr.field})[sr.numV]
	den := r.values(modeFigure{"scaling", tr, sr.denWl, sr.field})[sr.denV]
	return summarize(pairedRatios(num, den))
}

// scalingTransports are the transports with scaling samples, in order.
func (r *modeResults) scalingTransports() []string {
	var out []string
	for _, f := range r.figures() {
		if f.kind == "scaling" && !slices.Contains(out, f.transport) {
			out = append(out, f.transport)
		}
	}
	return out
}

// scaleVariants are the variants in report order.
func scaleVariants() []string {
	var out []string
	for _, cpus := range scaleCPUs {
		for _, q := range scaleQueues {
			out = append(out, scaleVariant(cpus, q))
		}
	}
	return out
}

// writeScalingTSV writes the scaling rows in bench.tsv's columns: each
// variant's medians (mib_s, iops) per workload, then the ratios.
func (r *modeResults) writeScalingTSV(w io.Writer) {
	for _, tr := range r.scalingTransports() {
		for _, wl := range scaleWorkloads {
			for _, v := range scaleVariants() {
				mib := medianOf(r.values(modeFigure{"scaling", tr, wl, "mib_s"})[v])
				iops := medianOf(r.values(modeFigure{"scaling", tr, wl, "iops"})[v])
				if mib.n > 0 && iops.n > 0 {
					fmt.Fprintf(w, "%s\t%s\t%s\t%.2f\t%.1f\t\t\t\t\n", tr, wl, modePath(v), mib.median, iops.median)
				}
			}
		}
		for _, sr := range scaleRatios() {
			if s := r.scaleRatio(tr, sr); s.n > 0 {
				fmt.Fprintf(w, "%s\t%s\t%s\t\t\t%.3f\t%.3f\t%.3f\t%d\n", tr, sr.name, sr.path, s.median, s.lo, s.hi, s.n)
			}
		}
	}
}

// qd1Cost is the target on the multi-queue cost at queue depth one:
// with two CPUs, one submitter on the 2-queue disk keeps at least this
// share of the 1-queue disk's IOPS in the same boot.
const qd1Cost = 0.95

// writeScalingMarkdown writes, per transport, a table of each variant's
// medians and one of the ratios, then the target.
func (r *modeResults) writeScalingMarkdown(w io.Writer) {
	var targets []string
	for _, tr := range r.scalingTransports() {
		vars := scaleVariants()
		fmt.Fprintf(w, "### Multi-queue scaling, %s (TamaGo boots with 1 and 2 CPUs in turn, each with a 1-queue and a 2-queue disk taking turns; interrupt mode)\n\n| workload | figure |", tr)
		for _, v := range vars {
			fmt.Fprintf(w, " %s |", v)
		}
		fmt.Fprintf(w, "\n| --- | --- |%s\n", strings.Repeat(" ---: |", len(vars)))
		row := func(wl, label, field string) {
			vals := r.values(modeFigure{"scaling", tr, wl, field})
			fmt.Fprintf(w, "| %s | %s |", wl, label)
			for _, v := range vars {
				if s := medianOf(vals[v]); s.n > 0 && field == "queues" {
					fmt.Fprintf(w, " %g |", s.median)
				} else if s.n > 0 {
					fmt.Fprintf(w, " %s |", fmtNum(s.median))
				} else {
					fmt.Fprint(w, " |")
				}
			}
			fmt.Fprintln(w)
		}
		row(driverQueues, "queues the driver set up", "queues")
		for _, wl := range scaleWorkloads {
			for _, field := range []string{"iops", "p50_us", "p99_us", "cpu_s_per_1000"} {
				row(wl, fieldLabels[field], field)
			}
		}
		fmt.Fprintf(w, "\n| ratio | workload | figure | median (min–max) of rounds |\n| --- | --- | --- | ---: |\n")
		for _, sr := range scaleRatios() {
			s := r.scaleRatio(tr, sr)
			if s.n == 0 {
				continue
			}
			label := "IOPS"
			if sr.field != "mib_s" {
				label = fieldLabels[sr.field]
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", sr.label, sr.workload, label, fmtSpread(s))
			if sr.field == "mib_s" && sr.workload == "randread-4K-qd1" && strings.HasPrefix(sr.label, "q2/q1") {
				verdict := "met"
				if s.median < qd1Cost {
					verdict = "MISSED"
				}
				if sr.numV == scaleVariant(1, 2) {
					verdict = "control: one queue on both disks"
				}
				targets = append(targets, fmt.Sprintf("| QD1 IOPS on the 2-queue disk ≥ %.2f of the 1-queue disk's (same boot) | %s %s | %s | %s |", qd1Cost, tr, sr.label, fmtSpread(s), verdict))
			}
		}
		fmt.Fprintln(w)
	}
	if len(targets) > 0 {
		fmt.Fprintf(w, "### Target of the scaling rows (median of per-round ratios)\n\n| target | row | ratio | |\n| --- | --- | ---: | --- |\n%s\n\n", strings.Join(targets, "\n"))
	}
}
