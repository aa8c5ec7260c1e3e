#include "textflag.h"

// func Write()
TEXT ·Write(SB),NOSPLIT,$0-0
	FENCE
	RET

// func Read()
TEXT ·Read(SB),NOSPLIT,$0-0
	FENCE
	RET

// func Full()
TEXT ·Full(SB),NOSPLIT,$0-0
	FENCE
	RET
