//go:build tamago

#include "textflag.h"

// func semihostCall(op uint64, arg *uint64) uint64
TEXT ·semihostCall(SB),NOSPLIT,$0-24
	MOVD	op+0(FP), R0
	MOVD	arg+8(FP), R1
	// HLT #0xf000
	WORD	$0xd45e0000
	MOVD	R0, ret+16(FP)
	RET
