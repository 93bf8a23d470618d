/* The VMCS: execution controls computed from the capability MSRs (SDM
 * Vol. 3D Appendix A.3-A.5, never hard-coded values), the host state Tern
 * returns to on every exit (SDM 24.5, 27.5 "Loading Host State"), and the
 * guest-state area (24.4) to and from the portable struct vcpu_state of
 * kernel/hv.h. A state that came from another host (or from SVM) is made
 * acceptable to VM entry (26.3.1, "Checks on the Guest State Area") where
 * it differs only in form; anything else is refused by VM entry, which
 * stops that VM and nothing else. */
#include <errno.h>
#include <string.h>
#include "arch/x86/asm.h"
#include "arch/x86/cpu.h"
#include "arch/x86/guest_policy.h"
#include "arch/x86/guest_tsc.h"
#include "arch/x86/vcpu_state_check.h"
#include "arch/x86/vmx/ept.h"
#include "arch/x86/vmx/vmcs.h"
#include "arch/x86/vmx/vmx.h"
#include "kernel/kernel.h"
#include "kernel/log.h"
#include "kernel/mm/frame.h"
#include "kernel/vm.h"

#define VMX_MISC_SAVES_LMA (1ull << 5)
#define FX_MXCSR 24
#define FX_MXCSR_MASK 28
/* Segment attributes as kernel/hv.h packs them (SVM's form, APM 15.5.1). */
#define ATTR_TYPE 0x00F
#define ATTR_TYPE_ACCESSED 0x001
#define ATTR_S 0x010
#define ATTR_P 0x080
#define TSS_BUSY 0x002

struct vmx_caps vmx_caps;
/* Shared by every VMCS: all ones, so every port and every MSR access
 * exits (SDM 24.6.4, 24.6.9) and nothing reaches the hardware unchecked. */
static uint64_t io_bitmaps_pa, msr_bitmap_pa;
static uint64_t current_vmcs; /* this CPU's current-VMCS pointer, 0 if none */

/* Control values that honour the capability MSR: bits 31:0 say which
 * controls must be 1, bits 63:32 which may be 1 (SDM A.3.1). `want` is
 * what Tern asks for; `need` the part it cannot run without. */
static int adjust(uint32_t msr, uint32_t want, uint32_t need, uint32_t *out)
{
	uint64_t cap;

	if (rdmsr_safe(msr, &cap))
		return -ENODEV;
	uint32_t v = (want | (uint32_t)cap) & (uint32_t)(cap >> 32);
	if ((v & need) != need)
		return -ENOTSUP;
	*out = v;
	return 0;
}

static uint64_t page_alloc_fill(int byte)
{
	uint64_t pa = frame_alloc(1, 1);

	if (pa)
		memset(phys_ptr(pa), byte, FRAME_SIZE);
	return pa;
}

