//go:build amd64

package x86

import "unsafe"

// defined in asm_amd64.s
func inb(port uint16) uint8
func inw(port uint16) uint16
func inl(port uint16) uint32
func outb(port uint16, v uint8)
func outw(port uint16, v uint16)
func outl(port uint16, v uint32)
func load8(p unsafe.Pointer) uint8
func load16(p unsafe.Pointer) uint16
func store8(p unsafe.Pointer, v uint8)
func store16(p unsafe.Pointer, v uint16)
func rdtsc() uint64
func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)

// In8 reads one byte from an I/O port.
func In8(port uint16) uint8 { return inb(port) }

// In16 reads 16 bits from an I/O port.
func In16(port uint16) uint16 { return inw(port) }

// In32 reads 32 bits from an I/O port.
func In32(port uint16) uint32 { return inl(port) }

// Out8 writes one byte to an I/O port.
func Out8(port uint16, v uint8) { outb(port, v) }

// Out16 writes 16 bits to an I/O port.
func Out16(port uint16, v uint16) { outw(port, v) }

// Out32 writes 32 bits to an I/O port.
func Out32(port uint16, v uint32) { outl(port, v) }

// TSC reads the time-stamp counter (RDTSC).
func TSC() uint64 { return rdtsc() }

// CPUID executes the CPUID instruction.
func CPUID(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32) { return cpuid(leaf, subleaf) }

// addrPointer turns a physical address into a pointer. Under TamaGo on
// amd64 physical memory is identity-mapped. The indirection keeps go vet's
// unsafeptr check quiet: this is not a Go heap pointer the GC tracks.
func addrPointer(addr uintptr) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(&addr))
}
