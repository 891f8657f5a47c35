//go:build amd64 && !race

#include "textflag.h"

// func streamCopy(dst, src *byte, n int)
TEXT ·streamCopy(SB), NOSPLIT, $0-24
	MOVQ	dst+0(FP), DI
	MOVQ	src+8(FP), SI
	MOVQ	n+16(FP), CX
head:	// bytewise up to a 16-byte boundary of dst
	TESTQ	CX, CX
	JZ	fence
	TESTQ	$15, DI
	JZ	bulk
	MOVB	(SI), AX
	MOVB	AX, (DI)
	INCQ	SI
	INCQ	DI
	DECQ	CX
	JMP	head
bulk:	// 64 bytes at a time, streaming stores (dst aligned), any src
	CMPQ	CX, $64
	JB	tail
	MOVOU	0(SI), X0
	MOVOU	16(SI), X1
	MOVOU	32(SI), X2
	MOVOU	48(SI), X3
	MOVNTO	X0, 0(DI)
	MOVNTO	X1, 16(DI)
	MOVNTO	X2, 32(DI)
	MOVNTO	X3, 48(DI)
	ADDQ	$64, SI
	ADDQ	$64, DI
	SUBQ	$64, CX
	JMP	bulk
tail:
	TESTQ	CX, CX
	JZ	fence
	MOVB	(SI), AX
	MOVB	AX, (DI)
	INCQ	SI
	INCQ	DI
	DECQ	CX
	JMP	tail
fence:	// streaming stores are weakly ordered: fence them before returning
	SFENCE
	RET