int vmcs_init_caps(const char **why)
{
	struct vmx_caps *c = &vmx_caps;
	uint64_t basic = rdmsr(MSR_VMX_BASIC), misc = rdmsr(MSR_VMX_MISC);
	/* With bit 55 the TRUE_* MSRs tell which default-1 controls (CR3
	 * exiting, ...) may be cleared (SDM A.2). */
	bool true_ctls = basic & VMX_BASIC_TRUE_CTLS;

	c->revision = basic & 0x7FFFFFFF;
	c->cr0_fixed0 = rdmsr(MSR_VMX_CR0_FIXED0);
	c->cr0_fixed1 = rdmsr(MSR_VMX_CR0_FIXED1);
	c->cr4_fixed0 = rdmsr(MSR_VMX_CR4_FIXED0);
	c->cr4_fixed1 = rdmsr(MSR_VMX_CR4_FIXED1);
	c->preempt_shift = misc & 0x1F;
	if (!(misc & VMX_MISC_SAVES_LMA))
		return *why = "VM exits do not save EFER.LMA (IA32_VMX_MISC bit 5)", -ENOTSUP;

	if (adjust(true_ctls ? MSR_VMX_TRUE_PINBASED_CTLS : MSR_VMX_PINBASED_CTLS,
		   PIN_EXT_INTR_EXITING | PIN_NMI_EXITING | PIN_PREEMPTION_TIMER,
		   PIN_EXT_INTR_EXITING | PIN_NMI_EXITING, &c->pin))
		return *why = "pin-based controls lack external-interrupt/NMI exiting", -ENOTSUP;
	c->preemption_timer = c->pin & PIN_PREEMPTION_TIMER;

	/* CR8 exiting: without a TPR shadow a guest MOV to CR8 would set the
	 * host's own task priority and could mask Tern's timer tick. */
	const uint32_t proc_need = PROC_TSC_OFFSETTING | PROC_HLT_EXITING | PROC_CR8_LOAD_EXITING |
				   PROC_CR8_STORE_EXITING | PROC_USE_IO_BITMAPS |
				   PROC_USE_MSR_BITMAPS | PROC_SECONDARY_CONTROLS;
	if (adjust(true_ctls ? MSR_VMX_TRUE_PROCBASED_CTLS : MSR_VMX_PROCBASED_CTLS,
		   proc_need | PROC_MWAIT_EXITING | PROC_MONITOR_EXITING | PROC_RDPMC_EXITING |
			   PROC_PAUSE_EXITING,
		   proc_need, &c->proc))
		return *why = "processor-based controls lack HLT/I/O/MSR exiting", -ENOTSUP;

	if (adjust(MSR_VMX_PROCBASED_CTLS2,
		   PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST | PROC2_ENABLE_VPID |
			   PROC2_RDRAND_EXITING | PROC2_RDSEED_EXITING | PROC2_PAUSE_LOOP_EXITING,
		   PROC2_ENABLE_EPT | PROC2_UNRESTRICTED_GUEST, &c->proc2))
		return *why = "no EPT with unrestricted guest", -ENOTSUP;
	/* A spinning guest gives its turn away (kernel/vm.c, EXIT_SPIN): with
	 * pause-loop exiting only a loop of PAUSEs longer than PLE_WINDOW
	 * exits (a Linux on Bochs booted 20 s slower with an exit at every
	 * PAUSE); without it, every PAUSE does. */
	if (c->proc2 & PROC2_PAUSE_LOOP_EXITING)
		c->proc &= ~PROC_PAUSE_EXITING;
	c->vpid = c->proc2 & PROC2_ENABLE_VPID;
	uint64_t proc2_cap = rdmsr(MSR_VMX_PROCBASED_CTLS2);

	const uint32_t exit_need = EXIT_HOST_ADDR_SPACE_SIZE | EXIT_SAVE_IA32_PAT |
				   EXIT_LOAD_IA32_PAT | EXIT_SAVE_IA32_EFER | EXIT_LOAD_IA32_EFER;
	if (adjust(true_ctls ? MSR_VMX_TRUE_EXIT_CTLS : MSR_VMX_EXIT_CTLS,
		   exit_need | EXIT_SAVE_DEBUG_CONTROLS, exit_need, &c->exit))
		return *why = "VM-exit controls lack 64-bit host or EFER/PAT switching", -ENOTSUP;
	const uint32_t entry_need = ENTRY_LOAD_IA32_PAT | ENTRY_LOAD_IA32_EFER;
	if (adjust(true_ctls ? MSR_VMX_TRUE_ENTRY_CTLS : MSR_VMX_ENTRY_CTLS,
		   entry_need | ENTRY_LOAD_DEBUG_CONTROLS, entry_need, &c->entry))
		return *why = "VM-entry controls lack EFER/PAT loading", -ENOTSUP;
	c->entry &= ~ENTRY_IA32E_MODE_GUEST; /* set per guest from EFER.LMA */

	c->ept_vpid = rdmsr(MSR_VMX_EPT_VPID_CAP);
	if (!(c->ept_vpid & EPT_CAP_WALK_4) || !(c->ept_vpid & EPT_CAP_WB))
		return *why = "EPT lacks 4-level walks or write-back tables", -ENOTSUP;
	if (!(c->ept_vpid & EPT_CAP_INVEPT) ||
	    !(c->ept_vpid & (EPT_CAP_INVEPT_SINGLE | EPT_CAP_INVEPT_ALL)))
		return *why = "no INVEPT", -ENOTSUP;
	if (c->vpid && !(c->ept_vpid & VPID_CAP_INVVPID &&
			 c->ept_vpid & (VPID_CAP_INVVPID_SINGLE | VPID_CAP_INVVPID_ALL)))
		c->vpid = false, c->proc2 &= ~PROC2_ENABLE_VPID; /* VPIDs we could not flush */
	c->ept_ad = c->ept_vpid & EPT_CAP_AD;
	c->pml = c->ept_ad && (proc2_cap >> 32) & PROC2_ENABLE_PML;

	/* FXRSTOR faults on MXCSR bits this CPU lacks: a state from elsewhere
	 * is masked with MXCSR_MASK before Tern restores it (SDM Vol. 1,
	 * "MXCSR State Management Guidelines"). */
	static uint8_t fx[512] __attribute__((aligned(16)));
	__asm__ volatile("fxsave64 %0" : "=m"(fx));
	memcpy(&c->mxcsr_mask, fx + FX_MXCSR_MASK, 4);
	if (!c->mxcsr_mask)
		c->mxcsr_mask = 0xFFBF;

	io_bitmaps_pa = frame_alloc(2, 1);
	msr_bitmap_pa = page_alloc_fill(0xFF);
	if (!io_bitmaps_pa || !msr_bitmap_pa)
		return *why = "out of memory", -ENOMEM;
	memset(phys_ptr(io_bitmaps_pa), 0xFF, 2 * FRAME_SIZE);
	return 0;
}

