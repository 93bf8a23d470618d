/* Stubs for the 32 CPU exception vectors: each pushes a uniform frame
 * (vector, error code or 0) and calls idt_dispatch(): a handler the guest
 * set may take the exception (it returns, with the registers the C call
 * clobbers restored, to the RIP it left in the frame); otherwise
 * idt_exception() reports and halts. Guests run with interrupts off, so
 * nothing else arrives here. */

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
	push %rbp
	push %rax
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %r8
	push %r9
	push %r10
	push %r11
	lea 80(%rsp), %rdi /* struct idt_frame *: the vector, above the 10 saves */
	mov %rsp, %rbp
	and $-16, %rsp
	call idt_dispatch
	mov %rbp, %rsp
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rax
	pop %rbp
	add $16, %rsp /* vector and error code */
	iretq

	.section .rodata
	.balign 8
	.globl isr_stubs
isr_stubs:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad isr_\v
	.endr
