/* The VMCB: control-area setup (intercepts, nested paging, ASID) and the
 * conversion between Tern's portable vCPU state and the save area. */
#include <stddef.h>
#include <string.h>
#include "arch/x86/asm.h"
#include "arch/x86/svm/vmcb.h"

/* The struct must match the manual's offsets (APM Appendix B). */
#define CHECK(field, off) _Static_assert(offsetof(struct vmcb, field) == (off), #field)
CHECK(intercept_cr, VMCB_INTERCEPT_CR);
CHECK(intercept_dr, VMCB_INTERCEPT_DR);
CHECK(intercept_exc, VMCB_INTERCEPT_EXC);
CHECK(intercept_misc1, VMCB_INTERCEPT_MISC1);
CHECK(intercept_misc2, VMCB_INTERCEPT_MISC2);
CHECK(pause_filter_threshold, VMCB_PAUSE_FILTER_THRESHOLD);
CHECK(pause_filter_count, VMCB_PAUSE_FILTER_COUNT);
CHECK(iopm_base_pa, VMCB_IOPM_BASE_PA);
CHECK(msrpm_base_pa, VMCB_MSRPM_BASE_PA);
CHECK(tsc_offset, VMCB_TSC_OFFSET);
CHECK(guest_asid, VMCB_GUEST_ASID);
CHECK(tlb_control, VMCB_TLB_CONTROL);
CHECK(vintr, VMCB_VINTR);
CHECK(interrupt_shadow, VMCB_INTERRUPT_SHADOW);
CHECK(exitcode, VMCB_EXITCODE);
CHECK(exitinfo1, VMCB_EXITINFO1);
CHECK(exitinfo2, VMCB_EXITINFO2);
CHECK(exitintinfo, VMCB_EXITINTINFO);
CHECK(np_enable, VMCB_NP_ENABLE);
CHECK(eventinj, VMCB_EVENTINJ);
CHECK(n_cr3, VMCB_N_CR3);
CHECK(clean, VMCB_CLEAN);
CHECK(nrip, VMCB_NRIP);
CHECK(insn_len, VMCB_GUEST_INSN_BYTES);
CHECK(es, VMCB_ES);
CHECK(cs, VMCB_CS);
CHECK(ss, VMCB_SS);
CHECK(ds, VMCB_DS);
CHECK(fs, VMCB_FS);
CHECK(gs, VMCB_GS);
CHECK(gdtr, VMCB_GDTR);
CHECK(ldtr, VMCB_LDTR);
CHECK(idtr, VMCB_IDTR);
CHECK(tr, VMCB_TR);
CHECK(cpl, VMCB_CPL);
CHECK(efer, VMCB_EFER);
CHECK(cr4, VMCB_CR4);
CHECK(cr3, VMCB_CR3);
CHECK(cr0, VMCB_CR0);
CHECK(dr7, VMCB_DR7);
CHECK(dr6, VMCB_DR6);
CHECK(rflags, VMCB_RFLAGS);
CHECK(rip, VMCB_RIP);
CHECK(rsp, VMCB_RSP);
CHECK(rax, VMCB_RAX);
CHECK(star, VMCB_STAR);
CHECK(lstar, VMCB_LSTAR);
CHECK(cstar, VMCB_CSTAR);
CHECK(sfmask, VMCB_SFMASK);
CHECK(kernel_gs_base, VMCB_KERNEL_GS_BASE);
CHECK(sysenter_cs, VMCB_SYSENTER_CS);
CHECK(sysenter_esp, VMCB_SYSENTER_ESP);
CHECK(sysenter_eip, VMCB_SYSENTER_EIP);
CHECK(cr2, VMCB_CR2);
CHECK(g_pat, VMCB_G_PAT);
_Static_assert(sizeof(struct vmcb) == 4096, "a VMCB is one page");
#undef CHECK

/* Instruction intercepts: everything that would let the guest see or use
 * real hardware (I/O, MSRs, SVM itself) or hold the CPU without an exit.
 * #DB and #AC are intercepted so that a guest cannot hang the CPU in an
 * endless chain of exception deliveries (the #AC/#DB loops): each one
 * becomes a #VMEXIT, where a pending host interrupt can end the slice.
 * PAUSE is intercepted (every one: the pause filter count stays 0) so that
 * a guest spin-waiting gives its turn away (kernel/vm.c, EXIT_SPIN). */
