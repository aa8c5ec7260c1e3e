package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"testing"
)

func testTable() (*table, *config) {
	c := &config{arch: "amd64", base: "bench", boots: 3, size: "32M", ms: "2000", paths: []string{"ours", "kernel"}, transports: []string{"mmio"}, cacheMode: "none", mem: "512M", imageSize: 256 << 20, ceilingMiB: 512}
	s := newSamples()
	for i, v := range []float64{300, 100, 200} { // median 200
		s.add("mmio", "seqwrite-1M", "ours", measurement{v, v})
		s.add("mmio", "seqwrite-1M", "kernel", measurement{v / 2, v / 2})
		s.add("mmio", "seqwrite-1M", "ceiling", measurement{400, 400})
		s.add("mmio", "swap-append-64K", "ours", measurement{180 + float64(i), 3000})
		s.add("mmio", "seed-append", "ours", measurement{2, 32})
	}
	return s.table(c), c
}

func TestMedian(t *testing.T) {
	f := func(m measurement) float64 { return m.mibs }
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{5}, 5}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		var ms []measurement
		for _, v := range c.in {
			ms = append(ms, measurement{mibs: v})
		}
		if got := median(ms, f); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestTSV(t *testing.T) {
	tb, _ := testTable()
	var b bytes.Buffer
	tb.writeTSV(&b)
	// The measurement rows keep their five columns first; the ratio
	// columns are empty in them and filled in the ratio rows after.
	want := "transport\tworkload\tpath\tmib_s\tiops\tratio\tratio_min\tratio_max\trounds\n" +
		"mmio\tseqwrite-1M\tours\t200.00\t200.0\t\t\t\t\n" +
		"mmio\tseqwrite-1M\tkernel\t100.00\t100.0\t\t\t\t\n" +
		"mmio\tseqwrite-1M\tceiling\t400.00\t400.0\t\t\t\t\n" +
		"mmio\tswap-append-64K\tours\t181.00\t3000.0\t\t\t\t\n" +
		"mmio\tseed-append\tours\t2.00\t32.0\t\t\t\t\n" +
		"mmio\tseqwrite-1M/kernel\tours\t\t\t2.000\t2.000\t2.000\t3\n" +
		"mmio\tseqwrite-1M/ceiling\tours\t\t\t0.500\t0.250\t0.750\t3\n" +
		"mmio\tseqwrite-1M/ceiling\tkernel\t\t\t0.250\t0.125\t0.375\t3\n"
	if b.String() != want {
		t.Errorf("TSV:\n%s\nwant:\n%s", b.String(), want)
	}
}

// wantTargets checks that tb's targets table has each of the rows.
func wantTargets(t *testing.T, tb *table, c *config, rows ...string) {
	t.Helper()
	var b bytes.Buffer
	tb.writeTargets(&b, c)
	for _, want := range rows {
		if !strings.Contains(b.String(), want) {
			t.Errorf("targets lack %q:\n%s", want, b.String())
		}
	}
}

// Ratios between paths pair boots of one round (ceiling: boots 300, 100,
// 200 MiB/s against 400 each); a ratio without rounds is of medians.
func TestTargets(t *testing.T) {
	tb, c := testTable()
	wantTargets(t, tb, c,
		"| ours/ceiling seqwrite-1M ≥ 0.9 | mmio | ours | 0.50 (0.25–0.75) | no |",
		"| ours/kernel seqwrite-1M ≥ 1.0 | mmio | ours | 2.00 (2.00–2.00) | yes |",
		"| swap-append-64K/seqwrite-1M ≥ 0.9 | mmio | ours | 0.91 | yes |",
		"| swap-append-64K/seed-append ≥ 20 | mmio | ours | 90.50 | yes |",
		"| ours/kernel seqread-1M ≥ 1.0 | mmio | ours | – | no data |",
	)
}

