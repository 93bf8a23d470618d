/* The VMCS: field encodings (SDM Vol. 3, Appendix B), control bits
 * (SDM 24.6-24.8, "VM-Execution/Exit/Entry Control Fields"), exit reasons
 * (Appendix C) and the VMX instructions as small wrappers. */
#pragma once
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/msr.h"

/* ---- 16-bit fields (B.1) ---- */
#define VMCS_VPID 0x0000
#define VMCS_GUEST_ES_SEL 0x0800
#define VMCS_GUEST_CS_SEL 0x0802
#define VMCS_GUEST_SS_SEL 0x0804
#define VMCS_GUEST_DS_SEL 0x0806
#define VMCS_GUEST_FS_SEL 0x0808
#define VMCS_GUEST_GS_SEL 0x080A
#define VMCS_GUEST_LDTR_SEL 0x080C
#define VMCS_GUEST_TR_SEL 0x080E
#define VMCS_GUEST_PML_INDEX 0x0812
#define VMCS_HOST_ES_SEL 0x0C00
#define VMCS_HOST_CS_SEL 0x0C02
#define VMCS_HOST_SS_SEL 0x0C04
#define VMCS_HOST_DS_SEL 0x0C06
#define VMCS_HOST_FS_SEL 0x0C08
#define VMCS_HOST_GS_SEL 0x0C0A
#define VMCS_HOST_TR_SEL 0x0C0C

/* ---- 64-bit fields (B.2) ---- */
#define VMCS_IO_BITMAP_A 0x2000
#define VMCS_IO_BITMAP_B 0x2002
#define VMCS_MSR_BITMAP 0x2004
#define VMCS_EXIT_MSR_STORE_ADDR 0x2006
#define VMCS_EXIT_MSR_LOAD_ADDR 0x2008
#define VMCS_ENTRY_MSR_LOAD_ADDR 0x200A
#define VMCS_PML_ADDRESS 0x200E
#define VMCS_TSC_OFFSET 0x2010
#define VMCS_EPT_POINTER 0x201A
#define VMCS_GUEST_PHYSICAL_ADDRESS 0x2400
#define VMCS_LINK_POINTER 0x2800
#define VMCS_GUEST_IA32_DEBUGCTL 0x2802
#define VMCS_GUEST_IA32_PAT 0x2804
#define VMCS_GUEST_IA32_EFER 0x2806
#define VMCS_GUEST_PDPTE0 0x280A /* PDPTE1-3 follow at +2 each */
#define VMCS_HOST_IA32_PAT 0x2C00
#define VMCS_HOST_IA32_EFER 0x2C02

/* ---- 32-bit fields (B.3) ---- */
#define VMCS_PIN_CONTROLS 0x4000
#define VMCS_PROC_CONTROLS 0x4002
#define VMCS_EXCEPTION_BITMAP 0x4004
#define VMCS_PF_ERROR_MASK 0x4006
#define VMCS_PF_ERROR_MATCH 0x4008
#define VMCS_CR3_TARGET_COUNT 0x400A
#define VMCS_EXIT_CONTROLS 0x400C
#define VMCS_EXIT_MSR_STORE_COUNT 0x400E
#define VMCS_EXIT_MSR_LOAD_COUNT 0x4010
#define VMCS_ENTRY_CONTROLS 0x4012
#define VMCS_ENTRY_MSR_LOAD_COUNT 0x4014
#define VMCS_ENTRY_INTR_INFO 0x4016
#define VMCS_ENTRY_EXCEPTION_ERROR 0x4018
#define VMCS_ENTRY_INSTRUCTION_LEN 0x401A
#define VMCS_PROC_CONTROLS2 0x401E
#define VMCS_PLE_GAP 0x4020
#define VMCS_PLE_WINDOW 0x4022
#define VMCS_VM_INSTRUCTION_ERROR 0x4400
#define VMCS_EXIT_REASON 0x4402
#define VMCS_EXIT_INTR_INFO 0x4404
#define VMCS_EXIT_INTR_ERROR 0x4406
#define VMCS_IDT_VECTORING_INFO 0x4408
#define VMCS_IDT_VECTORING_ERROR 0x440A
#define VMCS_EXIT_INSTRUCTION_LEN 0x440C
#define VMCS_EXIT_INSTRUCTION_INFO 0x440E
#define VMCS_GUEST_ES_LIMIT 0x4800 /* CS SS DS FS GS LDTR TR follow at +2 each */
#define VMCS_GUEST_GDTR_LIMIT 0x4810
#define VMCS_GUEST_IDTR_LIMIT 0x4812
#define VMCS_GUEST_ES_AR 0x4814 /* CS SS DS FS GS LDTR TR follow at +2 each */
#define VMCS_GUEST_INTERRUPTIBILITY 0x4824
#define VMCS_GUEST_ACTIVITY_STATE 0x4826
#define VMCS_GUEST_SYSENTER_CS 0x482A
#define VMCS_PREEMPTION_TIMER 0x482E
#define VMCS_HOST_SYSENTER_CS 0x4C00

