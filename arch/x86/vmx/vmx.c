/* The VMX backend (Intel VT-x with EPT): turning VMX on, VPIDs, vCPU
 * create/destroy/run, dirty-logging control, and the hv_ops table. The
 * VMCS lives in vmcs.c, the EPT and dirty logs in ept.c, VM-exit handling
 * in exit.c, the world switch in vmentry.S. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arch/x86/asm.h"
#include "arch/x86/cpufeat.h"
#include "arch/x86/guest_intr.h"
#include "arch/x86/guest_tsc.h"
#include "arch/x86/vmx/ept.h"
#include "arch/x86/vmx/vmcs.h"
#include "arch/x86/vmx/vmx.h"
#include "kernel/kernel.h"
#include "kernel/log.h"
#include "kernel/mm/frame.h"
#include "kernel/time.h"
#include "kernel/vm.h"
#include "kernel/vm_irq.h"

#define FEATURE_CONTROL_LOCK (1ull << 0)
#define FEATURE_CONTROL_VMX_OUTSIDE_SMX (1ull << 2)
#define CR4_VMXE (1ull << 13)
#define RFLAGS_IF (1ull << 9)
#define VPID_MAX 256  /* Tern runs at most VM_MAX guests: one VPID each */
#define SLICE_US 2000 /* preemption timer bound on one vcpu_run() */
#define PML_ENTRIES 512

_Static_assert(VM_MAX < VPID_MAX, "a VPID per VM");

/* What this (the one) physical CPU needs for VMX. */
static struct {
	bool on;
	uint64_t vmxon_pa;
	uint64_t vpid_used[VPID_MAX / 64];
	uint32_t slice; /* preemption-timer ticks per slice */
} cpu;

struct vmx_vcpu *vmx_resident;

void vmx_invept(uint64_t type, uint64_t eptp)
{
	struct {
		uint64_t eptp, zero;
	} d = {eptp, 0};
	__asm__ volatile("invept %0, %1" ::"m"(d), "r"(type) : "cc", "memory");
}

static int vmx_init(void)
{
	const struct cpu_features *f = &cpu_features;
	const char *why = "";
	uint64_t fc = 0;
	int rc;

	if (cpu.on)
		return 0;
	if (!f->vmx)
		return -ENODEV;
	/* IA32_FEATURE_CONTROL (SDM 23.7): firmware may leave it unlocked;
	 * then Tern enables VMX outside SMX and locks it, as firmware would.
	 * Locked with that bit clear, VMXON would #GP: VMX is off for good. */
	rdmsr_safe(MSR_FEATURE_CONTROL, &fc);
	if (!(fc & FEATURE_CONTROL_LOCK))
		wrmsr(MSR_FEATURE_CONTROL,
		      fc | FEATURE_CONTROL_LOCK | FEATURE_CONTROL_VMX_OUTSIDE_SMX);
	else if (!(fc & FEATURE_CONTROL_VMX_OUTSIDE_SMX)) {
		log_err("vmx", "VMX is disabled and locked by the firmware (IA32_FEATURE_CONTROL)");
		return -ENODEV;
	}
	if ((rc = vmcs_init_caps(&why))) {
		log_err("vmx", "this CPU's VMX cannot run Tern's guests: %s", why);
		return rc;
	}
	/* CR0 and CR4 must hold the bits VMX operation fixes (SDM 23.8,
	 * A.7-A.8), CR4.VMXE among them. Tern's own settings satisfy CR0
	 * already (PE, NE, PG); nothing here changes how Tern runs. */
	write_cr0((read_cr0() | vmx_caps.cr0_fixed0) & vmx_caps.cr0_fixed1);
	write_cr4((read_cr4() | vmx_caps.cr4_fixed0 | CR4_VMXE) & vmx_caps.cr4_fixed1);

	cpu.vmxon_pa = frame_alloc(1, 1);
	if (!cpu.vmxon_pa)
		return -ENOMEM;
	memset(phys_ptr(cpu.vmxon_pa), 0, FRAME_SIZE);
	*(uint32_t *)phys_ptr(cpu.vmxon_pa) = vmx_caps.revision; /* SDM 24.11.5 */
	if (vmx_on(cpu.vmxon_pa)) {
		log_err("vmx", "VMXON failed");
		frame_free(cpu.vmxon_pa, 1);
		write_cr4(read_cr4() & ~CR4_VMXE);
		return -EIO;
	}
	/* Nothing cached from before VMXON (firmware, a previous Tern) may
	 * be mistaken for a guest's translations. */
	vmx_invept(INVEPT_ALL_CONTEXT, 0);
	if (vmx_caps.vpid)
		vmx_invvpid(INVVPID_ALL_CONTEXT, 0);
	cpu.vpid_used[0] = 1; /* VPID 0 is the host's */
	uint64_t ticks = tsc_hz / 1000000 * SLICE_US >> vmx_caps.preempt_shift;
	cpu.slice = ticks > UINT32_MAX ? UINT32_MAX : ticks ? (uint32_t)ticks : 1;
	cpu.on = true;
	log_info("vmx", "VMX on: EPT A/D %s, PML %s, VPID %s, preemption timer %s, PAUSE exits %s",
		 vmx_caps.ept_ad ? "yes" : "no (write-protect logging only)",
		 vmx_caps.pml ? "yes" : "no", vmx_caps.vpid ? "yes" : "no",
		 vmx_caps.preemption_timer ? "yes" : "no (host tick only)",
		 vmx_caps.proc2 & PROC2_PAUSE_LOOP_EXITING ? "on loops (PLE)"
		 : vmx_caps.proc & PROC_PAUSE_EXITING	  ? "every one"
							  : "none");
	return 0;
}