// Each arch's tables name its machine, and its report its own files.
func TestMarkdownArch(t *testing.T) {
	tb, c := testTable()
	for _, a := range []struct{ arch, base, machine string }{{"amd64", "bench", "QEMU `-M microvm`"}, {"arm64", "bench-arm64", "QEMU arm64 `-M virt`"}} {
		c.arch, c.base = a.arch, a.base
		var b bytes.Buffer
		if err := tb.writeMarkdown(&b, c, machineInfo{command: "make bench"}, nil); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"### mmio: virtio-mmio (modern), " + a.machine, "(" + a.base + ".svg)", a.base + "-boots.tsv"} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("%s report lacks %q", a.arch, want)
			}
		}
	}
}

// TestSVG checks that the plot is well-formed XML with a bar per figure.
func TestSVG(t *testing.T) {
	tb, c := testTable()
	var b bytes.Buffer
	if err := tb.writeSVG(&b, c, machineInfo{qemu: "QEMU <7.2> & co"}); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(&b)
	bars := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("bench.svg is not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "title" {
			bars++
		}
	}
	if bars != len(tb.cells) {
		t.Errorf("%d bars, want %d", bars, len(tb.cells))
	}
}

func TestParseSize(t *testing.T) {
	for s, want := range map[string]int64{"256M": 256 << 20, "1G": 1 << 30, "1024K": 1 << 20} {
		if got, err := parseSize(s); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "0M", "-1M", "1000K", "12", "xM"} {
		if _, err := parseSize(s); err == nil {
			t.Errorf("parseSize(%q) succeeded", s)
		}
	}
}

func TestBenchLine(t *testing.T) {
	m := benchLine.FindStringSubmatch("bench: randread-4K-qd1 mib_s=26.83 iops=6869.2")
	if m == nil || m[1] != "" || m[2] != "randread-4K-qd1" || m[3] != "26.83" || m[4] != "6869.2" {
		t.Errorf("bench line parsed as %q", m)
	}
	m = benchLine.FindStringSubmatch("fio: io_uring seqread-1M mib_s=700.00 iops=700.0")
	if m == nil || m[1] != "io_uring" || m[2] != "seqread-1M" || m[3] != "700.00" {
		t.Errorf("fio line parsed as %q", m)
	}
	// Latency fields and bench --rounds's round, alone and together.
	for _, c := range []struct{ line, round string }{
		{"bench: randread-4K-qd1 mib_s=26.83 iops=6869.2 p50_us=131.1 p99_us=377.0 ops=4096", ""},
		{"bench: seqwrite-1M mib_s=2400.00 iops=2400.0 round=3", "3"},
		{"bench: randread-4K-qd1 mib_s=26.83 iops=6869.2 p50_us=131.1 p99_us=377.0 ops=4096 round=12", "12"},
	} {
		m := benchLine.FindStringSubmatch(c.line)
		if m == nil || m[3] == "" || m[4] == "" || m[5] != c.round {
			t.Errorf("%q parsed as %q, want round %q", c.line, m, c.round)
		}
	}
	if benchLine.MatchString("fio: version=fio-3.33 dev=/dev/vda") {
		t.Error("fio's version line parsed as a result")
	}
	if benchLine.MatchString("bench: error: seqwrite-1M: I/O error") {
		t.Error("an error line parsed as a result")
	}
}

// The fio path boots once and fills two columns; psync gets no depth-16
// job; the kernel path runs no encrypted workload.
func TestFioPaths(t *testing.T) {
	if got := strings.Join(tablePaths([]string{"ours", "fio", "tamago"}), ","); got != "ours,fio-psync,fio-uring,tamago,ceiling" {
		t.Errorf("tablePaths: %s", got)
	}
	c := &config{size: "128M", ms: "2000"}
	cmds, want := guestCommands(c, "fio")
	if !strings.HasPrefix(cmds, "info\nfio --size 128M --ms 2000 psync:seqwrite-1M ") || strings.Contains(cmds, "psync:randread-4K-qd16") ||
		!strings.Contains(cmds, " io_uring:randread-4K-qd16\n") || len(want) != 9 {
		t.Errorf("fio boot runs %q, expecting %d results", cmds, len(want))
	}
	cmds, want = guestCommands(c, "kernel")
	if strings.Contains(cmds, "-enc") || strings.Contains(cmds, "aead-") || !strings.Contains(cmds, " copy-64K\n") {
		t.Errorf("kernel boot runs %q", cmds)
	}
	if cmds, _ := guestCommands(c, "ours"); !strings.Contains(cmds, " swap-read-64K-enc aead-seal-4K aead-open-4K copy-64K\n") {
		t.Errorf("ours boot runs %q", cmds)
	}
	for _, k := range want {
		if k.path != "kernel" {
			t.Errorf("kernel boot expects a result of path %s", k.path)
		}
	}
}