int vmcs_load(struct vmx_vcpu *x)
{
	if (current_vmcs == x->vmcs_pa)
		return 0;
	int rc = vmcs_ptrld(x->vmcs_pa);
	current_vmcs = rc ? 0 : x->vmcs_pa;
	return rc;
}

void vmcs_release(struct vmx_vcpu *x)
{
	if (!x->vmcs_pa)
		return;
	/* VMCLEAR writes any VMCS data the CPU caches back to memory and
	 * makes the region inactive, so the frame can be reused (SDM 24.11.3). */
	vmcs_clear(x->vmcs_pa);
	if (current_vmcs == x->vmcs_pa)
		current_vmcs = 0;
	x->launched = false;
	frame_free(x->vmcs_pa, 1);
	x->vmcs_pa = 0;
}

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

/* Base of the TSS Tern loaded: from its 16-byte descriptor in the GDT
 * (SDM Vol. 3A, "TSS Descriptor in 64-bit Mode"), since VMX reloads TR from the VMCS on every exit.
 */
static uint64_t tss_base(uint64_t gdt_base)
{
	const uint64_t *d = phys_ptr(gdt_base + SEL_TSS);

	return ((d[0] >> 16) & 0xFFFFFF) | ((d[0] >> 56) << 24) | (d[1] << 32);
}

static void write_host_state(void)
{
	struct desc_ptr gdt, idt;

	__asm__ volatile("sgdt %0" : "=m"(gdt));
	__asm__ volatile("sidt %0" : "=m"(idt));
	vmcs_write(VMCS_HOST_CR0, read_cr0());
	vmcs_write(VMCS_HOST_CR3, read_cr3());
	vmcs_write(VMCS_HOST_CR4, read_cr4());
	vmcs_write(VMCS_HOST_CS_SEL, SEL_KCODE);
	vmcs_write(VMCS_HOST_SS_SEL, SEL_KDATA);
	vmcs_write(VMCS_HOST_DS_SEL, SEL_KDATA);
	vmcs_write(VMCS_HOST_ES_SEL, SEL_KDATA);
	vmcs_write(VMCS_HOST_FS_SEL, 0);
	vmcs_write(VMCS_HOST_GS_SEL, 0);
	vmcs_write(VMCS_HOST_TR_SEL, SEL_TSS);
	vmcs_write(VMCS_HOST_FS_BASE, rdmsr(MSR_FS_BASE));
	vmcs_write(VMCS_HOST_GS_BASE, rdmsr(MSR_GS_BASE));
	vmcs_write(VMCS_HOST_TR_BASE, tss_base(gdt.base));
	vmcs_write(VMCS_HOST_GDTR_BASE, gdt.base);
	vmcs_write(VMCS_HOST_IDTR_BASE, idt.base);
	vmcs_write(VMCS_HOST_SYSENTER_CS, rdmsr(MSR_SYSENTER_CS));
	vmcs_write(VMCS_HOST_SYSENTER_ESP, rdmsr(MSR_SYSENTER_ESP));
	vmcs_write(VMCS_HOST_SYSENTER_EIP, rdmsr(MSR_SYSENTER_EIP));
	vmcs_write(VMCS_HOST_IA32_PAT, rdmsr(MSR_PAT));
	vmcs_write(VMCS_HOST_IA32_EFER, rdmsr(MSR_EFER));
	/* HOST_RSP is written by vmx_enter, right before each entry. */
	vmcs_write(VMCS_HOST_RIP, (uint64_t)vmx_exit_stub);
}

