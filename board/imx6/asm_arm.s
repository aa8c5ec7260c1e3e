//go:build tamago && arm

#include "textflag.h"

// Single register accesses (see MMIO).

// func load8(addr uintptr) uint8
TEXT ·load8(SB),NOSPLIT,$0-5
	MOVW	addr+0(FP), R0
	MOVBU	(R0), R1
	MOVB	R1, ret+4(FP)
	RET

// func load16(addr uintptr) uint16
TEXT ·load16(SB),NOSPLIT,$0-6
	MOVW	addr+0(FP), R0
	MOVHU	(R0), R1
	MOVH	R1, ret+4(FP)
	RET

// func load32(addr uintptr) uint32
TEXT ·load32(SB),NOSPLIT,$0-8
	MOVW	addr+0(FP), R0
	MOVW	(R0), R1
	MOVW	R1, ret+4(FP)
	RET

// func store8(addr uintptr, v uint8)
TEXT ·store8(SB),NOSPLIT,$0-5
	MOVW	addr+0(FP), R0
	MOVBU	v+4(FP), R1
	MOVB	R1, (R0)
	RET

// func store16(addr uintptr, v uint16)
TEXT ·store16(SB),NOSPLIT,$0-6
	MOVW	addr+0(FP), R0
	MOVHU	v+4(FP), R1
	MOVH	R1, (R0)
	RET

// func store32(addr uintptr, v uint32)
TEXT ·store32(SB),NOSPLIT,$0-8
	MOVW	addr+0(FP), R0
	MOVW	v+4(FP), R1
	MOVW	R1, (R0)
	RET

// Data cache maintenance by virtual address to the point of coherency
// (ARM ARM B4.2.1; Cortex-A7 MPCore TRM 4.2.8), over [start, end) in
// steps of line bytes, then DSB SY so that the maintenance is complete
// before the caller starts the transfer. start is line-aligned by the
// caller.

// func dcacheLine() uint32
TEXT ·dcacheLine(SB),NOSPLIT,$0-4
	MRC	15, 0, R0, C0, C0, 1	// CTR
	MOVW	R0>>16, R0
	AND	$0xf, R0		// DminLine: log2 of the line in words
	MOVW	$4, R1
	MOVW	R1<<R0, R1
	MOVW	R1, ret+0(FP)
	RET

// func dcacheClean(start, end, line uintptr)
TEXT ·dcacheClean(SB),NOSPLIT,$0-12
	MOVW	start+0(FP), R0
	MOVW	end+4(FP), R1
	MOVW	line+8(FP), R2
	WORD	$0xf57ff05f		// DMB SY: earlier stores before the clean
loop:
	CMP	R1, R0
	BHS	done
	MCR	15, 0, R0, C7, C10, 1	// DCCMVAC
	ADD	R2, R0
	B	loop
done:
	WORD	$0xf57ff04f		// DSB SY
	RET

// func dcacheInvalidate(start, end, line uintptr)
TEXT ·dcacheInvalidate(SB),NOSPLIT,$0-12
	MOVW	start+0(FP), R0
	MOVW	end+4(FP), R1
	MOVW	line+8(FP), R2
loop:
	CMP	R1, R0
	BHS	done
	MCR	15, 0, R0, C7, C6, 1	// DCIMVAC
	ADD	R2, R0
	B	loop
done:
	WORD	$0xf57ff04f		// DSB SY
	RET

// func dcacheCleanInvalidate(start, end, line uintptr)
TEXT ·dcacheCleanInvalidate(SB),NOSPLIT,$0-12
	MOVW	start+0(FP), R0
	MOVW	end+4(FP), R1
	MOVW	line+8(FP), R2
	WORD	$0xf57ff05f		// DMB SY
loop:
	CMP	R1, R0
	BHS	done
	MCR	15, 0, R0, C7, C14, 1	// DCCIMVAC
	ADD	R2, R0
	B	loop
done:
	WORD	$0xf57ff04f		// DSB SY
	RET
