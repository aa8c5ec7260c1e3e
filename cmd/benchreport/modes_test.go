package main

import (
	"slices"
	"strings"
	"testing"
)

func TestParseMode(t *testing.T) {
	for s, want := range map[string][]string{
		"poll":       {"irq off"},
		"interrupt":  {"irq on", "hybrid 0"},
		"hybrid-100": {"irq on", "hybrid 100"},
	} {
		m, err := parseMode(s)
		if err != nil || m.name != s || !slices.Equal(m.cmds, want) {
			t.Errorf("parseMode(%q) = %v, %v; want %q", s, m, err, want)
		}
	}
	for _, s := range []string{"", "irq", "hybrid-", "hybrid-0", "hybrid--5", "hybrid-1000001", "hybrid-1e3"} {
		if _, err := parseMode(s); err == nil {
			t.Errorf("parseMode(%q) accepted", s)
		}
	}
	var c modeConfig
	if err := c.setModes("interrupt, hybrid-50,poll,interrupt"); err != nil || !slices.Equal(c.irqModes, []string{"interrupt", "hybrid-50", "poll"}) {
		t.Errorf("setModes = %q, %v", c.irqModes, err)
	}
	for _, l := range []string{"interrupt", "poll", "interrupt,hybrid-x,poll"} {
		if err := c.setModes(l); err == nil {
			t.Errorf("setModes(%q) accepted", l)
		}
	}
}

func TestRotate(t *testing.T) {
	v := []string{"a", "b", "c"}
	if got := rotate(v, 4); !slices.Equal(got, []string{"b", "c", "a"}) || !slices.Equal(v, []string{"a", "b", "c"}) {
		t.Errorf("rotate = %q (input now %q)", got, v)
	}
}

// info's lines say which disk has which ring, in whatever order the
// board found them.
func TestDisksByRing(t *testing.T) {
	lines := []string{
		"info: disk=0 transport=mmio version=modern sectors=524288 sector_size=512 ro=false features=SEG_MAX,RING_PACKED,VERSION_1 queues=1 ring=packed irq=46",
		"info: disk=1 transport=mmio version=modern sectors=524288 sector_size=512 ro=false features=SEG_MAX,VERSION_1 queues=1 ring=split irq=47",
	}
	d, err := disksByRing(lines)
	if err != nil || d["packed"] != 0 || d["split"] != 1 {
		t.Errorf("disksByRing = %v, %v", d, err)
	}
	for _, bad := range [][]string{lines[:1], {lines[1], lines[1]}, {"info: disk=0 transport=mmio irq=poll"}} {
		if _, err := disksByRing(bad); err == nil {
			t.Errorf("disksByRing(%q) accepted", bad)
		}
	}
}

// The mode rows: each variant's medians, then per-round ratios against
// the reference, in bench.tsv's columns.
func TestModeRows(t *testing.T) {
	r := &modeResults{}
	add := func(kind, v, wl, field string, round int, x float64) {
		r.add(modeSample{kind: kind, transport: "mmio", variant: v, workload: wl, field: field, round: round, value: x})
	}
	// Round 2's host is twice as slow for both modes: the ratio holds.
	for round, scale := range map[int]float64{1: 1, 2: 0.5, 3: 1} {
		add("irq", "interrupt", "randread-4K-qd1@200iops", "cpu_s_per_1000", round, 0.5/scale)
		add("irq", "poll", "randread-4K-qd1@200iops", "cpu_s_per_1000", round, 5/scale)
		add("irq", "interrupt", "seqwrite-1M", "mib_s", round, 900*scale)
		add("irq", "poll", "seqwrite-1M", "mib_s", round, 1000*scale)
		add("irq", "interrupt", "randread-4K-qd1", "mib_s", round, 20*scale)
		add("irq", "interrupt", "randread-4K-qd1", "iops", round, 5120*scale)
		add("irq", "poll", "randread-4K-qd1", "mib_s", round, 25*scale)
		add("irq", "poll", "randread-4K-qd1", "iops", round, 6400*scale)
		add("packed", "split", "seqwrite-1M", "mib_s", round, 1000*scale)
		add("packed", "packed", "seqwrite-1M", "mib_s", round, float64(round)*1000*scale)
	}
	var b strings.Builder
	r.writeTSVRows(&b)
	wantLines(t, b.String(),
		"mmio\tseqwrite-1M\ttamago-interrupt\t900.00\t\t\t\t\t\n",
		"mmio\trandread-4K-qd1\ttamago-poll\t25.00\t6400.0\t\t\t\t\n",
		"mmio\trandread-4K-qd1@200iops:cpu_s_per_1000/poll\ttamago-interrupt\t\t\t0.100\t0.100\t0.100\t3\n",
		"mmio\tseqwrite-1M/poll\ttamago-interrupt\t\t\t0.900\t0.900\t0.900\t3\n",
		"mmio\trandread-4K-qd1/poll\ttamago-interrupt\t\t\t0.800\t0.800\t0.800\t3\n",
		"mmio\tseqwrite-1M/split\ttamago-packed\t\t\t2.000\t1.000\t3.000\t3\n",
	)
	if strings.Contains(b.String(), ":iops/") || strings.Contains(b.String(), "tamago-poll\t\t") {
		t.Errorf("IOPS ratio rows or ratios of the reference in\n%s", b.String())
	}
	var md strings.Builder
	r.writeMarkdown(&md)
	wantLines(t, md.String(),
		"| seqwrite-1M | MiB/s | 900 | 1000 | 0.90 (0.90–0.90) |",
		"| interrupts ≤ 0.25 of polling's host CPU per request (throttled disk) | mmio interrupt, randread-4K-qd1@200iops | 0.10 (0.10–0.10) | met |",
		"| unpaced QD1 IOPS in interrupt mode (or with a hybrid poll) ≥ 0.9 of polling's | mmio interrupt, randread-4K-qd1 | 0.80 (0.80–0.80) | MISSED |",
		"| seqwrite-1M | MiB/s | 1000 | 1000 | 2.00 (1.00–3.00) |", // medians 1000 and 1000: a ratio of medians would say 1
	)
}

// wantLines reports each of want that out does not contain.
func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("no %q in\n%s", w, out)
		}
	}
}
