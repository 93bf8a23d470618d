/* #VMEXIT handling (APM vol. 2, 15.6-15.14, Appendix C): what the backend
 * answers itself (CPUID, MSRs, write-protect dirty faults, reflected
 * exceptions) and what goes up to the kernel as a struct vm_exit. Nothing
 * a guest does here can stop Tern: the worst is EXIT_ERROR for its VM. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include "arch/x86/asm.h"
#include "arch/x86/cpufeat.h"
#include "arch/x86/guest_policy.h"
#include "arch/x86/guest_tsc.h"
#include "arch/x86/guest_walk.h"
#include "arch/x86/mmio_emulate.h"
#include "arch/x86/svm/npt.h"
#include "arch/x86/svm/svm.h"
#include "kernel/vm.h"
#include "kernel/vm_irq.h"

#define VEC_DB 1
#define VEC_BP 3
#define VEC_OF 4
#define VEC_UD 6
#define VEC_GP 13
#define VEC_AC 17
#define DR6_BD (1ull << 13)
#define DR7_GD (1ull << 13)
#define CR4_TLB_BITS ((1ull << 4) | (1ull << 5) | (1ull << 7)) /* PSE PAE PGE */
#define CR0_TS (1ull << 3)
#define CR0_TLB_BITS ((1ull << 0) | (1ull << 16) | (1ull << 31)) /* PE WP PG */


/* Lengths of the intercepted instructions without prefixes, for CPUs
 * without NRIP save (QEMU TCG: EMULATOR-NOTES). A guest that puts a
 * prefix on one of these would resume mid-instruction there; none does. */
#define LEN_HLT 1
#define LEN_PAUSE 2 /* F3 90 */
#define LEN_CPUID 2
#define LEN_RDTSC 2 /* 0F 31 */
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

/* An event whose delivery the exit interrupted is delivered again at the
 * next VMRUN (APM 15.7.2); anything injected was consumed. Except the
 * events an instruction raises itself, INTn (type 4) and INT3/INTO
 * (exceptions 3 and 4): the saved RIP is that instruction's, and EVENTINJ
 * would push it as the return address, so the guest would run it twice
 * after IRET. Running it again from there raises the event once (KVM does
 * the same without NRIP save). */
static void requeue_interrupted_event(struct vmcb *vmcb)
{
	uint64_t info = vmcb->exitintinfo;
	uint8_t type = (info & EVENT_TYPE_MASK) >> EVENT_TYPE_SHIFT;
	uint8_t vector = info & EVENT_VECTOR_MASK;

	vmcb->eventinj = 0;
	if (!(info & EVENT_VALID))
		return;
	if (type == EVENT_TYPE_SOFT_INT ||
	    (type == EVENT_TYPE_EXCEPTION && (vector == VEC_BP || vector == VEC_OF)))
		return;
	vmcb->eventinj = info;
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

	cpuid_guest(&v->cpu, (uint32_t)v->gpr[R_RAX], (uint32_t)v->gpr[R_RCX], r);
	v->gpr[R_RAX] = r[0];
	v->gpr[R_RBX] = r[1];
	v->gpr[R_RCX] = r[2];
	v->gpr[R_RDX] = r[3];
	skip(vmcb, LEN_CPUID);
}

/* ---- RDTSC: intercepted only for a guest whose TSC rate is not the host's ---- */
static void exit_rdtsc(struct vcpu *v, struct vmcb *vmcb)
{
	/* CR4.TSD outside ring 0 is #GP; the CPU may check it after the
	 * intercept, so say it here too. */
	if ((vmcb->cr4 & GP_CR4_TSD) && vmcb->cpl) {
		fault(vmcb, VEC_GP, true);
		return;
	}
	uint64_t t = guest_tsc_at(&v->cpu.tsc, rdtsc());
	v->gpr[R_RAX] = (uint32_t)t;
	v->gpr[R_RDX] = t >> 32;
	skip(vmcb, LEN_RDTSC);
}

