//go:build tamago && amd64

#include "go_asm.h"
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
// uses AX, BX, CX and DX); with several CPUs it only ends the other
// CPUs' halts (see smp.go). The stack holds the stub's return address
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
	MOVQ	·ncpu(SB), AX
	CMPQ	AX, $1
	JNE	smp
	MOVQ	·irqG(SB), AX
	CALL	runtime·WakeG(SB)
	// Once its timer is due, the goroutine is as good as awake: later
	// interrupts only mark their vector, rather than write the timer
	// again while the runtime may be running it (see smp.go).
	TESTQ	AX, AX
	JNZ	done
	MOVL	$0, ·irqAsleep(SB)
	JMP	done
smp:
	// Several CPUs: no WakeG (see smp.go). End the others' halts; the
	// first to idle wakes the goroutine.
	MOVL	$0xfee00300, AX // LAPIC ICR low
	MOVL	$const_icrAllButSelfWake, (AX)
done:
	POPQ	DX
	POPQ	CX
	POPQ	BX
	POPQ	AX
	ADDQ	$8, SP
	IRETQ