/* CR0/CR4 bits the guest may not change without an exit (SDM 24.6.6):
 * the ones VMX operation pins (IA32_VMX_CRx_FIXED0/1, A.7-A.8; PE and PG
 * are free with unrestricted guest), CR0.CD/NW (checked on write) and, for CR4, every bit outside the
 * guest's CPUID baseline (docs/guest-cpu.md: no XSAVE, PCID, SMEP, ... and
 * never VMXE). The guest reads its own values from the read shadows. */
uint64_t vmcs_cr0_mask(void)
{
	/* CD and NW too: a CPU (Bochs) may take NW without CD, which
	 * guest_policy_cr0_write_check refuses with #GP as SVM does. */
	return ((vmx_caps.cr0_fixed0 & ~(CR0_PE | CR0_PG)) | ~vmx_caps.cr0_fixed1 | CR0_CD |
		CR0_NW) &
	       0xFFFFFFFFull;
}

uint64_t vmcs_cr4_mask(const struct guest_cpu *c)
{
	return ~(guest_policy_cr4_allowed(c) & vmx_caps.cr4_fixed1) | vmx_caps.cr4_fixed0;
}

/* ---- Segments: SVM's packed 12-bit attributes <-> VMX access rights ---- */

static uint32_t attr_to_ar(uint16_t attr, bool unusable)
{
	uint32_t ar = (attr & 0xFFu) | ((uint32_t)(attr & 0xF00u) << 4);
	return unusable ? ar | VMX_AR_UNUSABLE : ar;
}

static uint16_t ar_to_attr(uint32_t ar)
{
	uint16_t attr = (ar & 0xFFu) | ((ar >> 4) & 0xF00u);
	/* SVM has no "unusable": a not-present descriptor says the same. */
	return ar & VMX_AR_UNUSABLE ? attr & ~ATTR_P : attr;
}

static void seg_write(int i, const struct vcpu_seg *g)
{
	uint16_t attr = g->attr, type;
	bool unusable = !(attr & ATTR_P);

	switch (i) {
	case VMCS_SEG_CS:
		unusable = false; /* CS is always usable (26.3.1.2) */
		attr |= ATTR_TYPE_ACCESSED;
		break;
	case VMCS_SEG_TR:
		/* VM entry wants a present busy TSS (26.3.1.2); SVM does not
		 * check, so a state from there may hold an available one. */
		unusable = false;
		type = attr & ATTR_TYPE & ~TSS_BUSY;
		if ((type != 0x1 && type != 0x9) || !(attr & ATTR_P))
			attr = (attr & ~(ATTR_TYPE | ATTR_S)) | 0xB | ATTR_P;
		attr |= TSS_BUSY;
		break;
	case VMCS_SEG_LDTR:
		break;
	default: /* data segments: a usable one has been loaded, so accessed */
		if (!unusable)
			attr |= ATTR_TYPE_ACCESSED;
	}
	vmcs_write(VMCS_GUEST_ES_SEL + 2 * i, g->sel);
	vmcs_write(VMCS_GUEST_ES_LIMIT + 2 * i, g->limit);
	vmcs_write(VMCS_GUEST_ES_AR + 2 * i, attr_to_ar(attr, unusable));
	vmcs_write(VMCS_GUEST_ES_BASE + 2 * i, g->base);
}

static void seg_read(int i, struct vcpu_seg *g)
{
	g->sel = vmcs_read(VMCS_GUEST_ES_SEL + 2 * i);
	g->limit = vmcs_read(VMCS_GUEST_ES_LIMIT + 2 * i);
	g->attr = ar_to_attr(vmcs_read(VMCS_GUEST_ES_AR + 2 * i));
	g->base = vmcs_read(VMCS_GUEST_ES_BASE + 2 * i);
}

