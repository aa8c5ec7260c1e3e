package main

import (
	"fmt"
	"html"
	"io"
	"math"
)

// Colours of the paths, in table order.
var pathColour = map[string]string{
	"ours":      "#1f77b4",
	"kernel":    "#ff7f0e",
	"tamago":    "#2ca02c",
	"fio-psync": "#9467bd",
	"fio-uring": "#d62728",
	"ceiling":   "#7f7f7f",
}

// writeSVG plots the table: one panel per transport, a group of
// horizontal bars per workload, one bar per path, MiB/s on a log scale
// (the workloads span four decades), each bar labelled with its value.
func (t *table) writeSVG(w io.Writer, c *config, m machineInfo) error {
	const (
		width    = 960
		left     = 150 // workload names
		right    = 70  // value labels past the longest bar
		barH     = 9
		groupGap = 10
		panelGap = 50
		top      = 70
	)
	plotW := float64(width - left - right)
	// Decades covering every value.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, cl := range t.cells {
		if cl.mibs > 0 {
			lo, hi = math.Min(lo, cl.mibs), math.Max(hi, cl.mibs)
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 1, 10
	}
	dLo, dHi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if dHi <= dLo {
		dHi = dLo + 1
	}
	x := func(v float64) float64 {
		return plotW * (clampLog10(v, dLo) - dLo) / (dHi - dLo)
	}
	groupH := len(t.paths)*barH + groupGap
	panelH := len(workloads)*groupH + 30
	height := top + len(t.transports)*(panelH+panelGap) + 10

	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", width, height, width, height)
	p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	p(`<text x="%d" y="20" font-size="15" font-weight="bold">tamaswap: MiB/s per workload (median of %d boots, log scale)</text>`+"\n", 10, c.boots)
	p(`<text x="%d" y="38" fill="#444">%s</text>`+"\n", 10, html.EscapeString(fmt.Sprintf("%s, TCG, %d CPUs; disk cache=%s; bench --size %s --ms %s; %s", m.qemu, m.nproc, c.cacheMode, c.size, c.ms, m.date)))
	// Legend.
	lx := 10
	for _, path := range t.paths {
		p(`<rect x="%d" y="48" width="12" height="12" fill="%s"/><text x="%d" y="58">%s</text>`+"\n", lx, pathColour[path], lx+16, path)
		lx += 30 + 8*len(path)
	}
	for i, tr := range t.transports {
		y0 := top + i*(panelH+panelGap)
		p(`<g transform="translate(%d,%d)">`+"\n", left, y0)
		p(`<text x="%d" y="12" font-size="13" font-weight="bold">%s</text>`+"\n", -left+10, html.EscapeString(tr))
		// Grid: one line per decade, labelled.
		for d := dLo; d <= dHi; d++ {
			gx := x(math.Pow(10, d))
			p(`<line x1="%.1f" y1="20" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", gx, gx, panelH)
			p(`<text x="%.1f" y="%d" text-anchor="middle" fill="#666">%s</text>`+"\n", gx, panelH+12, decade(d))
		}
		p(`<text x="%.1f" y="%d" text-anchor="middle" fill="#666">MiB/s</text>`+"\n", plotW/2, panelH+26)
		for j, wl := range workloads {
			gy := 20 + j*groupH
			p(`<text x="-8" y="%d" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", gy+len(t.paths)*barH/2, wl)
			for k, path := range t.paths {
				cl, ok := t.get(tr, wl, path)
				if !ok {
					continue
				}
				by := gy + k*barH
				bw := math.Max(x(cl.mibs), 1)
				p(`<rect x="0" y="%d" width="%.1f" height="%d" fill="%s"><title>%s %s %s: %.2f MiB/s, %.0f IOPS</title></rect>`+"\n",
					by, bw, barH-1, pathColour[path], tr, wl, path, cl.mibs, cl.iops)
				p(`<text x="%.1f" y="%d" font-size="8" dominant-baseline="middle" fill="#333">%s</text>`+"\n", bw+3, by+barH/2, fmtNum(cl.mibs))
			}
		}
		p("</g>\n")
	}
	p("</svg>\n")
	return nil
}

func decade(d float64) string {
	v := math.Pow(10, d)
	if d < 0 {
		return fmt.Sprintf("%g", v)
	}
	return fmt.Sprintf("%.0f", v)
}
