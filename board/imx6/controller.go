//go:build tamago && arm

package imx6

import (
	"fmt"

	"github.com/usbarmory/tamago/soc/nxp/imx6ul"
	"github.com/usbarmory/tamago/soc/nxp/iomuxc"

	"github.com/tamaswap/tamaswap/board/internal/fence"
)

// uSDHC register windows (IMX6ULLRM 2.2 Table 2-3, ARM Platform Memory
// Map: 16 KiB each).
const (
	USDHC1Base = 0x02190000
	USDHC2Base = 0x02194000
	USDHCSize  = 0x4000
)

// Clock gating (IMX6ULLRM 18.6.27 CCM_CCGR6): two bits per clock, 0b11 is
// on in every mode.
const (
	ccmCCGR6     = 0x020c4080
	ccgr6USDHC1  = 2 // CG1, bits 3:2
	ccgr6USDHC2  = 4 // CG2, bits 5:4
	ccgrOnAlways = 0b11
)

// uSDHC clock root (IMX6ULLRM 18.5.1.5, Figure 18-2): CSCMR1 USDHCn_CLK_SEL
// 0 selects PLL2 PFD2 (396 MHz), CSCDR1 USDHCn_PODF 1 divides by two:
// 198 MHz, the root the reference manual's and U-Boot's divider tables
// assume.
const (
	usdhcClkSelPFD2 = 0
	usdhcPODFDiv2   = 1
)

// Pad settings (IMX6ULLRM 32.6, SW_PAD_CTL_PAD_*): hysteresis, 47 kΩ
// pull-up, 100 MHz, drive strength R0/3, fast slew for CMD and DATA; the
// clock pad the same without the pull-up (keeper only), as NXP's EVK
// device trees have them.
const (
	padCtlData = 1<<iomuxc.SW_PAD_CTL_HYS |
		iomuxc.SW_PAD_CTL_PUS_PULL_UP_47K<<iomuxc.SW_PAD_CTL_PUS |
		1<<iomuxc.SW_PAD_CTL_PUE | 1<<iomuxc.SW_PAD_CTL_PKE |
		0b01<<iomuxc.SW_PAD_CTL_SPEED |
		iomuxc.SW_PAD_CTL_DSE_2_R0_3<<iomuxc.SW_PAD_CTL_DSE |
		1<<iomuxc.SW_PAD_CTL_SRE
	padCtlClock = 1<<iomuxc.SW_PAD_CTL_HYS |
		0b01<<iomuxc.SW_PAD_CTL_SPEED |
		iomuxc.SW_PAD_CTL_DSE_2_R0_3<<iomuxc.SW_PAD_CTL_DSE |
		1<<iomuxc.SW_PAD_CTL_SRE
)

const iomuxcBase = 0x020e0000

// pad is one uSDHC signal's pad: IOMUXC mux and pad-control register
// offsets, the ALT mode that routes the signal, and the daisy chain
// (select input) register and value where the signal has several pads
// (IMX6ULLRM 32.6; the same tuples as Linux's imx6ul-pinfunc.h).
type pad struct {
	mux, ctl, daisy uint32
	mode, input     uint32
	clock           bool
}

// uSDHC1 on the SD1_* pads, ALT0: the only pads for its CLK, CMD and
// DATA0-3, so no select input.
var usdhc1Pads = []pad{
	{mux: 0x1bc, ctl: 0x448},              // SD1_CMD
	{mux: 0x1c0, ctl: 0x44c, clock: true}, // SD1_CLK
	{mux: 0x1c4, ctl: 0x450},              // SD1_DATA0
	{mux: 0x1c8, ctl: 0x454},              // SD1_DATA1
	{mux: 0x1cc, ctl: 0x458},              // SD1_DATA2
	{mux: 0x1d0, ctl: 0x45c},              // SD1_DATA3
}

