package main

import (
	"bytes"
	"encoding/xml"
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
	want := "transport\tworkload\tpath\tmib_s\tiops\n" +
		"mmio\tseqwrite-1M\tours\t200.00\t200.0\n" +
		"mmio\tseqwrite-1M\tkernel\t100.00\t100.0\n" +
		"mmio\tseqwrite-1M\tceiling\t400.00\t400.0\n" +
		"mmio\tswap-append-64K\tours\t181.00\t3000.0\n" +
		"mmio\tseed-append\tours\t2.00\t32.0\n"
	if b.String() != want {
		t.Errorf("TSV:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestTargets(t *testing.T) {
	tb, c := testTable()
	var b bytes.Buffer
	tb.writeTargets(&b, c)
	for _, want := range []string{
		"| ours/kernel seqwrite-1M ≥ 1.0 | mmio | ours | 2.00 | yes |",
		"| ours/ceiling seqwrite-1M ≥ 0.9 | mmio | ours | 0.50 | no |",
		"| swap-append-64K/seqwrite-1M ≥ 0.9 | mmio | ours | 0.91 | yes |",
		"| swap-append-64K/seed-append ≥ 20 | mmio | ours | 90.50 | yes |",
		"| ours/kernel seqread-1M ≥ 1.0 | mmio | ours | – | no data |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("targets lack %q:\n%s", want, b.String())
		}
	}
}

// Each arch's tables name its machine, and its report its own files.
func TestMarkdownArch(t *testing.T) {
	tb, c := testTable()
	for _, a := range []struct{ arch, base, machine string }{{"amd64", "bench", "QEMU `-M microvm`"}, {"arm64", "bench-arm64", "QEMU arm64 `-M virt`"}} {
		c.arch, c.base = a.arch, a.base
		var b bytes.Buffer
		if err := tb.writeMarkdown(&b, c, machineInfo{command: "make bench"}); err != nil {
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
	if m == nil || m[1] != "randread-4K-qd1" || m[2] != "26.83" || m[3] != "6869.2" {
		t.Errorf("bench line parsed as %q", m)
	}
	if benchLine.MatchString("bench: error: seqwrite-1M: I/O error") {
		t.Error("an error line parsed as a result")
	}
}
