package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

type key struct{ transport, workload, path string }

// samples are every boot's figures.
type samples struct {
	order []key
	m     map[key][]measurement
	round map[key][]int // the round (boot number) of each of m's samples
	// rounds are the rounds of `bench --rounds` by {transport, path},
	// every boot's in turn.
	rounds map[[2]string][]round
}

func newSamples() *samples {
	return &samples{m: map[key][]measurement{}, round: map[key][]int{}, rounds: map[[2]string][]round{}}
}

// add records a sample of the next round of k.
func (s *samples) add(tr, w, path string, m measurement) {
	s.addAt(tr, w, path, len(s.m[key{tr, w, path}])+1, m)
}

// addAt records a sample of round r (the boot number: the boots and
// the ceiling runs of one round ran one after the other).
func (s *samples) addAt(tr, w, path string, r int, m measurement) {
	k := key{tr, w, path}
	if _, ok := s.m[k]; !ok {
		s.order = append(s.order, k)
	}
	s.m[k] = append(s.m[k], m)
	s.round[k] = append(s.round[k], r)
}

// addRounds records the rounds of one boot's `bench --rounds`.
func (s *samples) addRounds(tr, path string, rs []round) {
	k := [2]string{tr, path}
	s.rounds[k] = append(s.rounds[k], rs...)
}

// writeRaw writes every sample, one row each, for anyone who wants the
// spread behind a median: sample is the round (boot number); the rounds
// of bench --rounds follow as rows whose workload is
// "WORKLOAD@round-N" (iops empty), and the boots on the other QEMU
// (vs, if any) as rows whose path is "PATH@LABEL".
func (s *samples) writeRaw(w io.Writer, vs *samples, label string) error {
	fmt.Fprintln(w, "transport\tworkload\tpath\tsample\tmib_s\tiops")
	s.writeRawRows(w, "")
	if vs != nil && label != "" {
		vs.writeRawRows(w, "@"+qemuSlug(label))
	}
	return nil
}

func (s *samples) writeRawRows(w io.Writer, suffix string) {
	for _, k := range s.order {
		for i, m := range s.m[k] {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%.2f\t%.1f\n", k.transport, k.workload, k.path+suffix, s.round[k][i], m.mibs, m.iops)
		}
	}
	var ks [][2]string
	for k := range s.rounds {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b [2]string) int { return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1]) })
	for _, k := range ks {
		n := map[int]int{}
		for _, r := range s.rounds[k] {
			n[r.boot]++
			for _, wl := range roundWorkloads {
				if v, ok := r.mibs[wl]; ok {
					fmt.Fprintf(w, "%s\t%s@round-%d\t%s\t%d\t%.2f\t\n", k[0], wl, n[r.boot], k[1]+suffix, r.boot, v)
				}
			}
		}
	}
}

// cell is a median and how many samples it came from.
type cell struct {
	measurement
	n int
}

type table struct {
	transports, paths []string
	cells             map[key]cell
	// ratios are medians of per-round ratios (rounds.go), in the TSV
	// in the order of ratioOrder.
	ratios     map[ratioKey]spread
	ratioOrder []string
	vsLabel    string // the other QEMU of compareQEMU, if any
}

func (s *samples) table(c *config) *table {
	t := s.tableOf(c.transports, tablePaths(c.paths))
	t.computeRatios(s)
	return t
}

// tableOf returns the medians of s, without ratios.
func (s *samples) tableOf(transports, paths []string) *table {
	t := &table{transports: transports, paths: paths, cells: map[key]cell{}, ratios: map[ratioKey]spread{}}
	for k, ms := range s.m {
		t.cells[k] = cell{measurement{median(ms, func(m measurement) float64 { return m.mibs }), median(ms, func(m measurement) float64 { return m.iops })}, len(ms)}
	}
	return t
}

