package usdhc_test

import (
	"testing"

	"github.com/tamaswap/tamaswap/drivers/usdhc"
	"github.com/tamaswap/tamaswap/drivers/usdhc/usdhctest"
)

// Init leaves a controller that a boot ROM set up its own way in the
// state the driver assumes, and never pulls IPP_RST_N low.
func TestInitKnownState(t *testing.T) {
	m := usdhctest.New(usdhctest.Config{BootROM: true})
	h := &usdhc.Host{Regs: m.Regs(), DMA: m.DMA()}
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	r := m.Regs()
	vend := r.Read32(usdhc.USDHCx_VEND_SPEC)
	if vend&(1<<usdhc.VEND_SPEC_VSELECT|1<<usdhc.VEND_SPEC_CRC_CHK_DIS) != 0 || vend&(1<<usdhc.VEND_SPEC_FRC_SDCLK_ON) == 0 {
		t.Errorf("VEND_SPEC %#08x: want 3.3 V, CRC checked, card clock forced on", vend)
	}
	if w := r.Read32(usdhc.USDHCx_WTMK_LVL); w != 0x10401040 {
		t.Errorf("WTMK_LVL %#08x, want Linux's 0x10401040", w)
	}
	if p := r.Read32(usdhc.USDHCx_PROT_CTRL); p&(1<<usdhc.PROT_CTRL_BURST_LEN_EN_INCR) == 0 {
		t.Errorf("PROT_CTRL %#08x: burst length enable (INCR) clear", p)
	}
	if d := r.Read32(usdhc.USDHCx_DLL_CTRL); d != 0 {
		t.Errorf("DLL_CTRL %#x", d)
	}
	if e := r.Read32(usdhc.USDHCx_ERR004536); e&(1<<7) != 0 {
		t.Errorf("ERR004536 register %#x: fix-up disabled", e)
	}
	if s := r.Read32(usdhc.USDHCx_SYS_CTRL); s&(1<<usdhc.SYS_CTRL_IPP_RST_N) == 0 {
		t.Errorf("SYS_CTRL %#08x: IPP_RST_N low", s)
	}
	if n := m.HardwareResets(); n != 0 {
		t.Errorf("IPP_RST_N pulled low %d times during Init", n)
	}
}
