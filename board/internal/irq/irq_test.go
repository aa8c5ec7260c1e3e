package irq

import (
	"slices"
	"testing"
)

// fakeGIC holds level lines: asserted ones are pending, and the CPU
// interface hands out the lowest enabled pending INTID, as a GIC with
// equal priorities does.
type fakeGIC struct {
	asserted, enabled [MaxLines]bool
	log               []string
}

func (g *fakeGIC) Acknowledge() int {
	for id := range MaxLines {
		if g.asserted[id] && g.enabled[id] {
			return id
		}
	}
	return 1023
}
func (g *fakeGIC) Disable(id int) { g.enabled[id] = false; g.log = append(g.log, "disable") }
func (g *fakeGIC) Enable(id int)  { g.enabled[id] = true; g.log = append(g.log, "enable") }

// fakeDev is a device whose interrupt stays asserted until its handler
// acknowledges it.
type fakeDev struct {
	g       *fakeGIC
	line    int
	handled int
	mode    []bool
}

func (d *fakeDev) Interrupt()            { d.handled++; d.g.asserted[d.line] = false }
func (d *fakeDev) UseInterrupts(on bool) { d.mode = append(d.mode, on) }

func TestDrainServe(t *testing.T) {
	g := &fakeGIC{}
	woken := 0
	l := &Lines{Ctl: g, Wake: func() bool { woken++; return true }}
	a, b := &fakeDev{g: g, line: 35}, &fakeDev{g: g, line: 35} // a shared line
	c := &fakeDev{g: g, line: 48}
	for _, d := range []*fakeDev{a, b, c} {
		if err := l.Handle(d.line, d.Interrupt); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Use(35, true); err != nil {
		t.Fatal(err)
	}
	if err := l.Use(35, true); err != nil {
		t.Fatal(err)
	}
	// Line 48 is enabled but not in use (as the idle routine's timer):
	// it is only acknowledged, and it keeps firing, so Drain stops
	// there.
	g.enabled[48], g.asserted[48] = true, true
	g.asserted[35] = true
	if n := l.Drain(); n != 1 || woken != 1 {
		t.Fatalf("Drain marked %d lines and woke %d times, want 1 and 1", n, woken)
	}
	if g.enabled[35] || !l.Pending() {
		t.Fatal("Drain left the taken level line enabled, or did not mark it")
	}
	if n := l.Drain(); n != 0 || woken != 1 {
		t.Fatalf("a second Drain marked %d, woke %d: the disabled line came back", n, woken)
	}
	if n := l.ServeOnce(); n != 1 || a.handled != 1 || b.handled != 1 || c.handled != 0 {
		t.Fatalf("ServeOnce served %d lines, handlers ran %d %d %d times, want 1: 1 1 0", n, a.handled, b.handled, c.handled)
	}
	if !g.enabled[35] || l.Pending() {
		t.Fatal("ServeOnce did not enable the served line again")
	}
	// Out of use: the line is disabled with its last user only.
	_ = l.Use(35, false)
	if !g.enabled[35] {
		t.Fatal("line disabled with a user left")
	}
	_ = l.Use(35, false)
	if g.enabled[35] {
		t.Fatal("line enabled without users")
	}
	if err := l.Use(35, false); err == nil {
		t.Error("Use(off) without users accepted")
	}
	if err := l.Use(40, true); err == nil {
		t.Error("Use of a line without a handler accepted")
	}
}

// TestServeDisabledMeanwhile: a line whose last user left while it waited
// for Serve is not enabled again after its handlers ran.
func TestServeDisabledMeanwhile(t *testing.T) {
	g := &fakeGIC{}
	l := &Lines{Ctl: g}
	d := &fakeDev{g: g, line: 50}
	disk, err := NewDisk(l, 50, d)
	if err != nil {
		t.Fatal(err)
	}
	if err := disk.UseInterrupts(true); err != nil || !disk.Interrupts() || disk.Line() != 50 {
		t.Fatalf("UseInterrupts(true): %v, Interrupts %t", err, disk.Interrupts())
	}
	g.asserted[50] = true
	l.Drain()
	if err := disk.UseInterrupts(false); err != nil || disk.Interrupts() {
		t.Fatal(err)
	}
	l.ServeOnce()
	if g.enabled[50] || d.handled != 1 {
		t.Errorf("after serving: enabled %t, handled %d; want disabled, 1", g.enabled[50], d.handled)
	}
	if !slices.Equal(d.mode, []bool{true, false}) {
		t.Errorf("driver modes %v", d.mode)
	}
	// On: the line is enabled before the driver sleeps on it; off: the
	// driver polls before the line goes.
	if want := []string{"enable", "disable", "disable"}; !slices.Equal(g.log, want) {
		t.Errorf("controller calls %v, want %v", g.log, want)
	}
}

// TestDrainBounded: a line that never stops firing does not hold the
// idle routine.
func TestDrainBounded(t *testing.T) {
	l := &Lines{Ctl: storm{}}
	l.used[0].Store(1 << 5)
	if n := l.Drain(); n != maxDrain {
		t.Errorf("Drain took %d, want the bound %d", n, maxDrain)
	}
}

type storm struct{}

func (storm) Acknowledge() int { return 5 }
func (storm) Disable(int)      {}
func (storm) Enable(int)       {}

func TestDrainAllocs(t *testing.T) {
	g := &fakeGIC{}
	l := &Lines{Ctl: g, Wake: func() bool { return true }}
	d := &fakeDev{g: g, line: 60}
	_ = l.Handle(60, d.Interrupt)
	_ = l.Use(60, true)
	if n := testing.AllocsPerRun(100, func() {
		g.asserted[60] = true
		l.Drain()
		l.ServeOnce()
	}); n != 0 {
		t.Errorf("Drain and ServeOnce allocate %v times", n)
	}
}

// fakeCPU is a clock that advances by step at each reading, a timer and
// WFI, which ends at the alarm or when a device asserts its line.
type fakeCPU struct {
	now, step, alarm int64
	waits            int
	device           func() // asserts a line during WFI, when set
}

func (c *fakeCPU) Now() int64        { c.now += c.step; return c.now }
func (c *fakeCPU) SetAlarm(ns int64) { c.alarm = ns }
func (c *fakeCPU) Wait() {
	c.waits++
	if c.device != nil {
		c.device()
		return
	}
	c.now = max(c.now, c.alarm)
}

func TestIdle(t *testing.T) {
	g := &fakeGIC{}
	woken := 0
	l := &Lines{Ctl: g, Wake: func() bool { woken++; return true }}
	d := &fakeDev{g: g, line: 40}
	_ = l.Handle(40, d.Interrupt)
	_ = l.Use(40, true)
	cpu := &fakeCPU{step: 1000}
	idle := &Idler{Lines: l, Now: cpu.Now, SetAlarm: cpu.SetAlarm, Wait: cpu.Wait,
		MinWait: 50_000, MaxWait: 1_000_000_000}

	// Nothing due and no interrupt: WFI until MaxWait.
	idle.Idle(0)
	if cpu.waits != 1 || cpu.alarm != 0 || cpu.now < 1_000_000_000 {
		t.Errorf("idle with nothing due: %d waits, alarm left %d, clock %d", cpu.waits, cpu.alarm, cpu.now)
	}
	// Due soon: no WFI.
	idle.Idle(cpu.now + 10_000)
	if cpu.waits != 1 {
		t.Error("WFI for a wait under MinWait")
	}
	// An interrupt pending before the wait: no WFI, the service
	// goroutine woken.
	g.asserted[40] = true
	idle.Idle(cpu.now + 10_000_000)
	if cpu.waits != 1 || woken != 1 {
		t.Errorf("interrupt pending before WFI: %d waits, woken %d", cpu.waits, woken)
	}
	l.ServeOnce()
	// An interrupt during WFI ends it and wakes the service goroutine.
	cpu.device = func() { g.asserted[40] = true }
	idle.Idle(cpu.now + 10_000_000)
	if cpu.waits != 2 || woken != 2 || cpu.alarm != 0 {
		t.Errorf("interrupt in WFI: %d waits, woken %d, alarm %d", cpu.waits, woken, cpu.alarm)
	}
}
