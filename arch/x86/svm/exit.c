/* #VMEXIT handling (APM vol. 2, 15.6-15.14, Appendix C): what the backend
 * answers itself (CPUID, MSRs, write-protect dirty faults, reflected
 * exceptions) and what goes up to the kernel as a struct vm_exit. Nothing
 * a guest does here can stop Tern: the worst is EXIT_ERROR for its VM. */
#include <stdarg.h>
#include <stdio.h>
#include "arch/x86/asm.h"
#include "arch/x86/cpufeat.h"
#include "arch/x86/guest_policy.h"
#include "arch/x86/svm/npt.h"
#include "arch/x86/svm/svm.h"
#include "kernel/vm.h"

#define VEC_DB 1
#define VEC_UD 6
#define VEC_GP 13
#define VEC_AC 17
#define DR6_BD (1ull << 13)
#define DR7_GD (1ull << 13)


/* Lengths of the intercepted instructions without prefixes, for CPUs
 * without NRIP save (QEMU TCG: EMULATOR-NOTES). A guest that puts a
 * prefix on one of these would resume mid-instruction there; none does. */
#define LEN_HLT 1
#define LEN_CPUID 2
#define LEN_MSR 2  /* RDMSR, WRMSR */
#define LEN_INVD 2 /* INVD, WBINVD */


static bool long_mode_code(const struct vmcb *vmcb)
{
	return (vmcb->efer & EFER_LMA) && (vmcb->cs.attr & SEG_ATTR_L);
}

static void set_rip(struct vmcb *vmcb, uint64_t rip)
{
	vmcb->rip = long_mode_code(vmcb) ? rip : (uint32_t)rip;
	/* The instruction completed: an STI/MOV SS shadow ends with it. */
	vmcb->interrupt_shadow &= ~INTERRUPT_SHADOW_MASK;
}

/* Steps over the intercepted instruction: NRIP where the CPU saves it
 * (APM 15.7.1), else its known length. */
static void skip(struct vmcb *vmcb, unsigned len)
{
	set_rip(vmcb, cpu_features.nrip_save ? vmcb->nrip : vmcb->rip + len);
}

static void fault(struct vmcb *vmcb, uint8_t vector, bool has_error)
{
	vmcb_inject(vmcb, EVENT_TYPE_EXCEPTION, vector, has_error, 0);
}

/* Lets the host interrupt that ended the slice be taken: GIF is set
 * again, so a short IF=1 window delivers it (APM 15.17). */
static void host_irq_window(void)
{
	uint64_t flags;

	__asm__ volatile("pushfq; popq %0" : "=r"(flags));
	if (!(flags & RFLAGS_IF))
		__asm__ volatile("sti; nop; cli" ::: "memory");
}

static bool error(struct vm_exit *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool error(struct vm_exit *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->desc, sizeof(e->desc), fmt, ap);
	va_end(ap);
	e->kind = EXIT_ERROR;
	return true;
}

/* A #DB or #AC intercepted so that its delivery cannot loop inside the
 * CPU: deliver it now. APM 15.12: for an intercepted #DB the CPU has
 * already updated DR6 (the VMCB holds it) but not yet cleared DR7.GD,
 * which delivery of a general-detect #DB does (APM 13.1.1.6). #AC
 * always pushes an error code of 0. */
static void reflect_exception(struct vmcb *vmcb, uint8_t vector)
{
	if (vector == VEC_DB && (vmcb->dr6 & DR6_BD) && (vmcb->dr7 & DR7_GD))
		vmcb->dr7 &= ~DR7_GD;
	vmcb_inject(vmcb, EVENT_TYPE_EXCEPTION, vector, vector == VEC_AC, 0);
}

/* ---- I/O (APM 15.10.2) ------------------------------------------------------ */
static bool exit_io(struct vcpu *v, struct vmcb *vmcb, struct vm_exit *e)
{
	uint64_t info = vmcb->exitinfo1;

	if (info & IOIO_STR)
		return error(e, "string I/O (INS/OUTS) at port 0x%lx is not emulated",
			     info >> IOIO_PORT_SHIFT);
	e->kind = EXIT_IO;
	e->io.port = info >> IOIO_PORT_SHIFT;
	e->io.size = info & IOIO_SZ8 ? 1 : info & IOIO_SZ16 ? 2 : 4;
	e->io.in = info & IOIO_TYPE_IN;
	if (!e->io.in)
		e->io.value = e->io.size == 4 ? (uint32_t)v->gpr[R_RAX]
					      : v->gpr[R_RAX] & ((1u << (8 * e->io.size)) - 1);
	/* EXITINFO2 holds the next RIP for IOIO on every SVM CPU, with or
	 * without NRIP save. */
	set_rip(vmcb, vmcb->exitinfo2);
	return true;
}

