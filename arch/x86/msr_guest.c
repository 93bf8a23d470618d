/* Which MSRs a guest may touch. Nothing is passed through to the host's
 * MSRs: state MSRs live in the backend's guest-state area, a few
 * informational ones read as constants, and the rest raise #GP so a guest
 * cannot probe or change the host. */
#include "arch/x86/msr.h"
#include "kernel/hv.h"
#include "kernel/log.h"
#include "kernel/vm.h"


enum msr_policy msr_guest_policy(uint32_t msr, bool write, uint64_t *val)
{
	switch (msr) {
	case MSR_TSC:
	case MSR_SYSENTER_CS:
	case MSR_SYSENTER_ESP:
	case MSR_SYSENTER_EIP:
	case MSR_PAT:
	case MSR_EFER:
	case MSR_STAR:
	case MSR_LSTAR:
	case MSR_CSTAR:
	case MSR_SFMASK:
	case MSR_FS_BASE:
	case MSR_GS_BASE:
	case MSR_KERNEL_GS_BASE:
		return MSR_STATE;
	case MSR_APIC_BASE:
	case MSR_TSC_DEADLINE:
		return MSR_LAPIC; /* the vCPU's own LAPIC (kernel/vdev/vlapic.c) */
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
	if (msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST)
		return MSR_LAPIC; /* x2APIC registers (SDM 11.12.1.2) */
	/* Warn once per MSR: a guest probing in a loop must not flood the log. */
	static uint32_t warned[16];
	static unsigned nwarned;
	for (unsigned i = 0; i < nwarned; i++)
		if (warned[i] == msr)
			return MSR_DENY;
	if (nwarned < sizeof(warned) / sizeof(warned[0]))
		warned[nwarned++] = msr;
	log_guest(vm_current(), LOG_WARN, "guest %s of MSR 0x%x refused (#GP)", write ? "write" : "read",
		  msr);
	return MSR_DENY;
}