/* ---- MSRs (APM 15.11): arch/x86/msr_guest.c decides, the VMCB holds the state ---- */
/* WRMSR of EFER: arch/x86/guest_policy.c decides; SVME is Tern's. */
static bool efer_write(struct vcpu *v, struct vmcb *vmcb, uint64_t val)
{
	uint64_t next;

	if (guest_policy_efer_write(&v->cpu, vmcb_guest_efer(vmcb), val, vmcb->cr0, &next))
		return false;
	vmcb->efer = next | EFER_SVME;
	return true;
}

static bool msr_state_read(struct vcpu *v, struct vmcb *vmcb, uint32_t msr, uint64_t *val)
{
	switch (msr) {
	case MSR_TSC:
		*val = guest_tsc_at(&v->cpu.tsc, rdtsc());
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
static bool msr_state_write(struct vcpu *v, struct vmcb *vmcb, uint32_t msr, uint64_t val)
{
	if (msr == MSR_EFER)
		return efer_write(v, vmcb, val);
	if (guest_policy_msr_write_check(msr, val))
		return false;
	switch (msr) {
	case MSR_TSC:
		guest_tsc_set(&v->cpu.tsc, rdtsc(), val);
		vmcb->tsc_offset = v->cpu.tsc.offset;
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
		ok = write ? msr_state_write(v, vmcb, msr, val) : msr_state_read(v, vmcb, msr, &val);
		break;
	case MSR_CONST:
		ok = true; /* reads see *val; writes are dropped */
		break;
	case MSR_LAPIC:
		ok = vcpu_lapic_msr(v, msr, write, &val);
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

/* ---- MOV to CR4 (APM 15.9) ------------------------------------------------- */
static int gpa_read(void *vm, uint64_t gpa, void *buf, uint64_t len)
{
	return vm_gpa_read(vm, gpa, buf, len);
}

/* A write of a control register, decoded from guest memory: no
 * DecodeAssists on every CPU (QEMU TCG has none). The forms (SDM Vol. 2):
 * [prefixes] [REX] 0F 22 /r (MOV to CRn), 0F 06 (CLTS), 0F 01 /6 with a
 * register operand (LMSW; its memory form is not decoded). */
enum cr_op { CR_MOV, CR_CLTS, CR_LMSW };
struct cr_write {
	enum cr_op op;
	unsigned cr, gpr, len;
};

static int cr_write_decode(struct vcpu *v, const struct vmcb *vmcb, struct cr_write *w)
{
	const struct guest_paging pg = {vmcb->cr0, vmcb->cr3, vmcb->cr4, vmcb->efer};
	bool lm = long_mode_code(vmcb);
	uint64_t la = lm ? vmcb->rip : (vmcb->cs.base + vmcb->rip) & 0xFFFFFFFFull;
	uint8_t b[15];
	unsigned i = 0, rex = 0;

	for (;; i++) {
		if (i + 3 > sizeof(b) || guest_read_linear(&pg, la + i, &b[i], 1, gpa_read, v->vm))
			return -EFAULT;
		uint8_t c = b[i];
		if (c == 0x66 || c == 0x67 || c == 0xF0 || c == 0xF2 || c == 0xF3 || c == 0x26 ||
		    c == 0x2E || c == 0x36 || c == 0x3E || c == 0x64 || c == 0x65)
			rex = 0; /* a REX must come last */
		else if (lm && (c & 0xF0) == 0x40)
			rex = c;
		else
			break;
	}
	if (b[i] != 0x0F || guest_read_linear(&pg, la + i + 1, &b[i + 1], 1, gpa_read, v->vm))
		return -EINVAL;
	if (b[i + 1] == 0x06) {
		*w = (struct cr_write){CR_CLTS, 0, 0, i + 2};
		return 0;
	}
	if (guest_read_linear(&pg, la + i + 2, &b[i + 2], 1, gpa_read, v->vm))
		return -EFAULT;
	uint8_t modrm = b[i + 2];
	unsigned reg = (modrm >> 3) & 7, rm = (modrm & 7) | (rex & 1) << 3;
	if (b[i + 1] == 0x22) {
		*w = (struct cr_write){CR_MOV, reg | (rex & 4) << 1, rm, i + 3};
		return 0;
	}
	if (b[i + 1] == 0x01 && reg == 6 && (modrm >> 6) == 3) {
		*w = (struct cr_write){CR_LMSW, 0, rm, i + 3};
		return 0;
	}
	return -EINVAL;
}

/* MOV to CR8: the LAPIC's TPR (kernel/vm_irq.c); bits 63:4 are reserved
 * and #GP, as on VMX. Reads need no exit: V_TPR mirrors the LAPIC's TPR
 * at every VMRUN (svm.c), and with V_INTR_MASKING a MOV from CR8 reads
 * V_TPR (APM 15.21.1). */
static bool exit_cr8_write(struct vcpu *v, struct svm_vcpu *sv, struct vm_exit *e)
{
	struct vmcb *vmcb = sv->vmcb;
	struct cr_write w;

	if (cr_write_decode(v, vmcb, &w) || w.op != CR_MOV || w.cr != 8)
		return error(e, "CR8 write at rip 0x%lx could not be decoded", vmcb->rip);
	uint64_t val = v->gpr[w.gpr];
	if (val >> 4) {
		fault(vmcb, VEC_GP, true);
		return false;
	}
	vcpu_cr8_write(v, val);
	vmcb->vintr = (vmcb->vintr & ~V_TPR_MASK) | val;
	skip(vmcb, w.len);
	return false;
}

/* MOV to CR4: only the baseline's bits (guest_policy_cr4_write_check). */
static bool exit_cr4_write(struct vcpu *v, struct svm_vcpu *sv, struct vm_exit *e)
{
	struct vmcb *vmcb = sv->vmcb;
	struct cr_write w;

	if (cr_write_decode(v, vmcb, &w) || w.op != CR_MOV || w.cr != 4)
		return error(e, "CR4 write at rip 0x%lx could not be decoded", vmcb->rip);
	uint64_t val = long_mode_code(vmcb) ? v->gpr[w.gpr] : (uint32_t)v->gpr[w.gpr];
	if (guest_policy_cr4_write_check(&v->cpu, val, vmcb->efer)) {
		fault(vmcb, VEC_GP, true);
		return false;
	}
	/* A change of PGE, PAE or PSE flushes the TLB (SDM 4.10.4.1). */
	if ((val ^ vmcb->cr4) & CR4_TLB_BITS)
		sv->flush_pending = true;
	vmcb->cr4 = val;
	skip(vmcb, w.len);
	return false;
}

/* MOV to CR0, CLTS, LMSW: the checks of guest_policy_cr0_write_check
 * (QEMU would take NW without CD, and the next VMRUN would then fail),
 * then the write with the long-mode transition the CPU would make
 * (SDM Vol. 3A 10.8.5, APM 14.6). */
static bool exit_cr0_write(struct vcpu *v, struct svm_vcpu *sv, struct vm_exit *e)
{
	struct vmcb *vmcb = sv->vmcb;
	uint64_t old = vmcb->cr0, val;
	struct cr_write w;

	if (cr_write_decode(v, vmcb, &w) || (w.op == CR_MOV && w.cr != 0))
		return error(e, "CR0 write at rip 0x%lx could not be decoded", vmcb->rip);
	switch (w.op) {
	case CR_MOV:
		val = long_mode_code(vmcb) ? v->gpr[w.gpr] : (uint32_t)v->gpr[w.gpr];
		break;
	case CR_CLTS:
		val = old & ~CR0_TS;
		break;
	default: /* LMSW: PE MP EM TS from the operand; PE is never cleared */
		val = (old & ~0xEull) | (v->gpr[w.gpr] & 0xF);
		break;
	}
	bool pg_off = (old & CR0_PG) && !(val & CR0_PG);
	if (guest_policy_cr0_write_check(val, vmcb->efer, vmcb->cr4) ||
	    (pg_off && long_mode_code(vmcb))) {
		fault(vmcb, VEC_GP, true);
		return false;
	}
	if (!(old & CR0_PG) && (val & CR0_PG) && (vmcb->efer & EFER_LME))
		vmcb->efer |= EFER_LMA;
	else if (pg_off)
		vmcb->efer &= ~EFER_LMA;
	if ((val ^ old) & CR0_TLB_BITS)
		sv->flush_pending = true;
	vmcb->cr0 = val;
	skip(vmcb, w.len);
	return false;
}

/* ---- Guest MMIO (arch/x86/mmio_emulate.c) ------------------------------------ */
#define SEG_ATTR_DB (1u << 10) /* CS.D: 32-bit default operand size */

/* A #NPF at a GPA with no RAM: a device's registers when kernel/vm_mmio.c
 * decodes it. Only a data access made by the instruction at RIP can be
 * emulated: not a fetch (NPF_ID), not a walk of the guest's own page
 * tables (NPF_WALK), not an access made while delivering an event (then
 * RIP is not the instruction that made it; EXITINTINFO, APM 15.7.2). */
static int exit_mmio(struct vcpu *v, struct vmcb *vmcb, uint64_t gpa, uint64_t info)
{
	if ((info & (NPF_ID | NPF_WALK)) || (vmcb->exitintinfo & EVENT_VALID))
		return -ENOENT;
	const struct mmio_vcpu c = {
		.paging = {vmcb->cr0, vmcb->cr3, vmcb->cr4, vmcb->efer},
		.cs_base = vmcb->cs.base,
		.rip = vmcb->rip,
		.mode = long_mode_code(vmcb)	      ? MMIO_MODE64
			: vmcb->cs.attr & SEG_ATTR_DB ? MMIO_MODE32
						      : MMIO_MODE16,
		.gpr = v->gpr,
	};
	uint64_t next;
	int rc = mmio_emulate(v->vm, &c, gpa, &next);

	if (rc == 0)
		set_rip(vmcb, next);
	else if (rc == -EINVAL)
		fault(vmcb, VEC_UD, false);
	return rc;
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
		switch (exit_mmio(v, vmcb, gpa, info)) {
		case 0:
		case -EINVAL: /* #UD injected */
			return false;
		case -EFAULT:
			return error(
				e,
				"MMIO at GPA 0x%lx: the instruction at rip 0x%lx cannot be fetched",
				gpa, vmcb->rip);
		}
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
	requeue_interrupted_event(vmcb);

	switch (code) {
	case VMEXIT_INTR:
	case VMEXIT_NMI:
	case VMEXIT_SMI:
	case VMEXIT_INIT:
		/* The host's: taken in Tern once GIF is set; the slice ends. */
		host_irq_window();
		e->kind = EXIT_YIELD;
		return true;
	case VMEXIT_VINTR:
		/* The interrupt window svm.c asked for is open: the next
		 * VMRUN injects the real vector (APM 15.21.4). */
		vmcb->vintr &= ~(V_IRQ | V_IGN_TPR | V_INTR_PRIO_MASK | V_INTR_VECTOR_MASK);
		vmcb->intercept_misc1 &= ~INTERCEPT_VINTR;
		return false;
	case VMEXIT_IOIO:
		return exit_io(v, vmcb, e);
	case VMEXIT_HLT:
		/* skip() ends the STI shadow the HLT sat in (`sti; hlt`):
		 * the interrupt that wakes it is taken after the HLT, as
		 * on hardware (APM 15.21.5). */
		e->intr_enabled = vmcb->rflags & RFLAGS_IF;
		skip(vmcb, LEN_HLT);
		sv->halted = true;
		e->kind = EXIT_HLT;
		return true;
	case VMEXIT_PAUSE:
		/* Intercepted before it executes, and without NRIP save the
		 * length is the encoding's. */
		skip(vmcb, LEN_PAUSE);
		e->kind = EXIT_SPIN;
		return true;
	case VMEXIT_CPUID:
		exit_cpuid(v, vmcb);
		return false;
	case VMEXIT_MSR:
		exit_msr(v, vmcb);
		return false;
	case VMEXIT_NPF:
		return exit_npf(v, sv, e);
	case VMEXIT_CR0_WRITE:
		return exit_cr0_write(v, sv, e);
	case VMEXIT_CR4_WRITE:
		return exit_cr4_write(v, sv, e);
	case VMEXIT_CR8_WRITE:
		return exit_cr8_write(v, sv, e);
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
		/* Ends the slice: a #DB trap outranks host interrupts (APM
		 * 8.5), so a guest whose every delivery raises the next #DB
		 * would otherwise keep Tern in svm_vcpu_run for ever. */
		e->kind = EXIT_YIELD;
		return true;
	case VMEXIT_RDTSC:
		exit_rdtsc(v, vmcb);
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
