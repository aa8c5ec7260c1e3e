//go:build tamago && amd64

#include "textflag.h"

// func irqStubsAddr() uint64
TEXT ·irqStubsAddr(SB),NOSPLIT,$0-8
	MOVQ	$·irqStubs(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// irqStubs holds one entry stub for each of vectors 32-95 (stubVectors),
// stubSize bytes each: a CALL, whose return address tells irqEntry which
// stub, so which vector, it came through (package amd64's irqHandler
// does the same).
TEXT ·irqStubs(SB),NOSPLIT|NOFRAME,$0
	CALL	·irqEntry(SB) // 32
	CALL	·irqEntry(SB) // 33
	CALL	·irqEntry(SB) // 34
	CALL	·irqEntry(SB) // 35
	CALL	·irqEntry(SB) // 36
	CALL	·irqEntry(SB) // 37
	CALL	·irqEntry(SB) // 38
	CALL	·irqEntry(SB) // 39
	CALL	·irqEntry(SB) // 40
	CALL	·irqEntry(SB) // 41
	CALL	·irqEntry(SB) // 42
	CALL	·irqEntry(SB) // 43
	CALL	·irqEntry(SB) // 44
	CALL	·irqEntry(SB) // 45
	CALL	·irqEntry(SB) // 46
	CALL	·irqEntry(SB) // 47
	CALL	·irqEntry(SB) // 48
	CALL	·irqEntry(SB) // 49
	CALL	·irqEntry(SB) // 50
	CALL	·irqEntry(SB) // 51
	CALL	·irqEntry(SB) // 52
	CALL	·irqEntry(SB) // 53
	CALL	·irqEntry(SB) // 54
	CALL	·irqEntry(SB) // 55
	CALL	·irqEntry(SB) // 56
	CALL	·irqEntry(SB) // 57
	CALL	·irqEntry(SB) // 58
	CALL	·irqEntry(SB) // 59
	CALL	·irqEntry(SB) // 60
	CALL	·irqEntry(SB) // 61
	CALL	·irqEntry(SB) // 62
	CALL	·irqEntry(SB) // 63
	CALL	·irqEntry(SB) // 64
	CALL	·irqEntry(SB) // 65
	CALL	·irqEntry(SB) // 66
	CALL	·irqEntry(SB) // 67
	CALL	·irqEntry(SB) // 68
	CALL	·irqEntry(SB) // 69
	CALL	·irqEntry(SB) // 70
	CALL	·irqEntry(SB) // 71
	CALL	·irqEntry(SB) // 72
	CALL	·irqEntry(SB) // 73
	CALL	·irqEntry(SB) // 74
	CALL	·irqEntry(SB) // 75
	CALL	·irqEntry(SB) // 76
	CALL	·irqEntry(SB) // 77
	CALL	·irqEntry(SB) // 78
	CALL	·irqEntry(SB) // 79
	CALL	·irqEntry(SB) // 80
	CALL	·irqEntry(SB) // 81
	CALL	·irqEntry(SB) // 82
	CALL	·irqEntry(SB) // 83
	CALL	·irqEntry(SB) // 84
	CALL	·irqEntry(SB) // 85
	CALL	·irqEntry(SB) // 86
	CALL	·irqEntry(SB) // 87
	CALL	·irqEntry(SB) // 88
	CALL	·irqEntry(SB) // 89
	CALL	·irqEntry(SB) // 90
	CALL	·irqEntry(SB) // 91
	CALL	·irqEntry(SB) // 92
	CALL	·irqEntry(SB) // 93
	CALL	·irqEntry(SB) // 94
	CALL	·irqEntry(SB) // 95

// irqEntry marks the vector pending in irqPending, signals end of
// interrupt to the local APIC, and, when the handler goroutine sleeps,
// makes its sleep end now (runtime·WakeG, which takes the g in AX and
// uses AX, BX, CX and DX), with the other CPUs parked when there are
// any (freezeOthers, thawOthers: see smp.go). The stack holds the stub's return address
// above the CPU's interrupt frame; it is dropped before IRETQ.
TEXT ·irqEntry(SB),NOSPLIT|NOFRAME,$0
	PUSHQ	AX
	PUSHQ	BX
	PUSHQ	CX
	PUSHQ	DX

	// vector - 32 = (return address - irqStubs) / stubSize - 1
	MOVQ	32(SP), AX
	MOVQ	$·irqStubs(SB), BX
	SUBQ	BX, AX
	XORL	DX, DX
	MOVQ	$5, CX
	DIVQ	CX
	DECQ	AX
	MOVQ	AX, CX
	MOVQ	$1, BX
	SHLQ	CX, BX
	LOCK
	ORQ	BX, ·irqPending(SB)

	MOVL	$0xfee000b0, AX // LAPIC EOI
	MOVL	$0, (AX)

	MOVL	·irqAsleep(SB), AX
	TESTL	AX, AX
	JZ	done
	MOVL	·apsOnline(SB), AX
	TESTL	AX, AX
	JNZ	smp
	MOVQ	·irqG(SB), AX
	CALL	runtime·WakeG(SB)
	JMP	done
smp:
	// Other CPUs run Go code: park them around WakeG (see smp.go).
	MOVL	AX, DX // the online APs to wait for
	CALL	·freezeOthers(SB)
	MOVQ	·irqG(SB), AX
	CALL	runtime·WakeG(SB)
	CALL	·thawOthers(SB)
done:
	MOVL	$0, ·retrySent(SB)
	POPQ	DX
	POPQ	CX
	POPQ	BX
	POPQ	AX
	ADDQ	$8, SP
	IRETQ

// freezeOthers parks the other CPUs: it waits for the previous round's
// to have left freezeISR, raises freezeReq, sends freezeVector to all
// but itself and waits until at least DX of them spin in freezeISR.
// Interrupts are off (an interrupt gate). Uses AX.
TEXT ·freezeOthers(SB),NOSPLIT|NOFRAME,$0
drain:
	MOVL	·freezeAck(SB), AX
	TESTL	AX, AX
	JZ	raise
	PAUSE
	JMP	drain
raise:
	MOVL	$1, AX
	XCHGL	AX, ·freezeReq(SB)
	MOVL	$0xfee00300, AX // LAPIC ICR low
	MOVL	$(0xc0000|0x4000|254), (AX) // all but self, assert, fixed, freezeVector
wait:
	PAUSE
	MOVL	·freezeAck(SB), AX
	CMPL	AX, DX
	JB	wait
	RET

// thawOthers lets the parked CPUs go and waits until they left
// freezeISR. Uses AX.
TEXT ·thawOthers(SB),NOSPLIT|NOFRAME,$0
	XORL	AX, AX
	XCHGL	AX, ·freezeReq(SB)
left:
	MOVL	·freezeAck(SB), AX
	TESTL	AX, AX
	JZ	gone
	PAUSE
	JMP	left
gone:
	RET

// func freezeISRAddr() uint64
TEXT ·freezeISRAddr(SB),NOSPLIT,$0-8
	MOVQ	$·freezeISR(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// freezeISR is freezeVector's handler on the CPUs the BSP parks: it
// signals end of interrupt and, while freezeReq is raised, counts itself
// in freezeAck and spins until the BSP lowers it. A freezeVector that
// arrives late (an AP that had interrupts off, or that was not online
// yet) finds freezeReq low and just returns.
TEXT ·freezeISR(SB),NOSPLIT|NOFRAME,$0
	PUSHQ	AX
	MOVL	$0xfee000b0, AX // LAPIC EOI
	MOVL	$0, (AX)
	MOVL	·freezeReq(SB), AX
	TESTL	AX, AX
	JZ	out
	LOCK
	INCL	·freezeAck(SB)
spin:
	PAUSE
	MOVL	·freezeReq(SB), AX
	TESTL	AX, AX
	JNZ	spin
	LOCK
	DECL	·freezeAck(SB)
out:
	POPQ	AX
	IRETQ

// func sendIPI(dest, low uint32)
//
// Writes the local APIC's interrupt command register, high word (the
// destination APIC ID in bits 31:24) first, with interrupts off so that
// no stub's own IPI comes between the two writes.
TEXT ·sendIPI(SB),NOSPLIT,$0-8
	MOVL	dest+0(FP), BX
	MOVL	low+4(FP), CX
	PUSHFQ
	CLI
	MOVL	$0xfee00310, AX // LAPIC ICR high
	MOVL	BX, (AX)
	MOVL	$0xfee00300, AX // LAPIC ICR low
	MOVL	CX, (AX)
	POPFQ
	RET
