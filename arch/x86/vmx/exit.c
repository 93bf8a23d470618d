/* VM-exit decoding (SDM Vol. 3C chapter 27, "VM Exits"; reasons in
 * Appendix C). What the backend can finish itself (CPUID, MSRs, CR
 * accesses, write-protect and PML dirty logging) it finishes here and the
 * guest goes on; the rest becomes a struct vm_exit for kernel/vm.c. */
#include <errno.h>
#include <stdio.h>
#include "arch/x86/asm.h"
#include "arch/x86/vmx/ept.h"
#include "arch/x86/vmx/vmcs.h"
#include "arch/x86/vmx/vmx.h"
#include "kernel/vm.h"

#define VEC_UD 6
#define VEC_GP 13
#define EFER_GUEST_WRITABLE (EFER_SCE | EFER_LME | EFER_NXE) /* the CPUID baseline's */
#define AR_L (1u << 13)
#define QUAL_NMI_UNBLOCKED (1ull << 12) /* EPT violation, PML full (Table 27-7) */

static const char *reason_name(uint32_t basic)
{
	static const char *const names[] = {
		[0] = "exception or NMI",
		[1] = "external interrupt",
		[2] = "triple fault",
		[3] = "INIT",
		[4] = "SIPI",
		[7] = "interrupt window",
		[8] = "NMI window",
		[9] = "task switch",
		[10] = "CPUID",
		[12] = "HLT",
		[14] = "INVLPG",
		[15] = "RDPMC",
		[16] = "RDTSC",
		[28] = "CR access",
		[29] = "MOV DR",
		[30] = "I/O instruction",
		[31] = "RDMSR",
		[32] = "WRMSR",
		[33] = "invalid guest state",
		[34] = "MSR loading",
		[40] = "PAUSE",
		[41] = "machine check",
		[48] = "EPT violation",
		[49] = "EPT misconfiguration",
		[52] = "preemption timer",
		[54] = "WBINVD",
		[55] = "XSETBV",
		[62] = "PML full",
	};
	if (basic < sizeof(names) / sizeof(names[0]) && names[basic])
		return names[basic];
	return "unexpected exit";
}

static bool fail(struct vm_exit *e, const char *fmt, uint64_t a, uint64_t b)
{
	e->kind = EXIT_ERROR;
	snprintf(e->desc, sizeof(e->desc), fmt, a, b);
	return true;
}

static bool unhandled(struct vm_exit *e, uint32_t basic, uint64_t qual)
{
	e->kind = EXIT_ERROR;
	snprintf(e->desc, sizeof(e->desc), "%s (qualification 0x%lx) at rip 0x%lx",
		 reason_name(basic), qual, vmcs_read(VMCS_GUEST_RIP));
	return true;
}

void vmx_inject_exception(uint8_t vector, bool has_error, uint32_t error)
{
	uint32_t info = INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION << 8 | vector;

	if (has_error) {
		info |= INTR_INFO_HAS_ERROR;
		vmcs_write(VMCS_ENTRY_EXCEPTION_ERROR, error);
	}
	vmcs_write(VMCS_ENTRY_INTR_INFO, info);
}

/* The exiting instruction is done: step over it. It also ends any STI or
 * MOV SS interrupt shadow, as retiring it would have. */
static void skip_instruction(void)
{
	uint64_t rip = vmcs_read(VMCS_GUEST_RIP) + vmcs_read(VMCS_EXIT_INSTRUCTION_LEN);
	uint32_t intr = vmcs_read(VMCS_GUEST_INTERRUPTIBILITY);

	if (!(vmcs_read(VMCS_ENTRY_CONTROLS) & ENTRY_IA32E_MODE_GUEST) ||
	    !(vmcs_read(VMCS_GUEST_ES_AR + 2 * VMCS_SEG_CS) & AR_L))
		rip &= 0xFFFFFFFFull; /* outside 64-bit code EIP wraps */
	vmcs_write(VMCS_GUEST_RIP, rip);
	if (intr & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS))
		vmcs_write(VMCS_GUEST_INTERRUPTIBILITY,
			   intr & ~(INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS));
}