/* ---- Natural-width fields (B.4) ---- */
#define VMCS_CR0_GUEST_HOST_MASK 0x6000
#define VMCS_CR4_GUEST_HOST_MASK 0x6002
#define VMCS_CR0_READ_SHADOW 0x6004
#define VMCS_CR4_READ_SHADOW 0x6006
#define VMCS_EXIT_QUALIFICATION 0x6400
#define VMCS_GUEST_LINEAR_ADDRESS 0x640A
#define VMCS_GUEST_CR0 0x6800
#define VMCS_GUEST_CR3 0x6802
#define VMCS_GUEST_CR4 0x6804
#define VMCS_GUEST_ES_BASE 0x6806 /* CS SS DS FS GS LDTR TR follow at +2 each */
#define VMCS_GUEST_FS_BASE 0x680E
#define VMCS_GUEST_GS_BASE 0x6810
#define VMCS_GUEST_GDTR_BASE 0x6816
#define VMCS_GUEST_IDTR_BASE 0x6818
#define VMCS_GUEST_DR7 0x681A
#define VMCS_GUEST_RSP 0x681C
#define VMCS_GUEST_RIP 0x681E
#define VMCS_GUEST_RFLAGS 0x6820
#define VMCS_GUEST_PENDING_DBG 0x6822
#define VMCS_GUEST_SYSENTER_ESP 0x6824
#define VMCS_GUEST_SYSENTER_EIP 0x6826
#define VMCS_HOST_CR0 0x6C00
#define VMCS_HOST_CR3 0x6C02
#define VMCS_HOST_CR4 0x6C04
#define VMCS_HOST_FS_BASE 0x6C06
#define VMCS_HOST_GS_BASE 0x6C08
#define VMCS_HOST_TR_BASE 0x6C0A
#define VMCS_HOST_GDTR_BASE 0x6C0C
#define VMCS_HOST_IDTR_BASE 0x6C0E
#define VMCS_HOST_SYSENTER_ESP 0x6C10
#define VMCS_HOST_SYSENTER_EIP 0x6C12
#define VMCS_HOST_RSP 0x6C14
#define VMCS_HOST_RIP 0x6C16

/* Segment registers in the order of their guest-state fields. */
enum {
	VMCS_SEG_ES,
	VMCS_SEG_CS,
	VMCS_SEG_SS,
	VMCS_SEG_DS,
	VMCS_SEG_FS,
	VMCS_SEG_GS,
	VMCS_SEG_LDTR,
	VMCS_SEG_TR
};

