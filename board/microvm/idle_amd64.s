//go:build tamago && amd64

#include "textflag.h"

// func sidt() (base uint64, limit uint16)
TEXT ·sidt(SB),NOSPLIT,$16-10
	SIDT	0(SP)
	MOVW	0(SP), AX
	MOVW	AX, limit+8(FP)
	MOVQ	2(SP), AX
	MOVQ	AX, base+0(FP)
	RET

// func wakeISRAddr() uint64
TEXT ·wakeISRAddr(SB),NOSPLIT,$0-8
	MOVQ	$·wakeISR(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// wakeISR ends the local APIC timer interrupt that wakes a halted CPU: it
// signals end of interrupt and returns; the scheduler then finds its timer
// due.
TEXT ·wakeISR(SB),NOSPLIT|NOFRAME,$0
	PUSHQ	AX
	MOVL	$0xfee000b0, AX // LAPIC EOI
	MOVL	$0, (AX)
	POPQ	AX
	IRETQ

// func armAndHalt(initialCount unsafe.Pointer, count uint32)
//
// The CPU takes interrupts here only (see disableInterrupts): STI, HLT,
// then CLI again once an interrupt has ended the halt. Starting the timer
// with interrupts off and halting right after STI (whose one-instruction
// interrupt shadow covers HLT) means the wake-up cannot arrive between
// the two and be lost; an interrupt that came while the CPU ran waits in
// the local APIC and ends the halt at once. A device interrupt whose
// entry stub already ran (irqPending) needs no halt: the scheduler runs
// the handler now rather than at the next timer.
TEXT ·armAndHalt(SB),NOSPLIT,$0-12
	MOVQ	initialCount+0(FP), AX
	MOVL	count+8(FP), BX
	CLI
	MOVQ	·irqPending(SB), CX
	TESTQ	CX, CX
	JNZ	nohalt
	MOVL	BX, (AX)
	STI
	HLT
	CLI
nohalt:
	RET

// func disableInterrupts()
TEXT ·disableInterrupts(SB),NOSPLIT,$0
	CLI
	RET
