/* The Virtual Machine Control Block: layout, intercepts and exit codes,
 * with the names of AMD APM vol. 2 (rev. 3.3x), Appendix B (layout) and
 * Appendix C (exit codes). The offsets below are the manual's; the struct
 * is checked against them at compile time. */
#pragma once
#include <stdint.h>
#include "kernel/hv.h"

/* ---- Control area offsets (APM Table B-1) --------------------------------- */
#define VMCB_INTERCEPT_CR 0x000 /* 15:0 reads, 31:16 writes */
#define VMCB_INTERCEPT_DR 0x004
#define VMCB_INTERCEPT_EXC 0x008 /* one bit per exception vector */
#define VMCB_INTERCEPT_MISC1 0x00C
#define VMCB_INTERCEPT_MISC2 0x010
#define VMCB_PAUSE_FILTER_THRESHOLD 0x03C
#define VMCB_PAUSE_FILTER_COUNT 0x03E
#define VMCB_IOPM_BASE_PA 0x040
#define VMCB_MSRPM_BASE_PA 0x048
#define VMCB_TSC_OFFSET 0x050
#define VMCB_GUEST_ASID 0x058
#define VMCB_TLB_CONTROL 0x05C
#define VMCB_VINTR 0x060 /* V_TPR, V_IRQ, V_INTR_MASKING, ... */
#define VMCB_INTERRUPT_SHADOW 0x068
#define VMCB_EXITCODE 0x070
#define VMCB_EXITINFO1 0x078
#define VMCB_EXITINFO2 0x080
#define VMCB_EXITINTINFO 0x088
#define VMCB_NP_ENABLE 0x090
#define VMCB_EVENTINJ 0x0A8
#define VMCB_N_CR3 0x0B0
#define VMCB_CLEAN 0x0C0
#define VMCB_NRIP 0x0C8
#define VMCB_GUEST_INSN_BYTES 0x0D0

/* ---- State save area offsets (APM Table B-2, from the VMCB start) -------- */
#define VMCB_ES 0x400
#define VMCB_CS 0x410
#define VMCB_SS 0x420
#define VMCB_DS 0x430
#define VMCB_FS 0x440
#define VMCB_GS 0x450
#define VMCB_GDTR 0x460
#define VMCB_LDTR 0x470
#define VMCB_IDTR 0x480
#define VMCB_TR 0x490
#define VMCB_CPL 0x4CB
#define VMCB_EFER 0x4D0
#define VMCB_CR4 0x548
#define VMCB_CR3 0x550
#define VMCB_CR0 0x558
#define VMCB_DR7 0x560
#define VMCB_DR6 0x568
#define VMCB_RFLAGS 0x570
#define VMCB_RIP 0x578
#define VMCB_RSP 0x5D8
#define VMCB_RAX 0x5F8
#define VMCB_STAR 0x600
#define VMCB_LSTAR 0x608
#define VMCB_CSTAR 0x610
#define VMCB_SFMASK 0x618
#define VMCB_KERNEL_GS_BASE 0x620
#define VMCB_SYSENTER_CS 0x628
#define VMCB_SYSENTER_ESP 0x630
#define VMCB_SYSENTER_EIP 0x638
#define VMCB_CR2 0x640
#define VMCB_G_PAT 0x668

/* A segment in the save area: the attribute is the 12-bit packed form
 * that struct vcpu_seg also uses (APM 15.5.1). GDTR/IDTR use base and
 * limit only. */
struct vmcb_seg {
	uint16_t sel;
	uint16_t attr;
	uint32_t limit;
	uint64_t base;
};

struct vmcb {
	/* Control area */
	uint32_t intercept_cr;
	uint32_t intercept_dr;
	uint32_t intercept_exc;
	uint32_t intercept_misc1;
	uint32_t intercept_misc2;
	uint8_t rsvd_014[0x03C - 0x014];
	uint16_t pause_filter_threshold;
	uint16_t pause_filter_count;
	uint64_t iopm_base_pa;
	uint64_t msrpm_base_pa;
	uint64_t tsc_offset;
	uint32_t guest_asid;
	uint8_t tlb_control;
	uint8_t rsvd_05d[3];
	uint64_t vintr;
	uint64_t interrupt_shadow;
	uint64_t exitcode;
	uint64_t exitinfo1;
	uint64_t exitinfo2;
	uint64_t exitintinfo;
	uint64_t np_enable;
	uint64_t avic_apic_bar;
	uint64_t ghcb_pa;
	uint64_t eventinj;
	uint64_t n_cr3;
	uint64_t lbr_virt_enable;
	uint32_t clean;
	uint32_t rsvd_0c4;
	uint64_t nrip;
	uint8_t insn_len;
	uint8_t insn_bytes[15];
	uint8_t rsvd_0e0[0x400 - 0x0E0];

