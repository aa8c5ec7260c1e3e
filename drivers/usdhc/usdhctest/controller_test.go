package usdhctest_test

import (
	"strings"
	"testing"

	"github.com/tamaswap/tamaswap/drivers/sdmmc"
	"github.com/tamaswap/tamaswap/drivers/sdmmc/sdmmctest"
	"github.com/tamaswap/tamaswap/drivers/usdhc"
	"github.com/tamaswap/tamaswap/drivers/usdhc/usdhctest"
)

func violated(m *usdhctest.Controller, what string) bool {
	for _, v := range m.Violations() {
		if strings.Contains(v, what) {
			return true
		}
	}
	return false
}

// The model catches what breaks TamaGo's soc/nxp/usdhc under QEMU: a
// command issued with SYS_CTRL's clock bits clear never runs, and
// transfer-mode bits carried into CMD_XFR_TYP are flagged.
func TestModelCatchesQEMUPitfalls(t *testing.T) {
	card, _ := sdmmctest.New(sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 8 << 20})
	m := usdhctest.New(usdhctest.Config{Card: card})
	r := m.Regs()
	r.Write32(usdhc.USDHCx_SYS_CTRL, 1<<usdhc.SYS_CTRL_RSTA)
	r.Write32(usdhc.USDHCx_INT_STATUS_EN, ^uint32(0))
	r.Write32(usdhc.USDHCx_SYS_CTRL, 0x20<<usdhc.SYS_CTRL_SDCLKFS|7<<usdhc.SYS_CTRL_DVS) // clock bits clear
	if r.Read32(usdhc.USDHCx_PRES_STATE)&(1<<usdhc.PRES_STATE_SDSTB) != 0 {
		t.Error("SDSTB reported with the clock bits clear")
	}
	r.Write32(usdhc.USDHCx_CMD_XFR_TYP, 0)
	if r.Read32(usdhc.USDHCx_INT_STATUS) != 0 || !violated(m, "clocks off") {
		t.Error("a command ran with the clocks off")
	}
	r.Write32(usdhc.USDHCx_SYS_CTRL, 0xf)
	// A read-modify-write of CMD_XFR_TYP that carries DTDSEL.
	r.Write32(usdhc.USDHCx_CMD_XFR_TYP, 1<<usdhc.MIX_CTRL_DTDSEL)
	if !violated(m, "bits 15:0") {
		t.Error("transfer-mode bits in CMD_XFR_TYP not flagged")
	}
}

// Data the driver did not share with the device, or shared for the
// other direction, is flagged.
func TestModelCatchesUnsharedDMA(t *testing.T) {
	card, _ := sdmmctest.New(sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 8 << 20})
	m := usdhctest.New(usdhctest.Config{Card: card})
	h := &usdhc.Host{Regs: m.Regs(), DMA: lyingDMA{m.DMA()}}
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	if _, err := sdmmc.New(h, sdmmc.Options{}); err != nil {
		t.Fatal(err)
	}
	if !violated(m, "without being shared") {
		t.Errorf("DMA with Share a no-op not flagged: %q", m.Violations())
	}
}

type lyingDMA struct{ *usdhctest.DMA }

func (lyingDMA) Share([]byte, usdhc.Direction)   {}
func (lyingDMA) Unshare([]byte, usdhc.Direction) {}

// With completion arriving some status reads after the command, the
// driver polls and works the same.
func TestLatency(t *testing.T) {
	card, _ := sdmmctest.New(sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 8 << 20})
	m := usdhctest.New(usdhctest.Config{Card: card, Latency: 20})
	h := &usdhc.Host{Regs: m.Regs(), DMA: m.DMA()}
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	c, err := sdmmc.New(h, sdmmc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = byte(i)
	}
	if err := c.Write(3, buf); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(buf))
	if err := c.Read(3, got); err != nil || string(got) != string(buf) {
		t.Fatalf("read back: %v", err)
	}
	if v := m.Violations(); len(v) != 0 {
		t.Error(v)
	}
}

// The interrupt line: high only while a status bit is set whose signal
// enable is set (and a status bit sets only with its status enable);
// writing 1 clears a status bit and drops the line; a signal enable set
// over a status bit already set raises it at once; RSTC clears the
// signal enables with the status enables.
func TestModelInterruptLine(t *testing.T) {
	card, _ := sdmmctest.New(sdmmctest.Config{Kind: sdmmctest.SDHC, Size: 8 << 20})
	rises := make(chan struct{}, 16)
	m := usdhctest.New(usdhctest.Config{Card: card, OnInterrupt: func() { rises <- struct{}{} }})
	r := m.Regs()
	r.Write32(usdhc.USDHCx_SYS_CTRL, 0xf|0x20<<usdhc.SYS_CTRL_SDCLKFS)
	cc := uint32(1 << usdhc.INT_STATUS_CC)
	cmd0 := func() { r.Write32(usdhc.USDHCx_CMD_XFR_TYP, 0) } // GO_IDLE_STATE, no response

	// No status enable: nothing is set, nothing raised.
	r.Write32(usdhc.USDHCx_INT_SIGNAL_EN, cc)
	cmd0()
	if r.Read32(usdhc.USDHCx_INT_STATUS) != 0 || m.Line() {
		t.Fatal("a status bit set, or the line raised, without its status enable")
	}
	// Status enabled, signal not: the bit sets, the line stays low.
	r.Write32(usdhc.USDHCx_INT_SIGNAL_EN, 0)
	r.Write32(usdhc.USDHCx_INT_STATUS_EN, cc|1<<usdhc.INT_STATUS_TC)
	cmd0()
	if r.Read32(usdhc.USDHCx_INT_STATUS)&cc == 0 || m.Line() {
		t.Fatal("want CC set and the line low without its signal enable")
	}
	// A signal enable for another bit: still low.
	r.Write32(usdhc.USDHCx_INT_SIGNAL_EN, 1<<usdhc.INT_STATUS_TC)
	if m.Line() {
		t.Fatal("the line rose for a bit whose signal enable is clear")
	}
	// CC's signal enable over the set bit: up at once.
	r.Write32(usdhc.USDHCx_INT_SIGNAL_EN, cc)
	if !m.Line() {
		t.Fatal("the line did not rise with the signal enable of a set bit")
	}
	<-rises
	// Writing 0 changes nothing; writing 1 clears and drops the line.
	r.Write32(usdhc.USDHCx_INT_STATUS, 0)
	if !m.Line() {
		t.Fatal("writing 0 to INT_STATUS cleared a bit")
	}
	r.Write32(usdhc.USDHCx_INT_STATUS, cc)
	if m.Line() || r.Read32(usdhc.USDHCx_INT_STATUS)&cc != 0 {
		t.Fatal("write 1 to clear left CC or the line up")
	}
	// RSTC clears both enables.
	r.Write32(usdhc.USDHCx_SYS_CTRL, 0xf|0x20<<usdhc.SYS_CTRL_SDCLKFS|1<<usdhc.SYS_CTRL_RSTC)
	if r.Read32(usdhc.USDHCx_INT_SIGNAL_EN) != 0 || r.Read32(usdhc.USDHCx_INT_STATUS_EN) != 0 {
		t.Fatal("RSTC left signal or status enables")
	}
	if rs, dropped := m.Rises(); rs != 1 || dropped != 0 {
		t.Errorf("%d rises, %d lost; want 1, 0", rs, dropped)
	}
}