/* An exit that interrupted the delivery of an event through the guest
 * IDT (e.g. an exception pushing onto a write-protected stack page) must
 * deliver it again on the next entry (SDM 27.2.4, "Information for VM
 * Exits During Event Delivery"). */
static void requeue_interrupted_event(void)
{
	uint32_t info = vmcs_read(VMCS_IDT_VECTORING_INFO);

	if (!(info & INTR_INFO_VALID))
		return;
	vmcs_write(VMCS_ENTRY_INTR_INFO, info & (INTR_INFO_VALID | INTR_INFO_HAS_ERROR | 0x7FF));
	if (info & INTR_INFO_HAS_ERROR)
		vmcs_write(VMCS_ENTRY_EXCEPTION_ERROR, vmcs_read(VMCS_IDT_VECTORING_ERROR));
	uint8_t type = INTR_INFO_TYPE(info);
	if (type == INTR_TYPE_SW_INTR || type == INTR_TYPE_PRIV_SW_EXCEPTION ||
	    type == INTR_TYPE_SW_EXCEPTION)
		vmcs_write(VMCS_ENTRY_INSTRUCTION_LEN, vmcs_read(VMCS_EXIT_INSTRUCTION_LEN));
}

/* An EPT violation or PML-full exit in the middle of an IRET that had
 * unblocked NMIs: resuming must block them again (SDM 27.2.3). */
static void nmi_unblocking_fixup(uint64_t qual)
{
	if ((qual & QUAL_NMI_UNBLOCKED) && !(vmcs_read(VMCS_IDT_VECTORING_INFO) & INTR_INFO_VALID))
		vmcs_write(VMCS_GUEST_INTERRUPTIBILITY,
			   vmcs_read(VMCS_GUEST_INTERRUPTIBILITY) | INTERRUPTIBILITY_NMI);
}

/* I/O instruction: exit qualification per SDM Table 27-5. */
static bool exit_io(struct vcpu *v, struct vm_exit *e, uint64_t q)
{
	uint8_t size = (q & 7) + 1; /* 0, 1, 3 -> 1, 2, 4 bytes */

	if (q & (1u << 4))
		return fail(e, "string I/O (INS/OUTS) at port 0x%lx is not emulated (rip 0x%lx)",
			    q >> 16, vmcs_read(VMCS_GUEST_RIP));
	e->kind = EXIT_IO;
	e->io.port = q >> 16;
	e->io.size = size;
	e->io.in = q & (1u << 3);
	e->io.value = size == 4 ? (uint32_t)v->gpr[R_RAX]
				: (uint32_t)v->gpr[R_RAX] & ((1u << (8 * size)) - 1);
	skip_instruction();
	return true;
}

static void exit_cpuid(struct vcpu *v)
{
	uint32_t out[4];

	cpuid_guest((uint32_t)v->gpr[R_RAX], (uint32_t)v->gpr[R_RCX], out);
	v->gpr[R_RAX] = out[0];
	v->gpr[R_RBX] = out[1];
	v->gpr[R_RCX] = out[2];
	v->gpr[R_RDX] = out[3];
	skip_instruction();
}

/* ---- MSRs in the guest-state area or in struct vmx_vcpu ---- */

