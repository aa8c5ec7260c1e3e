package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want spread
	}{
		{nil, spread{}},
		{[]float64{0.9}, spread{0.9, 0.9, 0.9, 1}},
		{[]float64{1.2, 0.8, 1.0}, spread{1.0, 0.8, 1.2, 3}},
		{[]float64{4, 1, 3, 2}, spread{2.5, 1, 4, 4}},
		{[]float64{0, -1, 2}, spread{2, 2, 2, 1}}, // no figure, no ratio
	} {
		if got := summarize(c.in); got != c.want {
			t.Errorf("summarize(%v) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

// Within a round, swap is divided by raw, and by the smaller of raw and
// the copy; a round that lacks a workload gives no ratio.
func TestRatiosWithin(t *testing.T) {
	rs := []round{
		{boot: 1, mibs: map[string]float64{"seqwrite-1M": 2000, "swap-append-64K": 1800, "copy-64K": 3000}},
		{boot: 1, mibs: map[string]float64{"seqwrite-1M": 2000, "swap-append-64K": 900, "copy-64K": 1000}}, // a slow spell
		{boot: 2, mibs: map[string]float64{"seqwrite-1M": 2000, "copy-64K": 1000}},                         // swap failed
	}
	raw := ratiosWithin(rs, roundRatio{"swap-append-64K", []string{"seqwrite-1M"}})
	if len(raw) != 2 || raw[0] != 0.9 || raw[1] != 0.45 {
		t.Errorf("swap/raw = %v, want [0.9 0.45]", raw)
	}
	bound := roundRatio{"swap-append-64K", []string{"seqwrite-1M", "copy-64K"}}
	if got := ratiosWithin(rs, bound); len(got) != 2 || got[0] != 0.9 || got[1] != 0.9 {
		t.Errorf("swap/min(raw,copy) = %v, want [0.9 0.9]", got)
	}
	if bound.name() != "swap-append-64K/min(seqwrite-1M,copy-64K)" || roundRatios[0].name() != "swap-append-64K/seqwrite-1M" {
		t.Errorf("names %q, %q", bound.name(), roundRatios[0].name())
	}
}

// Paths pair by round number, not by sample order: a boot that failed
// leaves its round out rather than shifting the others.
func TestPairedRatios(t *testing.T) {
	s := newSamples()
	s.addAt("mmio", "seqwrite-1M", "ours", 1, measurement{1000, 1000})
	s.addAt("mmio", "seqwrite-1M", "ours", 3, measurement{3000, 3000}) // boot 2 failed
	for r, v := range []float64{1000, 2000, 1500} {
		s.addAt("mmio", "seqwrite-1M", "ceiling", r+1, measurement{v, v})
	}
	got := pairedRatios(s.byRound(key{"mmio", "seqwrite-1M", "ours"}), s.byRound(key{"mmio", "seqwrite-1M", "ceiling"}))
	if len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("paired = %v, want [1 2]", got)
	}
	c := &config{paths: []string{"ours"}, transports: []string{"mmio"}}
	tb := s.table(c)
	if sp := tb.ratios[ratioKey{"mmio", "seqwrite-1M/ceiling", "ours"}]; sp != (spread{1.5, 1, 2, 2}) {
		t.Errorf("ours/ceiling %+v", sp)
	}
}

// A boot's output: the workload list's lines, then bench --rounds'.
func TestBootResultLines(t *testing.T) {
	b := bootResult{figures: map[key]measurement{}}
	for _, l := range []string{
		"bench: seqwrite-1M mib_s=2000.00 iops=2000.0",
		"bench: seqwrite-1M mib_s=1900.00 iops=1900.0 round=1",
		"bench: swap-append-64K mib_s=950.00 iops=15200.0 round=1",
		"bench: copy-64K mib_s=1000.00 iops=32000.0 round=1",
		"bench: seqwrite-1M mib_s=2000.00 iops=2000.0 round=2",
		"bench: swap-append-64K mib_s=2000.00 iops=32000.0 round=2",
		"bench: copy-64K mib_s=3000.00 iops=48000.0 round=2",
		"bench: error: swap-read-64K: I/O error",
	} {
		b.addLine(l, "tamago", 4)
	}
	if m := b.figures[key{workload: "seqwrite-1M", path: "tamago"}]; m.mibs != 2000 || len(b.figures) != 1 {
		t.Errorf("figures %v", b.figures)
	}
	if len(b.rounds) != 2 || b.rounds[1].boot != 4 || b.rounds[1].mibs["swap-append-64K"] != 2000 || b.roundResults() != 6 {
		t.Fatalf("rounds %+v", b.rounds)
	}
	// The slow round's swap is slow because its copy is: against the
	// bound both rounds are at 0.95 and 1.0.
	sp := summarize(ratiosWithin(b.rounds, roundRatio{"swap-append-64K", []string{"seqwrite-1M", "copy-64K"}}))
	if sp.n != 2 || sp.lo != 0.95 || sp.hi != 1 {
		t.Errorf("append/min(raw,copy) %+v", sp)
	}
}

// Each boot of a guest path ends with the rounds; the fio boot has none.
func TestGuestCommandsRounds(t *testing.T) {
	c := &config{size: "128M", ms: "2000", rounds: 15, roundSize: "64M", roundMs: "500"}
	cmds, _ := guestCommands(c, "tamago")
	if !strings.HasSuffix(cmds, "\nbench --rounds 15 --size 64M --ms 500 seqwrite-1M swap-append-64K seqread-1M swap-read-64K copy-64K\nexit 0\n") {
		t.Errorf("tamago boot runs %q", cmds)
	}
	if cmds, _ := guestCommands(c, "fio"); strings.Contains(cmds, "--rounds") {
		t.Errorf("fio boot runs %q", cmds)
	}
	c.rounds = 0
	if cmds, _ := guestCommands(c, "ours"); strings.Contains(cmds, "--rounds") {
		t.Errorf("-rounds 0 boot runs %q", cmds)
	}
}

// The rounds give the swap table, the targets against min(raw, copy) and
// the TSV's ratio rows.
func TestRoundsReport(t *testing.T) {
	c := &config{arch: "amd64", base: "bench", boots: 1, size: "32M", ms: "2000", rounds: 3, roundSize: "64M", roundMs: "500", paths: []string{"tamago"}, transports: []string{"pci"}}
	s := newSamples()
	s.addRounds("pci", "tamago", []round{
		{1, map[string]float64{"seqwrite-1M": 2000, "swap-append-64K": 1900, "seqread-1M": 2000, "swap-read-64K": 1500, "copy-64K": 3000}},
		{1, map[string]float64{"seqwrite-1M": 2000, "swap-append-64K": 700, "seqread-1M": 2000, "swap-read-64K": 700, "copy-64K": 800}},
		{1, map[string]float64{"seqwrite-1M": 2000, "swap-append-64K": 1800, "seqread-1M": 2000, "swap-read-64K": 1600, "copy-64K": 2000}},
	})
	tb := s.table(c)
	wantTargets(t, tb, c,
		"| swap-append-64K/seqwrite-1M ≥ 0.9 | pci | tamago | 0.90 (0.35–0.95) | yes |",
		"| swap-read-64K/seqread-1M ≥ 0.9 | pci | tamago | 0.75 (0.35–0.80) | no |",
		"| swap-append-64K/min(seqwrite-1M,copy-64K) ≥ 0.9 | pci | tamago | 0.90 (0.88–0.95) | yes |",
		"| swap-read-64K/min(seqread-1M,copy-64K) ≥ 0.9 | pci | tamago | 0.80 (0.75–0.88) | no |",
	)
	var b bytes.Buffer
	tb.writeMarkdownTables(&b, c)
	if !strings.Contains(b.String(), "| pci | tamago | 0.90 (0.35–0.95) | 0.75 (0.35–0.80) | 0.90 (0.88–0.95) | 0.80 (0.75–0.88) | 1.00 (0.40–1.50) | 1.00 (0.40–1.50) | 3 |") ||
		!strings.Contains(b.String(), "`bench --rounds 3 --size 64M --ms 500 seqwrite-1M swap-append-64K seqread-1M swap-read-64K copy-64K`") {
		t.Errorf("swap table:\n%s", b.String())
	}
	b.Reset()
	tb.writeTSV(&b)
	if !strings.Contains(b.String(), "pci\tswap-append-64K/min(seqwrite-1M,copy-64K)\ttamago\t\t\t0.900\t0.875\t0.950\t3\n") {
		t.Errorf("TSV:\n%s", b.String())
	}
}

// QEMU 10 against 7.2: boot R of one over boot R of the other, a row per
// workload and path, none for the ceiling (the host's qemu-img either way).
func TestQEMUComparison(t *testing.T) {
	c := &config{paths: []string{"ours"}, transports: []string{"mmio"}}
	a, b := newSamples(), newSamples()
	for r, v := range []float64{1000, 1200, 900} {
		a.addAt("mmio", "seqwrite-1M", "ours", r+1, measurement{v, v})
		b.addAt("mmio", "seqwrite-1M", "ours", r+1, measurement{v / 2, v / 2})
		a.addAt("mmio", "seqwrite-1M", "ceiling", r+1, measurement{1000, 1000})
	}
	b.addAt("mmio", "copy-64K", "ours", 1, measurement{3000, 3000})
	tb := a.table(c)
	tb.compareQEMU(a, b, "QEMU 7.2")
	var w bytes.Buffer
	tb.writeQEMUComparison(&w, "QEMU 10.0", b)
	out := w.String()
	if !strings.Contains(out, "### QEMU 10.0 against QEMU 7.2, alternating boots") ||
		!strings.Contains(out, "| mmio | ours | seqwrite-1M | 1000 | 500 | 2.00 (2.00–2.00) |") ||
		strings.Contains(out, "ceiling") || strings.Contains(out, "copy-64K") {
		t.Errorf("comparison:\n%s", out)
	}
	w.Reset()
	tb.writeTSV(&w)
	if !strings.Contains(w.String(), "mmio\tseqwrite-1M/qemu-7.2\tours\t\t\t2.000\t2.000\t2.000\t3\n") {
		t.Errorf("TSV:\n%s", w.String())
	}
	// Without a second QEMU there is no comparison.
	w.Reset()
	a.table(c).writeQEMUComparison(&w, "QEMU 7.2", nil)
	if w.Len() != 0 {
		t.Errorf("comparison without a second QEMU: %q", w.String())
	}
}
