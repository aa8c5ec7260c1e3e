//go:build tamago && amd64

// Package microvm is tamaswap's board support for QEMU's microvm machine
// on amd64 under GOOS=tamago: import it for its side effects and the
// runtime gets a console, a clock, an idle governor and a power-off; the
// program gets its virtio-blk devices from Disks.
//
// It differs from upstream's board/qemu/microvm in what runs without KVM:
//
//   - the clock: under TCG the CPU has no invariant TSC, no KVM clock and
//     no CPUID frequency leaf, so upstream panics ("could not set system
//     timer"). This board calibrates the TSC at boot against the 8254 PIT
//     (channel 0, read back by latch commands: microvm has no port 0x61
//     speaker gate for channel 2), or the MC146818 RTC's seconds when
//     there is no PIT, and uses the KVM clock when KVM is present; the
//     RTC also sets the date;
//   - idling: a Go program waiting in time.Sleep halts the CPU on a
//     local APIC one-shot timer (TCG has no TSC-deadline mode) instead of
//     spinning;
//   - power-off: the exit status goes to QEMU's isa-debug-exit device
//     (see PowerOff);
//   - devices: virtio-mmio slots and, with pcie=on, PCI Express functions
//     whose BARs the board assigns itself (see Disks);
//   - CPUs: with -smp N the secondary CPUs are started (NumCPU), every
//     device interrupt stays on the first, and with several CPUs the
//     interrupt goroutine is woken by the idle governor rather than by
//     runtime.WakeG from the interrupt stub (see smp.go for why).
//
// Memory map (QEMU 7.2 hw/i386/microvm.c, seen with `info mtree`): RAM from
// 0; the Go runtime uses [RamStart, RamStart+RAMSize) with RamStart =
// 0x10000000 (package amd64), so QEMU needs -m of at least 256 MiB plus
// RAMSize; virtio-mmio slots at 0xfeb00000 + 0x200·n, n < 24; with pcie=on,
// ECAM at 0xe0000000 (256 MiB, buses 0-255) and a 32-bit memory window at
// 0xc0000000 (512 MiB) for BARs.
package microvm

import (
	"runtime"
	"runtime/goos"
	_ "unsafe"

	"github.com/usbarmory/tamago/amd64"
	"github.com/usbarmory/tamago/amd64/lapic"
	"github.com/usbarmory/tamago/kvm/pvclock"
	"github.com/usbarmory/tamago/soc/intel/uart"

	"github.com/tamaswap/tamaswap/board/heapdma"
	"github.com/tamaswap/tamaswap/board/x86"
)

// Peripheral registers.
const (
	// COM1, the 16550 UART QEMU connects to -serial.
	COM1 = 0x3f8

	// DebugExitPort is QEMU's isa-debug-exit device as qemu/run adds it:
	// -device isa-debug-exit,iobase=0xf4,iosize=0x04.
	DebugExitPort = 0xf4

	// VirtioMMIOBase is the first of VirtioMMIOSlots virtio-mmio
	// transports, VirtioMMIOSlotSize bytes apart.
	VirtioMMIOBase     = 0xfeb00000
	VirtioMMIOSlotSize = 0x200
	VirtioMMIOSlots    = 24

	// PCI Express host bridge (gpex) with -M microvm,pcie=on.
	PCIeECAMBase = 0xe0000000
	PCIeECAMSize = 0x10000000
	PCIeMMIOBase = 0xc0000000
	PCIeMMIOSize = 0x20000000
)

// Peripheral instances.
var (
	// AMD64 is the bootstrap processor.
	AMD64 = &amd64.CPU{TimerMultiplier: 1}

	// UART0 is the serial console on COM1.
	UART0 = &uart.UART{Index: 1, Base: COM1}
)

// kvm is set when the CPU reports a KVM hypervisor: time then comes from
// package amd64 and the KVM clock, as upstream's board does.
var kvm bool

// KVM's CPUID signature leaf (https://docs.kernel.org/virt/kvm/x86/cpuid.html).
const (
	cpuidKVMSignature = 0x40000000
	kvmSignature      = 0x4b4d564b // "KVMK"
)

// Init is the runtime's early hardware set-up (goos.Hwinit1): console,
// clock and exit. It runs before any package init.
//
//go:linkname Init runtime/goos.Hwinit1
func Init() {
	maskPIC()
	if _, sig, _, _ := x86.CPUID(cpuidKVMSignature, 0); sig == kvmSignature {
		kvm = true
		// Upstream's path: CPUID or KVM clock pairing give the TSC
		// frequency; pvclock (in init) keeps it honest.
		AMD64.Init()
	} else {
		AMD64.LAPIC = &lapic.LAPIC{Base: amd64.LAPIC_BASE}
		calibrate()
	}
	bspID = AMD64.LAPIC.ID()
	UART0.Init()
	goos.Exit = func(code int32) { PowerOff(int(code)) }
}

func init() {
	// Trap CPU exceptions: a fault prints its vector and panics
	// instead of silently triple-faulting.
	AMD64.EnableExceptions()
	if kvm {
		pvclock.Init(AMD64)
	}
	initIdle()
	// After the idle governor: InitSMP sleeps between its IPIs.
	initSMP()
	// Before the heap grows: the memory limit, then the DMA pool.
	var err error
	if dma, err = heapdma.Boot(DMAPoolSize); err != nil {
		panic("microvm: " + err.Error())
	}
}

// RAM returns the memory the Go runtime owns, identity-mapped.
func RAM() (start, end uint64) { return runtime.MemRegion() }
