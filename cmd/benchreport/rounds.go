package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Ratios that hold still. Under TCG on a shared machine a path's figure
// drifts from boot to boot, and the swap workloads fall into spells in
// which the emulated vCPU runs the same code 2–3× slower for seconds
// (results/README.md, "Spells"). A ratio of two medians taken minutes
// apart then says which spell each median landed in. So every ratio of
// two figures is taken per round, from figures measured close together,
// and reported as the median of the per-round ratios with their spread:
//
//   - within a boot: `bench --rounds N` runs short raw, swap and copy
//     workloads in turn, N times over (roundWorkloads); swap/raw and
//     swap/min(raw, copy-64K) are ratios within one round;
//   - between paths: boot R of a path against boot R of another path or
//     qemu-img's ceiling run R, which ran in the same round of boots;
//   - between QEMU versions: boot R on one QEMU against boot R on the
//     other, the two booted one after the other.

// roundWorkloads run in every round of `bench --rounds`, in this order:
// raw, swap, raw, swap, then the copy the swap manager makes of every
// byte it streams.
var roundWorkloads = []string{"seqwrite-1M", "swap-append-64K", "seqread-1M", "swap-read-64K", "copy-64K"}

// roundRatio is a ratio taken within each round of a boot: num over the
// smallest of the den figures of the same round.
type roundRatio struct {
	num string
	den []string
}

func (r roundRatio) name() string {
	if len(r.den) == 1 {
		return r.num + "/" + r.den[0]
	}
	return r.num + "/min(" + strings.Join(r.den, ",") + ")"
}

// roundRatios are the ratios of the rounds, in report order. The swap
// manager copies every byte once (the caller reuses its buffer as soon
// as Append returns; ReadAt serves from a stream buffer), so where the
// copy is slower than the device it, not the device, bounds swap:
// min(raw, copy-64K) is the honest bound.
var roundRatios = []roundRatio{
	{"swap-append-64K", []string{"seqwrite-1M"}},
	{"swap-read-64K", []string{"seqread-1M"}},
	{"swap-append-64K", []string{"seqwrite-1M", "copy-64K"}},
	{"swap-read-64K", []string{"seqread-1M", "copy-64K"}},
	{"copy-64K", []string{"seqwrite-1M"}},
	{"copy-64K", []string{"seqread-1M"}},
}

// round is one round of `bench --rounds` in one boot: MiB/s by workload.
type round struct {
	boot int
	mibs map[string]float64
}

// spread is the median of a set of per-round ratios, their extremes and
// how many there were.
type spread struct {
	median, lo, hi float64
	n              int
}

// summarize returns the spread of v; n 0 for none. Values that are not
// finite and positive are left out.
func summarize(v []float64) spread {
	v = slices.DeleteFunc(slices.Clone(v), func(x float64) bool { return !(x > 0) || math.IsInf(x, 0) })
	if len(v) == 0 {
		return spread{}
	}
	slices.Sort(v)
	n := len(v)
	med := v[n/2]
	if n%2 == 0 {
		med = (v[n/2-1] + v[n/2]) / 2
	}
	return spread{median: med, lo: v[0], hi: v[n-1], n: n}
}

// ratiosWithin returns r's ratio in each round that has every workload
// it needs.
func ratiosWithin(rounds []round, r roundRatio) []float64 {
	var out []float64
	for _, rd := range rounds {
		a, ok := rd.mibs[r.num]
		den := math.Inf(1)
		for _, d := range r.den {
			b, okB := rd.mibs[d]
			ok = ok && okB
			den = min(den, b)
		}
		if ok && den > 0 {
			out = append(out, a/den)
		}
	}
	return out
}

// pairedRatios returns a/b for every round number both have a figure of.
func pairedRatios(a, b map[int]float64) []float64 {
	var rs []int
	for r := range a {
		if _, ok := b[r]; ok {
			rs = append(rs, r)
		}
	}
	slices.Sort(rs)
	var out []float64
	for _, r := range rs {
		if b[r] > 0 {
			out = append(out, a[r]/b[r])
		}
	}
	return out
}

// byRound returns the MiB/s figures of k's samples by round.
func (s *samples) byRound(k key) map[int]float64 {
	out := map[int]float64{}
	for i, m := range s.m[k] {
		out[s.round[k][i]] = m.mibs
	}
	return out
}

// ratioKey names a ratio in table.ratios: name is "NUM/DEN", DEN a
// workload (within rounds), a path or another QEMU (paired by round).
type ratioKey struct{ transport, name, path string }

// fmtSpread gives a spread as "median (lo–hi)", or "–" for none.
func fmtSpread(s spread) string {
	if s.n == 0 {
		return "–"
	}
	if s.n == 1 {
		return fmt.Sprintf("%.2f", s.median)
	}
	return fmt.Sprintf("%.2f (%.2f–%.2f)", s.median, s.lo, s.hi)
}

