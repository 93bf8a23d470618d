/* VM-exit decoding (SDM Vol. 3C chapter 27, "VM Exits"; reasons in
 * Appendix C). What the backend can finish itself (CPUID, MSRs, CR
 * accesses, write-protect and PML dirty logging) it finishes here and the
 * guest goes on; the rest becomes a struct vm_exit for kernel/vm.c. */
#include <errno.h>
#include <stdio.h>
#include "arch/x86/asm.h"
#include "arch/x86/guest_policy.h"
#include "arch/x86/guest_tsc.h"
#include "arch/x86/mmio_emulate.h"
#include "arch/x86/vmx/ept.h"
#include "arch/x86/vmx/vmcs.h"
#include "arch/x86/vmx/vmx.h"
#include "kernel/vm.h"
#include "kernel/vm_irq.h"

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
		[57] = "RDRAND",
		[61] = "RDSEED",
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

/* A #DB or #AC the exception bitmap turned into an exit: deliver it to the
 * guest as the CPU would have. An exit that interrupted the delivery of
 * another event re-queued that event already (requeue_interrupted_event);
 * it is delivered again, and raises this one again if it must. */
static void reflect_exception(uint8_t vector, uint64_t qual)
{
	if (vmcs_read(VMCS_ENTRY_INTR_INFO) & INTR_INFO_VALID)
		return;
	if (vector == VEC_AC) {
		vmx_inject_exception(VEC_AC, true, 0); /* #AC's error code is always 0 */
		return;
	}
	/* SDM 27.1: a #DB exit leaves DR6 and DR7 as they were and puts the
	 * DR6 bits in the exit qualification. The delivery the CPU skipped
	 * would have set them (B0-B3 replaced, BD and BS set, 17.2.3) and
	 * cleared DR7.GD for a BD exception (17.2.4). The vCPU is resident:
	 * its DR6 is the CPU's. */
	uint64_t dr6;
	__asm__ volatile("mov %%db6, %0" : "=r"(dr6));
	dr6 = (dr6 & ~0xFull) | (qual & (0xFull | DR6_BD | (1ull << 14)));
	__asm__ volatile("mov %0, %%db6" ::"r"(dr6));
	if (qual & DR6_BD)
		vmcs_write(VMCS_GUEST_DR7, vmcs_read(VMCS_GUEST_DR7) & ~DR7_GD);
	vmx_inject_exception(VEC_DB, false, 0);
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

	cpuid_guest(&v->cpu, (uint32_t)v->gpr[R_RAX], (uint32_t)v->gpr[R_RCX], out);
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
		*val = guest_tsc_at(&v->cpu.tsc, rdtsc());
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
		/* SWAPGS changes it in the CPU without an exit. */
		*val = vmx_resident == x ? rdmsr(MSR_KERNEL_GS_BASE) : x->kernel_gs_base;
		return 0;
	}
	return -EINVAL;
}

/* Returns -EINVAL for a value the CPU would refuse with #GP
 * (arch/x86/guest_policy.c decides which). */
