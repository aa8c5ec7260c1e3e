#include "textflag.h"

// ARMv7-A barriers (ARM DDI 0406C A8.8.43 DMB, A8.8.44 DSB). The Go arm
// assembler has DMB but no DSB, so DSB SY is spelled as its encoding.

// func Write()
TEXT ·Write(SB),NOSPLIT|NOFRAME,$0-0
	DMB	MB_ST
	RET

// func Read()
TEXT ·Read(SB),NOSPLIT|NOFRAME,$0-0
	DMB	MB_SY
	RET

// func Full()
TEXT ·Full(SB),NOSPLIT|NOFRAME,$0-0
	WORD	$0xf57ff04f // DSB SY
	RET
