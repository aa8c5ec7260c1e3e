//go:build tamago && arm64

#include "textflag.h"

// func readMPIDR() uint64
TEXT ·readMPIDR(SB),NOSPLIT,$0-8
	MRS	MPIDR_EL1, R0
	MOVD	R0, ret+0(FP)
	RET