// ratioRows are the TSV rows of the per-round ratios, after the
// per-workload ones: workload is the ratio's name, mib_s and iops are
// empty, and ratio, ratio_min, ratio_max, rounds are filled.
func (t *table) writeRatioRows(w io.Writer) {
	for _, tr := range t.transports {
		for _, name := range t.ratioOrder {
			for _, p := range t.paths {
				if r, ok := t.ratios[ratioKey{tr, name, p}]; ok && r.n > 0 {
					fmt.Fprintf(w, "%s\t%s\t%s\t\t\t%.3f\t%.3f\t%.3f\t%d\n", tr, name, p, r.median, r.lo, r.hi, r.n)
				}
			}
		}
	}
}

// addRatio records a ratio's spread, keeping its name's first place.
func (t *table) addRatio(tr, name, path string, v []float64) {
	s := summarize(v)
	if s.n == 0 {
		return
	}
	if !slices.Contains(t.ratioOrder, name) {
		t.ratioOrder = append(t.ratioOrder, name)
	}
	t.ratios[ratioKey{tr, name, path}] = s
}

// ratioRefs are the paths our driver's and the kernel's figures are
// divided by, in the per-transport tables.
var ratioRefs = []string{"kernel", "fio-psync", "fio-uring", "ceiling"}

// computeRatios fills t.ratios from s: the ratios within rounds, and
// every path against each reference path, paired by round.
func (t *table) computeRatios(s *samples) {
	for _, tr := range t.transports {
		for _, p := range t.paths {
			for _, r := range roundRatios {
				t.addRatio(tr, r.name(), p, ratiosWithin(s.rounds[[2]string{tr, p}], r))
			}
		}
		for _, ref := range ratioRefs {
			for _, wl := range workloads {
				b := s.byRound(key{tr, wl, ref})
				for _, p := range t.paths {
					if p != ref && (ref == "ceiling" || !isReference(p)) {
						t.addRatio(tr, wl+"/"+ref, p, pairedRatios(s.byRound(key{tr, wl, p}), b))
					}
				}
			}
		}
	}
}

// isReference reports whether p is a path others are measured against
// rather than one of ours.
func isReference(p string) bool { return p == "kernel" || p == "ceiling" || isFio(p) }

// compareQEMU fills t.ratios with name W/label for each workload: a's
// boot R over b's boot R, where b's boots ran on the other QEMU, each
// right beside the same round's boot of a.
func (t *table) compareQEMU(a, b *samples, label string) {
	t.vsLabel = label
	for _, tr := range t.transports {
		for _, wl := range append(slices.Clone(workloads), references...) {
			for _, p := range t.paths {
				if p == "ceiling" {
					continue // qemu-img on the host, whichever QEMU the guests run on
				}
				t.addRatio(tr, wl+"/"+qemuSlug(label), p, pairedRatios(a.byRound(key{tr, wl, p}), b.byRound(key{tr, wl, p})))
			}
		}
	}
}

// qemuSlug is a QEMU's label as it stands in the TSV files: "qemu-7.2".
func qemuSlug(label string) string { return strings.ToLower(strings.ReplaceAll(label, " ", "-")) }

// writeQEMUComparison writes the short table of one QEMU against the
// other, from alternating boots.
func (t *table) writeQEMUComparison(w io.Writer, this string, b *samples) {
	if t.vsLabel == "" {
		return
	}
	fmt.Fprintf(w, "### %s against %s, alternating boots\n\n", this, t.vsLabel)
	fmt.Fprintf(w, "Each boot on %s was followed (or, every other round, preceded) by a boot of the same path and transport on %s with the same commands. The ratio is %s's figure over %s's in each such pair of boots: the median (min–max) of the pairs; above 1, %s is faster. The MiB/s columns are each version's medians.\n\n", this, t.vsLabel, this, t.vsLabel, this)
	vb := b.tableOf(t.transports, t.paths)
	fmt.Fprintf(w, "| transport | path | workload | %s MiB/s | %s MiB/s | %s / %s |\n| --- | --- | --- | ---: | ---: | ---: |\n", this, t.vsLabel, this, t.vsLabel)
	for _, tr := range t.transports {
		for _, p := range t.paths {
			for _, wl := range append(slices.Clone(workloads), references...) {
				r, ok := t.ratios[ratioKey{tr, wl + "/" + qemuSlug(t.vsLabel), p}]
				if !ok {
					continue
				}
				a, _ := t.get(tr, wl, p)
				o, _ := vb.get(tr, wl, p)
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", tr, p, wl, fmtNum(a.mibs), fmtNum(o.mibs), fmtSpread(r))
			}
		}
	}
	fmt.Fprintln(w)
}