static uint16_t vpid_alloc(void)
{
	for (uint16_t id = 1; id < VPID_MAX; id++) {
		if (!(cpu.vpid_used[id / 64] & (1ull << (id % 64)))) {
			cpu.vpid_used[id / 64] |= 1ull << (id % 64);
			return id;
		}
	}
	return 0;
}

static void vpid_free(uint16_t id)
{
	/* Translations tagged with this VPID must not reach its next owner. */
	if (vmx_caps.ept_vpid & VPID_CAP_INVVPID_SINGLE)
		vmx_invvpid(INVVPID_SINGLE_CONTEXT, id);
	else
		vmx_invvpid(INVVPID_ALL_CONTEXT, 0);
	cpu.vpid_used[id / 64] &= ~(1ull << (id % 64));
}

static void vmx_vcpu_destroy(struct vcpu *v)
{
	struct vmx_vcpu *x = v->arch;

	if (!x)
		return;
	if (vmx_resident == x)
		vmx_resident = NULL;
	vmcs_release(x);
	if (x->vpid)
		vpid_free(x->vpid);
	if (x->pml_pa)
		frame_free(x->pml_pa, 1);
	frame_free((uint64_t)x, 1);
	v->arch = NULL;
}

static int vmx_vcpu_create(struct vcpu *v)
{
	if (!cpu.on)
		return -ENODEV;
	/* A frame of its own: page-aligned, which the FXSAVE image needs. */
	uint64_t pa = frame_alloc(1, 1);
	if (!pa)
		return -ENOMEM;
	struct vmx_vcpu *x = phys_ptr(pa);
	memset(x, 0, sizeof(*x));
	v->arch = x;
	if (vmx_caps.vpid && !(x->vpid = vpid_alloc())) {
		vmx_vcpu_destroy(v);
		return -ENOSPC;
	}
	int rc = vmcs_setup(v, x);
	if (rc)
		vmx_vcpu_destroy(v);
	return rc;
}
_Static_assert(sizeof(struct vmx_vcpu) <= FRAME_SIZE, "vmx_vcpu fits a frame");

/* ---- Registers the VMCS does not switch ----
 * STAR, LSTAR, CSTAR, SFMASK, KERNEL_GS_BASE, CR2, DR0-3 and DR6 keep the
 * guest's values in the CPU while it runs. Tern itself never uses them (no
 * SYSCALL, no SWAPGS, no debug registers; CR2 only in the fatal page-fault
 * dump), so they are switched lazily: loaded when a different vCPU is
 * entered, written back to its struct when another one takes the CPU or
 * when Tern needs the values (get_state, an MSR write). KERNEL_GS_BASE
 * is read back too: the guest's SWAPGS changes it in the CPU. */
static uint64_t read_dr(int n)
{
	uint64_t v = 0;

	switch (n) {
	case 0:
		__asm__ volatile("mov %%db0, %0" : "=r"(v));
		break;
	case 1:
		__asm__ volatile("mov %%db1, %0" : "=r"(v));
		break;
	case 2:
		__asm__ volatile("mov %%db2, %0" : "=r"(v));
		break;
	case 3:
		__asm__ volatile("mov %%db3, %0" : "=r"(v));
		break;
	case 6:
		__asm__ volatile("mov %%db6, %0" : "=r"(v));
		break;
	}
	return v;
}

static void write_dr(int n, uint64_t v)
{
	switch (n) {
	case 0:
		__asm__ volatile("mov %0, %%db0" ::"r"(v));
		break;
	case 1:
		__asm__ volatile("mov %0, %%db1" ::"r"(v));
		break;
	case 2:
		__asm__ volatile("mov %0, %%db2" ::"r"(v));
		break;
	case 3:
		__asm__ volatile("mov %0, %%db3" ::"r"(v));
		break;
	case 6:
		__asm__ volatile("mov %0, %%db6" ::"r"(v));
		break;
	}
}

