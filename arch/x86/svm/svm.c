/* The SVM backend (AMD-V with nested paging): turning SVM on, ASIDs, vCPU
 * create/destroy/run and the hv_ops table. The VMCB lives in vmcb.c, the
 * nested page tables in npt.c, #VMEXIT handling in exit.c, the world
 * switch in vmrun.S. */
#include <errno.h>
#include <string.h>
#include "arch/x86/asm.h"
#include "arch/x86/cpufeat.h"
#include "arch/x86/guest_intr.h"
#include "arch/x86/guest_policy.h"
#include "arch/x86/guest_tsc.h"
#include "arch/x86/vcpu_state_check.h"
#include "arch/x86/svm/npt.h"
#include "arch/x86/svm/svm.h"
#include "kernel/kernel.h"
#include "kernel/log.h"
#include "kernel/mm/frame.h"
#include "kernel/vm.h"
#include "kernel/vm_irq.h"

#define IOPM_PAGES 3  /* 12 KiB: ports 0-0xFFFF plus accesses that wrap (APM 15.10.1) */
#define MSRPM_PAGES 2 /* 8 KiB (APM 15.11) */
#define ASID_MAX 64   /* Tern runs at most VM_MAX guests; one ASID each */
#define FX_MXCSR 24
#define FX_MXCSR_MASK 28

_Static_assert(sizeof(struct svm_vcpu) <= FRAME_SIZE, "svm_vcpu fits a frame");
_Static_assert(VM_MAX < ASID_MAX, "an ASID per VM");

/* What this (the one) physical CPU needs for SVM. */
static struct {
	bool on;
	uint64_t hsave_pa;     /* VM_HSAVE_PA: where VMRUN keeps host state (APM 15.30.4) */
	uint64_t host_save_pa; /* the host's VMSAVE/VMLOAD area */
	uint64_t iopm_pa, msrpm_pa;
	uint32_t asids;		   /* usable: 1 .. asids-1 (ASID 0 is the host's) */
	uint64_t asid_used;	   /* bitmap */
	uint32_t mxcsr_mask;	   /* what FXRSTOR accepts in MXCSR */
	struct svm_vcpu *dr_owner; /* whose DR0-3 the hardware holds */
	uint8_t host_fx[FXSAVE_BYTES] __attribute__((aligned(16)));
} cpu;

static uint64_t zeroed_frames(size_t n)
{
	uint64_t pa = frame_alloc(n, 1);

	if (pa)
		memset(phys_ptr(pa), 0, n * FRAME_SIZE);
	return pa;
}

static int svm_init(void)
{
	const struct cpu_features *f = &cpu_features;

	if (cpu.on)
		return 0;
	if (!f->svm)
		return -ENODEV;
	if (f->svm_disabled || !f->npt)
		return -EOPNOTSUPP;
	if (f->asids < 2) {
		log_err("svm", "the CPU reports %u ASIDs: none for guests", f->asids);
		return -EOPNOTSUPP;
	}
	cpu.hsave_pa = zeroed_frames(1);
	cpu.host_save_pa = zeroed_frames(1);
	cpu.iopm_pa = zeroed_frames(IOPM_PAGES);
	cpu.msrpm_pa = zeroed_frames(MSRPM_PAGES);
	if (!cpu.hsave_pa || !cpu.host_save_pa || !cpu.iopm_pa || !cpu.msrpm_pa) {
		uint64_t pas[] = {cpu.hsave_pa, cpu.host_save_pa, cpu.iopm_pa, cpu.msrpm_pa};
		size_t n[] = {1, 1, IOPM_PAGES, MSRPM_PAGES};
		for (int i = 0; i < 4; i++)
			if (pas[i])
				frame_free(pas[i], n[i]);
		return -ENOMEM;
	}
	/* Every port and every MSR exits: kernel/vdev and arch/x86/msr_guest.c decide,
	 * nothing reaches the hardware (APM 15.10.1, 15.11). */
	memset(phys_ptr(cpu.iopm_pa), 0xFF, IOPM_PAGES * FRAME_SIZE);
	memset(phys_ptr(cpu.msrpm_pa), 0xFF, MSRPM_PAGES * FRAME_SIZE);

	cpu.asids = f->asids < ASID_MAX ? f->asids : ASID_MAX;
	cpu.asid_used = 1; /* ASID 0 */

	/* FXRSTOR faults on MXCSR bits the CPU lacks; a vCPU state from
	 * elsewhere is masked with this (SDM/APM FXSAVE: MXCSR_MASK). */
	__asm__ volatile("fxsave64 %0" : "=m"(cpu.host_fx));
	memcpy(&cpu.mxcsr_mask, cpu.host_fx + FX_MXCSR_MASK, 4);
	if (!cpu.mxcsr_mask)
		cpu.mxcsr_mask = 0xFFBF;

	/* APM 15.4: EFER.SVME enables the SVM instructions; VM_HSAVE_PA must
	 * be set before the first VMRUN (15.30.4). */
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
	wrmsr(MSR_VM_HSAVE_PA, cpu.hsave_pa);
	cpu.on = true;
	log_info("svm", "SVM on: nested paging, %u ASIDs, NRIP save %s, flush by ASID %s",
		 cpu.asids - 1, f->nrip_save ? "yes" : "no (RIP advanced by Tern)",
		 f->flush_by_asid ? "yes" : "no (full flushes)");
	return 0;
}

