//go:build tamago && arm

package imx6

import (
	"fmt"
	"runtime/goos"
	"sync"

	"github.com/usbarmory/tamago/arm"
	"github.com/usbarmory/tamago/soc/nxp/imx6ul"

	"github.com/tamaswap/tamaswap/board/internal/gic"
	"github.com/tamaswap/tamaswap/board/internal/irq"
)

// uSDHC interrupts, as INTIDs (32 + SPI number): IMX6ULLRM 3.2 Table 3-1
// (uSDHC1 IRQ 54, uSDHC2 IRQ 55); QEMU's include/hw/arm/fsl-imx6ul.h
// (FSL_IMX6UL_USDHC1_IRQ = 22, FSL_IMX6UL_USDHC2_IRQ = 23, which
// fsl_imx6ul_realize connects to the A7MPCore GIC's SPI inputs); Linux's
// arch/arm/boot/dts/imx6ul.dtsi, which the USB armory Mk II device trees
// include: usdhc1: mmc@2190000 { interrupts = <GIC_SPI 22
// IRQ_TYPE_LEVEL_HIGH> }, usdhc2: mmc@2194000 { ... <GIC_SPI 23 ...> }.
// Level-sensitive: the controller holds its line while a signalled
// status bit is set.
const (
	USDHC1IRQ = 32 + 22
	USDHC2IRQ = 32 + 23
)

// DefaultInterrupts is whether the uSDHC disks complete by interrupt from
// boot (see the README's table of defaults and results/ for the
// measurements that chose it).
const DefaultInterrupts = true

// The Cortex-A7's GIC-400 (TamaGo's imx6ul.GIC: distributor at +0x1000,
// CPU interface at +0x2000). gic.Init(true, false) puts every interrupt
// in Group 0, signalled as IRQ, with the priority mask at 0x80: the
// devices' priority must be above it.
const devicePriority = 0x40

// Distributor is the GIC-400's distributor.
var Distributor = &gic.Distributor{Regs: NewMMIO(imx6ul.GIC_BASE+0x1000, 0x1000)}

type gic400 struct{}

func (gic400) Acknowledge() int { return imx6ul.GIC.GetInterrupt(true) }
func (gic400) Disable(id int)   { Distributor.Disable(id) }
func (gic400) Enable(id int)    { Distributor.Enable(id) }

var lines = &irq.Lines{Ctl: gic400{}}

// idler waits in WFI for the secure physical timer (PPI 29, which QEMU's
// a15mpcore wires for the A7MPCore as the silicon does) or a uSDHC
// interrupt, with IRQs masked in the CPSR: a pending IRQ ends WFI
// regardless (ARM ARM B1.8.14, "Wait For Interrupt"). The console polls
// every millisecond (board/serial), which the 32-byte receive FIFO covers
// at 115200 baud.
var idler = &irq.Idler{
	Lines: lines,
	Now:   func() int64 { return imx6ul.ARM.GetTime() },
	SetAlarm: func(ns int64) {
		if ns != 0 {
			ns -= imx6ul.ARM.TimerOffset
		}
		imx6ul.ARM.SetAlarm(ns)
	},
	Wait:    func() { imx6ul.ARM.WaitInterrupt() },
	MinWait: 50_000,
	MaxWait: 1_000_000_000,
}

func init() {
	imx6ul.GIC.Init(true, false)
	imx6ul.GIC.EnableInterrupt(arm.TIMER_IRQ, true)
	goos.Idle = idle
	lines.StartService()
}

//go:nosplit
func idle(pollUntil int64) { idler.Idle(pollUntil) }

var configMu sync.Mutex

// IRQ is the controller's interrupt line (INTID).
func (c *Controller) IRQ() int {
	if c.Index == 2 {
		return USDHC2IRQ
	}
	return USDHC1IRQ
}

// DiskInterrupt wires controller c's interrupt to its driver dev (a
// usdhc.Host): the GIC routes the line as Group 0 to the CPU, and dev's
// Interrupt runs in the service goroutine. The disk polls until
// UseInterrupts(true).
func DiskInterrupt(c *Controller, dev irq.Completer) (*irq.Disk, error) {
	configMu.Lock()
	defer configMu.Unlock()
	if err := Distributor.Configure(gic.SPI{ID: c.IRQ(), Priority: devicePriority, Target: 1}); err != nil {
		return nil, fmt.Errorf("imx6: %w", err)
	}
	return irq.NewDisk(lines, c.IRQ(), dev)
}