#define MISC1_INTERCEPTS                                                                           \
	(INTERCEPT_INTR | INTERCEPT_NMI | INTERCEPT_SMI | INTERCEPT_INIT | INTERCEPT_RDPMC |       \
	 INTERCEPT_CPUID | INTERCEPT_INVD | INTERCEPT_PAUSE | INTERCEPT_HLT | INTERCEPT_INVLPGA |  \
	 INTERCEPT_IOIO_PROT | INTERCEPT_MSR_PROT | INTERCEPT_SHUTDOWN)
/* VMRUN must be intercepted or VMRUN fails (APM 15.5.1, consistency
 * checks); the other SVM instructions would otherwise run for real, since
 * the VMCB's EFER.SVME is set. */
#define MISC2_INTERCEPTS                                                                           \
	(INTERCEPT_VMRUN | INTERCEPT_VMMCALL | INTERCEPT_VMLOAD | INTERCEPT_VMSAVE |               \
	 INTERCEPT_STGI | INTERCEPT_CLGI | INTERCEPT_SKINIT | INTERCEPT_RDTSCP | INTERCEPT_WBINVD |                   \
	 INTERCEPT_MONITOR | INTERCEPT_MWAIT | INTERCEPT_XSETBV)
#define EXC_INTERCEPTS ((1u << 1) | (1u << 17))

static void seg(struct vmcb_seg *s, uint16_t sel, uint16_t attr, uint32_t limit, uint64_t base)
{
	*s = (struct vmcb_seg){.sel = sel, .attr = attr, .limit = limit, .base = base};
}

void vmcb_init(struct vmcb *vmcb, uint32_t asid, uint64_t n_cr3, uint64_t iopm_pa,
	       uint64_t msrpm_pa)
{
	memset(vmcb, 0, sizeof(*vmcb));
	/* SVM has no guest/host masks: every CR0 and CR4 write exits so
	 * that the guest gets the same checks as on VMX (exit.c,
	 * arch/x86/guest_policy.c): CR4 only the baseline's bits, CR0 the
	 * architectural #GP cases that VMRUN would otherwise refuse, CR8 its
	 * reserved bits (reads come from V_TPR without an exit). */
	vmcb->intercept_cr = INTERCEPT_CR0_WRITE | INTERCEPT_CR4_WRITE | INTERCEPT_CR8_WRITE;
	vmcb->intercept_exc = EXC_INTERCEPTS;
	vmcb->intercept_misc1 = MISC1_INTERCEPTS;
	vmcb->intercept_misc2 = MISC2_INTERCEPTS;
	vmcb->iopm_base_pa = iopm_pa;
	vmcb->msrpm_base_pa = msrpm_pa;
	vmcb->guest_asid = asid;
	/* APM 15.21.1: with V_INTR_MASKING the guest's IF masks only virtual
	 * interrupts; physical ones follow the host's IF and, intercepted,
	 * end the slice however long the guest keeps IF clear. */
	vmcb->vintr = V_INTR_MASKING;
	vmcb->np_enable = NP_ENABLE;
	vmcb->n_cr3 = n_cr3;
	/* Nothing is cached across VMRUN (APM 15.15.3): always reloaded. */
	vmcb->clean = 0;

	/* The architectural state comes next, from svm_set_state() with
	 * guest_policy_reset_state(), as on VMX. */
	/* APM 15.5.1: VMRUN refuses a guest whose EFER.SVME is clear. */
	vmcb->efer = EFER_SVME;
}

uint64_t vmcb_guest_efer(const struct vmcb *vmcb)
{
	return vmcb->efer & ~EFER_SVME;
}

static void seg_out(struct vcpu_seg *d, const struct vmcb_seg *s)
{
	*d = (struct vcpu_seg){.sel = s->sel, .attr = s->attr, .limit = s->limit, .base = s->base};
}

static void seg_in(struct vmcb_seg *d, const struct vcpu_seg *s)
{
	seg(d, s->sel, s->attr & 0xFFF, s->limit, s->base);
}

static void event_out(struct vcpu_event *ev, uint64_t inj)
{
	*ev = (struct vcpu_event){0};
	if (!(inj & EVENT_VALID))
		return;
	ev->valid = 1;
	ev->vector = inj & EVENT_VECTOR_MASK;
	ev->type = (inj & EVENT_TYPE_MASK) >> EVENT_TYPE_SHIFT;
	ev->has_error = !!(inj & EVENT_EV);
	ev->error = inj >> 32;
}

