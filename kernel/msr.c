/* Which MSRs a guest may touch. Nothing is passed through to the host's
 * MSRs: state MSRs live in the backend's guest-state area, a few
 * informational ones read as constants, and the rest raise #GP so a guest
 * cannot probe or change the host. */
#include "kernel/hv.h"
#include "kernel/log.h"

#define MSR_TSC 0x10
#define MSR_PLATFORM_ID 0x17
#define MSR_APIC_BASE_ 0x1B
#define MSR_MTRRCAP 0xFE
#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define MSR_MCG_CAP 0x179
#define MSR_MCG_STATUS 0x17A
#define MSR_MISC_ENABLE 0x1A0
#define MSR_PAT 0x277
#define MSR_MTRR_DEF_TYPE 0x2FF
#define MSR_EFER_ 0xC0000080
#define MSR_STAR 0xC0000081
#define MSR_LSTAR 0xC0000082
#define MSR_CSTAR 0xC0000083
#define MSR_SFMASK 0xC0000084
#define MSR_FS_BASE 0xC0000100
#define MSR_GS_BASE 0xC0000101
#define MSR_KERNEL_GS_BASE 0xC0000102

enum msr_policy msr_guest_policy(uint32_t msr, bool write, uint64_t *val)
{
	switch (msr) {
	case MSR_TSC:
	case MSR_SYSENTER_CS:
	case MSR_SYSENTER_ESP:
	case MSR_SYSENTER_EIP:
	case MSR_PAT:
	case MSR_EFER_:
	case MSR_STAR:
	case MSR_LSTAR:
	case MSR_CSTAR:
	case MSR_SFMASK:
	case MSR_FS_BASE:
	case MSR_GS_BASE:
	case MSR_KERNEL_GS_BASE:
		return MSR_STATE;
	case MSR_APIC_BASE_:
		*val = 0xFEE00000ull | (1u << 11) | (1u << 8); /* xAPIC, enabled, BSP */
		return MSR_CONST;
	case MSR_MISC_ENABLE:
		*val = 1; /* fast strings */
		return MSR_CONST;
	case MSR_PLATFORM_ID:
	case MSR_MTRRCAP: /* no variable or fixed MTRRs offered */
	case MSR_MTRR_DEF_TYPE:
	case MSR_MCG_CAP:
	case MSR_MCG_STATUS:
		*val = 0;
		return MSR_CONST;
	}
	/* Warn once per MSR: a guest probing in a loop must not flood the log. */
	static uint32_t warned[16];
	static unsigned nwarned;
	for (unsigned i = 0; i < nwarned; i++)
		if (warned[i] == msr)
			return MSR_DENY;
	if (nwarned < sizeof(warned) / sizeof(warned[0]))
		warned[nwarned++] = msr;
	log_warn("vm", "guest %s of MSR 0x%x refused (#GP)", write ? "write" : "read", msr);
	return MSR_DENY;
}
