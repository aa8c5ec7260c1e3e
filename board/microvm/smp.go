//go:build tamago && amd64

package microvm

import (
	"runtime"
	"sync/atomic"

	"github.com/usbarmory/tamago/amd64"
)

// Symmetric multiprocessing: the application processors (APs) QEMU
// starts with -smp N are brought up by package amd64's CPU.InitSMP, as
// upstream's boards do: INIT and STARTUP IPIs, a real-mode trampoline
// at 0x4000 that loads the BSP's page tables, GDT and IDT (the same IDT
// this board fills: exceptions, the wake-up timer, the interrupt stubs),
// then each AP waits for the runtime to hand it an M (goos.Task).
// runtime.GOMAXPROCS then reports every CPU; runtime.NumCPU stays 1,
// since the runtime fixes it in osinit, before any board code runs.
//
// What holds on every CPU:
//   - time: nanotime reads the TSC. Under TCG every vCPU's TSC is the
//     same host-derived counter plus a per-CPU offset that stays 0
//     unless the guest writes IA32_TSC (QEMU target/i386/tcg
//     misc_helper.c helper_rdtsc: cpu_get_tsc(env) + env->tsc_offset),
//     so the BSP's calibration holds on the APs.
//   - idle: each CPU has its own local APIC at the same address, so
//     idle arms the timer of the CPU it runs on; an AP's timer, spurious
//     vector and divider are set up by its first idle (apOnline). A CPU
//     idles only when it found nothing to run or steal, but work made
//     runnable on another CPU afterwards does not wake it (the runtime
//     has no hook for that: on tamago its Ms never stop, they loop in
//     the scheduler calling goos.Idle), so with several CPUs a halt
//     lasts at most smpMaxHalt.
//   - interrupts: the I/O APIC entries and MSI-X messages name the
//     BSP's APIC ID (bspID): every device interrupt runs on the BSP.
//
// Waking the interrupt goroutine is where one CPU's design does not
// carry over. With one CPU the entry stub calls runtime.WakeG, which
// makes the goroutine's time.Sleep timer due by writing the timer and its
// entry in its P's timer heap without the runtime's locks: the only code
// it can race with is what the interrupt stopped, and since a CPU takes
// interrupts only in its idle halt (disableInterrupts), that is the
// scheduler in beforeIdle, which touches no timer. With several CPUs the
// heap may belong to a P another CPU is running, in the middle of
// running, adjusting or stealing those timers under their locks, and
// the unlocked writes land in a timer the runtime is changing. Seen
// with two CPUs: "fatal error: timer data corruption" (timers.run found
// timerModified set after updateHeap had cleared it, under the timer's
// lock) during swaptest. Parking the other CPUs around WakeG (an IPI
// rendezvous) removes that race but not the one with the parked code,
// which may hold the same timer's lock, and under TCG on a loaded host
// each rendezvous waited for the other vCPU thread to be scheduled: 16
// ms a wake-up (8 wake-ups, 129 ms), randread-4K-qd1 fell to 68 IOPS.
//
// So with several CPUs the stub does not touch the runtime at all: it
// marks the vector pending, signals end of interrupt, and when the
// handler goroutine sleeps, ends the other CPUs' halts (a wakeVector IPI,
// no waiting). The goroutine sleeps on a time.Timer's channel instead of
// time.Sleep, and the idle governor (interruptWaiting), which every CPU
// runs from the scheduler whenever it has nothing to run, resets that
// timer to fire now through the runtime's own, locked, time.Timer.Reset.
// The cost: an interrupt is taken when some CPU next idles, rather than
// at the next scheduling point of a busy one.
const (
	// smpMaxHalt bounds a halt when several CPUs run (ns): an idle CPU
	// looks for work to steal at least this often.
	smpMaxHalt = 1_000_000
	// icrAllButSelfWake is the interrupt command that ends every other
	// CPU's halt: all but self, assert, fixed delivery, wakeVector
	// (Intel SDM Vol. 3A §10.6.1).
	icrAllButSelfWake = 0b11<<18 | 1<<14 | wakeVector
)

// cpusOnline is a bit per local APIC ID (below 64) whose CPU has run
// apOnline.
var cpusOnline atomic.Uint64

// ncpu is how many CPUs the runtime schedules on: 1, or GOMAXPROCS after
// InitSMP started the APs. Read by irq_amd64.s.
var ncpu = 1

// bspID is the BSP's local APIC ID, read by Init (on the BSP).
var bspID uint32

// initSMP starts the APs QEMU gave (upstream's CPU.InitSMP: as many as
// CPUID's core count says).
func initSMP() {
	// An AP may idle as soon as InitSMP raises GOMAXPROCS, before it
	// returns: from here idle sets up the CPU it runs on (apOnline).
	ncpu = max(1, amd64.NumCPU())
	AMD64.InitSMP(-1)
	ncpu = runtime.GOMAXPROCS(0)
	if ncpu > 1 {
		// The BSP: its local APIC was set up by calibrate.
		cpusOnline.Or(1 << (bspID & 63))
	}
}

// NumCPU reports how many CPUs run Go code: the BSP and the APs
// InitSMP started (runtime.GOMAXPROCS).
func NumCPU() int { return ncpu }

// apOnline runs at the top of every idle when several CPUs run: on a
// CPU's first call it sets up that CPU's local APIC as calibrate did the
// BSP's (the AP trampoline enables it with spurious vector 0, an
// exception vector). It must not allocate.
//
//go:nosplit
func apOnline() {
	id := lapicRegs.Read32(lapicIDReg) >> lapicIDShift
	bit := uint64(1) << (id & 63)
	if cpusOnline.Load()&bit != 0 {
		return
	}
	lapicRegs.Write32(lapicSVR, lapicSVREnable|wakeVector)
	lapicRegs.Write32(lapicDivideConfig, lapicDivideBy1)
	lapicRegs.Write32(lapicInitialCount, 0)
	lapicRegs.Write32(lapicLVTTimer, wakeVector) // one-shot, unmasked
	disableInterrupts()                          // as on the BSP: interrupts in the halt only
	if base, _ := sidt(); base != idt {
		print("microvm: CPU ", id, " runs on IDT ", base, ", not ", idt, "\n")
	}
	cpusOnline.Or(bit)
}