static uint32_t asid_alloc(void)
{
	for (uint32_t a = 1; a < cpu.asids; a++) {
		if (!(cpu.asid_used & (1ull << a))) {
			cpu.asid_used |= 1ull << a;
			return a;
		}
	}
	return 0;
}

static int svm_set_state(struct vcpu *v, const struct vcpu_state *s);
static void svm_vcpu_destroy(struct vcpu *v);

static int svm_vcpu_create(struct vcpu *v)
{
	if (!cpu.on)
		return -ENODEV;
	uint64_t sv_pa = zeroed_frames(1);
	uint64_t vmcb_pa = zeroed_frames(1);
	uint32_t asid = asid_alloc();
	if (!sv_pa || !vmcb_pa || !asid) {
		if (sv_pa)
			frame_free(sv_pa, 1);
		if (vmcb_pa)
			frame_free(vmcb_pa, 1);
		if (asid)
			cpu.asid_used &= ~(1ull << asid);
		return asid ? -ENOMEM : -ENOSPC;
	}
	struct svm_vcpu *sv = phys_ptr(sv_pa);
	sv->vmcb = phys_ptr(vmcb_pa);
	sv->vmcb_pa = vmcb_pa;
	sv->asid = asid;
	/* The ASID may have served a VM that is gone: flush it first. */
	sv->flush_pending = true;
	vmcb_init(sv->vmcb, asid, npt_root(v->vm->slat), cpu.iopm_pa, cpu.msrpm_pa);
	v->arch = sv;
	/* The architectural reset state, the same as VMX's. */
	struct vcpu_state s;
	guest_policy_reset_state(&s);
	int rc = svm_set_state(v, &s);
	if (rc)
		svm_vcpu_destroy(v);
	return rc;
}

static void svm_vcpu_destroy(struct vcpu *v)
{
	struct svm_vcpu *sv = v->arch;

	if (!sv)
		return;
	if (cpu.dr_owner == sv)
		cpu.dr_owner = NULL;
	cpu.asid_used &= ~(1ull << sv->asid);
	frame_free(sv->vmcb_pa, 1);
	frame_free((uint64_t)sv, 1);
	v->arch = NULL;
}

/* DR0-3 are in no VMCB: the hardware keeps the last guest's, so switch
 * them when another vCPU runs (Tern itself sets no breakpoints). */
static void dr_switch(struct svm_vcpu *sv)
{
	if (cpu.dr_owner == sv)
		return;
	if (cpu.dr_owner) {
		__asm__ volatile("mov %%dr0, %0" : "=r"(cpu.dr_owner->dr[0]));
		__asm__ volatile("mov %%dr1, %0" : "=r"(cpu.dr_owner->dr[1]));
		__asm__ volatile("mov %%dr2, %0" : "=r"(cpu.dr_owner->dr[2]));
		__asm__ volatile("mov %%dr3, %0" : "=r"(cpu.dr_owner->dr[3]));
	}
	__asm__ volatile("mov %0, %%dr0" ::"r"(sv->dr[0]));
	__asm__ volatile("mov %0, %%dr1" ::"r"(sv->dr[1]));
	__asm__ volatile("mov %0, %%dr2" ::"r"(sv->dr[2]));
	__asm__ volatile("mov %0, %%dr3" ::"r"(sv->dr[3]));
	cpu.dr_owner = sv;
}

