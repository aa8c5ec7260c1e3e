package usdhc_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/tamaswap/tamaswap/drivers/sdmmc"
	"github.com/tamaswap/tamaswap/drivers/sdmmc/sdmmctest"
	"github.com/tamaswap/tamaswap/drivers/usdhc"
	"github.com/tamaswap/tamaswap/drivers/usdhc/usdhctest"
)

// irqDelay is how long the model takes for a command: long enough that
// a waiter in interrupt mode sleeps, short enough for many requests.
const irqDelay = 200 * time.Microsecond

// newIRQCard returns a card identified through a host on a model whose
// completions come irqDelay later, its interrupt line wired to the
// host's handler, in interrupt mode or not.
func newIRQCard(t *testing.T, irq bool, fault sdmmctest.Fault, cfg usdhctest.Config) (*sdmmc.Card, *usdhc.Host, *usdhctest.Controller) {
	t.Helper()
	card, err := sdmmctest.New(sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var h *usdhc.Host
	cfg.Card, cfg.Delay = card, irqDelay
	cfg.OnInterrupt = func() { h.Interrupt() }
	m := usdhctest.New(cfg)
	h = &usdhc.Host{Regs: m.Regs(), DMA: m.DMA()}
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	h.UseInterrupts(irq)
	c, err := sdmmc.New(h, sdmmc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	card.SetFault(fault)
	t.Cleanup(func() {
		if v := m.Violations(); len(v) > 0 {
			t.Errorf("model violations: %q", v)
		}
	})
	return c, h, m
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

// roundTrip writes 64 KiB at lba and reads it back.
func roundTrip(t *testing.T, c *sdmmc.Card, lba int64, seed byte) {
	t.Helper()
	buf, err := c.AllocBuffer(64 << 10)
	if err != nil {
		t.Fatal(err)
	}
	defer c.FreeBuffer(buf)
	want := pattern(len(buf), seed)
	copy(buf, want)
	if err := c.Write(lba, buf); err != nil {
		t.Fatal(err)
	}
	clear(buf)
	if err := c.Read(lba, buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, want) {
		t.Fatal("read back other data than written")
	}
}

// In both modes data goes through intact. With interrupts every wait
// sleeps until the line rises, none needs a re-check; polling never
// raises the line.
func TestInterruptModes(t *testing.T) {
	for _, irq := range []bool{false, true} {
		c, h, m := newIRQCard(t, irq, sdmmctest.Fault{}, usdhctest.Config{})
		for i := range 8 {
			roundTrip(t, c, int64(i)*128, byte(i))
		}
		served, lost := h.InterruptStats()
		rises, _ := m.Rises()
		t.Logf("interrupts %t: %d served, %d lost, the line rose %d times", irq, served, lost, rises)
		// A re-check may beat a slow handler goroutine on a loaded
		// host; most completions must come by interrupt.
		if irq && (served == 0 || lost > served/8 || rises == 0) {
			t.Errorf("interrupt mode: %d served, %d lost, %d rises; want interrupts and (almost) none lost", served, lost, rises)
		}
		if !irq && (served != 0 || rises != 0) {
			t.Errorf("polling raised the line %d times", rises)
		}
		if m.Line() {
			t.Error("the line is left high after the requests")
		}
		if h.Interrupts() != irq {
			t.Errorf("Interrupts() = %t", h.Interrupts())
		}
	}
}

// Error interrupts end the wait with the error the status names, as
// polling does.
func TestInterruptErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		fault sdmmctest.Fault
		want  error
	}{
		{"data-crc", sdmmctest.Fault{DataCRCEvery: 1}, sdmmc.ErrCRC},
		{"data-timeout", sdmmctest.Fault{DataTimeout: true}, sdmmc.ErrTimeout},
		{"no-response", sdmmctest.Fault{NoResponse: true}, sdmmc.ErrTimeout},
	} {
		t.Run(c.name, func(t *testing.T) {
			var errs [2]error
			for i, irq := range []bool{false, true} {
				card, _, m := newIRQCard(t, irq, c.fault, usdhctest.Config{})
				buf, _ := card.AllocBuffer(4096)
				errs[i] = card.Read(0, buf)
				if !errors.Is(errs[i], c.want) {
					t.Errorf("interrupts %t: %v, want %v", irq, errs[i], c.want)
				}
				if m.Line() {
					t.Errorf("interrupts %t: the line is left high after the error", irq)
				}
			}
			if errs[0] != nil && errs[1] != nil && errs[0].Error() != errs[1].Error() {
				t.Errorf("polling said %q, interrupts %q", errs[0], errs[1])
			}
		})
	}
}

// A controller that never completes: the request times out after its
// timeout, not before and not much after, and once the controller
// answers again the card works.
func TestInterruptTimeout(t *testing.T) {
	c, h, m := newIRQCard(t, true, sdmmctest.Fault{}, usdhctest.Config{})
	m.SetDelay(time.Hour)
	const timeout = 50 * time.Millisecond
	start := time.Now()
	err := h.Request(&sdmmc.Command{Index: 13, Response: sdmmc.RespR1}, timeout)
	took := time.Since(start)
	if !errors.Is(err, sdmmc.ErrTimeout) {
		t.Fatalf("request to a hung controller: %v, want a timeout", err)
	}
	if took < timeout || took > 20*timeout {
		t.Errorf("the timeout of %v took %v", timeout, took)
	}
	m.SetDelay(irqDelay)
	roundTrip(t, c, 0, 1)
}

// Lost interrupts cost a re-check each, not the request.
func TestInterruptLost(t *testing.T) {
	c, h, m := newIRQCard(t, true, sdmmctest.Fault{}, usdhctest.Config{})
	m.LoseInterrupts(3)
	start := time.Now()
	// How many rises a round trip makes depends on timing: a status bit
	// set while the line is still high for an unhandled one (a lost
	// interrupt's) makes no rise of its own. So go on until all three
	// are lost, each round trip checked.
	trips := 0
	for ; trips < 10; trips++ {
		if _, dropped := m.Rises(); dropped == 3 {
			break
		}
		roundTrip(t, c, 0, byte(2+trips))
	}
	_, lost := h.InterruptStats()
	_, dropped := m.Rises()
	t.Logf("%d interrupts lost, %d completions found by re-checks, in %d round trips and %v", dropped, lost, trips, time.Since(start))
	if dropped != 3 || lost == 0 {
		t.Errorf("%d interrupts lost, %d found by re-checks; want 3 and some", dropped, lost)
	}
	roundTrip(t, c, 0, 1) // and the card works on by interrupt
}

// A wait changes mode with the request in flight, either way.
func TestInterruptSwitchInFlight(t *testing.T) {
	for _, from := range []bool{false, true} {
		c, h, m := newIRQCard(t, from, sdmmctest.Fault{}, usdhctest.Config{})
		_, lost0 := h.InterruptStats()
		m.SetDelay(25 * time.Millisecond) // off the 10 ms re-check grid, from the switch at 10 ms
		buf, _ := c.AllocBuffer(4096)
		done := make(chan error, 1)
		go func() { done <- c.Read(0, buf) }()
		time.Sleep(10 * time.Millisecond)
		h.UseInterrupts(!from)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("from interrupts %t: %v", from, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("from interrupts %t: the request did not complete after the switch", from)
		}
		m.SetDelay(irqDelay)
		roundTrip(t, c, 128, 3)
		if _, lost := h.InterruptStats(); lost > lost0+1 {
			t.Errorf("from interrupts %t: %d completions found by re-checks", from, lost-lost0)
		}
	}
}

// Waiting by interrupt allocates nothing.
func TestInterruptAllocs(t *testing.T) {
	c, _, _ := newIRQCard(t, true, sdmmctest.Fault{}, usdhctest.Config{})
	buf, _ := c.AllocBuffer(4096)
	if n := testing.AllocsPerRun(50, func() {
		if err := c.Read(0, buf); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("a read in interrupt mode allocates %v times", n)
	}
}
