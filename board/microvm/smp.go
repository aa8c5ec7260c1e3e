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
// carry over. runtime.WakeG (called by the entry stub) writes the
// sleeping goroutine's timer and its entry in a P's timer heap without
// that heap's lock: safe on one CPU, where the only code it can race
// with is what the interrupt stopped, but with several CPUs the heap
// may belong to a P another CPU is running, in the middle of taking or
// adjusting that same heap (its own timers, or stealing them), and
// the unlocked write lands in a moved or reallocated entry. So with APs
// online the stub first stops them (freezeVector IPI to all but itself,
// then waits until every online AP spins in freezeISR), calls WakeG,
// and releases them: WakeG then races with nothing but the code the
// interrupt stopped, as on one CPU. The idle governor's late wake-up
// (interruptWaiting) does not call runtime.Wake on another CPU's heap
// either: it sends the BSP a retryVector IPI, whose stub does the same.
const (
	// freezeVector is the IPI that parks the other CPUs while the BSP's
	// interrupt stub calls runtime.WakeG.
	freezeVector = 254
	// retryVector is the IPI the idle governor sends the BSP to redo a
	// wake-up the stub could not do (see interruptWaiting): the last of
	// the stub vectors, which no device is given.
	retryVector = gsiVector0 + stubVectors - 1
	// smpMaxHalt bounds a halt when several CPUs run (ns): an idle CPU
	// looks for work to steal at least this often.
	smpMaxHalt = 1_000_000
)

// Shared with irq_amd64.s and idle_amd64.s; accessed atomically.
var (
	// apsOnline counts the APs that ran the board's idle (apOnline):
	// the ones the stub waits for when it stops the others.
	apsOnline uint32
	// freezeReq is 1 while the BSP's stub wants the APs parked;
	// freezeAck counts the APs parked in freezeISR.
	freezeReq uint32
	freezeAck uint32
	// retrySent is 1 from the idle governor's retryVector IPI until the
	// stub ran.
	retrySent uint32
	// bspID is the BSP's local APIC ID, read by Init (on the BSP).
	bspID uint32
)

// cpusOnline is a bit per local APIC ID (below 64) whose CPU has run
// apOnline.
var cpusOnline atomic.Uint64

// ncpu is how many CPUs the runtime schedules on: 1, or GOMAXPROCS after
// InitSMP started the APs.
var ncpu = 1

// defined in irq_amd64.s
func freezeISRAddr() uint64
func sendIPI(dest, low uint32)

// Local APIC interrupt command register (Intel SDM Vol. 3A §10.6.1).
const (
	lapicICRLow      = 0x300
	lapicICRHigh     = 0x310
	icrAssert        = 1 << 14
	icrAllButSelf    = 0b11 << 18
	icrFixedDelivery = 0 << 8
)

// initSMP starts the APs QEMU gave (upstream's CPU.InitSMP: as many as
// CPUID's core count says) and points freezeVector at freezeISR.
func initSMP() {
	if idling {
		setGate(freezeVector, freezeISRAddr())
	}
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
// exception vector), and counts an AP in apsOnline. It must not
// allocate.
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
	if base, _ := sidt(); base != idt {
		print("microvm: CPU ", id, " runs on IDT ", base, ", not ", idt, "\n")
	}
	cpusOnline.Or(bit)
	if id != bspID {
		atomic.AddUint32(&apsOnline, 1)
	}
}

// retryWake asks the BSP, by retryVector IPI, to wake the interrupt
// goroutine (see interruptWaiting); one IPI until the stub ran.
//
//go:nosplit
func retryWake() {
	if atomic.CompareAndSwapUint32(&retrySent, 0, 1) {
		sendIPI(bspID<<24, icrAssert|icrFixedDelivery|retryVector)
	}
}
