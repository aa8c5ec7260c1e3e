#include "textflag.h"

// Single loads and stores of an exact width at an address outside the Go
// heap (a device register window). Being assembly, they are never merged,
// split, reordered with other calls, or elided by the compiler; on x86
// plain MOVs to uncached memory are performed in program order.

// func load8(addr uintptr) uint8
TEXT ·load8(SB), NOSPLIT, $0-9
	MOVQ addr+0(FP), AX
	MOVB (AX), BX
	MOVB BX, ret+8(FP)
	RET

// func load16(addr uintptr) uint16
TEXT ·load16(SB), NOSPLIT, $0-10
	MOVQ addr+0(FP), AX
	MOVW (AX), BX
	MOVW BX, ret+8(FP)
	RET

// func load32(addr uintptr) uint32
TEXT ·load32(SB), NOSPLIT, $0-12
	MOVQ addr+0(FP), AX
	MOVL (AX), BX
	MOVL BX, ret+8(FP)
	RET

// func load64(addr uintptr) uint64
TEXT ·load64(SB), NOSPLIT, $0-16
	MOVQ addr+0(FP), AX
	MOVQ (AX), BX
	MOVQ BX, ret+8(FP)
	RET

// func store8(addr uintptr, v uint8)
TEXT ·store8(SB), NOSPLIT, $0-9
	MOVQ addr+0(FP), AX
	MOVB v+8(FP), BX
	MOVB BX, (AX)
	RET

// func store16(addr uintptr, v uint16)
TEXT ·store16(SB), NOSPLIT, $0-10
	MOVQ addr+0(FP), AX
	MOVW v+8(FP), BX
	MOVW BX, (AX)
	RET

// func store32(addr uintptr, v uint32)
TEXT ·store32(SB), NOSPLIT, $0-12
	MOVQ addr+0(FP), AX
	MOVL v+8(FP), BX
	MOVL BX, (AX)
	RET

// func store64(addr uintptr, v uint64)
TEXT ·store64(SB), NOSPLIT, $0-16
	MOVQ addr+0(FP), AX
	MOVQ v+8(FP), BX
	MOVQ BX, (AX)
	RET

// func outb(port uint16, v uint8)
// The calling thread needs ioperm(2) for the port.
TEXT ·outb(SB), NOSPLIT, $0-3
	MOVW port+0(FP), DX
	MOVB v+2(FP), AX
	OUTB
	RET
