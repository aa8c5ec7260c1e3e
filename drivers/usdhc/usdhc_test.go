package usdhc_test

import (
	"fmt"
	"testing"

	"github.com/tamaswap/tamaswap/drivers/block"
	"github.com/tamaswap/tamaswap/drivers/sdmmc"
	"github.com/tamaswap/tamaswap/drivers/sdmmc/sdmmctest"
	"github.com/tamaswap/tamaswap/drivers/usdhc"
	"github.com/tamaswap/tamaswap/drivers/usdhc/usdhctest"
)

func newHost(t testing.TB, card *sdmmctest.Card, set func(*usdhc.Host)) (*usdhc.Host, *usdhctest.Controller) {
	t.Helper()
	m := usdhctest.New(usdhctest.Config{Card: card})
	h := &usdhc.Host{Regs: m.Regs(), DMA: m.DMA()}
	if set != nil {
		set(h)
	}
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	return h, m
}

// The SD clock is the fastest the prescaler and divisor make without
// going over the request.
func TestClock(t *testing.T) {
	h, _ := newHost(t, nil, nil)
	for _, c := range []struct{ want, exact uint32 }{
		{400_000, 0},
		{25_000_000, 24_750_000}, // 198 MHz / 8
		{50_000_000, 49_500_000}, // 198 MHz / 4
		{52_000_000, 49_500_000},
		{198_000_000, 198_000_000},
	} {
		if err := h.SetIOS(sdmmc.IOS{Clock: c.want, Width: sdmmc.Width1}); err != nil {
			t.Fatal(err)
		}
		got := h.Clock()
		if got > c.want {
			t.Errorf("clock for %d Hz: %d, over the request", c.want, got)
		}
		// No prescaler × divisor pair comes closer from below.
		best := uint32(0)
		for pre := uint32(1); pre <= 256; pre <<= 1 {
			for div := uint32(1); div <= 16; div++ {
				if f := 198_000_000 / (pre * div); f <= c.want && f > best {
					best = f
				}
			}
		}
		if got != best || (c.exact != 0 && got != c.exact) {
			t.Errorf("clock for %d Hz: %d, the best is %d", c.want, got, best)
		}
	}
	if err := h.SetIOS(sdmmc.IOS{Clock: 25_000_000, Width: sdmmc.Width8}); err == nil {
		t.Error("8-bit bus on a 4-line slot accepted")
	}
}

// Fit stops at the descriptor table and the bounce buffer.
func TestFit(t *testing.T) {
	h, m := newHost(t, nil, func(h *usdhc.Host) { h.Descriptors = 4; h.BounceSize = 8192 })
	dmaBuf, _, err := m.DMA().Alloc(1<<20, 64)
	if err != nil {
		t.Fatal(err)
	}
	heap := make([]byte, 1<<20)
	for _, c := range []struct {
		name  string
		bufs  [][]byte
		write bool
		want  int
	}{
		{"direct", [][]byte{dmaBuf}, false, 4 * (65536 - 512) / 512},
		{"bounced", [][]byte{heap}, true, 8192 / 512},
		{"direct-then-bounced", [][]byte{dmaBuf[:4096], heap}, true, (4096 + 8192) / 512},
		{"misaligned-read", [][]byte{dmaBuf[4 : 4+4096]}, false, 4096 / 512},
		{"misaligned-write-is-direct", [][]byte{dmaBuf[4 : 4+1<<19]}, true, 4 * (65536 - 512) / 512},
	} {
		if got := h.Fit(c.bufs, 512, c.write); got != c.want {
			t.Errorf("%s: Fit %d blocks, want %d", c.name, got, c.want)
		}
	}
}

// The request path, driver and model together, allocates nothing.
func BenchmarkRead64K(b *testing.B)  { benchIO(b, false) }
func BenchmarkWrite64K(b *testing.B) { benchIO(b, true) }

func benchIO(b *testing.B, write bool) {
	card, _ := sdmmctest.New(sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 64 << 20})
	h, _ := newHost(b, card, nil)
	c, err := sdmmc.New(h, sdmmc.Options{})
	if err != nil {
		b.Fatal(err)
	}
	buf, _ := c.AllocBuffer(64 << 10)
	if write { // touch every chunk of the sparse card once first
		for s := int64(0); s < 512*128; s += 128 {
			if err := c.Write(s, buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s := int64(i%512) * 128
		if write {
			err = c.Write(s, buf)
		} else {
			err = c.Read(s, buf)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// A board wires a controller, identifies the card and uses it as a block
// device. Here the registers and DMA memory are the model's.
func Example() {
	card, _ := sdmmctest.New(sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 4 << 30})
	m := usdhctest.New(usdhctest.Config{Card: card})

	host := &usdhc.Host{Regs: m.Regs(), DMA: m.DMA(), Width: sdmmc.Width4}
	if err := host.Init(); err != nil {
		fmt.Println(err)
		return
	}
	sd, err := sdmmc.New(host, sdmmc.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	var dev block.Device = sd
	fmt.Println(sd.Kind(), dev.Info().Sectors, sd.Bus().Width)
	// Output: SDHC 8388608 4
}