static int msr_state_read(struct vcpu *v, uint32_t msr, uint64_t *val)
{
	struct vmx_vcpu *x = v->arch;

	switch (msr) {
	case MSR_TSC:
		*val = rdtsc() + vmcs_read(VMCS_TSC_OFFSET);
		return 0;
	case MSR_SYSENTER_CS:
		*val = vmcs_read(VMCS_GUEST_SYSENTER_CS);
		return 0;
	case MSR_SYSENTER_ESP:
		*val = vmcs_read(VMCS_GUEST_SYSENTER_ESP);
		return 0;
	case MSR_SYSENTER_EIP:
		*val = vmcs_read(VMCS_GUEST_SYSENTER_EIP);
		return 0;
	case MSR_PAT:
		*val = vmcs_read(VMCS_GUEST_IA32_PAT);
		return 0;
	case MSR_EFER:
		*val = vmcs_read(VMCS_GUEST_IA32_EFER);
		return 0;
	case MSR_FS_BASE:
		*val = vmcs_read(VMCS_GUEST_FS_BASE);
		return 0;
	case MSR_GS_BASE:
		*val = vmcs_read(VMCS_GUEST_GS_BASE);
		return 0;
	case MSR_STAR:
		*val = x->star;
		return 0;
	case MSR_LSTAR:
		*val = x->lstar;
		return 0;
	case MSR_CSTAR:
		*val = x->cstar;
		return 0;
	case MSR_SFMASK:
		*val = x->sfmask;
		return 0;
	case MSR_KERNEL_GS_BASE:
		*val = x->kernel_gs_base;
		return 0;
	}
	return -EINVAL;
}

/* Returns -EINVAL for a value the CPU would refuse with #GP. */
static int msr_state_write(struct vcpu *v, uint32_t msr, uint64_t val)
{
	struct vmx_vcpu *x = v->arch;

	switch (msr) {
	case MSR_TSC:
		vmcs_write(VMCS_TSC_OFFSET, val - rdtsc());
		return 0;
	case MSR_SYSENTER_CS:
		vmcs_write(VMCS_GUEST_SYSENTER_CS, (uint32_t)val);
		return 0;
	case MSR_SYSENTER_ESP:
	case MSR_SYSENTER_EIP:
		if (!vmx_canonical(val))
			return -EINVAL;
		vmcs_write(msr == MSR_SYSENTER_ESP ? VMCS_GUEST_SYSENTER_ESP
						   : VMCS_GUEST_SYSENTER_EIP,
			   val);
		return 0;
	case MSR_PAT:
		if (!vmx_pat_valid(val))
			return -EINVAL;
		vmcs_write(VMCS_GUEST_IA32_PAT, val);
		return 0;
	case MSR_EFER: {
		uint64_t old = vmcs_read(VMCS_GUEST_IA32_EFER);
		bool paging = vmcs_read(VMCS_CR0_READ_SHADOW) & CR0_PG;
		if (val & ~(EFER_GUEST_WRITABLE | EFER_LMA) || (paging && ((val ^ old) & EFER_LME)))
			return -EINVAL;
		/* LMA is the CPU's to set (on CR0.PG), never the guest's. */
		vmcs_write(VMCS_GUEST_IA32_EFER, (val & ~EFER_LMA) | (old & EFER_LMA));
		return 0;
	}
	case MSR_FS_BASE:
	case MSR_GS_BASE:
		if (!vmx_canonical(val))
			return -EINVAL;
		vmcs_write(msr == MSR_FS_BASE ? VMCS_GUEST_FS_BASE : VMCS_GUEST_GS_BASE, val);
		return 0;
	}
	/* The rest live in x and in the CPU while x is resident: take them
	 * out of the CPU first, so the next entry loads the new value. */
	if (msr == MSR_STAR) {
		vmx_evict_resident();
		x->star = val;
		return 0;
	}
	if (msr == MSR_SFMASK) {
		if (val >> 32)
			return -EINVAL;
		vmx_evict_resident();
		x->sfmask = val;
		return 0;
	}
	if (msr == MSR_LSTAR || msr == MSR_CSTAR || msr == MSR_KERNEL_GS_BASE) {
		if (!vmx_canonical(val))
			return -EINVAL;
		vmx_evict_resident();
		*(msr == MSR_LSTAR   ? &x->lstar
		  : msr == MSR_CSTAR ? &x->cstar
				     : &x->kernel_gs_base) = val;
		return 0;
	}
	return -EINVAL;
}