	/* State save area */
	struct vmcb_seg es, cs, ss, ds, fs, gs, gdtr, ldtr, idtr, tr;
	uint8_t rsvd_4a0[0x4CB - 0x4A0];
	uint8_t cpl;
	uint32_t rsvd_4cc;
	uint64_t efer;
	uint8_t rsvd_4d8[0x548 - 0x4D8];
	uint64_t cr4, cr3, cr0, dr7, dr6, rflags, rip;
	uint8_t rsvd_580[0x5D8 - 0x580];
	uint64_t rsp;
	uint8_t rsvd_5e0[0x5F8 - 0x5E0];
	uint64_t rax;
	uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t cr2;
	uint8_t rsvd_648[0x668 - 0x648];
	uint64_t g_pat;
	uint64_t dbgctl, br_from, br_to, lastexcpfrom, lastexcpto;
	uint8_t rsvd_698[0x1000 - 0x698];
} __attribute__((packed, aligned(4096)));

/* ---- Intercept bits ---------------------------------------------------------
 * MISC1 is the control area word at 0x00C, MISC2 the one at 0x010 (APM
 * Table B-1). */
#define INTERCEPT_CR8_READ (1u << 8)
#define INTERCEPT_CR0_WRITE (1u << 16) /* in intercept_cr: writes are bits 31:16 */
#define INTERCEPT_CR4_WRITE (1u << 20)
#define INTERCEPT_CR8_WRITE (1u << 24)
#define INTERCEPT_INTR (1u << 0)
#define INTERCEPT_NMI (1u << 1)
#define INTERCEPT_SMI (1u << 2)
#define INTERCEPT_INIT (1u << 3)
#define INTERCEPT_VINTR (1u << 4)
#define INTERCEPT_RDTSC (1u << 14)
#define INTERCEPT_RDPMC (1u << 15)
#define INTERCEPT_CPUID (1u << 18)
#define INTERCEPT_INVD (1u << 22)
#define INTERCEPT_PAUSE (1u << 23)
#define INTERCEPT_HLT (1u << 24)
#define INTERCEPT_INVLPGA (1u << 26)
#define INTERCEPT_IOIO_PROT (1u << 27)
#define INTERCEPT_MSR_PROT (1u << 28)
#define INTERCEPT_SHUTDOWN (1u << 31)

#define INTERCEPT_VMRUN (1u << 0)
#define INTERCEPT_VMMCALL (1u << 1)
#define INTERCEPT_VMLOAD (1u << 2)
#define INTERCEPT_VMSAVE (1u << 3)
#define INTERCEPT_STGI (1u << 4)
#define INTERCEPT_CLGI (1u << 5)
#define INTERCEPT_SKINIT (1u << 6)
#define INTERCEPT_RDTSCP (1u << 7)
#define INTERCEPT_WBINVD (1u << 9)
#define INTERCEPT_MONITOR (1u << 10)
#define INTERCEPT_MWAIT (1u << 11)
#define INTERCEPT_XSETBV (1u << 13)

/* ---- Other control fields ------------------------------------------------ */
#define TLB_CONTROL_DO_NOTHING 0
#define TLB_CONTROL_FLUSH_ALL 1	 /* every ASID: the only flush without FlushByAsid */
#define TLB_CONTROL_FLUSH_ASID 3 /* this guest's ASID (CPUID 8000_000A EDX[6]) */

#define V_TPR_MASK 0xFull
/* VINTR word (APM Table B-1, 15.21.4): a virtual interrupt request, its
 * priority and vector, and "ignore V_TPR" for it. */
#define V_IRQ (1ull << 8)
#define V_INTR_PRIO_SHIFT 16
#define V_INTR_PRIO_MASK (0xFull << V_INTR_PRIO_SHIFT)
#define V_IGN_TPR (1ull << 20)
#define V_INTR_VECTOR_SHIFT 32
#define V_INTR_VECTOR_MASK (0xFFull << V_INTR_VECTOR_SHIFT)
#define V_INTR_MASKING (1ull << 24)
#define INTERRUPT_SHADOW_MASK 1ull
#define NP_ENABLE 1ull

/* EVENTINJ and EXITINTINFO share one format (APM 15.20). The type values
 * are those of struct vcpu_event. */
