//go:build tamago && arm64

package virt

import (
	"math"
	"runtime/goos"

	"github.com/usbarmory/tamago/arm64"
	"github.com/usbarmory/tamago/arm64/gic"
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

// Idle shorter than this spins: programming the timer and waking cost
// more.
const minWait = 50_000 // ns

// spinWindow is how long idle looks for a device interrupt before it
// sleeps in WFI.
var spinWindow int64 = 200_000 // ns

// maxWait bounds one wait when nothing is due, so a missed wake-up costs
// a second at most.
const maxWait = 1_000_000_000 // ns

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
	go serve()
}

// idle waits until pollUntil (runtime nanotime) when the scheduler has
// nothing to run. It must not allocate.
//
//go:nosplit
func idle(pollUntil int64) {
	now := CPU.GetTime()
	switch {
	case pollUntil == 0 || pollUntil == math.MaxInt64:
		// Nothing due: only a timer makes a goroutine runnable here.
		pollUntil = now + maxWait
	case pollUntil-now < minWait:
		lines.Drain()
		return
	}
	// Hybrid: look for a device interrupt for a while before sleeping.
	for end := now + spinWindow; CPU.GetTime() < end && pollUntil > CPU.GetTime(); {
		if lines.Drain() > 0 {
			return
		}
	}
	// SetAlarm takes the deadline as counter ticks times the multiplier,
	// without the offset GetTime adds (the date from the RTC).
	CPU.SetAlarm(pollUntil - CPU.TimerOffset)
	CPU.WaitInterrupt()
	// Disarmed, the timer's level line drops before the GIC is asked.
	CPU.SetAlarm(0)
	lines.Drain()
}
