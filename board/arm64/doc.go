//go:build arm64

// Package arm64 gives tamaswap's boards on arm64 (TamaGo's board/virt and
// the hosted runtime on Linux) register access to memory-mapped devices
// (MMIO, a virtio.Regs) with the barriers the Arm architecture requires
// for Device memory, and the barriers themselves (Barrier).
//
// On arm64 a Go atomic store is a release (STLR) and a load an acquire
// (LDAR): they order accesses to Normal memory among themselves, but say
// nothing about when the device, on the other side of the interconnect,
// sees them. Every register access here is one plain LDR/STR of its width
// from assembly, bracketed as Linux's readl and writel are (ARM ARM
// B2.3, "Ordering requirements"; Linux arch/arm64/include/asm/io.h): a
// write is preceded by DMB OSHST, so the device sees every earlier store
// to memory (descriptors, the available ring) before the register write
// that tells it to look; a read is followed by DMB OSHLD, so no later load
// of memory the device wrote (the used ring) happens before it.
package arm64
