//go:build tamago

#include "textflag.h"

// func readIDAA64ISAR0() uint64
TEXT ·readIDAA64ISAR0(SB),NOSPLIT,$0-8
	MRS	ID_AA64ISAR0_EL1, R0
	MOVD	R0, ret+0(FP)
	RET

// func rndr() (v uint64, ok bool)
TEXT ·rndr(SB),NOSPLIT,$0-9
	// MRS X0, RNDR (S3_3_C2_C4_0), which older assemblers do not name.
	WORD	$0xd53b2400
	// NZCV is 0b0000 on success, 0b0100 (Z) on failure.
	CSET	NE, R1
	MOVD	R0, v+0(FP)
	MOVB	R1, ok+8(FP)
	RET