/* RDMSR/WRMSR: arch/x86/msr_guest.c decides; nothing reaches the host's MSRs. */
static void exit_msr(struct vcpu *v, bool write)
{
	uint32_t msr = (uint32_t)v->gpr[R_RCX];
	uint64_t val = write ? (v->gpr[R_RDX] << 32) | (uint32_t)v->gpr[R_RAX] : 0;
	uint64_t konst = 0;
	int rc = 0;

	switch (msr_guest_policy(msr, write, &konst)) {
	case MSR_DENY:
		rc = -1;
		break;
	case MSR_CONST:
		val = konst; /* a write is ignored */
		break;
	case MSR_STATE:
		rc = write ? msr_state_write(v, msr, val) : msr_state_read(v, msr, &val);
		break;
	}
	if (rc) {
		vmx_inject_exception(VEC_GP, true, 0); /* RIP stays on the faulting instruction */
		return;
	}
	if (!write) {
		v->gpr[R_RAX] = (uint32_t)val;
		v->gpr[R_RDX] = val >> 32;
	}
	skip_instruction();
}

/* MOV to CR0 of a bit in the CR0 mask: what the CPU checks first (SDM
 * Vol. 2, MOV to CR), then the write. */
static bool cr0_write(struct vcpu *v, uint64_t val)
{
	if ((val >> 32) || ((val & CR0_PG) && !(val & CR0_PE)) ||
	    ((val & CR0_NW) && !(val & CR0_CD)) ||
	    ((val & CR0_PG) && (vmcs_read(VMCS_GUEST_IA32_EFER) & EFER_LME) &&
	     !(vmcs_read(VMCS_GUEST_CR4) & CR4_PAE))) {
		vmx_inject_exception(VEC_GP, true, 0);
		return false;
	}
	vmx_write_cr0(v, val);
	return true;
}

/* Control-register accesses: exit qualification per SDM Table 27-3. With
 * unrestricted guest and EPT only the masked CR0/CR4 bits, CR8, and CR3
 * where the CPU cannot turn its exiting off, come here. */
static bool exit_cr(struct vcpu *v, struct vm_exit *e, uint64_t q)
{
	struct vmx_vcpu *x = v->arch;
	unsigned cr = q & 15, type = (q >> 4) & 3, reg = (q >> 8) & 15;
	uint64_t cr0 = vmx_guest_cr0();

	switch (type) {
	case 0: /* MOV to CR */
		if (cr == 0) {
			if (!cr0_write(v, v->gpr[reg]))
				return false;
		} else if (cr == 3) {
			vmcs_write(VMCS_GUEST_CR3, v->gpr[reg]);
			if ((cr0 & CR0_PG) && (vmcs_read(VMCS_GUEST_CR4) & CR4_PAE) &&
			    !(vmcs_read(VMCS_GUEST_IA32_EFER) & EFER_LMA))
				vmx_load_pdptes(v);
			/* The CPU would have flushed this context's TLB. */
			if (vmx_caps.vpid)
				vmx_invvpid(INVVPID_SINGLE_CONTEXT, x->vpid);
		} else if (cr == 4) {
			/* Only bits outside the guest's baseline exit (vmcs_cr4_mask). */
			vmx_inject_exception(VEC_GP, true, 0);
			return false;
		} else if (cr == 8) {
			x->cr8 = v->gpr[reg] & 15;
		} else {
			return unhandled(e, EXIT_REASON_CR_ACCESS, q);
		}
		break;
	case 1: /* MOV from CR */
		if (cr == 3)
			v->gpr[reg] = vmcs_read(VMCS_GUEST_CR3);
		else if (cr == 8)
			v->gpr[reg] = x->cr8;
		else
			return unhandled(e, EXIT_REASON_CR_ACCESS, q);
		break;
	case 2: /* CLTS */
		vmx_write_cr0(v, cr0 & ~CR0_TS);
		break;
	case 3: /* LMSW: sets PE MP EM TS, never clears PE */
		vmx_write_cr0(v, (cr0 & ~0xEull) | ((q >> 16) & 0xF));
		break;
	}
	skip_instruction();
	return false;
}

