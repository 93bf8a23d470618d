/* Stubs for the 32 CPU exception vectors: each pushes a uniform frame
 * (vector, error code or 0) and calls idt_exception(), which reports and
 * halts. Guests run with interrupts off, so nothing else arrives here. */

/* SDM vol. 3A 6.3.1 table 6-1: vectors that push an error code. */
#define HAS_ERROR_CODE(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

	.code64
	.section .text

	.macro isr_stub vec
	.balign 16
isr_\vec:
	.if HAS_ERROR_CODE(\vec)
	.else
	push $0
	.endif
	push $\vec
	jmp isr_common
	.endm

	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	isr_stub \v
	.endr

isr_common:
	mov %rsp, %rdi /* struct idt_frame * */
	and $-16, %rsp
	call idt_exception
1:	cli
	hlt
	jmp 1b

	.section .rodata
	.balign 8
	.globl isr_stubs
isr_stubs:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad isr_\v
	.endr