/* ---- Pin-based controls (24.6.1) ---- */
#define PIN_EXT_INTR_EXITING (1u << 0)
#define PIN_NMI_EXITING (1u << 3)
#define PIN_PREEMPTION_TIMER (1u << 6)
/* ---- Primary processor-based controls (24.6.2, Table 24-6) ---- */
#define PROC_INTR_WINDOW_EXITING (1u << 2)
#define PROC_TSC_OFFSETTING (1u << 3)
#define PROC_HLT_EXITING (1u << 7)
#define PROC_INVLPG_EXITING (1u << 9)
#define PROC_MWAIT_EXITING (1u << 10)
#define PROC_RDPMC_EXITING (1u << 11)
#define PROC_RDTSC_EXITING (1u << 12)
#define PROC_CR3_LOAD_EXITING (1u << 15)
#define PROC_CR3_STORE_EXITING (1u << 16)
#define PROC_CR8_LOAD_EXITING (1u << 19)
#define PROC_CR8_STORE_EXITING (1u << 20)
#define PROC_UNCOND_IO_EXITING (1u << 24)
#define PROC_USE_IO_BITMAPS (1u << 25)
#define PROC_USE_MSR_BITMAPS (1u << 28)
#define PROC_MONITOR_EXITING (1u << 29)
#define PROC_PAUSE_EXITING (1u << 30)
#define PROC_SECONDARY_CONTROLS (1u << 31)
/* ---- Secondary processor-based controls (Table 24-7) ---- */
#define PROC2_ENABLE_EPT (1u << 1)
#define PROC2_ENABLE_VPID (1u << 5)
#define PROC2_UNRESTRICTED_GUEST (1u << 7)
#define PROC2_PAUSE_LOOP_EXITING (1u << 10)
#define PROC2_RDRAND_EXITING (1u << 11)
#define PROC2_RDSEED_EXITING (1u << 16)
#define PROC2_ENABLE_PML (1u << 17)
/* ---- VM-exit controls (24.7.1) ---- */
#define EXIT_SAVE_DEBUG_CONTROLS (1u << 2)
#define EXIT_HOST_ADDR_SPACE_SIZE (1u << 9)
#define EXIT_SAVE_IA32_PAT (1u << 18)
#define EXIT_LOAD_IA32_PAT (1u << 19)
#define EXIT_SAVE_IA32_EFER (1u << 20)
#define EXIT_LOAD_IA32_EFER (1u << 21)
/* ---- VM-entry controls (24.8.1) ---- */
#define ENTRY_LOAD_DEBUG_CONTROLS (1u << 2)
#define ENTRY_IA32E_MODE_GUEST (1u << 9)
#define ENTRY_LOAD_IA32_PAT (1u << 14)
#define ENTRY_LOAD_IA32_EFER (1u << 15)

/* ---- Event injection / IDT-vectoring information (24.8.3, 27.2.4) ---- */
#define INTR_INFO_VECTOR(x) ((x)&0xFF)
#define INTR_INFO_TYPE(x) (((x) >> 8) & 7)
#define INTR_INFO_HAS_ERROR (1u << 11)
#define INTR_INFO_VALID (1u << 31)
#define INTR_TYPE_EXT_INTR 0
#define INTR_TYPE_NMI 2
#define INTR_TYPE_HW_EXCEPTION 3
#define INTR_TYPE_SW_INTR 4
#define INTR_TYPE_PRIV_SW_EXCEPTION 5
#define INTR_TYPE_SW_EXCEPTION 6

/* Interruptibility state (24.4.2, Table 24-3). */
#define INTERRUPTIBILITY_STI (1u << 0)
#define INTERRUPTIBILITY_MOV_SS (1u << 1)
#define INTERRUPTIBILITY_NMI (1u << 3)

/* Segment access rights as VMX stores them (24.4.1, Table 24-2). */
#define VMX_AR_UNUSABLE (1u << 16)

/* ---- Basic exit reasons (Appendix C) ---- */
#define EXIT_REASON_EXCEPTION_NMI 0
#define EXIT_REASON_EXTERNAL_INTERRUPT 1
#define EXIT_REASON_TRIPLE_FAULT 2
#define EXIT_REASON_INIT 3
#define EXIT_REASON_INTR_WINDOW 7
#define EXIT_REASON_CPUID 10
#define EXIT_REASON_GETSEC 11
#define EXIT_REASON_HLT 12
#define EXIT_REASON_INVD 13
#define EXIT_REASON_RDPMC 15
#define EXIT_REASON_RDTSC 16
#define EXIT_REASON_VMCALL 18
#define EXIT_REASON_VMXON 27 /* 18-27: the VMX instructions */
#define EXIT_REASON_CR_ACCESS 28
#define EXIT_REASON_IO 30
#define EXIT_REASON_RDMSR 31
#define EXIT_REASON_WRMSR 32
#define EXIT_REASON_INVALID_GUEST_STATE 33
#define EXIT_REASON_MSR_LOADING 34
#define EXIT_REASON_MWAIT 36
#define EXIT_REASON_MONITOR 39
#define EXIT_REASON_PAUSE 40
#define EXIT_REASON_MACHINE_CHECK 41
#define EXIT_REASON_EPT_VIOLATION 48
#define EXIT_REASON_EPT_MISCONFIG 49
#define EXIT_REASON_INVEPT 50
#define EXIT_REASON_PREEMPTION_TIMER 52
#define EXIT_REASON_INVVPID 53
#define EXIT_REASON_XSETBV 55
#define EXIT_REASON_RDRAND 57
#define EXIT_REASON_RDSEED 61
#define EXIT_REASON_PML_FULL 62
#define EXIT_REASON_ENTRY_FAILURE (1u << 31)

