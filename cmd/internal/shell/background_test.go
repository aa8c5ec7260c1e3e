package shell

import (
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/drivers/block"
)

// gated is a disk whose reads wait for release, once started says so.
type gated struct {
	*block.Mem
	inFlight atomic.Int32
	started  chan struct{}
	release  chan struct{}
	timeout  time.Duration
}

func (g *gated) Read(sector int64, bufs ...[]byte) error {
	g.inFlight.Add(1)
	defer g.inFlight.Add(-1)
	select {
	case g.started <- struct{}{}:
	default:
	}
	<-g.release
	return g.Mem.Read(sector, bufs...)
}

func (g *gated) SetTimeout(t time.Duration) { g.timeout = t }

// inFlightIRQ is a wired interrupt that records whether each switch
// came with a request in flight.
type inFlightIRQ struct {
	fakeIRQ
	dev      *gated
	switches []bool
}

func (f *inFlightIRQ) UseInterrupts(on bool) error {
	f.switches = append(f.switches, f.dev.inFlight.Load() > 0)
	return f.fakeIRQ.UseInterrupts(on)
}

// waitLines waits until out holds n lines.
func waitLines(t *testing.T, out *lines, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		out.mu.Lock()
		got := len(out.l)
		out.mu.Unlock()
		if got >= n {
			return
		}
	}
	t.Fatalf("output %q: fewer than %d lines", out.l, n)
}

// A job's read is in flight while irq switches the disk both ways and
// timeout sets its limit; commands that would touch the disk, and a
// second job, are refused until wait; the job's result comes before
// wait's, and exit waits for a job.
func TestBackgroundJob(t *testing.T) {
	g := &gated{Mem: mem(4096, 512), started: make(chan struct{}, 1), release: make(chan struct{})}
	d := mkdisk(g)
	irq := &inFlightIRQ{fakeIRQ: fakeIRQ{line: 33, on: true}, dev: g}
	d.IRQ = irq
	in, script := io.Pipe()
	out := &lines{t: t}
	done := make(chan int)
	go func() { done <- Run(Config{In: in, Out: out, Disks: []Disk{d}}) }()
	banner := 2
	io.WriteString(script, "sum 0 8 &\n")
	<-g.started
	io.WriteString(script, "irq off\nirq on\ntimeout 250\nfill 0 1 1\nsum 0 8 &\nuse 0\nbench\n")
	waitLines(t, out, banner+7)
	close(g.release)
	io.WriteString(script, "wait\nwait\nfill 0 1 1 &\nexit 3\n")
	script.Close()
	if code := <-done; code != 3 {
		t.Errorf("exit status %d, want 3", code)
	}
	want(t, out.l[banner:],
		"sum: job=1 started",
		"irq: disk=0 mode=poll",
		"irq: disk=0 mode=interrupt",
		"timeout: disk=0 ms=250",
		"fill: error: job 1 is running (wait for it)",
		"sum: error: job 1 is running (wait for it)",
		"use: error: job 1 is running (wait for it)",
		"bench: error: job 1 is running (wait for it)",
		"sum: "+sha(make([]byte, 8*512)),
		"wait: done job=1",
		"wait: done job=none",
		"fill: job=2 started",
		"fill: ok",
	)
	if len(irq.switches) != 2 || !irq.switches[0] || !irq.switches[1] {
		t.Errorf("irq switches with a request in flight: %v, want [true true]", irq.switches)
	}
	if g.timeout != 250*time.Millisecond {
		t.Errorf("timeout set %v, want 250ms", g.timeout)
	}
}

func TestBackgroundRefused(t *testing.T) {
	got, _ := run(t, []Disk{mkdisk(mem(4096, 512))}, strings.Join([]string{
		"selftest &", "&", "wait extra", "timeout", "timeout x", "timeout 10",
	}, "\n"))
	want(t, got,
		"selftest: error: only bench, fill and sum run in the background",
		"&: error: only bench, fill and sum run in the background",
		"wait: error: usage: wait",
		"timeout: error: usage: timeout MS",
		`timeout: error: MS "x": not a decimal number`,
		"timeout: error: disk 0: its driver has no request timeout to set",
	)
}
