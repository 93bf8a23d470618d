/* Entry stubs for vectors 32-255 (external interrupts, SDM vol. 3A 6.2):
 * each pushes its vector and goes to irq_common, which calls
 * irqtest_interrupt(vector) with the registers a C call clobbers saved.
 * Every stub starts on a 16-byte boundary, so vector v's is at
 * irq_stubs + 16 * (v - 32). */
	.code64
	.section .text
	.balign 16
	.globl irq_stubs
irq_stubs:
	.set vec, 32
	.rept 224
	.balign 16
	push $vec
	jmp irq_common
	.set vec, vec + 1
	.endr

irq_common:
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
	mov 80(%rsp), %rdi /* the vector the stub pushed */
	mov %rsp, %rbp
	and $-16, %rsp
	call irqtest_interrupt
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
	add $8, %rsp /* the vector */
	iretq