void vmx_evict_resident(void)
{
	struct vmx_vcpu *x = vmx_resident;

	if (!x)
		return;
	x->cr2 = read_cr2();
	for (int i = 0; i < 4; i++)
		x->dr[i] = read_dr(i);
	x->dr6 = read_dr(6);
	/* SWAPGS changes KERNEL_GS_BASE without an exit; the other syscall
	 * MSRs change only by WRMSR, which exits. */
	x->kernel_gs_base = rdmsr(MSR_KERNEL_GS_BASE);
	vmx_resident = NULL;
}

static void make_resident(struct vmx_vcpu *x)
{
	vmx_evict_resident();
	wrmsr(MSR_STAR, x->star);
	wrmsr(MSR_LSTAR, x->lstar);
	wrmsr(MSR_CSTAR, x->cstar);
	wrmsr(MSR_SFMASK, x->sfmask);
	wrmsr(MSR_KERNEL_GS_BASE, x->kernel_gs_base);
	write_cr2(x->cr2);
	for (int i = 0; i < 4; i++)
		write_dr(i, x->dr[i]);
	write_dr(6, x->dr6);
	vmx_resident = x;
}

/* VMLAUNCH/VMRESUME refused the VMCS (SDM 30.4, VM-instruction error numbers). */
static void entry_refused(struct vm_exit *e, struct vmx_vcpu *x, int how)
{
	uint32_t err = how == 1 ? (uint32_t)vmcs_read(VMCS_VM_INSTRUCTION_ERROR) : 0;
	const char *what = err == 7    ? "invalid control field"
			   : err == 8  ? "invalid host-state field"
			   : err == 26 ? "events blocked by MOV SS"
			   : how == 2  ? "no valid current VMCS"
				       : "see the SDM's VM-instruction error list";

	e->kind = EXIT_ERROR;
	e->reason = err;
	snprintf(e->desc, sizeof(e->desc), "%s failed: VM-instruction error %u (%s)",
		 x->launched ? "VMRESUME" : "VMLAUNCH", err, what);
}

/* Before each entry: the LAPIC's pending vector as an external interrupt
 * when arch/x86/guest_intr.c says the guest can take it, else
 * interrupt-window exiting (SDM 26.7.5, exit reason 7). An event the
 * last exit re-queued (IDT-vectoring information, exit.c) or an exception
 * Tern raised already fills the entry's interruption field: it goes
 * first. */
static void irq_prepare(struct vcpu *v)
{
	int vec = vcpu_irq_pending(v);
	uint32_t proc = vmcs_read(VMCS_PROC_CONTROLS) & ~PROC_INTR_WINDOW_EXITING;
	uint32_t intr = vmcs_read(VMCS_GUEST_INTERRUPTIBILITY);

	switch (guest_intr_decide(vec, vmcs_read(VMCS_ENTRY_INTR_INFO) & INTR_INFO_VALID,
				  vmcs_read(VMCS_GUEST_RFLAGS),
				  intr & (INTERRUPTIBILITY_STI | INTERRUPTIBILITY_MOV_SS))) {
	case GUEST_INTR_NONE:
		break;
	case GUEST_INTR_INJECT:
		vmcs_write(VMCS_ENTRY_INTR_INFO,
			   INTR_INFO_VALID | INTR_TYPE_EXT_INTR << 8 | (uint8_t)vec);
		vcpu_irq_delivered(v, vec);
		break;
	case GUEST_INTR_WINDOW:
		proc |= PROC_INTR_WINDOW_EXITING;
		break;
	}
	vmcs_write(VMCS_PROC_CONTROLS, proc);
}

static int vmx_vcpu_run(struct vcpu *v, struct vm_exit *e)
{
	struct vmx_vcpu *x = v->arch;
	uint64_t rflags;
	int rc;

	/* Host interrupts stay pending while Tern prepares and handles
	 * exits; in the guest they cause an external-interrupt exit. */
	__asm__ volatile("pushfq; popq %0; cli" : "=r"(rflags)::"memory");
	if ((rc = vmcs_load(x)))
		goto out;
	x->halted = false;
	for (;;) {
		if (vmx_resident != x)
			make_resident(x);
		vmcs_write(VMCS_GUEST_RSP, v->gpr[R_RSP]);
		irq_prepare(v);
		if (vmx_caps.preemption_timer)
			vmcs_write(VMCS_PREEMPTION_TIMER, cpu.slice);
		int how = vmx_enter(v->gpr, x->fx, x->launched);
		if (how) {
			entry_refused(e, x, how);
			break;
		}
		x->launched = true;
		v->exits++;
		v->gpr[R_RSP] = vmcs_read(VMCS_GUEST_RSP);
		if (vmx_exit_handle(v, e))
			break;
	}
out:
	if (rflags & RFLAGS_IF)
		irq_enable();
	return rc;
}

