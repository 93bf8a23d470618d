/* What the files of arch/x86/svm share: the per-vCPU bookkeeping behind
 * struct vcpu's `arch` pointer, and the entry points between them. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/svm/vmcb.h"
#include "kernel/hv.h"

#define FXSAVE_BYTES 512

struct svm_vcpu {
	uint8_t guest_fx[FXSAVE_BYTES] __attribute__((aligned(16)));
	struct vmcb *vmcb;
	uint64_t vmcb_pa;
	uint32_t asid;
	uint64_t tlb_gen;	/* npt_tlb_gen() at the last flush of this ASID */
	bool flush_pending;	/* a new ASID owner: flush before the first VMRUN */
	bool halted;		/* the last exit was HLT (VCPU_HALTED) */
	uint64_t dr[4];		/* guest DR0-3: not in the VMCB, swapped by hand */
	uint64_t stale_npf_gpa; /* #NPF storm detection (exit.c) */
	unsigned stale_npf_count;
	/* Stepping over an STI/MOV SS shadow with RFLAGS.TF (svm.c,
	 * irq_prepare): the guest's DR6 to put back after our #DB. */
	bool shadow_step;
	uint64_t shadow_step_dr6;
	uint64_t shadow_step_rip; /* the instruction in the shadow */
};

/* vmrun.S: VMLOAD, VMRUN, VMSAVE with the guest's GPRs and FPU/SSE state
 * loaded, GIF clear outside the guest. Returns at #VMEXIT with GIF set
 * and the caller's RFLAGS.IF. */
void svm_vmrun(uint64_t vmcb_pa, uint64_t *gpr, uint64_t host_save_pa, void *guest_fx,
	       void *host_fx);

/* exit.c: handles the #VMEXIT just taken. Returns true when *e must go to
 * the kernel, false when the guest can simply be resumed. */
bool svm_exit_handle(struct vcpu *v, struct vm_exit *e);
