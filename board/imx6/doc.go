//go:build tamago && arm

// Package imx6 is what tamaswap's i.MX6UL/ULL boards (board/usbarmory,
// board/mx6ullevk) share on top of upstream TamaGo's soc/nxp/imx6ul: the
// three things the SD/MMC stack needs from a platform, and the board
// plumbing around it.
//
//   - Register access (MMIO): uSDHC registers as a virtio.Regs, each call one
//     load or store instruction, with the explicit DMB/DSB barriers of the
//     Barrier contract. TamaGo maps every peripheral as Strongly-ordered
//     memory, whose accesses are ordered among themselves but not against
//     accesses to Normal (cacheable) memory, such as the ADMA2 descriptors
//     and data buffers in the Go heap: that is what the barriers are for.
//   - DMA memory (DMA): the Go heap itself, cacheable and identity-mapped,
//     with cache maintenance by virtual address around every transfer
//     (clean before the device reads, clean+invalidate before and
//     invalidate after the device writes). See DMA for why this and not
//     an uncached region.
//   - Controller set-up (Controller): clock gating in CCM_CCGR6, the
//     uSDHC clock root (PLL2 PFD2 / 2 = 198 MHz) and the pin muxing of the
//     CLK, CMD and DATA pads, which the boot ROM only does for the device
//     it booted from.
//
// It also gives the boards the exit status (PowerOff): through
// semihosting SYS_EXIT_EXTENDED in images built with the tag semihosting
// (for QEMU, run with -semihosting), and a halt otherwise, because on a board with no debugger attached the
// semihosting call takes an exception.
//
// Facts it relies on, from the i.MX 6UL/6ULL Applications Processor
// Reference Manuals (IMX6ULRM, IMX6ULLRM) and the ARM Architecture
// Reference Manual ARMv7-A (ARM ARM): RAM (MMDC) at 0x80000000, uSDHC1 at
// 0x02190000 and uSDHC2 at 0x02194000, both bus masters that reach all of
// RAM; the Cortex-A7's data cache line is 64 bytes (read from CTR) and its
// integrated L2 is maintained by the same CP15 operations to the point of
// coherency, so there is no outer cache controller to program.
package imx6