/* ---- Dirty logging ---- */

static bool vmx_dirty_supported(enum dirty_mode m)
{
	switch (m) {
	case DIRTY_OFF:
	case DIRTY_WP:
		return true;
	case DIRTY_AD:
		return vmx_caps.ept_ad;
	case DIRTY_PML:
		return vmx_caps.pml;
	}
	return false;
}

static void pml_off(struct vmx_vcpu *x)
{
	if (!x->pml_pa)
		return;
	vmcs_write(VMCS_PROC_CONTROLS2, vmcs_read(VMCS_PROC_CONTROLS2) & ~PROC2_ENABLE_PML);
	vmcs_write(VMCS_PML_ADDRESS, 0);
	frame_free(x->pml_pa, 1);
	x->pml_pa = 0;
}

void vmx_pml_drain(struct vcpu *v)
{
	struct vmx_vcpu *x = v->arch;

	if (!x->pml_pa)
		return;
	/* The CPU logs at PML_INDEX and then decrements it; 511 means empty,
	 * and an index past 511 (it wrapped below 0) means full (SDM 28.3.6). */
	uint16_t index = vmcs_read(VMCS_GUEST_PML_INDEX);
	if (index == PML_ENTRIES - 1)
		return;
	unsigned first = index >= PML_ENTRIES ? 0 : index + 1u;
	ept_pml_absorb(v->vm->slat, phys_ptr(x->pml_pa), first);
	vmcs_write(VMCS_GUEST_PML_INDEX, PML_ENTRIES - 1);
}

static void vmx_dirty_stop(struct vcpu *v)
{
	struct vmx_vcpu *x = v->arch;

	if (vmcs_load(x))
		return;
	pml_off(x);
	slat_dirty_stop(v->vm->slat);
}

static int vmx_dirty_start(struct vcpu *v, enum dirty_mode m)
{
	struct vmx_vcpu *x = v->arch;
	int rc;

	if (!vmx_dirty_supported(m))
		return -ENOTSUP;
	if ((rc = vmcs_load(x)))
		return rc;
	pml_off(x);
	if (m == DIRTY_PML) {
		x->pml_pa = frame_alloc(1, 1);
		if (!x->pml_pa)
			return -ENOMEM;
		memset(phys_ptr(x->pml_pa), 0, FRAME_SIZE);
	}
	/* D bits cleared (or W taken) and INVEPT done before PML is armed:
	 * the guest is not running, so nothing is logged in between. */
	if ((rc = slat_dirty_start(v->vm->slat, m))) {
		pml_off(x);
		return rc;
	}
	if (m == DIRTY_PML) {
		vmcs_write(VMCS_PML_ADDRESS, x->pml_pa);
		vmcs_write(VMCS_GUEST_PML_INDEX, PML_ENTRIES - 1);
		vmcs_write(VMCS_PROC_CONTROLS2, vmcs_read(VMCS_PROC_CONTROLS2) | PROC2_ENABLE_PML);
	}
	return 0;
}

static long vmx_dirty_harvest(struct vcpu *v, uint64_t *bitmap, uint64_t npages)
{
	int rc = vmcs_load(v->arch);

	if (rc)
		return rc;
	vmx_pml_drain(v); /* what the CPU logged since the last PML-full exit */
	return slat_dirty_harvest(v->vm->slat, bitmap, npages);
}

static uint64_t vmx_guest_tsc(struct vcpu *v)
{
	return guest_tsc_at(&v->cpu.tsc, rdtsc());
}

const struct hv_ops vmx_ops = {
	.name = "VMX",
	.init = vmx_init,
	.vcpu_create = vmx_vcpu_create,
	.vcpu_destroy = vmx_vcpu_destroy,
	.vcpu_run = vmx_vcpu_run,
	.get_state = vmx_get_state,
	.set_state = vmx_set_state,
	.guest_tsc = vmx_guest_tsc,
	.slat_create = ept_create,
	.slat_map = slat_map,
	.slat_destroy = slat_destroy,
	.dirty_supported = vmx_dirty_supported,
	.dirty_start = vmx_dirty_start,
	.dirty_harvest = vmx_dirty_harvest,
	.dirty_stop = vmx_dirty_stop,
};