#define EVENT_VECTOR_MASK 0xFFull
#define EVENT_TYPE_SHIFT 8
#define EVENT_TYPE_MASK (7ull << EVENT_TYPE_SHIFT)
#define EVENT_EV (1ull << 11) /* an error code is pushed */
#define EVENT_VALID (1ull << 31)
#define EVENT_TYPE_INTR 0
#define EVENT_TYPE_NMI 2
#define EVENT_TYPE_EXCEPTION 3
#define EVENT_TYPE_SOFT_INT 4

/* EFER bits the backend cares about (APM vol. 2, 3.1.7). */
#define EFER_SCE (1ull << 0)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)
#define EFER_SVME (1ull << 12)

#define CR0_PE (1ull << 0)
#define CR0_PG (1ull << 31)
#define RFLAGS_TF (1ull << 8)
#define DR6_BS (1ull << 14) /* single-step trap */
#define RFLAGS_IF (1ull << 9)
#define RFLAGS_VM (1ull << 17)
#define SEG_ATTR_L (1u << 9)


/* ---- #VMEXIT codes (APM Appendix C) ------------------------------------ */
#define VMEXIT_CR8_READ 0x008
#define VMEXIT_CR0_WRITE 0x010
#define VMEXIT_CR4_WRITE 0x014
#define VMEXIT_CR8_WRITE 0x018
#define VMEXIT_EXCP_BASE 0x040 /* + vector */
#define VMEXIT_INTR 0x060
#define VMEXIT_NMI 0x061
#define VMEXIT_SMI 0x062
#define VMEXIT_INIT 0x063
#define VMEXIT_VINTR 0x064
#define VMEXIT_RDTSC 0x06E
#define VMEXIT_RDPMC 0x06F
#define VMEXIT_CPUID 0x072
#define VMEXIT_INVD 0x076
#define VMEXIT_PAUSE 0x077
#define VMEXIT_HLT 0x078
#define VMEXIT_INVLPGA 0x07A
#define VMEXIT_IOIO 0x07B
#define VMEXIT_MSR 0x07C
#define VMEXIT_SHUTDOWN 0x07F
#define VMEXIT_VMRUN 0x080
#define VMEXIT_VMMCALL 0x081
#define VMEXIT_VMLOAD 0x082
#define VMEXIT_VMSAVE 0x083
#define VMEXIT_STGI 0x084
#define VMEXIT_CLGI 0x085
#define VMEXIT_SKINIT 0x086
#define VMEXIT_RDTSCP 0x087
#define VMEXIT_WBINVD 0x089
#define VMEXIT_MONITOR 0x08A
#define VMEXIT_MWAIT 0x08B
#define VMEXIT_XSETBV 0x08D
#define VMEXIT_NPF 0x400
#define VMEXIT_INVALID ((uint64_t)-1) /* VMRUN refused the guest state */

/* IOIO EXITINFO1 (APM 15.10.2). */
#define IOIO_TYPE_IN (1ull << 0)
#define IOIO_STR (1ull << 2)
#define IOIO_REP (1ull << 3)
#define IOIO_SZ8 (1ull << 4)
#define IOIO_SZ16 (1ull << 5)
#define IOIO_SZ32 (1ull << 6)
#define IOIO_PORT_SHIFT 16

/* #NPF EXITINFO1: a page-fault error code plus where the walk failed
 * (APM 15.25.6). */
#define NPF_P (1ull << 0)
#define NPF_RW (1ull << 1)
#define NPF_ID (1ull << 4)
#define NPF_GPA (1ull << 32)  /* translating the final guest-physical address */
#define NPF_WALK (1ull << 33) /* accessing a guest page table */

/* Programs the control area (intercepts, IOPM/MSRPM, ASID, nested paging)
 * and the processor's INIT state (APM vol. 2, 14.1.3). */
void vmcb_init(struct vmcb *vmcb, uint32_t asid, uint64_t n_cr3, uint64_t iopm_pa,
	       uint64_t msrpm_pa);
/* vcpu_state <-> save area. GPRs, FPU state and "halted" are the caller's:
 * they do not live in the VMCB. */
void vmcb_get_state(const struct vmcb *vmcb, struct vcpu_state *s);
void vmcb_set_state(struct vmcb *vmcb, const struct vcpu_state *s);
/* A guest-visible EFER value: SVME is Tern's, never the guest's. */
uint64_t vmcb_guest_efer(const struct vmcb *vmcb);
/* Queues an event for the next VMRUN (APM 15.20). */
void vmcb_inject(struct vmcb *vmcb, uint8_t type, uint8_t vector, bool has_error, uint32_t error);
