#include "textflag.h"

// DMB/DSB option encodings (Arm ARM C6.2.81 DMB): OSHLD 0b0001,
// OSHST 0b0010, SY 0b1111.

// func Write()
TEXT ·Write(SB),NOSPLIT,$0-0
	DMB	$0x2 // DMB OSHST
	RET

// func Read()
TEXT ·Read(SB),NOSPLIT,$0-0
	DMB	$0x1 // DMB OSHLD
	RET

// func Full()
TEXT ·Full(SB),NOSPLIT,$0-0
	DSB	$0xf // DSB SY
	RET