static bool exit_ept_violation(struct vcpu *v, struct vm_exit *e, uint64_t q)
{
	uint64_t gpa = vmcs_read(VMCS_GUEST_PHYSICAL_ADDRESS);

	if (ept_violation_fixed(v->vm->slat, gpa)) {
		nmi_unblocking_fixup(q);
		return false;
	}
	if (!ept_mapped(v->vm->slat, gpa)) {
		e->kind = EXIT_SLAT;
		e->gpa = gpa;
		e->write = q & (1u << 1);
		return true;
	}
	return fail(e, "EPT violation at guest-physical 0x%lx in RAM (qualification 0x%lx)", gpa,
		    q);
}

bool vmx_exit_handle(struct vcpu *v, struct vm_exit *e)
{
	struct vmx_vcpu *x = v->arch;
	uint32_t reason = vmcs_read(VMCS_EXIT_REASON), basic = reason & 0xFFFF;
	uint64_t q = vmcs_read(VMCS_EXIT_QUALIFICATION);

	e->reason = reason;
	if (reason & EXIT_REASON_ENTRY_FAILURE) { /* SDM 26.8: the guest never ran */
		e->kind = EXIT_ERROR;
		snprintf(e->desc, sizeof(e->desc), "VM entry failed: %s (qualification 0x%lx)",
			 reason_name(basic), q);
		return true;
	}
	requeue_interrupted_event();

	switch (basic) {
	case EXIT_REASON_EXTERNAL_INTERRUPT:
		/* Not acknowledged on exit: the interrupt is still pending at
		 * the LAPIC. Open a window so the host IDT takes it (the tick
		 * that drives Tern's loop), then give the kernel its turn. */
		__asm__ volatile("sti; nop; cli" ::: "memory");
		e->kind = EXIT_YIELD;
		return true;
	case EXIT_REASON_PREEMPTION_TIMER:
		e->kind = EXIT_YIELD;
		return true;
	case EXIT_REASON_EXCEPTION_NMI: {
		uint32_t info = vmcs_read(VMCS_EXIT_INTR_INFO);
		if (INTR_INFO_TYPE(info) != INTR_TYPE_NMI)
			return unhandled(e, basic, info);
		/* The host's NMI arrived in the guest: hand it to the host. */
		__asm__ volatile("int $2");
		e->kind = EXIT_YIELD;
		return true;
	}
	case EXIT_REASON_TRIPLE_FAULT:
		e->kind = EXIT_SHUTDOWN;
		snprintf(e->desc, sizeof(e->desc), "at rip 0x%lx", vmcs_read(VMCS_GUEST_RIP));
		return true;
	case EXIT_REASON_HLT:
		skip_instruction();
		x->halted = true;
		e->kind = EXIT_HLT;
		return true;
	case EXIT_REASON_IO:
		return exit_io(v, e, q);
	case EXIT_REASON_CPUID:
		exit_cpuid(v);
		return false;
	case EXIT_REASON_RDMSR:
	case EXIT_REASON_WRMSR:
		exit_msr(v, basic == EXIT_REASON_WRMSR);
		return false;
	case EXIT_REASON_CR_ACCESS:
		return exit_cr(v, e, q);
	case EXIT_REASON_EPT_VIOLATION:
		return exit_ept_violation(v, e, q);
	case EXIT_REASON_PML_FULL:
		vmx_pml_drain(v);
		nmi_unblocking_fixup(q);
		return false;
	case EXIT_REASON_INVD:
		skip_instruction(); /* guest RAM is write-back and coherent: nothing to drop */
		return false;
	case EXIT_REASON_MWAIT:
	case EXIT_REASON_MONITOR:
	case EXIT_REASON_GETSEC:
	case EXIT_REASON_VMCALL ... EXIT_REASON_VMXON:
	case EXIT_REASON_INVEPT:
	case EXIT_REASON_INVVPID:
		/* Instructions the guest's CPUID does not offer: #UD, as on a
		 * CPU without them. */
		vmx_inject_exception(VEC_UD, false, 0);
		return false;
	}
	return unhandled(e, basic, q);
}
