//go:build tamago && arm64

package virt

import (
	"runtime/goos"

	"github.com/usbarmory/tamago/arm64"
	"github.com/usbarmory/tamago/arm64/gic"

	"github.com/tamaswap/tamaswap/board/internal/irq"
)

// virt's GICv3 (hw/arm/virt.c: VIRT_GIC_DIST, VIRT_GIC_REDIST).
const (
	GICDBase = 0x08000000
	GICRBase = 0x080a0000
)

// GIC is the interrupt controller (TamaGo's GICv3 driver: set-up and the
// CPU interface): the generic timer and the disks' interrupts wake the
// CPU from WFI through it.
var GIC = &gic.GIC{GICD: GICDBase, GICR: GICRBase}

// idler is the idle routine: a wait shorter than 50 µs spins
// (programming the timer and waking cost more), one with nothing due
// lasts a second at most, so a missed wake-up costs that much. It does
// not spin for device interrupts before WFI: the disk's waiter polls its
// ring for HybridPoll itself, which measured better (README, table of
// defaults).
var idler = &irq.Idler{
	Lines: lines,
	Now:   func() int64 { return CPU.GetTime() },
	// SetAlarm takes the deadline as counter ticks times the
	// multiplier, without the offset GetTime adds (the date from the
	// RTC).
	SetAlarm: func(ns int64) {
		if ns != 0 {
			ns -= CPU.TimerOffset
		}
		CPU.SetAlarm(ns)
	},
	Wait:    func() { CPU.WaitInterrupt() },
	MinWait: 50_000,
	MaxWait: 1_000_000_000,
}

// initIdle makes the scheduler wait for its next timer in WFI (goos.Idle)
// instead of spinning: the EL1 physical timer (PPI 30) is armed for the
// deadline and routed, as Group 0, to this CPU. Interrupts stay masked
// (PSTATE.DAIF): a pending one ends WFI all the same (ARM ARM D1.16.2,
// "Wait For Interrupt"), and nothing takes it; disarming the timer
// deasserts its level-sensitive line again.
//
// The same WFI wakes for the disks' interrupts (irq.go): after it the
// idle routine takes every pending device interrupt from the GIC and
// wakes the service goroutine that runs the drivers' handlers.
func initIdle() {
	GIC.Init()
	GIC.EnableInterrupt(arm64.TIMER_IRQ)
	goos.Idle = idle
	lines.StartService()
}

// idle is goos.Idle. It must not allocate.
//
//go:nosplit
func idle(pollUntil int64) { idler.Idle(pollUntil) }
