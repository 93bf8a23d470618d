/* Exceptions as results: probe_try() runs a probe; an exception inside it
 * returns to probe_try's caller with the vector instead of halting the
 * guest. The CPU's frame is dropped: the probe is over. */
#include "cpuprobe.h"

#define HAS_ERROR_CODE(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

	.code64
	.section .text

	.macro trap_stub vec
	.balign 16
trap_\vec:
	.if HAS_ERROR_CODE(\vec)
	.else
	push $0
	.endif
	push $\vec
	jmp trap_common
	.endm

	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	trap_stub \v
	.endr

trap_common:
	cmpq $0, probe_resume(%rip)
	je trap_fatal
	pop %rax /* vector: probe_try's result */
	pop %rcx
	mov %rcx, probe_error(%rip)
	mov (%rsp), %rcx
	mov %rcx, probe_fault_rip(%rip)
	mov 8(%rsp), %rcx
	mov %rcx, probe_fault_cs(%rip)
	/* Back to CPL 0's flat data segments and probe_try's stack. */
	mov $SEL_KDATA, %ecx
	mov %ecx, %ds
	mov %ecx, %es
	mov %ecx, %ss
	mov probe_rsp(%rip), %rsp
	push $2
	popfq
	jmp *probe_resume(%rip)

trap_fatal:
	mov %rsp, %rdi /* struct idt_frame: guest/common/idt.c reports and halts */
	and $-16, %rsp
	call idt_exception

	.globl probe_try
probe_try:
	push %rbp
	push %rbx
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, probe_rsp(%rip)
	lea 1f(%rip), %rax
	mov %rax, probe_resume(%rip)
	call *%rdi
	mov $PROBE_RETURNED, %rax
1:	movq $0, probe_resume(%rip)
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbx
	pop %rbp
	ret

	.globl probe_enter_user
probe_enter_user:
	push $SEL_UDATA
	push %rsi
	push $0x40002 /* RFLAGS: AC (bit 18), bit 1 */
	push $SEL_UCODE
	push %rdi
	iretq

	.globl probe_user_misaligned
probe_user_misaligned:
	lea misaligned+1(%rip), %rax
	mov (%rax), %eax
	ud2

	.section .data
	.balign 16
misaligned:
	.quad 0, 0

	.section .bss
	.balign 8
	.globl probe_error, probe_fault_rip, probe_fault_cs
probe_resume: .skip 8
probe_rsp: .skip 8
probe_error: .skip 8
probe_fault_rip: .skip 8
probe_fault_cs: .skip 8

	.section .rodata
	.balign 8
	.globl trap_stubs
trap_stubs:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad trap_\v
	.endr

	.section .note.GNU-stack, "", @progbits