// uSDHC2 on the NAND_* pads, ALT1 (the USB armory's eMMC, the EVK's
// second slot), with the select inputs that pick these pads; DATA4-7 only
// for an 8-bit bus.
var usdhc2Pads = []pad{
	{mux: 0x17c, ctl: 0x408, daisy: 0x678, mode: 1, input: 2},              // NAND_WE_B: CMD
	{mux: 0x178, ctl: 0x404, daisy: 0x670, mode: 1, input: 2, clock: true}, // NAND_RE_B: CLK
	{mux: 0x180, ctl: 0x40c, daisy: 0x67c, mode: 1, input: 2},              // NAND_DATA00
	{mux: 0x184, ctl: 0x410, daisy: 0x680, mode: 1, input: 2},              // NAND_DATA01
	{mux: 0x188, ctl: 0x414, daisy: 0x684, mode: 1, input: 1},              // NAND_DATA02
	{mux: 0x18c, ctl: 0x418, daisy: 0x688, mode: 1, input: 2},              // NAND_DATA03
	{mux: 0x190, ctl: 0x41c, daisy: 0x68c, mode: 1, input: 1},              // NAND_DATA04
	{mux: 0x194, ctl: 0x420, daisy: 0x690, mode: 1, input: 1},              // NAND_DATA05
	{mux: 0x198, ctl: 0x424, daisy: 0x694, mode: 1, input: 1},              // NAND_DATA06
	{mux: 0x19c, ctl: 0x428, daisy: 0x698, mode: 1, input: 1},              // NAND_DATA07
}

// Controller is one uSDHC as a board wires it.
type Controller struct {
	Index int    // 1 or 2
	Name  string // "usdhc1", "usdhc2": what the shell's info line says
	Slot  string // what is on it: "microSD", "eMMC", "SD"
	Width int    // data lines wired to the slot: 1, 4 or 8
	// IOVoltage3V3, when set, puts the slot's I/O rail at 3.3 V before
	// identification (the uSDHC's own VSELECT is cleared by the
	// driver's Init), so that a warm reset after a 1.8 V session finds
	// the card at the voltage CMD8 and ACMD41 expect.
	IOVoltage3V3 func() error
	// PadData and PadClock are the SW_PAD_CTL values of the CMD/DATA
	// pads and of the CLK pad, as the board's device tree has them; 0
	// keeps the defaults (padCtlData, padCtlClock).
	PadData, PadClock uint32

	regs *MMIO
}

// Init gates the controller's clocks on, sets its clock root to 198 MHz
// and muxes its pads (the boot ROM has only done so for the device it
// booted from), and returns its registers and root clock in Hz. The
// write-protect input is the upstream board's: it routes USDHCn_WP to an
// unconnected, pulled-down pad, since neither microSD nor eMMC has one.
func (c *Controller) Init() (regs *MMIO, rootHz uint32, err error) {
	var pads []pad
	var base uint32
	var cg int
	switch c.Index {
	case 1:
		pads, base, cg = usdhc1Pads, USDHC1Base, ccgr6USDHC1
	case 2:
		pads, base, cg = usdhc2Pads, USDHC2Base, ccgr6USDHC2
	default:
		return nil, 0, fmt.Errorf("imx6: no uSDHC%d", c.Index)
	}
	n := 2 + c.Width // CMD, CLK, DATA0..
	if (c.Width != 1 && c.Width != 4 && c.Width != 8) || n > len(pads) {
		return nil, 0, fmt.Errorf("imx6: uSDHC%d: %d data lines are not wired", c.Index, c.Width)
	}
	gate := NewMMIO(ccmCCGR6, 4)
	gate.Write32(0, gate.Read32(0)|ccgrOnAlways<<cg)
	if err := imx6ul.SetUSDHCClock(c.Index, usdhcPODFDiv2, usdhcClkSelPFD2); err != nil {
		return nil, 0, fmt.Errorf("imx6: uSDHC%d clock: %w", c.Index, err)
	}
	mux := NewMMIO(iomuxcBase, 0x4000)
	data, clock := uint32(padCtlData), uint32(padCtlClock)
	if c.PadData != 0 {
		data = c.PadData
	}
	if c.PadClock != 0 {
		clock = c.PadClock
	}
	for _, p := range pads[:n] {
		ctl := data
		if p.clock {
			ctl = clock
		}
		mux.Write32(p.mux, p.mode)
		mux.Write32(p.ctl, ctl)
		if p.daisy != 0 {
			mux.Write32(p.daisy, p.input)
		}
	}
	if c.IOVoltage3V3 != nil {
		if err := c.IOVoltage3V3(); err != nil {
			return nil, 0, fmt.Errorf("imx6: uSDHC%d: I/O rail to 3.3 V: %w", c.Index, err)
		}
	}
	fence.Full() // the clock and the pads are set before the first register access
	_, _, rootHz = imx6ul.GetUSDHCClock(c.Index)
	c.regs = NewMMIO(base, USDHCSize)
	return c.regs, rootHz, nil
}
