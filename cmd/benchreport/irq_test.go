package main

import (
	"os"
	"testing"
)

// Result lines may carry more key=value fields at their end.
func TestIRQLines(t *testing.T) {
	l := "bench: randread-4K-qd1 mib_s=0.78 iops=199.9 p50_us=4980.7 p99_us=5242.9 ops=600"
	if m := benchLine.FindStringSubmatch(l); m == nil || m[2] != "randread-4K-qd1" || m[4] != "199.9" {
		t.Errorf("bench line with latency fields parsed as %q", m)
	}
	f := keyValues(l)
	if f["iops"] != 199.9 || f["p99_us"] != 5242.9 || f["ops"] != 600 {
		t.Errorf("keyValues = %v", f)
	}
}

// This process's own stat: its parent and a CPU time that does not go
// backwards.
func TestProcStat(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	comm, ppid, err := procStat(os.Getpid())
	if err != nil || ppid != os.Getppid() || comm == "" {
		t.Fatalf("procStat = %q %d %v, want parent %d", comm, ppid, err, os.Getppid())
	}
	clk, err := clockTicks()
	if err != nil {
		t.Skip(err)
	}
	a, err := cpuSeconds(os.Getpid(), clk)
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for i := 0; i < 50_000_000; i++ {
		x += i
	}
	b, _ := cpuSeconds(os.Getpid(), clk)
	if b < a || x == 0 {
		t.Errorf("CPU time went from %v to %v", a, b)
	}
}