/* ---- Capability MSRs (Appendix A; numbers in arch/x86/msr.h) ---- */
#define VMX_BASIC_TRUE_CTLS (1ull << 55)

/* What vmx_init() learned from the capability MSRs; read-only afterwards. */
struct vmx_caps {
	uint32_t revision; /* VMCS revision identifier (IA32_VMX_BASIC[30:0]) */
	uint32_t pin, proc, proc2, exit, entry; /* the controls every VMCS starts with */
	uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
	uint64_t ept_vpid;	/* IA32_VMX_EPT_VPID_CAP */
	unsigned preempt_shift; /* the preemption timer ticks every 2^shift TSC cycles */
	uint32_t mxcsr_mask;	/* MXCSR bits FXRSTOR accepts */
	bool ept_ad, pml, vpid, preemption_timer;
};
extern struct vmx_caps vmx_caps;

/* ---- Instructions (SDM Vol. 3C, chapter 30). Each returns 0, or -EIO when
 * the instruction reports VMfailInvalid / VMfailValid (CF or ZF set). ---- */
static inline int vmx_on(uint64_t pa)
{
	bool fail;
	__asm__ volatile("vmxon %1" : "=@ccbe"(fail) : "m"(pa) : "cc", "memory");
	return fail ? -EIO : 0;
}
static inline void vmx_off(void)
{
	__asm__ volatile("vmxoff" ::: "cc", "memory");
}
static inline int vmcs_clear(uint64_t pa)
{
	bool fail;
	__asm__ volatile("vmclear %1" : "=@ccbe"(fail) : "m"(pa) : "cc", "memory");
	return fail ? -EIO : 0;
}
static inline int vmcs_ptrld(uint64_t pa)
{
	bool fail;
	__asm__ volatile("vmptrld %1" : "=@ccbe"(fail) : "m"(pa) : "cc", "memory");
	return fail ? -EIO : 0;
}
/* The current VMCS must be loaded; reads of an unsupported field give 0. */
static inline uint64_t vmcs_read(uint32_t field)
{
	uint64_t v = 0;
	__asm__ volatile("vmread %1, %0" : "+r"(v) : "r"((uint64_t)field) : "cc");
	return v;
}
static inline int vmcs_write(uint32_t field, uint64_t v)
{
	bool fail;
	__asm__ volatile("vmwrite %1, %2" : "=@ccbe"(fail) : "r"(v), "r"((uint64_t)field) : "cc");
	return fail ? -EIO : 0;
}

/* INVEPT / INVVPID types (SDM 30.3, INVEPT and INVVPID) */
#define INVEPT_SINGLE_CONTEXT 1
#define INVEPT_ALL_CONTEXT 2
#define INVVPID_SINGLE_CONTEXT 1
#define INVVPID_ALL_CONTEXT 2
/* Not inline: the host unit test of slat_walk.c with EPT (tests/unit/slat)
 * records the calls to check what was cleared before each one. */
void vmx_invept(uint64_t type, uint64_t eptp);
static inline void vmx_invvpid(uint64_t type, uint16_t vpid)
{
	struct {
		uint64_t vpid, addr;
	} d = {vpid, 0};
	__asm__ volatile("invvpid %0, %1" ::"m"(d), "r"(type) : "cc", "memory");
}

struct vcpu;
struct vmx_vcpu;
/* Fills vmx_caps from the capability MSRs (VMXON must be done); on an
 * error *why says what this CPU lacks. */
int vmcs_init_caps(const char **why);
/* The CR0/CR4 guest/host masks: bits whose guest writes exit. */
uint64_t vmcs_cr0_mask(void);
uint64_t vmcs_cr4_mask(const struct guest_cpu *c);
/* Builds a fresh VMCS in x (allocated, VMCLEARed and made current): the
 * controls from vmx_caps, the host state of this CPU, and the guest state
 * of a CPU after RESET (the kernel overwrites it with set_state). */
int vmcs_setup(struct vcpu *v, struct vmx_vcpu *x);
/* Makes x's VMCS the current one on this CPU (VMPTRLD if it is not). */
int vmcs_load(struct vmx_vcpu *x);
/* Forgets x's VMCS (VMCLEAR): before freeing it. */
void vmcs_release(struct vmx_vcpu *x);
