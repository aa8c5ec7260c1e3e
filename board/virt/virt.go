//go:build tamago && arm64

// Package virt is tamaswap's board support for QEMU's arm64 virt machine
// under GOOS=tamago: import it for its side effects and the runtime gets a
// console, a clock, entropy and a power-off with a status; the program
// gets its virtio-blk devices from BlockTransports. No such board exists
// upstream.
//
// QEMU must start the image at EL3, where TamaGo's arm64 runtime runs
// (plain -M virt enters at EL1 and hangs in cpuinit), with a GICv3 and a
// CPU that has FEAT_RNG:
//
//	qemu-system-aarch64 -M virt,secure=on,gic-version=3 -cpu max \
//	    -semihosting-config enable=on -m 512M -kernel IMAGE
//
// What the board does:
//
//   - console: the PL011 UART at 0x09000000, polled (Printk and Console);
//   - clock: the generic timer's physical counter (CNTPCT_EL0 at
//     CNTFRQ_EL0, 62.5 MHz on QEMU), which under TCG follows host time;
//     the PL031 real-time clock at 0x09010000 sets the date;
//   - entropy: FEAT_RNG's RNDR register, for the runtime's random numbers
//     and crypto/rand; the board refuses to run without it rather than
//     seed from anything predictable;
//   - power-off: Arm semihosting's SYS_EXIT with the status (PowerOff);
//     at EL3 we are the firmware, so PSCI SYSTEM_OFF has no one to call;
//   - idling: the scheduler waits for its next timer in WFI, woken by
//     the generic timer through the GICv3, instead of spinning;
//   - interrupts: the disks' virtio-mmio SPIs and PCIe INTx lines are
//     routed to the boot CPU and wake the waiting requests (irq.go,
//     DiskInterrupt);
//   - devices: the 32 virtio-mmio transports, and the PCI Express host,
//     whose functions' BARs the board assigns itself from the 32-bit
//     memory window and the memory-mapped I/O port window (board/pcie).
//
// Memory map: QEMU 7.2's fixed virt layout (hw/arm/virt.c, base_memmap
// and the high-memory PCIe ECAM, with highmem on): this board does not
// read the device tree, which QEMU puts at the start of RAM for an ELF
// image and TamaGo's page tables (RamStart+0x4000...0x9000) overwrite.
// RAM starts at 0x40000000; the Go runtime owns RAMSize of it, mapped as
// Normal cacheable memory, and everything else is Device-nGnRnE, so DMA
// memory is the Go heap itself (QEMU's DMA is coherent), never memory
// past RAMSize. The PCIe 64-bit window (0x80_0000_0000) lies outside
// TamaGo's 39-bit address space and is left unused.
package virt

import (
	"runtime"
	"runtime/goos"
	_ "unsafe"

	tamago "github.com/usbarmory/tamago/arm64"

	"github.com/tamaswap/tamaswap/board/heapdma"
)

// Peripherals of QEMU 7.2's virt machine.
const (
	UART0Base = 0x09000000 // PL011
	RTCBase   = 0x09010000 // PL031

	// VirtioMMIOBase is the first of VirtioMMIOSlots virtio-mmio
	// transports, VirtioMMIOSlotSize bytes apart.
	VirtioMMIOBase     = 0x0a000000
	VirtioMMIOSlotSize = 0x200
	VirtioMMIOSlots    = 32

	// PCI Express host bridge (gpex): ECAM (high, 256 buses), 32-bit
	// memory window, and the memory-mapped window of I/O ports 0-0xffff.
	PCIeECAMBase = 0x4010000000
	PCIeECAMSize = 0x10000000
	PCIeMMIOBase = 0x10000000
	PCIeMMIOSize = 0x2eff0000
	PCIePIOBase  = 0x3eff0000
	PCIePIOSize  = 0x10000

	// RAMStart is where virt's RAM, and the Go runtime's memory, start.
	RAMStart = 0x40000000
)

// Platform names the machine in the shell's banner.
const Platform = "virt"

// CPU is the boot processor. TimerOffset 1: the runtime's clock must
// read non-zero before Init has calibrated it.
var CPU = &tamago.CPU{TimerOffset: 1}

// UART0 is the serial console.
var UART0 = &PL011{Base: UART0Base}

// Init is the runtime's early hardware set-up (goos.Hwinit1): exception
// vectors, caches, the clock and the exit status. It runs before any
// package init.
//
//go:linkname Init runtime/goos.Hwinit1
func Init() {
	CPU.Init()
	CPU.EnableCache()
	// freq 0: keep CNTFRQ_EL0 as QEMU set it, and take the clock's rate
	// from it.
	CPU.InitGenericTimers(0, 0)
	goos.Exit = func(code int32) { PowerOff(int(code)) }
}

func init() {
	// Wall-clock time from the PL031 (seconds since the epoch).
	if s := rtcSeconds(); s != 0 {
		CPU.SetTime(int64(s) * 1e9)
	}
	initIdle()
	// Before the heap grows: the memory limit, then the DMA pool.
	var err error
	if dma, err = heapdma.Boot(DMAPoolSize); err != nil {
		panic("virt: " + err.Error())
	}
}

// nanotime is the runtime's clock (goos.Nanotime).
//
//go:linkname nanotime runtime/goos.Nanotime
func nanotime() int64 {
	return CPU.GetTime()
}

// TimerHz is the generic timer's counter frequency (CNTFRQ_EL0), as Init
// took it.
func TimerHz() uint64 {
	if CPU.TimerMultiplier == 0 {
		return 0
	}
	return uint64(1e9/CPU.TimerMultiplier + 0.5)
}

// RAM returns the memory the Go runtime owns, identity-mapped.
func RAM() (start, end uint64) { return runtime.MemRegion() }