// A fio-uring row without figures (no io_uring in the guest) is in the
// TSV with empty values; the targets against it say no data.
func TestFioUringMissing(t *testing.T) {
	c := &config{boots: 1, paths: []string{"ours", "fio"}, transports: []string{"mmio"}}
	s := newSamples()
	s.add("mmio", "seqread-1M", "ours", measurement{900, 900})
	s.add("mmio", "seqread-1M", "fio-psync", measurement{600, 600})
	s.add("mmio", "randread-4K-qd1", "fio-uring", measurement{10, 2560})
	s.add("mmio", "randread-4K-qd1", "ours", measurement{30, 7680})
	tb := s.table(c)
	var b bytes.Buffer
	tb.writeTSV(&b)
	for _, want := range []string{"mmio\tseqread-1M\tfio-uring\t\t\t\t\t\t\n", "mmio\tseqread-1M\tfio-psync\t600.00\t600.0\t\t\t\t\n", "mmio\trandread-4K-qd1\tfio-uring\t10.00\t2560.0\t\t\t\t\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("TSV lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "seqwrite-1M\tfio-psync") {
		t.Errorf("TSV has an empty fio-psync row:\n%s", b.String())
	}
	b.Reset()
	tb.writeTargets(&b, c)
	for _, want := range []string{"| ours/fio-uring seqread-1M ≥ 1.0 | mmio | ours | – | no data |", "| ours/fio-uring randread-4K-qd1 ≥ 1.5 | mmio | ours | 3.00 | yes |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("targets lack %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "/kernel") {
		t.Errorf("targets against paths the run left out:\n%s", b.String())
	}
}

// A run without the fio path (make bench ARCH=arm64) lists no fio
// target, rather than a column of "no data".
func TestTargetsWithoutFio(t *testing.T) {
	c := &config{boots: 1, paths: []string{"ours", "kernel"}, transports: []string{"mmio"}}
	s := newSamples()
	s.add("mmio", "seqread-1M", "ours", measurement{900, 900})
	s.add("mmio", "seqread-1M", "kernel", measurement{300, 300})
	var b bytes.Buffer
	s.table(c).writeTargets(&b, c)
	if strings.Contains(b.String(), "fio") {
		t.Errorf("fio targets in a run without fio:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "| ours/kernel seqread-1M ≥ 1.0 | mmio | ours | 3.00 | yes |") {
		t.Errorf("the kernel target is missing:\n%s", b.String())
	}
}

// TestMarkdownBootCount: the report says how many guest boots failed,
// zero included, and lists the failures.
func TestMarkdownBootCount(t *testing.T) {
	tb, c := testTable()
	for _, m := range []machineInfo{
		{booted: 30},
		{booted: 30, bootFailures: 1, failures: []string{"pci tamago boot 3: guest exit status 2"}},
	} {
		var b bytes.Buffer
		if err := tb.writeMarkdown(&b, c, m, nil); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("- Boots: %d of 30 guest boots failed", m.bootFailures)
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q", want)
		}
		if m.bootFailures > 0 && !strings.Contains(b.String(), "### Failed boots\n\n- pci tamago boot 3: guest exit status 2") {
			t.Errorf("report does not list the failed boot:\n%s", b.String())
		}
	}
}
