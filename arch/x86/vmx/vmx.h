/* What the files of the VMX backend share: the per-vCPU bookkeeping kept
 * next to the VMCS, and the functions one file offers the others. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/msr.h"
#include "kernel/hv.h"

/* Exception vectors (SDM Vol. 3A Table 6-1). */
#define VEC_DB 1
#define VEC_UD 6
#define VEC_GP 13
#define VEC_AC 17

/* Architectural bits the backend looks at (SDM Vol. 3A 2.5, 2.2.1). */
#define CR0_PE (1ull << 0)
#define CR0_TS (1ull << 3)
#define CR0_NW (1ull << 29)
#define CR0_CD (1ull << 30)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define CR4_VMXE (1ull << 13)
#define EFER_SCE (1ull << 0)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)
#define RFLAGS_IF (1ull << 9)
#define DR6_BD (1ull << 13)
#define DR7_GD (1ull << 13)

/* struct vcpu.arch on VMX. */
struct vmx_vcpu {
	uint8_t fx[512] __attribute__((aligned(16))); /* guest x87/SSE state, FXSAVE image */
	uint64_t vmcs_pa;
	bool launched; /* VMLAUNCH done since the last VMCLEAR: next entry is VMRESUME */
	bool halted;   /* the last exit was HLT (reported as VCPU_HALTED) */
	uint16_t vpid;
	uint64_t pml_pa; /* the page-modification log while DIRTY_PML is on, else 0 */
	/* State the VMCS does not hold. It lives in the CPU's registers while
	 * this vCPU is resident (vmx_resident, vmx.c) and here otherwise. */
	uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
	uint64_t cr2, dr[4], dr6;
	uint64_t fixed_gpa; /* EPT violations fixed in a row at one GPA (exit.c) */
	unsigned fixed_count;
};

/* The vCPU whose CR2, DR6 and syscall MSRs are in the CPU registers now. */
extern struct vmx_vcpu *vmx_resident;
/* Copies the resident vCPU's live registers back to its struct and
 * forgets it, so the next entry loads them afresh. */
void vmx_evict_resident(void);

/* vmentry.S: enters the guest with v->gpr[] (RSP comes from the VMCS) and
 * the FXSAVE image fx; on a VM exit stores the GPRs back and returns 0.
 * Returns 1 on VMfailValid (see VMCS_VM_INSTRUCTION_ERROR), 2 on
 * VMfailInvalid. */
int vmx_enter(uint64_t *gpr, void *fx, int launched);
void vmx_exit_stub(void);

/* exit.c: handles one VM exit. Returns true when e holds an exit for the
 * kernel, false when the guest can simply be entered again. */
bool vmx_exit_handle(struct vcpu *v, struct vm_exit *e);
/* Queues an exception for the next entry (SDM 26.6, "Event Injection"). */
void vmx_inject_exception(uint8_t vector, bool has_error, uint32_t error);
/* A guest write of CR0 that exited: the guest/host/shadow values and the
 * IA-32e transitions a change of CR0.PG implies (vmcs.c). */
void vmx_write_cr0(struct vcpu *v, uint64_t cr0);

/* vmcs.c: the portable vcpu_state to and from the VMCS. */
void vmx_get_state(struct vcpu *v, struct vcpu_state *s);
int vmx_set_state(struct vcpu *v, const struct vcpu_state *s);
/* PAE paging outside long mode takes its PDPTEs from the VMCS. */
void vmx_load_pdptes(struct vcpu *v);
/* The guest-visible CR0 (guest CR0 under the mask, read shadow above it). */
uint64_t vmx_guest_cr0(void);

/* vmx.c: drains the PML log into the slat's dirty log (PML-full exits, harvest). */
void vmx_pml_drain(struct vcpu *v);
