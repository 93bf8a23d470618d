/* svm_vmrun(vmcb_pa %rdi, gpr %rsi, host_save_pa %rdx, guest_fx %rcx, host_fx %r8)
 *
 * One guest entry and exit, everything between "guest state loaded" and
 * "host state back" in one place with GIF clear, so no interrupt or NMI
 * can run Tern's handlers on the guest's TR/FS/GS or clobber its SSE
 * registers (Tern's C code uses SSE).
 *
 * APM vol. 2, 15.5: VMRUN saves and restores only part of the host state
 * (in the VM_HSAVE_PA area); #VMEXIT gives back host RAX, RSP and RIP, and
 * every other GPR holds the guest's value (EMULATOR-NOTES). So: save the
 * callee-saved registers here, keep our arguments on the stack, and move
 * the guest's GPRs between gpr[] and the registers by hand. Guest RAX and
 * RSP live in the VMCB (svm.c copies them). FS, GS, TR, LDTR,
 * KernelGSBase, STAR/LSTAR/CSTAR/SFMASK and SYSENTER_* are swapped with
 * VMSAVE/VMLOAD (15.5.2), the host's into a page of its own.
 */

/* Offsets in gpr[]: the R_* numbers of kernel/hv.h times 8. */
#define G_RCX 8
#define G_RDX 16
#define G_RBX 24
#define G_RBP 40
#define G_RSI 48
#define G_RDI 56
#define G_R8 64
#define G_R9 72
#define G_R10 80
#define G_R11 88
#define G_R12 96
#define G_R13 104
#define G_R14 112
#define G_R15 120

/* Our frame after the pushes below: RSP is all that survives VMRUN. */
#define F_VMCB 0
#define F_HOST 8
#define F_GPR 16
#define F_GUEST_FX 24
#define F_HOST_FX 32
#define F_SIZE 40

	.text
	.globl svm_vmrun
	.hidden svm_vmrun
	.type svm_vmrun, @function
svm_vmrun:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	pushfq
	pushq %r8
	pushq %rcx
	pushq %rsi
	pushq %rdx
	pushq %rdi

	/* GIF=0 holds interrupts, NMIs and SMIs until stgi (15.17). */
	cli
	clgi
	fxsave64 (%r8)
	fxrstor64 (%rcx)
	movq %rdx, %rax
	vmsave %rax
	movq %rdi, %rax
	vmload %rax
	/* With V_INTR_MASKING the host's IF decides whether a physical
	 * interrupt in the guest is taken, i.e. intercepted (15.21.1):
	 * IF=1 here; GIF=0 still holds it until VMRUN. */
	sti

	movq G_RCX(%rsi), %rcx
	movq G_RDX(%rsi), %rdx
	movq G_RBX(%rsi), %rbx
	movq G_RBP(%rsi), %rbp
	movq G_RDI(%rsi), %rdi
	movq G_R8(%rsi), %r8
	movq G_R9(%rsi), %r9
	movq G_R10(%rsi), %r10
	movq G_R11(%rsi), %r11
	movq G_R12(%rsi), %r12
	movq G_R13(%rsi), %r13
	movq G_R14(%rsi), %r14
	movq G_R15(%rsi), %r15
	movq G_RSI(%rsi), %rsi

	vmrun %rax
	/* #VMEXIT: GIF=0, RAX = the VMCB again (host RAX), RSP our frame. */
	vmsave %rax

	movq F_GPR(%rsp), %rax
	movq %rcx, G_RCX(%rax)
	movq %rdx, G_RDX(%rax)
	movq %rbx, G_RBX(%rax)
	movq %rbp, G_RBP(%rax)
	movq %rsi, G_RSI(%rax)
	movq %rdi, G_RDI(%rax)
	movq %r8, G_R8(%rax)
	movq %r9, G_R9(%rax)
	movq %r10, G_R10(%rax)
	movq %r11, G_R11(%rax)
	movq %r12, G_R12(%rax)
	movq %r13, G_R13(%rax)
	movq %r14, G_R14(%rax)
	movq %r15, G_R15(%rax)

	cli
	movq F_HOST(%rsp), %rax
	vmload %rax
	movq F_GUEST_FX(%rsp), %rcx
	movq F_HOST_FX(%rsp), %r8
	fxsave64 (%rcx)
	fxrstor64 (%r8)
	/* A pending host interrupt stays pending (IF=0) until the caller
	 * opens a window for it (exit.c, VMEXIT_INTR). */
	stgi

	addq $F_SIZE, %rsp
	popfq
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
	.size svm_vmrun, . - svm_vmrun

	.section .note.GNU-stack, "", @progbits
