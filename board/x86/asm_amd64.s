#include "textflag.h"

// Port I/O. The Go assembler has no IN/OUT mnemonics taking DX, so the
// instructions are spelled as their one-byte opcodes (Intel SDM Vol. 2A,
// IN: EC/ED, OUT: EE/EF; 66 is the operand-size prefix for 16 bits).

// func inb(port uint16) uint8
TEXT ·inb(SB),NOSPLIT,$0-9
	MOVW	port+0(FP), DX
	BYTE	$0xec // in al, dx
	MOVB	AL, ret+8(FP)
	RET

// func inw(port uint16) uint16
TEXT ·inw(SB),NOSPLIT,$0-10
	MOVW	port+0(FP), DX
	BYTE	$0x66; BYTE $0xed // in ax, dx
	MOVW	AX, ret+8(FP)
	RET

// func inl(port uint16) uint32
TEXT ·inl(SB),NOSPLIT,$0-12
	MOVW	port+0(FP), DX
	BYTE	$0xed // in eax, dx
	MOVL	AX, ret+8(FP)
	RET

// func outb(port uint16, v uint8)
TEXT ·outb(SB),NOSPLIT,$0-3
	MOVW	port+0(FP), DX
	MOVB	v+2(FP), AL
	BYTE	$0xee // out dx, al
	RET

// func outw(port uint16, v uint16)
TEXT ·outw(SB),NOSPLIT,$0-4
	MOVW	port+0(FP), DX
	MOVW	v+2(FP), AX
	BYTE	$0x66; BYTE $0xef // out dx, ax
	RET

// func outl(port uint16, v uint32)
TEXT ·outl(SB),NOSPLIT,$0-8
	MOVW	port+0(FP), DX
	MOVL	v+4(FP), AX
	BYTE	$0xef // out dx, eax
	RET

// Narrow MMIO accesses: sync/atomic has no 8- or 16-bit operations, and a
// plain Go load may be merged or elided. One MOVB/MOVW is one bus access.

// func load8(p unsafe.Pointer) uint8
TEXT ·load8(SB),NOSPLIT,$0-9
	MOVQ	p+0(FP), AX
	MOVB	(AX), BX
	MOVB	BX, ret+8(FP)
	RET

// func load16(p unsafe.Pointer) uint16
TEXT ·load16(SB),NOSPLIT,$0-10
	MOVQ	p+0(FP), AX
	MOVW	(AX), BX
	MOVW	BX, ret+8(FP)
	RET

// func store8(p unsafe.Pointer, v uint8)
TEXT ·store8(SB),NOSPLIT,$0-9
	MOVQ	p+0(FP), AX
	MOVB	v+8(FP), BX
	MOVB	BX, (AX)
	RET

// func store16(p unsafe.Pointer, v uint16)
TEXT ·store16(SB),NOSPLIT,$0-10
	MOVQ	p+0(FP), AX
	MOVW	v+8(FP), BX
	MOVW	BX, (AX)
	RET

// func rdtsc() uint64
TEXT ·rdtsc(SB),NOSPLIT,$0-8
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+0(FP)
	RET

// func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB),NOSPLIT,$0-24
	MOVL	leaf+0(FP), AX
	MOVL	subleaf+4(FP), CX
	CPUID
	MOVL	AX, eax+8(FP)
	MOVL	BX, ebx+12(FP)
	MOVL	CX, ecx+16(FP)
	MOVL	DX, edx+20(FP)
	RET
