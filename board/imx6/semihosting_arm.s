//go:build tamago && arm && semihosting

#include "textflag.h"

// Semihosting (ARM "Semihosting for AArch32 and AArch64", 2.0): in A32
// state the call is SVC 0x123456 with the operation in R0 and its
// parameter in R1; the result comes back in R0.

// func semihost(op uint32, arg uintptr) uint32
TEXT ·semihost(SB),NOSPLIT,$0-12
	MOVW	op+0(FP), R0
	MOVW	arg+4(FP), R1
	SWI	$0x123456
	MOVW	R0, ret+8(FP)
	RET