// median of the field of ms: the middle value, or the mean of the two
// middle ones.
func median(ms []measurement, field func(measurement) float64) float64 {
	v := make([]float64, len(ms))
	for i, m := range ms {
		v[i] = field(m)
	}
	slices.Sort(v)
	n := len(v)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func (t *table) get(tr, w, path string) (cell, bool) {
	c, ok := t.cells[key{tr, w, path}]
	return c, ok && c.n > 0
}

// ratio returns a/b of the MiB/s medians, and false where either is
// missing or zero.
func (t *table) ratio(trA, wA, pA, wB, pB string) (float64, bool) {
	a, okA := t.get(trA, wA, pA)
	b, okB := t.get(trA, wB, pB)
	if !okA || !okB || b.mibs <= 0 {
		return 0, false
	}
	return a.mibs / b.mibs, true
}

// writeTSV writes results/bench.tsv: a header, then one row per
// measurement, medians. A fio-uring row whose boots gave no figure (no
// io_uring in the guest kernel) is there with mib_s and iops empty.
// After them come the ratios (writeRatioRows), in the columns ratio,
// ratio_min, ratio_max and rounds, which the measurement rows leave
// empty.
func (t *table) writeTSV(w io.Writer) error {
	const ratioCols = "\t\t\t\t"
	fmt.Fprintln(w, "transport\tworkload\tpath\tmib_s\tiops\tratio\tratio_min\tratio_max\trounds")
	for _, tr := range t.transports {
		for _, wl := range workloads {
			for _, p := range t.paths {
				if c, ok := t.get(tr, wl, p); ok {
					fmt.Fprintf(w, "%s\t%s\t%s\t%.2f\t%.1f%s\n", tr, wl, p, c.mibs, c.iops, ratioCols)
				} else if p == "fio-uring" && slices.Contains(workloads[:5], wl) {
					fmt.Fprintf(w, "%s\t%s\t%s\t\t%s\n", tr, wl, p, ratioCols)
				}
			}
		}
	}
	t.writeRatioRows(w)
	return nil
}

// isFio reports whether path is one of the fio boots' paths.
func isFio(path string) bool { return strings.HasPrefix(path, "fio-") }

func fmtNum(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func fmtRatio(v float64, ok bool) string {
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.2f", v)
}

// transportTitle heads each transport's table, by arch.
var transportTitle = map[string]map[string]string{
	"amd64": {
		"mmio": "mmio: virtio-mmio (modern), QEMU `-M microvm`",
		"pci":  "pci: virtio-pci (modern); hosted paths on `-M q35`, tamago on `-M microvm,pcie=on`",
	},
	"arm64": {
		"mmio": "mmio: virtio-mmio (modern), QEMU arm64 `-M virt`",
		"pci":  "pci: virtio-pci (modern) on `-M virt`'s PCIe host",
	},
}

// writeMarkdownTables writes one table per transport and the swap ratios.
func (t *table) writeMarkdownTables(w io.Writer, c *config) {
	guest := slices.DeleteFunc(slices.Clone(t.paths), func(p string) bool { return p == "ceiling" })
	// Our driver's paths, which the others are references for.
	ours := slices.DeleteFunc(slices.Clone(guest), func(p string) bool { return p == "kernel" || isFio(p) })
	for _, tr := range t.transports {
		fmt.Fprintf(w, "### %s\n\n", transportTitle[c.arch][tr])
		hdr := []string{"workload"}
		for _, p := range t.paths {
			hdr = append(hdr, p+" MiB/s", p+" IOPS")
		}
		var ratioCols [][2]string // {numerator path, denominator path}
		for _, ref := range []string{"kernel", "fio-psync", "fio-uring"} {
			for _, p := range ours {
				if slices.Contains(guest, ref) {
					ratioCols = append(ratioCols, [2]string{p, ref})
				}
			}
		}
		for _, p := range guest {
			ratioCols = append(ratioCols, [2]string{p, "ceiling"})
		}
		for _, rc := range ratioCols {
			hdr = append(hdr, rc[0]+"/"+rc[1])
		}
		fmt.Fprintf(w, "| %s |\n| --- |%s\n", strings.Join(hdr, " | "), strings.Repeat(" ---: |", len(hdr)-1))
		for _, wl := range workloads {
			row := []string{wl}
			for _, p := range t.paths {
				if cl, ok := t.get(tr, wl, p); ok {
					row = append(row, fmtNum(cl.mibs), fmt.Sprintf("%.0f", cl.iops))
				} else {
					row = append(row, "", "")
				}
			}
			for _, rc := range ratioCols {
				row = append(row, fmtSpread(t.ratios[ratioKey{tr, wl + "/" + rc[1], rc[0]}]))
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "### Encrypted swap against its cipher (same path, same boot set)\n\n")
	fmt.Fprintln(w, "aead-seal-4K and aead-open-4K are ChaCha20-Poly1305 alone: 4 KiB units (4080 bytes of data and the 16-byte tag) sealed and opened in place in a preallocated 1 MiB buffer, with the key size and nonce layout of the swap manager, and the same byte and time budget as the swap workloads. What the swap manager adds on top of the cipher is 1 − the ratio.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| transport | path | swap-append-64K-enc MiB/s | aead-seal-4K MiB/s | Append / seal | swap-read-64K-enc MiB/s | aead-open-4K MiB/s | ReadAt / open | enc / plain Append | enc / plain ReadAt |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, tr := range t.transports {
		for _, p := range ours {
			val := func(wl string) string {
				if c, ok := t.get(tr, wl, p); ok {
					return fmtNum(c.mibs)
				}
				return "–"
			}
			r1, ok1 := t.ratio(tr, "swap-append-64K-enc", p, "aead-seal-4K", p)
			r2, ok2 := t.ratio(tr, "swap-read-64K-enc", p, "aead-open-4K", p)
			r3, ok3 := t.ratio(tr, "swap-append-64K-enc", p, "swap-append-64K", p)
			r4, ok4 := t.ratio(tr, "swap-read-64K-enc", p, "swap-read-64K", p)
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", tr, p,
				val("swap-append-64K-enc"), val("aead-seal-4K"), fmtRatio(r1, ok1),
				val("swap-read-64K-enc"), val("aead-open-4K"), fmtRatio(r2, ok2), fmtRatio(r3, ok3), fmtRatio(r4, ok4))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "### Swap manager against raw I/O and the memory copy (interleaved rounds within each boot)\n\n")
	fmt.Fprintf(w, "Each boot ends with `bench --rounds %d --size %s --ms %s %s`: short runs of raw, swap, raw, swap and copy in turn, %d times over. Each ratio is taken within one round, so both figures come from the same few hundred milliseconds of the emulated machine; the table gives the median of the per-round ratios over all boots, and their min–max. copy-64K is the guest's memory copy of 64 KiB pieces into and out of a 1 MiB buffer, which the swap manager makes for every byte it streams (the caller's buffer is reused as soon as Append returns): min(raw, copy-64K) is what swap could reach with the copy and the transfer overlapped.\n\n",
		c.rounds, c.roundSize, c.roundMs, strings.Join(roundWorkloads, " "), c.rounds)
	hdr := []string{"transport", "path"}
	for _, r := range roundRatios {
		hdr = append(hdr, r.name())
	}
	fmt.Fprintf(w, "| %s | rounds |\n| --- | --- |%s ---: |\n", strings.Join(hdr, " | "), strings.Repeat(" ---: |", len(roundRatios)))
	for _, tr := range t.transports {
		for _, p := range guest {
			row := []string{tr, p}
			n := 0
			for _, r := range roundRatios {
				sp := t.ratios[ratioKey{tr, r.name(), p}]
				row = append(row, fmtSpread(sp))
				n = max(n, sp.n)
			}
			if n == 0 {
				continue
			}
			fmt.Fprintf(w, "| %s | %d |\n", strings.Join(row, " | "), n)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "### Swap manager against the seed's pattern (medians of the boots)\n\n")
	fmt.Fprintln(w, "| transport | path | swap-append-64K / seed-append | swap-read-64K / seed-read |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: |")
	for _, tr := range t.transports {
		for _, p := range guest {
			a3, ok3 := t.ratio(tr, "swap-append-64K", p, "seed-append", p)
			a4, ok4 := t.ratio(tr, "swap-read-64K", p, "seed-read", p)
			if ok3 || ok4 {
				fmt.Fprintf(w, "| %s | %s | %s | %s |\n", tr, p, fmtRatio(a3, ok3), fmtRatio(a4, ok4))
			}
		}
	}
}

// target is one of the benchmark targets, for one transport and path.
type target struct {
	name      string
	num, den  [2]string // {workload, path}; path "" is the path under test
	threshold float64
}

var targets = []target{
	{"ours/fio-uring seqwrite-1M ≥ 1.0", [2]string{"seqwrite-1M", ""}, [2]string{"seqwrite-1M", "fio-uring"}, 1.0},
	{"ours/fio-uring seqread-1M ≥ 1.0", [2]string{"seqread-1M", ""}, [2]string{"seqread-1M", "fio-uring"}, 1.0},
	{"ours/fio-uring randread-4K-qd1 ≥ 1.5", [2]string{"randread-4K-qd1", ""}, [2]string{"randread-4K-qd1", "fio-uring"}, 1.5},
	{"ours/fio-uring randwrite-4K-qd1 ≥ 1.5", [2]string{"randwrite-4K-qd1", ""}, [2]string{"randwrite-4K-qd1", "fio-uring"}, 1.5},
	{"swap-append-64K-enc/aead-seal-4K ≥ 0.85", [2]string{"swap-append-64K-enc", ""}, [2]string{"aead-seal-4K", ""}, 0.85},
	{"swap-read-64K-enc/aead-open-4K ≥ 0.85", [2]string{"swap-read-64K-enc", ""}, [2]string{"aead-open-4K", ""}, 0.85},
	{"ours/kernel seqwrite-1M ≥ 1.0", [2]string{"seqwrite-1M", ""}, [2]string{"seqwrite-1M", "kernel"}, 1.0},
	{"ours/kernel seqread-1M ≥ 1.0", [2]string{"seqread-1M", ""}, [2]string{"seqread-1M", "kernel"}, 1.0},
	{"ours/kernel randread-4K-qd1 ≥ 1.5", [2]string{"randread-4K-qd1", ""}, [2]string{"randread-4K-qd1", "kernel"}, 1.5},
	{"ours/kernel randwrite-4K-qd1 ≥ 1.5", [2]string{"randwrite-4K-qd1", ""}, [2]string{"randwrite-4K-qd1", "kernel"}, 1.5},
	{"ours/ceiling seqwrite-1M ≥ 0.9", [2]string{"seqwrite-1M", ""}, [2]string{"seqwrite-1M", "ceiling"}, 0.9},
	{"ours/ceiling seqread-1M ≥ 0.9", [2]string{"seqread-1M", ""}, [2]string{"seqread-1M", "ceiling"}, 0.9},
	{"swap-append-64K/seqwrite-1M ≥ 0.9", [2]string{"swap-append-64K", ""}, [2]string{"seqwrite-1M", ""}, 0.9},
	{"swap-read-64K/seqread-1M ≥ 0.9", [2]string{"swap-read-64K", ""}, [2]string{"seqread-1M", ""}, 0.9},
	{"swap-append-64K/min(seqwrite-1M,copy-64K) ≥ 0.9", [2]string{"swap-append-64K", ""}, [2]string{"min(seqwrite-1M,copy-64K)", ""}, 0.9},
	{"swap-read-64K/min(seqread-1M,copy-64K) ≥ 0.9", [2]string{"swap-read-64K", ""}, [2]string{"min(seqread-1M,copy-64K)", ""}, 0.9},
	{"swap-append-64K/seed-append ≥ 20", [2]string{"swap-append-64K", ""}, [2]string{"seed-append", ""}, 20},
	{"swap-read-64K/seed-read ≥ 20", [2]string{"swap-read-64K", ""}, [2]string{"seed-read", ""}, 20},
}

// ran reports whether the run measured the reference path p (a table
// path: fio-psync, fio-uring, ceiling…); "" is the path under test,
// always there.
func (t *table) ran(p string) bool { return p == "" || slices.Contains(t.paths, p) }

// writeTargets checks the targets for our driver on each path that runs
// it (hosted "ours" and "tamago"), leaving out those against a reference
// path the run did not measure.
func (t *table) writeTargets(w io.Writer, c *config) {
	fmt.Fprintln(w, "| target | transport | path | ratio | met |")
	fmt.Fprintln(w, "| --- | --- | --- | ---: | --- |")
	for _, tg := range targets {
		for _, tr := range t.transports {
			for _, p := range []string{"ours", "tamago"} {
				if !slices.Contains(t.paths, p) {
					continue
				}
				np, dp := tg.num[1], tg.den[1]
				if !t.ran(np) || !t.ran(dp) {
					continue // a reference this run left out
				}
				if np == "" {
					np = p
				}
				if dp == "" {
					dp = p
				}
				name := strings.Replace(tg.name, "ours/", p+"/", 1)
				sp := t.targetRatio(tr, tg, np, dp)
				met := "no data"
				if sp.n > 0 {
					met = "no"
					if sp.median >= tg.threshold {
						met = "yes"
					}
				}
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", name, tr, p, fmtSpread(sp), met)
			}
		}
	}
}

// targetRatio returns tg's ratio for transport tr, numerator path np and
// denominator path dp: the median of per-round ratios where the run
// has them (rounds.go), else the ratio of the two medians (n 1).
func (t *table) targetRatio(tr string, tg target, np, dp string) spread {
	den := tg.den[0]
	if dp != np {
		den = dp
	}
	if sp, ok := t.ratios[ratioKey{tr, tg.num[0] + "/" + den, np}]; ok {
		return sp
	}
	v, ok := t.ratio(tr, tg.num[0], np, tg.den[0], dp)
	if !ok {
		return spread{}
	}
	return spread{median: v, lo: v, hi: v, n: 1}
}

func (t *table) writeMarkdown(w io.Writer, c *config, m machineInfo, vs *samples) error {
	fmt.Fprintf(w, "# tamaswap benchmarks\n\n")
	fmt.Fprintf(w, "Made by `%s` on %s in %v.\n\n", m.command, m.date, m.elapsed.Round(1e9))
	fmt.Fprintf(w, "- Machine: %d CPUs (%s), host kernel %s, shared with other jobs; %s, TCG (no KVM); %s.\n", m.nproc, m.cpu, m.kernel, m.qemu, m.goVer)
	fmt.Fprintf(w, "- Each figure is the median of %d boots (qemu-img runs for the ceiling); every boot has the same disk image (%d MiB of non-zero data, raw, `cache=%s,aio=threads`) and `-m %s`.\n", c.boots, c.imageSize>>20, c.cacheMode, c.mem)
	fmt.Fprintf(w, "- Ratios are not ratios of medians: each is the median of per-round ratios, with their min–max in brackets. A ratio between two paths (`ours/kernel`, `ours/ceiling`) pairs boot R of one with boot R of the other (the ceiling's qemu-img run R ran right after round R's boots); swap against raw I/O and the copy is taken within each of the %d interleaved rounds at the end of every boot (below). Figures drift between boots and the swap workloads fall into spells of 2–3× slower emulation (results/README.md), so only figures measured close together make a ratio that holds still.\n", c.rounds)
	fmt.Fprintf(w, "- Workloads: the shell's `bench --size %s --ms %s` (cmd/internal/workload), each stopping at %s bytes or %s ms, whichever comes first; buffers from the device's AllocBuffer (DMA memory for our driver, page-aligned memory for O_DIRECT).\n", c.size, c.ms, c.size, c.ms)
	if c.fioVersion != "" {
		fmt.Fprintf(w, "- **fio-psync**, **fio-uring** = Debian's fio %s (package fetched with apt-get download, with exactly the shared libraries its DT_NEEDED entries pull in, on a read-only ext2 disk) in the hosted guest on the guest kernel's virtio_blk, on the disk under test (`/dev/vda`), one boot giving both: `fio --name=W --filename=/dev/vda --ioengine=psync|io_uring --rw=write|read|randread|randwrite --bs=1M|4k --iodepth=1|16 --direct=1 --numjobs=1 --io_size=%s --runtime=%sms --randrepeat=0 --norandommap --output-format=json` (the same byte and time budget as our workloads, whichever comes first; psync at depth 1 only). io_uring runs without `hipri` and without `sqthread_poll`: it waits for the device's interrupt as the kernel path does; no polled variant is measured.\n", c.fioVersion, c.size, c.ms)
	}
	fmt.Fprintf(w, "- Paths: **ours** = our driver in the hosted guest (Linux user space, registers and DMA through /dev/mem and sysfs, polling); **kernel** = the guest kernel's virtio_blk, O_DIRECT pread/pwrite on /dev/vda, same workload code; **tamago** = our driver in the TamaGo unikernel; **ceiling** = `qemu-img bench -f raw -t %s -i threads -d 1 -s 1M -c %d [-w]` on the host, run between the boots of each round, the same figure for both transports. The ceiling rows of the 4 KiB workloads are `-s 4K -S 1028K -c %d` (qemu-img has no random mode): the device's own latency at depth 1.\n", c.cacheMode, c.ceilingMiB, c.ceilingMiB*16)
	if len(c.hostedArgs) > 0 {
		fmt.Fprintf(w, "- **Experiment**: the ours and kernel boots had the extra QEMU arguments `%s`.\n", strings.Join(c.hostedArgs, " "))
	}
	fmt.Fprintf(w, "- Boots: %d of %d guest boots failed", m.bootFailures, m.booted)
	if m.bootFailures > 0 {
		fmt.Fprintf(w, " (see \"Failed boots\" below)")
	}
	fmt.Fprintf(w, ".\n")
	fmt.Fprintf(w, "- Raw samples: %s-boots.tsv; guest logs: out/%s-logs/.\n\n", c.base, c.base)
	fmt.Fprintf(w, "![MiB/s by workload, path and transport](%s.svg)\n\n", c.base)
	t.writeMarkdownTables(w, c)
	fmt.Fprintln(w)
	t.writeQEMUComparison(w, m.qemuLabel, vs)
	for _, tr := range t.transports {
		if slices.Contains(t.paths, "fio-uring") {
			if _, ok := t.get(tr, "seqread-1M", "fio-uring"); !ok {
				fmt.Fprintf(w, "\n**%s fio-uring has no figures**: fio's io_uring engine failed in the guest; the failed boots below say why (e.g. no io_uring in the guest kernel).\n", tr)
			}
		}
	}
	fmt.Fprintf(w, "\n### Targets\n\n")
	t.writeTargets(w, c)
	if len(m.failures) > 0 {
		fmt.Fprintf(w, "\n### Failed boots\n\n")
		for _, f := range m.failures {
			fmt.Fprintf(w, "- %s\n", f)
		}
	}
	return nil
}

// clampLog10 is log10 of v, floored for non-positive values.
func clampLog10(v, floor float64) float64 {
	if v <= 0 {
		return floor
	}
	return math.Max(math.Log10(v), floor)
}
