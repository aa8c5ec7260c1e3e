//go:build tamago && amd64

package microvm

import (
	"math"
	"runtime/goos"
	"unsafe"

	"github.com/usbarmory/tamago/amd64"
)

// wakeVector is the interrupt the local APIC timer raises to end a halt.
// It is the vector package amd64 reserves for the same purpose
// (amd64.IRQ_WAKEUP), so an application that later installs amd64's own
// handlers (CPU.ServiceInterrupts) gets one that also just signals EOI.
const wakeVector = 255

// Idle shorter than this spins: a halt and its wake-up cost more.
const minHalt = 50_000 // ns

// defined in idle_amd64.s
func sidt() (base uint64, limit uint16)
func wakeISRAddr() uint64
func armAndHalt(initialCount unsafe.Pointer, count uint32)

// disableInterrupts clears IF on the calling CPU. Once the board's idle
// governor runs, a CPU takes interrupts only in its halt (armAndHalt),
// as the arm boards take theirs only in WFI (board/internal/irq): the
// entry stubs then never stop Go code. With one CPU the device stub
// calls runtime.WakeG, which writes the handler goroutine's timer and
// its entry in the P's timer heap without the runtime's locks; stopping
// the scheduler in the middle of running or adjusting those timers (a
// goroutine calling runtime.Gosched in a loop, as a hybrid poller does,
// is always there) corrupts them: bench boots with a hybrid window died
// with "fatal error: timer data corruption". In the halt the scheduler
// is in beforeIdle, touching no timer. An interrupt that comes while the
// CPU runs waits in the local APIC's IRR until the next halt, which it
// ends at once.
func disableInterrupts()

// initIdle installs the wake-up handler at wakeVector in the IDT that
// amd64.CPU.EnableExceptions loaded, and makes the scheduler halt the CPU
// until its next timer (goos.Idle) instead of spinning.
func initIdle() {
	if kvm || lapicHz == 0 {
		// Upstream's governor (set by AMD64.Init) halts only when
		// nothing is ever due; under KVM the spin costs the host
		// little and SetAlarm needs TSC-deadline mode.
		return
	}
	base, limit := sidt()
	if base == 0 || uint64(limit) < (wakeVector+1)*16-1 {
		return
	}
	idt = base
	setGate(wakeVector, wakeISRAddr())

	lapicRegs.Write32(lapicLVTTimer, wakeVector) // one-shot, unmasked
	disableInterrupts()
	goos.Idle = idle
	idling = true
}

// idt is the interrupt descriptor table's address, once initIdle found it
// big enough; idling is set when the board's idle governor runs.
var (
	idt    uint64
	idling bool
)

// setGate points IDT vector v at isr: a 64-bit interrupt gate (Intel SDM
// Vol. 3A §6.14.1): offset 15:0, selector 0x08 (package amd64's code
// segment), IST 0, type 0xE present DPL 0, offset 31:16, offset 63:32.
// An interrupt gate clears IF: handlers do not nest.
func setGate(v int, isr uint64) {
	gate := (*[2]uint64)(addrPointer(idt + uint64(v)*16))
	gate[0] = isr&0xffff | 0x08<<16 | 0x8e<<40 | (isr>>16&0xffff)<<48
	gate[1] = isr >> 32
}

// idle halts the CPU until pollUntil (runtime nanotime), when the
// scheduler has nothing to run: the local APIC timer, in one-shot mode,
// wakes it. It must not allocate.
//
//go:nosplit
func idle(pollUntil int64) {
	maxHalt := uint64(1e9)
	if ncpu > 1 {
		apOnline()
		maxHalt = smpMaxHalt
	}
	// Nothing due (no timer: 0, or MaxInt64): on one CPU nothing but a
	// timer can make a goroutine runnable here, so halt, waking once a
	// second anyway; with several CPUs, once every smpMaxHalt.
	if interruptWaiting() {
		return
	}
	d := maxHalt
	if pollUntil != 0 && pollUntil != math.MaxInt64 {
		left := pollUntil - nanotime()
		if left < minHalt {
			return
		}
		d = min(uint64(left), maxHalt)
	}
	ticks := uint64(math.MaxUint32)
	if d <= math.MaxUint64/lapicHz {
		ticks = d * lapicHz / 1e9
	}
	if ticks > math.MaxUint32 {
		ticks = math.MaxUint32
	}
	armAndHalt(lapicInitialCountPtr, uint32(ticks))
}

var lapicInitialCountPtr = addrPointer(amd64.LAPIC_BASE + lapicInitialCount)

func addrPointer(addr uint64) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(&addr))
}