/* One VMRUN. */
static void enter(struct vcpu *v, struct svm_vcpu *sv)
{
	struct vmcb *vmcb = sv->vmcb;
	uint64_t gen = npt_tlb_gen(v->vm->slat);

	/* APM 15.16: TLB entries are tagged with the ASID and survive
	 * VMRUN; npt.c bumps the generation after clearing D bits or
	 * permissions, and they must go before the guest runs again. */
	vmcb->tlb_control = TLB_CONTROL_DO_NOTHING;
	if (sv->flush_pending || gen != sv->tlb_gen) {
		vmcb->tlb_control =
			cpu_features.flush_by_asid ? TLB_CONTROL_FLUSH_ASID : TLB_CONTROL_FLUSH_ALL;
		sv->tlb_gen = gen;
		sv->flush_pending = false;
	}
	vmcb->rax = v->gpr[R_RAX];
	vmcb->rsp = v->gpr[R_RSP];
	vmcb->clean = 0;
	dr_switch(sv);
	svm_vmrun(sv->vmcb_pa, v->gpr, cpu.host_save_pa, sv->guest_fx, cpu.host_fx);
	v->gpr[R_RAX] = vmcb->rax;
	v->gpr[R_RSP] = vmcb->rsp;
}

/* Before each VMRUN: the LAPIC's TPR into V_TPR (CR8 reads), then its
 * pending vector into EVENTINJ when arch/x86/guest_intr.c says the guest
 * can take it; else a virtual interrupt request that only opens the
 * window: V_IRQ with V_IGN_TPR and a dummy vector, intercepted as VINTR
 * before the guest takes it (APM 15.21.4; KVM's svm_set_vintr does the
 * same). EVENTINJ ignores RFLAGS.IF and the shadow, hence the check.
 *
 * Inside an STI or MOV SS shadow the window is found by single-stepping
 * instead: QEMU before 9.1 does not load the shadow at VMRUN, so it took
 * the virtual interrupt request at once, and the interrupt came before
 * the instruction after STI (irqtest's shadow check, about one run in
 * fifty, whenever a host tick ended the slice right after the STI). With
 * RFLAGS.TF set the shadowed instruction runs, #DB (intercepted) exits,
 * and the next entry finds the shadow over. Not when the guest traces
 * itself: its own TF is its own. */
static void irq_prepare(struct vcpu *v, struct vmcb *vmcb)
{
	struct svm_vcpu *sv = v->arch;
	int vec = vcpu_irq_pending(v);

	vmcb->vintr &= ~(V_TPR_MASK | V_IRQ | V_IGN_TPR | V_INTR_PRIO_MASK | V_INTR_VECTOR_MASK);
	vmcb->vintr |= vcpu_cr8_read(v);
	vmcb->intercept_misc1 &= ~INTERCEPT_VINTR;
	switch (guest_intr_decide(vec, vmcb->eventinj & EVENT_VALID, vmcb->rflags,
				  vmcb->interrupt_shadow & INTERRUPT_SHADOW_MASK)) {
	case GUEST_INTR_NONE:
		break;
	case GUEST_INTR_INJECT:
		vmcb_inject(vmcb, EVENT_TYPE_INTR, (uint8_t)vec, false, 0);
		vcpu_irq_delivered(v, vec);
		break;
	case GUEST_INTR_WINDOW:
		/* Not with an event queued: its frame would carry our TF. */
		if ((vmcb->interrupt_shadow & INTERRUPT_SHADOW_MASK) && !(vmcb->rflags & RFLAGS_TF) &&
		    !(vmcb->eventinj & EVENT_VALID)) {
			sv->shadow_step = true;
			sv->shadow_step_dr6 = vmcb->dr6;
			sv->shadow_step_rip = vmcb->rip;
			vmcb->rflags |= RFLAGS_TF;
			break;
		}
		vmcb->vintr |= V_IRQ | V_IGN_TPR | (0xFull << V_INTR_PRIO_SHIFT);
		vmcb->intercept_misc1 |= INTERCEPT_VINTR;
		break;
	}
}

/* After the exit that ended a shadow step (irq_prepare): TF off again,
 * and true if the exit was the step's own #DB, which the guest must never
 * see. Any other exit (a host interrupt before the step, an intercepted
 * instruction in the shadow) is handled as usual. When the shadowed
 * instruction has not run yet (a host interrupt came first), the shadow
 * still holds, but a QEMU that did not load it at VMRUN did not save it
 * at the exit either: put it back, or the next entry injects one
 * instruction early. An instruction Tern emulates clears it (skip). */