/* ---- Control registers ---- */

static void cr0_apply(uint64_t cr0)
{
	uint64_t fixed0 = vmx_caps.cr0_fixed0 & ~(CR0_PE | CR0_PG); /* unrestricted guest */

	vmcs_write(VMCS_CR0_READ_SHADOW, cr0);
	vmcs_write(VMCS_GUEST_CR0, (cr0 | fixed0) & vmx_caps.cr0_fixed1);
}

static void cr4_apply(const struct guest_cpu *c, uint64_t cr4)
{
	uint64_t visible = cr4 & ~vmcs_cr4_mask(c);

	vmcs_write(VMCS_CR4_READ_SHADOW, visible);
	vmcs_write(VMCS_GUEST_CR4, (visible | vmx_caps.cr4_fixed0) & vmx_caps.cr4_fixed1);
}

static uint64_t cr_visible(uint32_t field, uint32_t shadow, uint64_t mask)
{
	return (vmcs_read(field) & ~mask) | (vmcs_read(shadow) & mask);
}

uint64_t vmx_guest_cr0(void)
{
	return cr_visible(VMCS_GUEST_CR0, VMCS_CR0_READ_SHADOW, vmcs_cr0_mask());
}

static void set_ia32e(bool on)
{
	uint32_t entry = vmcs_read(VMCS_ENTRY_CONTROLS);

	entry = on ? entry | ENTRY_IA32E_MODE_GUEST : entry & ~ENTRY_IA32E_MODE_GUEST;
	vmcs_write(VMCS_ENTRY_CONTROLS, entry);
}

void vmx_load_pdptes(struct vcpu *v)
{
	uint64_t cr3 = vmcs_read(VMCS_GUEST_CR3) & 0xFFFFFFE0ull;
	const uint64_t *pdpte = vm_gpa_ptr(v->vm, cr3);

	/* A CR3 outside RAM gives zero (not-present) PDPTEs: the guest then
	 * faults on its own instead of Tern reading outside the VM. */
	for (int i = 0; i < 4; i++)
		vmcs_write(VMCS_GUEST_PDPTE0 + 2 * i, pdpte ? pdpte[i] : 0);
}

/* Emulates MOV to CR0 for the bits whose change exits (the CR0 mask):
 * a guest write the CPU did not perform, so the IA-32e mode transitions
 * it would have made are made here (SDM Vol. 3A, "Initializing IA-32e Mode"). */
void vmx_write_cr0(struct vcpu *v, uint64_t cr0)
{
	uint64_t old = vmx_guest_cr0();
	uint64_t efer = vmcs_read(VMCS_GUEST_IA32_EFER);

	if (!(old & CR0_PG) && (cr0 & CR0_PG) && (efer & EFER_LME)) {
		vmcs_write(VMCS_GUEST_IA32_EFER, efer | EFER_LMA);
		set_ia32e(true);
	} else if ((old & CR0_PG) && !(cr0 & CR0_PG) && (efer & EFER_LMA)) {
		vmcs_write(VMCS_GUEST_IA32_EFER, efer & ~EFER_LMA);
		set_ia32e(false);
	}
	cr0_apply(cr0);
	if ((cr0 & CR0_PG) && !(old & CR0_PG) && !(efer & EFER_LME) &&
	    (vmcs_read(VMCS_GUEST_CR4) & CR4_PAE))
		vmx_load_pdptes(v);
}

/* ---- The whole state ---- */

static const size_t seg_offsets[] = {
	[VMCS_SEG_ES] = offsetof(struct vcpu_state, es),
	[VMCS_SEG_CS] = offsetof(struct vcpu_state, cs),
	[VMCS_SEG_SS] = offsetof(struct vcpu_state, ss),
	[VMCS_SEG_DS] = offsetof(struct vcpu_state, ds),
	[VMCS_SEG_FS] = offsetof(struct vcpu_state, fs),
	[VMCS_SEG_GS] = offsetof(struct vcpu_state, gs),
	[VMCS_SEG_LDTR] = offsetof(struct vcpu_state, ldtr),
	[VMCS_SEG_TR] = offsetof(struct vcpu_state, tr),
};

/* Vectors that push an error code (SDM Vol. 3A, "Error Code"); VM entry insists the
 * injection says so exactly when the vector has one, in protected mode. */
