package main

import (
	"strings"
	"testing"
)

// q1 and q2 are told apart by MQ, not by info's queues=, which is what
// the driver set up: 1 on both disks with one CPU.
func TestDisksByQueues(t *testing.T) {
	lines := []string{
		"info: disk=0 transport=pci version=modern sectors=524288 sector_size=512 ro=false features=SEG_MAX,BLK_SIZE,FLUSH,MQ,VERSION_1 queues=1 ring=split irq=msix",
		"info: disk=1 transport=pci version=modern sectors=524288 sector_size=512 ro=false features=SEG_MAX,BLK_SIZE,FLUSH,VERSION_1 queues=1 ring=split irq=msix",
	}
	d, err := disksByQueues(lines)
	if err != nil || d[2] != (scaleInfo{0, 1}) || d[1] != (scaleInfo{1, 1}) {
		t.Errorf("disksByQueues = %v, %v", d, err)
	}
	two := strings.Replace(lines[0], "queues=1", "queues=2", 1)
	if d, err := disksByQueues([]string{lines[1], two}); err != nil || d[2] != (scaleInfo{0, 2}) {
		t.Errorf("disksByQueues with two CPUs = %v, %v", d, err)
	}
	for _, bad := range [][]string{lines[:1], {lines[1], lines[1]}, {lines[0], two}, {"info: disk=0 transport=mmio irq=poll", lines[1]}} {
		if _, err := disksByQueues(bad); err == nil {
			t.Errorf("disksByQueues(%q) accepted", bad)
		}
	}
}

// The scaling rows: medians per (CPUs, disk), then jobs2/jobs1, q2/q1
// and cpus2/cpus1, each paired by round, and the QD1 target.
func TestScalingRows(t *testing.T) {
	r := &modeResults{}
	add := func(v, wl, field string, round int, x float64) {
		r.add(modeSample{kind: "scaling", transport: "pci", variant: v, workload: wl, field: field, round: round, value: x})
	}
	// Round 2's host is twice as slow for every boot: the ratios hold.
	for round, scale := range map[int]float64{1: 1, 2: 0.5, 3: 1} {
		for _, v := range scaleVariants() {
			x := 1000 * scale
			if v == "cpus2-q2" {
				x *= 1.5 // two queues pay with two CPUs
			}
			if strings.HasPrefix(v, "cpus2") {
				x *= 0.5 // TCG: two vCPUs share the host with QEMU's I/O thread
			}
			add(v, "randread-4K-qd16", "mib_s", round, x)
			add(v, "randread-4K-qd16", "iops", round, x*256)
			add(v, "randread-4K-qd16-jobs2", "mib_s", round, 2*x)
			add(v, "randread-4K-qd16-jobs2", "cpu_s_per_1000", round, 0.1)
			add(v, "randread-4K-qd16", "cpu_s_per_1000", round, 0.2)
			add(v, driverQueues, "queues", round, 1)
		}
		qd1 := 0.9 // the 2-queue disk at QD1 falls below the target
		if round == 2 {
			qd1 = 1
		}
		add("cpus2-q1", "randread-4K-qd1", "mib_s", round, 10*scale)
		add("cpus2-q2", "randread-4K-qd1", "mib_s", round, 10*qd1*scale)
		add("cpus1-q1", "randread-4K-qd1", "mib_s", round, 10*scale)
		add("cpus1-q2", "randread-4K-qd1", "mib_s", round, 10*scale)
	}
	var b strings.Builder
	r.writeScalingTSV(&b)
	wantLines(t, b.String(),
		"pci\trandread-4K-qd16\ttamago-cpus1-q1\t1000.00\t256000.0\t\t\t\t\n",
		"pci\trandread-4K-qd16\ttamago-cpus2-q2\t750.00\t192000.0\t\t\t\t\n",
		"pci\trandread-4K-qd16-jobs2/randread-4K-qd16\ttamago-cpus2-q2\t\t\t2.000\t2.000\t2.000\t3\n",
		"pci\trandread-4K-qd16/q1\ttamago-cpus2-q2\t\t\t1.500\t1.500\t1.500\t3\n",
		"pci\trandread-4K-qd16/q1\ttamago-cpus1-q2\t\t\t1.000\t1.000\t1.000\t3\n",
		"pci\trandread-4K-qd16/cpus1\ttamago-cpus2-q1\t\t\t0.500\t0.500\t0.500\t3\n",
		"pci\trandread-4K-qd16/cpus1\ttamago-cpus2-q2\t\t\t0.750\t0.750\t0.750\t3\n",
		"pci\trandread-4K-qd16-jobs2:cpu_s_per_1000/randread-4K-qd16\ttamago-cpus1-q1\t\t\t0.500\t0.500\t0.500\t3\n",
		"pci\trandread-4K-qd1/q1\ttamago-cpus2-q2\t\t\t0.900\t0.900\t1.000\t3\n",
	)
	if strings.Contains(b.String(), "\tinfo\t") || strings.Contains(b.String(), "randread-4K-qd1\ttamago") {
		t.Errorf("rows of info, or of a workload without IOPS, in\n%s", b.String())
	}
	var md strings.Builder
	r.writeScalingMarkdown(&md)
	wantLines(t, md.String(),
		"| info | queues the driver set up | 1 | 1 | 1 | 1 |",
		"| randread-4K-qd16 | IOPS | 256000 | 256000 | 128000 | 192000 |",
		"| q2/q1, cpus=2 | randread-4K-qd16 | IOPS | 1.50 (1.50–1.50) |",
		"| pci q2/q1, cpus=2 | 0.90 (0.90–1.00) | MISSED |",
		"| pci q2/q1, cpus=1 | 1.00 (1.00–1.00) | control: one queue on both disks |",
	)
}
