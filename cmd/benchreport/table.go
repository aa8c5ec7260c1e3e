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
}

func newSamples() *samples { return &samples{m: map[key][]measurement{}} }

func (s *samples) add(tr, w, path string, m measurement) {
	k := key{tr, w, path}
	if _, ok := s.m[k]; !ok {
		s.order = append(s.order, k)
	}
	s.m[k] = append(s.m[k], m)
}

// writeRaw writes every sample, one row each, for anyone who wants the
// spread behind a median.
func (s *samples) writeRaw(w io.Writer) error {
	fmt.Fprintln(w, "transport\tworkload\tpath\tsample\tmib_s\tiops")
	for _, k := range s.order {
		for i, m := range s.m[k] {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%.2f\t%.1f\n", k.transport, k.workload, k.path, i+1, m.mibs, m.iops)
		}
	}
	return nil
}

// cell is a median and how many samples it came from.
type cell struct {
	measurement
	n int
}

type table struct {
	transports, paths []string
	cells             map[key]cell
}

func (s *samples) table(c *config) *table {
	t := &table{transports: c.transports, paths: tablePaths(c.paths), cells: map[key]cell{}}
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
func (t *table) writeTSV(w io.Writer) error {
	fmt.Fprintln(w, "transport\tworkload\tpath\tmib_s\tiops")
	for _, tr := range t.transports {
		for _, wl := range workloads {
			for _, p := range t.paths {
				if c, ok := t.get(tr, wl, p); ok {
					fmt.Fprintf(w, "%s\t%s\t%s\t%.2f\t%.1f\n", tr, wl, p, c.mibs, c.iops)
				} else if p == "fio-uring" && slices.Contains(workloads[:5], wl) {
					fmt.Fprintf(w, "%s\t%s\t%s\t\t\n", tr, wl, p)
				}
			}
		}
	}
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
				v, ok := t.ratio(tr, wl, rc[0], wl, rc[1])
				row = append(row, fmtRatio(v, ok))
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
	fmt.Fprintf(w, "### Swap manager against raw I/O and the seed's pattern (same path, same boot set)\n\n")
	fmt.Fprintln(w, "copy-64K is no target workload but a reference run in the same boots: the guest's memory copy of 64 KiB pieces into and out of a 1 MiB buffer, which the swap manager makes for every byte it streams (the caller's buffer is reused as soon as Append returns). Where it is slower than the device, it bounds the swap workloads.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| transport | path | swap-append-64K / seqwrite-1M | swap-read-64K / seqread-1M | swap-append-64K / seed-append | swap-read-64K / seed-read | copy-64K MiB/s | copy-64K / seqwrite-1M | copy-64K / seqread-1M |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, tr := range t.transports {
		for _, p := range slices.DeleteFunc(slices.Clone(guest), isFio) {
			a1, ok1 := t.ratio(tr, "swap-append-64K", p, "seqwrite-1M", p)
			a2, ok2 := t.ratio(tr, "swap-read-64K", p, "seqread-1M", p)
			a3, ok3 := t.ratio(tr, "swap-append-64K", p, "seed-append", p)
			a4, ok4 := t.ratio(tr, "swap-read-64K", p, "seed-read", p)
			cp := "–"
			if c, ok := t.get(tr, "copy-64K", p); ok {
				cp = fmtNum(c.mibs)
			}
			c1, okc1 := t.ratio(tr, "copy-64K", p, "seqwrite-1M", p)
			c2, okc2 := t.ratio(tr, "copy-64K", p, "seqread-1M", p)
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", tr, p, fmtRatio(a1, ok1), fmtRatio(a2, ok2), fmtRatio(a3, ok3), fmtRatio(a4, ok4), cp, fmtRatio(c1, okc1), fmtRatio(c2, okc2))
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
				v, ok := t.ratio(tr, tg.num[0], np, tg.den[0], dp)
				met := "no data"
				if ok {
					met = "no"
					if v >= tg.threshold {
						met = "yes"
					}
				}
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", name, tr, p, fmtRatio(v, ok), met)
			}
		}
	}
}

func (t *table) writeMarkdown(w io.Writer, c *config, m machineInfo) error {
	fmt.Fprintf(w, "# tamaswap benchmarks\n\n")
	fmt.Fprintf(w, "Made by `%s` on %s in %v.\n\n", m.command, m.date, m.elapsed.Round(1e9))
	fmt.Fprintf(w, "- Machine: %d CPUs (%s), host kernel %s, shared with other jobs; %s, TCG (no KVM); %s.\n", m.nproc, m.cpu, m.kernel, m.qemu, m.goVer)
	fmt.Fprintf(w, "- Each figure is the median of %d boots (qemu-img runs for the ceiling); every boot has the same disk image (%d MiB of non-zero data, raw, `cache=%s,aio=threads`) and `-m %s`.\n", c.boots, c.imageSize>>20, c.cacheMode, c.mem)
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