static bool vector_has_error(uint8_t v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21;
}

void vmx_get_state(struct vcpu *v, struct vcpu_state *s)
{
	struct vmx_vcpu *x = v->arch;

	vmcs_load(x);
	if (vmx_resident == x)
		vmx_evict_resident(); /* CR2 and DR6 as the guest left them */
	memset(s, 0, sizeof(*s));
	s->version = VCPU_STATE_VERSION;
	s->flags = x->halted ? VCPU_HALTED : 0;
	memcpy(s->gpr, v->gpr, sizeof(s->gpr)); /* RSP included: vcpu_run keeps it in sync */
	s->rip = vmcs_read(VMCS_GUEST_RIP);
	s->rflags = vmcs_read(VMCS_GUEST_RFLAGS);
	for (int i = VMCS_SEG_ES; i <= VMCS_SEG_TR; i++)
		seg_read(i, (struct vcpu_seg *)((char *)s + seg_offsets[i]));
	s->gdtr.base = vmcs_read(VMCS_GUEST_GDTR_BASE);
	s->gdtr.limit = vmcs_read(VMCS_GUEST_GDTR_LIMIT);
	s->idtr.base = vmcs_read(VMCS_GUEST_IDTR_BASE);
	s->idtr.limit = vmcs_read(VMCS_GUEST_IDTR_LIMIT);
	s->cr0 = vmx_guest_cr0();
	s->cr4 = cr_visible(VMCS_GUEST_CR4, VMCS_CR4_READ_SHADOW, vmcs_cr4_mask(&v->cpu));
	s->cr3 = vmcs_read(VMCS_GUEST_CR3);
	s->cr2 = x->cr2;
	s->dr6 = x->dr6;
	s->dr7 = vmcs_read(VMCS_GUEST_DR7);
	s->efer = vmcs_read(VMCS_GUEST_IA32_EFER);
	s->star = x->star;
	s->lstar = x->lstar;
	s->cstar = x->cstar;
	s->sfmask = x->sfmask;
	s->kernel_gs_base = x->kernel_gs_base;
	s->sysenter_cs = vmcs_read(VMCS_GUEST_SYSENTER_CS);
	s->sysenter_esp = vmcs_read(VMCS_GUEST_SYSENTER_ESP);
	s->sysenter_eip = vmcs_read(VMCS_GUEST_SYSENTER_EIP);
	s->pat = vmcs_read(VMCS_GUEST_IA32_PAT);
	s->tsc = guest_tsc_at(&v->cpu.tsc, rdtsc());
	s->intr_shadow = vmcs_read(VMCS_GUEST_INTERRUPTIBILITY) &
					 (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS)
				 ? 1
				 : 0;
	/* An event waiting for the next entry: one Tern queued, or one whose
	 * delivery an exit interrupted (exit.c re-queues those). Software
	 * interrupts and exceptions are left out: RIP still points at the
	 * INT n / INT3 / INTO that raised them, which raises them again when
	 * it runs again, on whichever backend. */
	uint32_t info = vmcs_read(VMCS_ENTRY_INTR_INFO);
	uint8_t type = INTR_INFO_TYPE(info);
	if ((info & INTR_INFO_VALID) && (type == INTR_TYPE_EXT_INTR || type == INTR_TYPE_NMI ||
					 type == INTR_TYPE_HW_EXCEPTION)) {
		s->event.valid = 1;
		s->event.type = type;
		s->event.vector = INTR_INFO_VECTOR(info);
		s->event.has_error = !!(info & INTR_INFO_HAS_ERROR);
		s->event.error = vmcs_read(VMCS_ENTRY_EXCEPTION_ERROR);
	}
	memcpy(s->fxsave, x->fx, sizeof(s->fxsave));
}