static bool shadow_step_end(struct svm_vcpu *sv)
{
	struct vmcb *vmcb = sv->vmcb;

	sv->shadow_step = false;
	vmcb->rflags &= ~RFLAGS_TF;
	if (vmcb->exitcode != VMEXIT_EXCP_BASE + 1 /* #DB */ || !(vmcb->dr6 & DR6_BS)) {
		if (vmcb->rip == sv->shadow_step_rip)
			vmcb->interrupt_shadow |= INTERRUPT_SHADOW_MASK;
		return false;
	}
	vmcb->dr6 = sv->shadow_step_dr6;
	return true;
}

static int svm_vcpu_run(struct vcpu *v, struct vm_exit *e)
{
	struct svm_vcpu *sv = v->arch;

	if (!sv)
		return -ENODEV;
	sv->halted = false;
	for (;;) {
		memset(e, 0, sizeof(*e));
		irq_prepare(v, sv->vmcb);
		enter(v, sv);
		v->exits++;
		if (sv->shadow_step && shadow_step_end(sv))
			continue;
		if (svm_exit_handle(v, e))
			return 0;
	}
}

static void svm_get_state(struct vcpu *v, struct vcpu_state *s)
{
	struct svm_vcpu *sv = v->arch;

	memset(s, 0, sizeof(*s));
	s->version = VCPU_STATE_VERSION;
	s->flags = sv->halted ? VCPU_HALTED : 0;
	memcpy(s->gpr, v->gpr, sizeof(s->gpr));
	vmcb_get_state(sv->vmcb, s);
	s->tsc = guest_tsc_at(&v->cpu.tsc, rdtsc());
	memcpy(s->fxsave, sv->guest_fx, FXSAVE_BYTES);
}

static int svm_set_state(struct vcpu *v, const struct vcpu_state *s)
{
	struct svm_vcpu *sv = v->arch;
	uint32_t mxcsr;

	const char *why = "";

	/* Checked before anything changes: a refused state leaves the vCPU
	 * as it was (arch/x86/vcpu_state_check.c, shared with VMX). VMRUN
	 * would refuse some of these (EFER, segments), and the rest are
	 * values the guest's CPUID forbids. */
	if (vcpu_state_check(&v->cpu, s, &why)) {
		log_err("svm", "vCPU state refused: %s", why);
		return -EINVAL;
	}
	sv->halted = s->flags & VCPU_HALTED;
	memcpy(v->gpr, s->gpr, sizeof(v->gpr));
	vmcb_set_state(sv->vmcb, s);
	/* The guest reads host TSC + TSC_OFFSET (APM Table B-1), or, at a
	 * rate not the host's, what Tern computes on an RDTSC intercept. */
	guest_tsc_set(&v->cpu.tsc, rdtsc(), s->tsc);
	sv->vmcb->tsc_offset = v->cpu.tsc.offset;
	if (v->cpu.tsc.trap)
		sv->vmcb->intercept_misc1 |= INTERCEPT_RDTSC;
	else
		sv->vmcb->intercept_misc1 &= ~INTERCEPT_RDTSC;
	memcpy(sv->guest_fx, s->fxsave, FXSAVE_BYTES);
	/* A state from another host must not make FXRSTOR fault in Tern. */
	memcpy(&mxcsr, sv->guest_fx + FX_MXCSR, 4);
	mxcsr &= cpu.mxcsr_mask;
	memcpy(sv->guest_fx + FX_MXCSR, &mxcsr, 4);
	/* New CR3/paging state without the guest writing CR3: nothing
	 * flushed the ASID's translations of the old one. */
	sv->flush_pending = true;
	return 0;
}

static uint64_t svm_guest_tsc(struct vcpu *v)
{
	return guest_tsc_at(&v->cpu.tsc, rdtsc());
}

const struct hv_ops svm_ops = {
	.name = "SVM",
	.init = svm_init,
	.vcpu_create = svm_vcpu_create,
	.vcpu_destroy = svm_vcpu_destroy,
	.vcpu_run = svm_vcpu_run,
	.get_state = svm_get_state,
	.set_state = svm_set_state,
	.guest_tsc = svm_guest_tsc,
	.slat_create = npt_create,
	.slat_map = slat_map,
	.slat_destroy = slat_destroy,
	.dirty_supported = npt_dirty_supported,
	.dirty_start = npt_dirty_start,
	.dirty_harvest = npt_dirty_harvest,
	.dirty_stop = npt_dirty_stop,
};
