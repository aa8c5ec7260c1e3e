#include "textflag.h"

// Device-register accesses (see the package comment). DMB option fields
// (ARM ARM C6.2.81): OSHLD = 0b0001, OSHST = 0b0010; DSB SY = 0b1111.

// func read8(addr uintptr) uint8
TEXT ·read8(SB),NOSPLIT,$0-9
	MOVD	addr+0(FP), R0
	MOVBU	(R0), R1
	DMB	$1
	MOVB	R1, ret+8(FP)
	RET

// func read16(addr uintptr) uint16
TEXT ·read16(SB),NOSPLIT,$0-10
	MOVD	addr+0(FP), R0
	MOVHU	(R0), R1
	DMB	$1
	MOVH	R1, ret+8(FP)
	RET

// func read32(addr uintptr) uint32
TEXT ·read32(SB),NOSPLIT,$0-12
	MOVD	addr+0(FP), R0
	MOVWU	(R0), R1
	DMB	$1
	MOVW	R1, ret+8(FP)
	RET

// func read64(addr uintptr) uint64
TEXT ·read64(SB),NOSPLIT,$0-16
	MOVD	addr+0(FP), R0
	MOVD	(R0), R1
	DMB	$1
	MOVD	R1, ret+8(FP)
	RET

// func write8(addr uintptr, v uint8)
TEXT ·write8(SB),NOSPLIT,$0-9
	MOVD	addr+0(FP), R0
	MOVBU	v+8(FP), R1
	DMB	$2
	MOVB	R1, (R0)
	RET

// func write16(addr uintptr, v uint16)
TEXT ·write16(SB),NOSPLIT,$0-10
	MOVD	addr+0(FP), R0
	MOVHU	v+8(FP), R1
	DMB	$2
	MOVH	R1, (R0)
	RET

// func write32(addr uintptr, v uint32)
TEXT ·write32(SB),NOSPLIT,$0-12
	MOVD	addr+0(FP), R0
	MOVWU	v+8(FP), R1
	DMB	$2
	MOVW	R1, (R0)
	RET

// func write64(addr uintptr, v uint64)
TEXT ·write64(SB),NOSPLIT,$0-16
	MOVD	addr+0(FP), R0
	MOVD	v+8(FP), R1
	DMB	$2
	MOVD	R1, (R0)
	RET

// func dmbOSHST()
TEXT ·dmbOSHST(SB),NOSPLIT,$0-0
	DMB	$2
	RET

// func dmbOSHLD()
TEXT ·dmbOSHLD(SB),NOSPLIT,$0-0
	DMB	$1
	RET

// func dsbSY()
TEXT ·dsbSY(SB),NOSPLIT,$0-0
	DSB	$15
	RET