int vmx_set_state(struct vcpu *v, const struct vcpu_state *s)
{
	struct vmx_vcpu *x = v->arch;
	uint64_t efer = s->efer;
	const char *why = "";
	int rc;

	/* Checked before anything changes: a refused state leaves the vCPU
	 * as it was (arch/x86/vcpu_state_check.c, shared with SVM). */
	if (vcpu_state_check(&v->cpu, s, &why)) {
		log_err("vmx", "vCPU state refused: %s", why);
		return -EINVAL;
	}
	if ((rc = vmcs_load(x)))
		return rc;
	if (vmx_resident == x)
		vmx_resident = NULL; /* everything below replaces what the CPU holds */
	x->halted = s->flags & VCPU_HALTED;
	memcpy(v->gpr, s->gpr, sizeof(v->gpr));
	vmcs_write(VMCS_GUEST_RSP, s->gpr[R_RSP]);
	vmcs_write(VMCS_GUEST_RIP, s->rip);
	vmcs_write(VMCS_GUEST_RFLAGS, s->rflags);
	for (int i = VMCS_SEG_ES; i <= VMCS_SEG_TR; i++)
		seg_write(i, (const struct vcpu_seg *)((const char *)s + seg_offsets[i]));
	vmcs_write(VMCS_GUEST_GDTR_BASE, s->gdtr.base);
	vmcs_write(VMCS_GUEST_GDTR_LIMIT, s->gdtr.limit);
	vmcs_write(VMCS_GUEST_IDTR_BASE, s->idtr.base);
	vmcs_write(VMCS_GUEST_IDTR_LIMIT, s->idtr.limit);

	/* EFER.LMA and the "IA-32e mode guest" entry control must agree
	 * (26.3.1.1); CR0/CR4 go through the masks and read shadows. */
	vmcs_write(VMCS_GUEST_IA32_EFER, efer);
	set_ia32e(efer & EFER_LMA);
	vmcs_write(VMCS_GUEST_CR3, s->cr3);
	cr4_apply(&v->cpu, s->cr4);
	cr0_apply(s->cr0);
	if ((s->cr0 & CR0_PG) && (s->cr4 & CR4_PAE) && !(efer & EFER_LMA))
		vmx_load_pdptes(v);
	x->cr2 = s->cr2;
	x->dr6 = s->dr6; /* bits 63:32 are clear (checked): MOV to DR6 would fault */
	vmcs_write(VMCS_GUEST_DR7, s->dr7);

	/* The check above refused any value the CPU would refuse on WRMSR
	 * (vmx.c loads these with its own WRMSR: it must not fault). */
	x->star = s->star;
	x->lstar = s->lstar;
	x->cstar = s->cstar;
	x->sfmask = s->sfmask;
	x->kernel_gs_base = s->kernel_gs_base;
	vmcs_write(VMCS_GUEST_SYSENTER_CS, s->sysenter_cs);
	vmcs_write(VMCS_GUEST_SYSENTER_ESP, s->sysenter_esp);
	vmcs_write(VMCS_GUEST_SYSENTER_EIP, s->sysenter_eip);
	vmcs_write(VMCS_GUEST_IA32_PAT, s->pat);
	/* The CPU adds TSC_OFFSET (SDM 25.6.5); at a rate not the host's
	 * RDTSC exits and Tern computes the guest's TSC. */
	guest_tsc_set(&v->cpu.tsc, rdtsc(), s->tsc);
	vmcs_write(VMCS_TSC_OFFSET, v->cpu.tsc.offset);
	uint32_t proc = vmcs_read(VMCS_PROC_CONTROLS) & ~PROC_RDTSC_EXITING;
	vmcs_write(VMCS_PROC_CONTROLS, proc | (v->cpu.tsc.trap ? PROC_RDTSC_EXITING : 0));

	/* Blocking by STI needs IF=1 (26.3.1.5); otherwise it is MOV SS. */
	uint32_t intr = 0;
	if (s->intr_shadow)
		intr = s->rflags & RFLAGS_IF ? INTERRUPTIBILITY_STI : INTERRUPTIBILITY_MOV_SS;
	uint32_t info = 0;
	const struct vcpu_event *ev = &s->event;
	if (ev->valid && (ev->type == INTR_TYPE_EXT_INTR || ev->type == INTR_TYPE_NMI ||
			  ev->type == INTR_TYPE_HW_EXCEPTION)) {
		info = INTR_INFO_VALID | (uint32_t)ev->type << 8 | ev->vector;
		if (ev->type == INTR_TYPE_HW_EXCEPTION && (s->cr0 & CR0_PE) &&
		    vector_has_error(ev->vector))
			info |= INTR_INFO_HAS_ERROR;
		if (ev->type == INTR_TYPE_EXT_INTR)
			intr = 0; /* an interrupt is injected only when not blocked */
	}
	vmcs_write(VMCS_ENTRY_INTR_INFO, info);
	vmcs_write(VMCS_ENTRY_EXCEPTION_ERROR, ev->error);
	vmcs_write(VMCS_GUEST_INTERRUPTIBILITY, intr);
	vmcs_write(VMCS_GUEST_ACTIVITY_STATE, 0); /* active; HLT is the kernel's (VCPU_HALTED) */
	memcpy(x->fx, s->fxsave, sizeof(x->fx));
	uint32_t mxcsr;
	memcpy(&mxcsr, x->fx + FX_MXCSR, 4);
	mxcsr &= vmx_caps.mxcsr_mask;
	memcpy(x->fx + FX_MXCSR, &mxcsr, 4);
	return 0;
}