static int msr_state_write(struct vcpu *v, uint32_t msr, uint64_t val)
{
	struct vmx_vcpu *x = v->arch;

	if (msr == MSR_EFER) {
		uint64_t next;
		/* The guest's real CR0: PG changes without an exit under
		 * unrestricted guest, so the read shadow may be stale. */
		if (guest_policy_efer_write(&v->cpu, vmcs_read(VMCS_GUEST_IA32_EFER), val, vmx_guest_cr0(),
					    &next))
			return -EINVAL;
		vmcs_write(VMCS_GUEST_IA32_EFER, next);
		return 0;
	}
	if (guest_policy_msr_write_check(msr, val))
		return -EINVAL;
	switch (msr) {
	case MSR_TSC:
		guest_tsc_set(&v->cpu.tsc, rdtsc(), val);
		vmcs_write(VMCS_TSC_OFFSET, v->cpu.tsc.offset);
		return 0;
	case MSR_SYSENTER_CS:
		vmcs_write(VMCS_GUEST_SYSENTER_CS, val);
		return 0;
	case MSR_SYSENTER_ESP:
		vmcs_write(VMCS_GUEST_SYSENTER_ESP, val);
		return 0;
	case MSR_SYSENTER_EIP:
		vmcs_write(VMCS_GUEST_SYSENTER_EIP, val);
		return 0;
	case MSR_PAT:
		vmcs_write(VMCS_GUEST_IA32_PAT, val);
		return 0;
	case MSR_FS_BASE:
		vmcs_write(VMCS_GUEST_FS_BASE, val);
		return 0;
	case MSR_GS_BASE:
		vmcs_write(VMCS_GUEST_GS_BASE, val);
		return 0;
	}
	/* The rest live in x and in the CPU while x is resident: take them
	 * out of the CPU first (SWAPGS may have changed KERNEL_GS_BASE
	 * there), so the next entry loads the new value. */
	uint64_t *slot = msr == MSR_STAR      ? &x->star
			 : msr == MSR_LSTAR   ? &x->lstar
			 : msr == MSR_CSTAR   ? &x->cstar
			 : msr == MSR_SFMASK  ? &x->sfmask
			 : msr == MSR_KERNEL_GS_BASE ? &x->kernel_gs_base
						     : NULL;
	if (!slot)
		return -EINVAL;
	if (vmx_resident == x)
		vmx_evict_resident();
	*slot = val;
	return 0;
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
	case MSR_LAPIC:
		rc = vcpu_lapic_msr(v, msr, write, &val) ? 0 : -1;
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
	if (guest_policy_cr0_write_check(val, vmcs_read(VMCS_GUEST_IA32_EFER),
					 vmcs_read(VMCS_GUEST_CR4))) {
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
			/* Only a change of a bit outside the guest's baseline
			 * exits (vmcs_cr4_mask), and that is refused
			 * (guest_policy_cr4_allowed). */
			vmx_inject_exception(VEC_GP, true, 0);
			return false;
		} else if (cr == 8) {
			if (v->gpr[reg] >> 4) { /* bits 63:4 are reserved (SDM 10.8.6.1) */
				vmx_inject_exception(VEC_GP, true, 0);
				return false;
			}
			vcpu_cr8_write(v, v->gpr[reg]); /* the LAPIC's TPR */
		} else {
			return unhandled(e, EXIT_REASON_CR_ACCESS, q);
		}
		break;
	case 1: /* MOV from CR */
		if (cr == 3)
			v->gpr[reg] = vmcs_read(VMCS_GUEST_CR3);
		else if (cr == 8)
			v->gpr[reg] = vcpu_cr8_read(v);
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

/* ---- Guest MMIO (arch/x86/mmio_emulate.c) ---- */
#define AR_DB (1u << 14)	       /* CS.D: 32-bit default operand size */
#define QUAL_FETCH (1ull << 2)	       /* Table 27-7: an instruction fetch */
#define QUAL_LA_VALID (1ull << 7)      /* the guest-linear address is valid ... */
#define QUAL_LA_TRANSLATED (1ull << 8) /* ... and was being translated, not walked */

/* An EPT violation at a GPA with no RAM: a device's registers when
 * kernel/vm_mmio.c decodes it. Only a data access made by the instruction
 * at RIP can be emulated: not a fetch, not an access to the guest's own
 * paging structures (bit 7 set, bit 8 clear), not one made while
 * delivering an event (SDM 27.2.4: then RIP is not the instruction that
 * made it). */
static int exit_mmio(struct vcpu *v, uint64_t gpa, uint64_t q)
{
	if ((q & QUAL_FETCH) || ((q & QUAL_LA_VALID) && !(q & QUAL_LA_TRANSLATED)) ||
	    (vmcs_read(VMCS_IDT_VECTORING_INFO) & INTR_INFO_VALID))
		return -ENOENT;
	uint32_t ar = vmcs_read(VMCS_GUEST_ES_AR + 2 * VMCS_SEG_CS);
	bool lm = (vmcs_read(VMCS_ENTRY_CONTROLS) & ENTRY_IA32E_MODE_GUEST) && (ar & AR_L);
	const struct mmio_vcpu c = {
		.paging = {vmx_guest_cr0(), vmcs_read(VMCS_GUEST_CR3), vmcs_read(VMCS_GUEST_CR4),
			   vmcs_read(VMCS_GUEST_IA32_EFER)},
		.cs_base = vmcs_read(VMCS_GUEST_ES_BASE + 2 * VMCS_SEG_CS),
		.rip = vmcs_read(VMCS_GUEST_RIP),
		.mode = lm	     ? MMIO_MODE64
			: ar & AR_DB ? MMIO_MODE32
				     : MMIO_MODE16,
		.gpr = v->gpr,
	};
	uint64_t next;
	int rc = mmio_emulate(v->vm, &c, gpa, &next);

	if (rc == -EINVAL) {
		vmx_inject_exception(VEC_UD, false, 0);
	} else if (rc == 0) {
		/* Retired: the next instruction, and no STI/MOV-SS shadow. */
		uint32_t intr = vmcs_read(VMCS_GUEST_INTERRUPTIBILITY);
		vmcs_write(VMCS_GUEST_RIP, next);
		if (intr & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS))
			vmcs_write(VMCS_GUEST_INTERRUPTIBILITY,
				   intr & ~(INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS));
	}
	return rc;
}

