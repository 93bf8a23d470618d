/* VM entry and the VM-exit landing point (HOST_RIP).
 *
 * int vmx_enter(uint64_t *gpr, void *fx, int launched)
 *   gpr: the 16 guest GPRs in x86 encoding order (struct vcpu.gpr); RSP is
 *        not loaded from it: the CPU loads guest RSP from the VMCS.
 *   fx:  the guest's FXSAVE image, restored before entry, saved after exit.
 *   launched: 0 = VMLAUNCH, else VMRESUME (SDM 26.1: a VMCS must be
 *        launched once after VMCLEAR, then resumed).
 * Returns 0 after a VM exit, 1 on VMfailValid, 2 on VMfailInvalid.
 *
 * A VM exit restores only what the VMCS host-state area holds (RSP, RIP,
 * segments, CR0/3/4, EFER, PAT): every GPR comes back with the guest's
 * value, so the callee-saved ones are pushed here, and HOST_RSP is pointed
 * at the saved gpr pointer so the exit stub can find the array. The x87
 * control word and MXCSR are callee-saved too (SysV ABI), and the x87
 * stack must be empty at a call boundary: fninit, then put them back. */

#define VMCS_HOST_RSP 0x6C14
#define G(r) (r * 8)

	.text
	.globl vmx_enter
	.hidden vmx_enter
	.type vmx_enter, @function
vmx_enter:
	pushq %rbp
	movq %rsp, %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	subq $16, %rsp
	stmxcsr 0(%rsp)
	fnstcw 4(%rsp)
	pushq %rsi			/* fx, for the exit stub */
	pushq %rdi			/* gpr, for the exit stub: (%rsp) at exit */

	fxrstor (%rsi)
	movl $VMCS_HOST_RSP, %eax
	vmwrite %rsp, %rax
	testl %edx, %edx		/* flags survive the movs below */

	movq G(0)(%rdi), %rax
	movq G(1)(%rdi), %rcx
	movq G(2)(%rdi), %rdx
	movq G(3)(%rdi), %rbx
	movq G(5)(%rdi), %rbp
	movq G(6)(%rdi), %rsi
	movq G(8)(%rdi), %r8
	movq G(9)(%rdi), %r9
	movq G(10)(%rdi), %r10
	movq G(11)(%rdi), %r11
	movq G(12)(%rdi), %r12
	movq G(13)(%rdi), %r13
	movq G(14)(%rdi), %r14
	movq G(15)(%rdi), %r15
	movq G(7)(%rdi), %rdi
	jnz 1f
	vmlaunch
	jmp 2f
1:	vmresume
2:	/* Only reached when the instruction failed: CF = VMfailInvalid,
	 * ZF = VMfailValid. Host RSP is untouched; GPRs hold guest values. */
	movl $1, %eax
	movl $2, %ecx
	cmovcl %ecx, %eax
	addq $16, %rsp			/* gpr, fx */
	jmp 3f

	.globl vmx_exit_stub
	.hidden vmx_exit_stub
	.type vmx_exit_stub, @function
vmx_exit_stub:
	pushq %rdi			/* guest RDI; the gpr pointer is now at 8(%rsp) */
	movq 8(%rsp), %rdi
	movq %rax, G(0)(%rdi)
	movq %rcx, G(1)(%rdi)
	movq %rdx, G(2)(%rdi)
	movq %rbx, G(3)(%rdi)
	movq %rbp, G(5)(%rdi)
	movq %rsi, G(6)(%rdi)
	movq %r8, G(8)(%rdi)
	movq %r9, G(9)(%rdi)
	movq %r10, G(10)(%rdi)
	movq %r11, G(11)(%rdi)
	movq %r12, G(12)(%rdi)
	movq %r13, G(13)(%rdi)
	movq %r14, G(14)(%rdi)
	movq %r15, G(15)(%rdi)
	popq %rax
	movq %rax, G(7)(%rdi)
	addq $8, %rsp			/* gpr */
	popq %rsi			/* fx */
	fxsave (%rsi)
	xorl %eax, %eax
3:	fninit
	ldmxcsr 0(%rsp)
	fldcw 4(%rsp)
	addq $16, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
	.size vmx_enter, . - vmx_enter

	.section .note.GNU-stack, "", @progbits