/* ---- CPUID ------------------------------------------------------------------ */
static void exit_cpuid(struct vcpu *v, struct vmcb *vmcb)
{
	uint32_t r[4];

	cpuid_guest((uint32_t)v->gpr[R_RAX], (uint32_t)v->gpr[R_RCX], r);
	v->gpr[R_RAX] = r[0];
	v->gpr[R_RBX] = r[1];
	v->gpr[R_RCX] = r[2];
	v->gpr[R_RDX] = r[3];
	skip(vmcb, LEN_CPUID);
}

/* ---- MSRs (APM 15.11): arch/x86/msr_guest.c decides, the VMCB holds the state ---- */
/* WRMSR of EFER: arch/x86/guest_policy.c decides; SVME is Tern's. */
static bool efer_write(struct vmcb *vmcb, uint64_t val)
{
	uint64_t next;

	if (guest_policy_efer_write(vmcb_guest_efer(vmcb), val, vmcb->cr0, &next))
		return false;
	vmcb->efer = next | EFER_SVME;
	return true;
}

static bool msr_state_read(struct vmcb *vmcb, uint32_t msr, uint64_t *val)
{
	switch (msr) {
	case MSR_TSC:
		*val = rdtsc() + vmcb->tsc_offset;
		return true;
	case MSR_EFER:
		*val = vmcb_guest_efer(vmcb);
		return true;
	case MSR_STAR:
		*val = vmcb->star;
		return true;
	case MSR_LSTAR:
		*val = vmcb->lstar;
		return true;
	case MSR_CSTAR:
		*val = vmcb->cstar;
		return true;
	case MSR_SFMASK:
		*val = vmcb->sfmask;
		return true;
	case MSR_FS_BASE:
		*val = vmcb->fs.base;
		return true;
	case MSR_GS_BASE:
		*val = vmcb->gs.base;
		return true;
	case MSR_KERNEL_GS_BASE:
		*val = vmcb->kernel_gs_base;
		return true;
	case MSR_SYSENTER_CS:
		*val = vmcb->sysenter_cs;
		return true;
	case MSR_SYSENTER_ESP:
		*val = vmcb->sysenter_esp;
		return true;
	case MSR_SYSENTER_EIP:
		*val = vmcb->sysenter_eip;
		return true;
	case MSR_PAT:
		*val = vmcb->g_pat;
		return true;
	}
	return false; /* a state MSR this backend does not know: refuse */
}

/* The value was checked by guest_policy_msr_write_check (a #GP if not). */
static bool msr_state_write(struct vmcb *vmcb, uint32_t msr, uint64_t val)
{
	if (msr == MSR_EFER)
		return efer_write(vmcb, val);
	if (guest_policy_msr_write_check(msr, val))
		return false;
	switch (msr) {
	case MSR_TSC:
		vmcb->tsc_offset = val - rdtsc();
		return true;
	case MSR_STAR:
		vmcb->star = val;
		return true;
	case MSR_SFMASK:
		vmcb->sfmask = val;
		return true;
	case MSR_SYSENTER_CS:
		vmcb->sysenter_cs = val;
		return true;
	case MSR_SYSENTER_ESP:
		vmcb->sysenter_esp = val;
		return true;
	case MSR_SYSENTER_EIP:
		vmcb->sysenter_eip = val;
		return true;
	case MSR_PAT:
		vmcb->g_pat = val;
		return true;
	case MSR_LSTAR:
		vmcb->lstar = val;
		return true;
	case MSR_CSTAR:
		vmcb->cstar = val;
		return true;
	case MSR_FS_BASE:
		vmcb->fs.base = val;
		return true;
	case MSR_GS_BASE:
		vmcb->gs.base = val;
		return true;
	case MSR_KERNEL_GS_BASE:
		vmcb->kernel_gs_base = val;
		return true;
	}
	return false;
}

static void exit_msr(struct vcpu *v, struct vmcb *vmcb)
{
	uint32_t msr = (uint32_t)v->gpr[R_RCX];
	bool write = vmcb->exitinfo1 & 1;
	uint64_t val = write ? (v->gpr[R_RDX] << 32) | (uint32_t)v->gpr[R_RAX] : 0;
	bool ok = false;

	switch (msr_guest_policy(msr, write, &val)) {
	case MSR_STATE:
		ok = write ? msr_state_write(vmcb, msr, val) : msr_state_read(vmcb, msr, &val);
		break;
	case MSR_CONST:
		ok = true; /* reads see *val; writes are dropped */
		break;
	case MSR_DENY:
		break;
	}
	if (!ok) {
		fault(vmcb, VEC_GP, true); /* arch/x86/msr_guest.c logged it */
		return;
	}
	if (!write) {
		v->gpr[R_RAX] = (uint32_t)val;
		v->gpr[R_RDX] = val >> 32;
	}
	skip(vmcb, LEN_MSR);
}