static bool exit_ept_violation(struct vcpu *v, struct vm_exit *e, uint64_t q)
{
	struct vmx_vcpu *x = v->arch;
	uint64_t gpa = vmcs_read(VMCS_GUEST_PHYSICAL_ADDRESS);

	if (ept_violation_fixed(v->vm->slat, gpa)) {
		/* The same cap as SVM's (guest_policy.h): a fix that does not
		 * stick, back to back at one GPA with no other exit between,
		 * is a broken table, not a stale translation. */
		if (gpa != x->fixed_gpa)
			x->fixed_count = 0;
		x->fixed_gpa = gpa;
		if (++x->fixed_count > GUEST_STALE_FAULT_MAX)
			return fail(e, "EPT violation repeats at guest-physical 0x%lx (qualification 0x%lx)",
				    gpa, q);
		nmi_unblocking_fixup(q);
		return false;
	}
	if (!ept_mapped(v->vm->slat, gpa)) {
		switch (exit_mmio(v, gpa, q)) {
		case 0:
		case -EINVAL: /* #UD injected */
			return false;
		case -EFAULT:
			return fail(e,
				    "MMIO at guest-physical 0x%lx: the instruction at rip 0x%lx "
				    "cannot be fetched",
				    gpa, vmcs_read(VMCS_GUEST_RIP));
		}
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
	if (basic != EXIT_REASON_EPT_VIOLATION)
		x->fixed_count = 0;

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
		if (INTR_INFO_TYPE(info) == INTR_TYPE_HW_EXCEPTION &&
		    (INTR_INFO_VECTOR(info) == VEC_DB || INTR_INFO_VECTOR(info) == VEC_AC)) {
			reflect_exception(INTR_INFO_VECTOR(info), q);
			/* Ends the slice: a #DB trap outranks the preemption
			 * timer and host interrupts (SDM 6.9), so a guest whose
			 * every delivery raises the next #DB would otherwise
			 * keep Tern in this loop for ever. */
			e->kind = EXIT_YIELD;
			return true;
		}
		if (INTR_INFO_TYPE(info) != INTR_TYPE_NMI)
			return unhandled(e, basic, info);
		/* The host's NMI arrived in the guest: hand it to the host. */
		__asm__ volatile("int $2");
		e->kind = EXIT_YIELD;
		return true;
	}
	case EXIT_REASON_RDTSC: {
		/* Only a guest whose TSC rate is not the host's (guest_tsc.h);
		 * CR4.TSD's #GP comes before this exit (SDM 25.1.1). */
		uint64_t t = guest_tsc_at(&v->cpu.tsc, rdtsc());
		v->gpr[R_RAX] = (uint32_t)t;
		v->gpr[R_RDX] = t >> 32;
		skip_instruction();
		return false;
	}
	case EXIT_REASON_RDPMC:
		/* The baseline offers no performance counters: #GP(0) at every
		 * CPL whatever CR4.PCE says (docs/guest-cpu.md), as on SVM. */
		vmx_inject_exception(VEC_GP, true, 0);
		return false;
	case EXIT_REASON_TRIPLE_FAULT:
		e->kind = EXIT_SHUTDOWN;
		snprintf(e->desc, sizeof(e->desc), "at rip 0x%lx", vmcs_read(VMCS_GUEST_RIP));
		return true;
	case EXIT_REASON_INTR_WINDOW:
		/* The window vmx.c asked for is open (SDM 26.7.5): the next
		 * entry injects the vector. */
		vmcs_write(VMCS_PROC_CONTROLS,
			   vmcs_read(VMCS_PROC_CONTROLS) & ~PROC_INTR_WINDOW_EXITING);
		return false;
	case EXIT_REASON_HLT:
		/* skip_instruction() ends the STI blocking the HLT sat in
		 * (`sti; hlt`, SDM 26.3.1.5): the interrupt that wakes it is
		 * taken after the HLT. */
		e->intr_enabled = vmcs_read(VMCS_GUEST_RFLAGS) & RFLAGS_IF;
		skip_instruction();
		x->halted = true;
		e->kind = EXIT_HLT;
		return true;
	case EXIT_REASON_PAUSE:
		skip_instruction();
		e->kind = EXIT_SPIN;
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
	case EXIT_REASON_XSETBV:
	case EXIT_REASON_RDRAND:
	case EXIT_REASON_RDSEED:
		/* Instructions the guest's CPUID does not offer (VMX, MONITOR,
		 * XSAVE, RDRAND, RDSEED): #UD, as on a CPU without them. */
		vmx_inject_exception(VEC_UD, false, 0);
		return false;
	}
	return unhandled(e, basic, q);
}