void vmcb_get_state(const struct vmcb *vmcb, struct vcpu_state *s)
{
	s->rip = vmcb->rip;
	s->rflags = vmcb->rflags;
	seg_out(&s->es, &vmcb->es);
	seg_out(&s->cs, &vmcb->cs);
	seg_out(&s->ss, &vmcb->ss);
	seg_out(&s->ds, &vmcb->ds);
	seg_out(&s->fs, &vmcb->fs);
	seg_out(&s->gs, &vmcb->gs);
	seg_out(&s->ldtr, &vmcb->ldtr);
	seg_out(&s->tr, &vmcb->tr);
	s->gdtr = (struct vcpu_dtable){.base = vmcb->gdtr.base, .limit = vmcb->gdtr.limit};
	s->idtr = (struct vcpu_dtable){.base = vmcb->idtr.base, .limit = vmcb->idtr.limit};
	s->cr0 = vmcb->cr0;
	s->cr2 = vmcb->cr2;
	s->cr3 = vmcb->cr3;
	s->cr4 = vmcb->cr4;
	s->efer = vmcb_guest_efer(vmcb);
	s->dr6 = vmcb->dr6;
	s->dr7 = vmcb->dr7;
	s->star = vmcb->star;
	s->lstar = vmcb->lstar;
	s->cstar = vmcb->cstar;
	s->sfmask = vmcb->sfmask;
	s->kernel_gs_base = vmcb->kernel_gs_base;
	s->sysenter_cs = vmcb->sysenter_cs;
	s->sysenter_esp = vmcb->sysenter_esp;
	s->sysenter_eip = vmcb->sysenter_eip;
	s->pat = vmcb->g_pat;
	s->intr_shadow = vmcb->interrupt_shadow & INTERRUPT_SHADOW_MASK;
	event_out(&s->event, vmcb->eventinj);
}

void vmcb_set_state(struct vmcb *vmcb, const struct vcpu_state *s)
{
	vmcb->rip = s->rip;
	vmcb->rflags = s->rflags | 0x2; /* bit 1 is reserved, always 1 */
	seg_in(&vmcb->es, &s->es);
	seg_in(&vmcb->cs, &s->cs);
	seg_in(&vmcb->ss, &s->ss);
	seg_in(&vmcb->ds, &s->ds);
	seg_in(&vmcb->fs, &s->fs);
	seg_in(&vmcb->gs, &s->gs);
	seg_in(&vmcb->ldtr, &s->ldtr);
	seg_in(&vmcb->tr, &s->tr);
	seg(&vmcb->gdtr, 0, 0, s->gdtr.limit, s->gdtr.base);
	seg(&vmcb->idtr, 0, 0, s->idtr.limit, s->idtr.base);
	vmcb->cr0 = s->cr0;
	vmcb->cr2 = s->cr2;
	vmcb->cr3 = s->cr3;
	vmcb->cr4 = s->cr4;
	vmcb->efer = s->efer | EFER_SVME;
	vmcb->dr6 = s->dr6;
	vmcb->dr7 = s->dr7;
	vmcb->star = s->star;
	vmcb->lstar = s->lstar;
	vmcb->cstar = s->cstar;
	vmcb->sfmask = s->sfmask;
	vmcb->kernel_gs_base = s->kernel_gs_base;
	vmcb->sysenter_cs = s->sysenter_cs;
	vmcb->sysenter_esp = s->sysenter_esp;
	vmcb->sysenter_eip = s->sysenter_eip;
	vmcb->g_pat = s->pat;
	/* VMRUN takes CPL from the VMCB, not from SS (APM 15.5.1): derive it
	 * the way the CPU would. */
	if (!(s->cr0 & CR0_PE))
		vmcb->cpl = 0;
	else if (s->rflags & RFLAGS_VM)
		vmcb->cpl = 3;
	else
		vmcb->cpl = (s->ss.attr >> 5) & 3;
	vmcb->interrupt_shadow = s->intr_shadow ? INTERRUPT_SHADOW_MASK : 0;
	vmcb->eventinj = 0;
	if (s->event.valid)
		vmcb_inject(vmcb, s->event.type, s->event.vector, s->event.has_error,
			    s->event.error);
}

void vmcb_inject(struct vmcb *vmcb, uint8_t type, uint8_t vector, bool has_error, uint32_t error)
{
	vmcb->eventinj = EVENT_VALID | vector | ((uint64_t)(type & 7) << EVENT_TYPE_SHIFT) |
			 (has_error ? EVENT_EV | (uint64_t)error << 32 : 0);
}