int vmcs_setup(struct vcpu *v, struct vmx_vcpu *x)
{
	const struct vmx_caps *c = &vmx_caps;
	struct vcpu_state s;
	int rc;

	x->vmcs_pa = page_alloc_fill(0);
	if (!x->vmcs_pa)
		return -ENOMEM;
	*(uint32_t *)phys_ptr(x->vmcs_pa) = c->revision; /* SDM 24.2 */
	if ((rc = vmcs_clear(x->vmcs_pa)) || (rc = vmcs_load(x)))
		return rc;
	x->launched = false;

	vmcs_write(VMCS_PIN_CONTROLS, c->pin);
	vmcs_write(VMCS_PROC_CONTROLS, c->proc);
	vmcs_write(VMCS_PROC_CONTROLS2, c->proc2);
	if (c->proc2 & PROC2_PAUSE_LOOP_EXITING) {
		/* KVM's defaults: PAUSEs at most 128 cycles apart are one
		 * loop, which exits once it has spun 4096 cycles. */
		vmcs_write(VMCS_PLE_GAP, 128);
		vmcs_write(VMCS_PLE_WINDOW, 4096);
	}
	vmcs_write(VMCS_EXIT_CONTROLS, c->exit);
	vmcs_write(VMCS_ENTRY_CONTROLS, c->entry);
	if (c->vpid)
		vmcs_write(VMCS_VPID, x->vpid);
	vmcs_write(VMCS_EPT_POINTER, ept_eptp(v->vm->slat));
	vmcs_write(VMCS_IO_BITMAP_A, io_bitmaps_pa);
	vmcs_write(VMCS_IO_BITMAP_B, io_bitmaps_pa + FRAME_SIZE);
	vmcs_write(VMCS_MSR_BITMAP, msr_bitmap_pa);
	/* #DB and #AC exit, so that a guest cannot hang the CPU in an endless
	 * chain of their deliveries (CVE-2015-8104 / CVE-2015-5307): each
	 * delivery becomes an exit where the host tick can end the slice.
	 * exit.c reflects them into the guest. */
	vmcs_write(VMCS_EXCEPTION_BITMAP, (1u << VEC_DB) | (1u << VEC_AC));
	vmcs_write(VMCS_PF_ERROR_MASK, 0);
	vmcs_write(VMCS_PF_ERROR_MATCH, 0);
	vmcs_write(VMCS_CR3_TARGET_COUNT, 0);
	vmcs_write(VMCS_EXIT_MSR_STORE_COUNT, 0);
	vmcs_write(VMCS_EXIT_MSR_LOAD_COUNT, 0);
	vmcs_write(VMCS_ENTRY_MSR_LOAD_COUNT, 0);
	vmcs_write(VMCS_ENTRY_INTR_INFO, 0);
	vmcs_write(VMCS_CR0_GUEST_HOST_MASK, vmcs_cr0_mask());
	vmcs_write(VMCS_CR4_GUEST_HOST_MASK, vmcs_cr4_mask(&v->cpu));
	vmcs_write(VMCS_LINK_POINTER, ~0ull); /* no shadow VMCS (SDM 26.3.1.5) */
	vmcs_write(VMCS_GUEST_IA32_DEBUGCTL, 0);
	vmcs_write(VMCS_GUEST_PENDING_DBG, 0);
	write_host_state();

	guest_policy_reset_state(&s);
	return vmx_set_state(v, &s);
}