/* ---- Nested page faults (APM 15.25.6) ---------------------------------- */
static bool exit_npf(struct vcpu *v, struct svm_vcpu *sv, struct vm_exit *e)
{
	struct vmcb *vmcb = sv->vmcb;
	uint64_t gpa = vmcb->exitinfo2, info = vmcb->exitinfo1;

	switch (npt_fault(v->vm->slat, gpa, info)) {
	case NPT_FAULT_LOGGED:
		sv->stale_npf_count = 0;
		return false;
	case NPT_FAULT_STALE:
		if (gpa != sv->stale_npf_gpa)
			sv->stale_npf_count = 0;
		sv->stale_npf_gpa = gpa;
		if (++sv->stale_npf_count <= GUEST_STALE_FAULT_MAX)
			return false;
		return error(e, "nested page fault repeats at GPA 0x%lx (error 0x%lx)", gpa, info);
	case NPT_FAULT_NOT_MAPPED:
		e->kind = EXIT_SLAT;
		e->gpa = gpa;
		e->write = info & NPF_RW;
		const char *what = e->write ? "write" : "read";
		if (info & NPF_ID)
			what = "fetch";
		snprintf(e->desc, sizeof(e->desc), "%s GPA 0x%lx at rip 0x%lx", what, gpa,
			 vmcb->rip);
		return true;
	case NPT_FAULT_DENIED:
		break;
	}
	return error(e, "nested page fault at GPA 0x%lx (error 0x%lx) in guest RAM", gpa, info);
}

bool svm_exit_handle(struct vcpu *v, struct vm_exit *e)
{
	struct svm_vcpu *sv = v->arch;
	struct vmcb *vmcb = sv->vmcb;
	uint64_t code = vmcb->exitcode;

	e->reason = (uint32_t)code;
	/* An event whose delivery the exit interrupted is delivered again at
	 * the next VMRUN (APM 15.7.2); anything injected was consumed. */
	vmcb->eventinj = vmcb->exitintinfo & EVENT_VALID ? vmcb->exitintinfo : 0;

	switch (code) {
	case VMEXIT_INTR:
	case VMEXIT_NMI:
	case VMEXIT_SMI:
	case VMEXIT_INIT:
		/* The host's: taken in Tern once GIF is set; the slice ends. */
		host_irq_window();
		e->kind = EXIT_YIELD;
		return true;
	case VMEXIT_IOIO:
		return exit_io(v, vmcb, e);
	case VMEXIT_HLT:
		skip(vmcb, LEN_HLT);
		sv->halted = true;
		e->kind = EXIT_HLT;
		return true;
	case VMEXIT_CPUID:
		exit_cpuid(v, vmcb);
		return false;
	case VMEXIT_MSR:
		exit_msr(v, vmcb);
		return false;
	case VMEXIT_NPF:
		return exit_npf(v, sv, e);
	case VMEXIT_SHUTDOWN:
		/* APM 15.14.3: the VMCB state after SHUTDOWN is undefined; the
		 * RIP is a hint at best. */
		snprintf(e->desc, sizeof(e->desc), "shutdown near rip 0x%lx", vmcb->rip);
		e->kind = EXIT_SHUTDOWN;
		return true;
	case VMEXIT_EXCP_BASE + VEC_DB:
	case VMEXIT_EXCP_BASE + VEC_AC:
		/* Reflected to the guest; only the exit itself was wanted (see
		 * vmcb.c). An exception raised while delivering another event
		 * delivers that event again instead, as set above. */
		if (!(vmcb->eventinj & EVENT_VALID))
			reflect_exception(vmcb, code - VMEXIT_EXCP_BASE);
		return false;
	case VMEXIT_RDTSCP:
		fault(vmcb, VEC_UD, false); /* RDTSCP is not in the guest's CPUID */
		return false;
	case VMEXIT_VMRUN:
	case VMEXIT_VMMCALL:
	case VMEXIT_VMLOAD:
	case VMEXIT_VMSAVE:
	case VMEXIT_STGI:
	case VMEXIT_CLGI:
	case VMEXIT_SKINIT:
	case VMEXIT_INVLPGA:
	case VMEXIT_MONITOR:
	case VMEXIT_MWAIT:
	case VMEXIT_XSETBV:
		/* Not in the guest's CPUID (SVM, MONITOR, XSAVE are hidden):
		 * what the CPU would do without them. */
		fault(vmcb, VEC_UD, false);
		return false;
	case VMEXIT_RDPMC:
		/* No performance counters in the baseline: #GP(0) at every CPL
		 * whatever CR4.PCE says (docs/guest-cpu.md), as on VMX. */
		fault(vmcb, VEC_GP, true);
		return false;
	case VMEXIT_INVD:
	case VMEXIT_WBINVD:
		/* Guest RAM is ordinary write-back memory: nothing to do, and
		 * INVD must not drop Tern's dirty cache lines. */
		skip(vmcb, LEN_INVD);
		return false;
	case VMEXIT_INVALID:
		return error(e, "VMRUN refused the guest state (VMEXIT_INVALID)");
	}
	return error(e, "unexpected #VMEXIT 0x%lx, info 0x%lx 0x%lx, rip 0x%lx", code,
		     vmcb->exitinfo1, vmcb->exitinfo2, vmcb->rip);
}
