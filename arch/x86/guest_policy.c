/* One guest-CPU policy for VMX and SVM (see guest_policy.h). */
#include <errno.h>
#include <string.h>
#include "arch/x86/guest_policy.h"
#include "arch/x86/msr.h"

bool guest_policy_canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

bool guest_policy_pat_valid(uint64_t pat)
{
	for (int i = 0; i < 8; i++) {
		uint8_t t = pat >> (8 * i);
		if (t == 2 || t == 3 || t > 7)
			return false;
	}
	return true;
}

uint64_t guest_policy_efer_writable(const struct guest_cpu *c)
{
	uint32_t r[4];
	uint64_t ok = 0;

	cpuid_guest(c, 0x80000001, 0, r);
	if (r[3] & (1u << 11))
		ok |= GP_EFER_SCE;
	if (r[3] & (1u << 20))
		ok |= GP_EFER_NXE;
	if (r[3] & (1u << 29))
		ok |= GP_EFER_LME;
	return ok;
}

uint64_t guest_policy_cr4_allowed(const struct guest_cpu *c)
{
	/* CR4 bit <- CPUID.1:EDX bit that offers it (SDM Vol. 3A 2.5). */
	static const struct {
		uint8_t cr4, edx;
	} map[] = {
		{0, 1},	  /* VME <- VME */
		{1, 1},	  /* PVI <- VME */
		{2, 4},	  /* TSD <- TSC */
		{3, 2},	  /* DE <- DE */
		{4, 3},	  /* PSE <- PSE */
		{5, 6},	  /* PAE <- PAE */
		{6, 7},	  /* MCE <- MCE */
		{7, 13},  /* PGE <- PGE */
		{9, 24},  /* OSFXSR <- FXSR */
		{10, 25}, /* OSXMMEXCPT <- SSE */
	};
	uint32_t r[4];
	uint64_t ok = 1ull << 8; /* PCE: RDPMC exists on every CPU (it #GPs anyway, docs) */

	cpuid_guest(c, 1, 0, r);
	for (unsigned i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (r[3] & (1u << map[i].edx))
			ok |= 1ull << map[i].cr4;
	return ok;
}

int guest_policy_efer_write(const struct guest_cpu *c, uint64_t cur, uint64_t val, uint64_t cr0, uint64_t *next)
{
	uint64_t allowed = guest_policy_efer_writable(c);

	/* A write of LMA is ignored, not refused (APM 3.1.7). */
	if (val & ~(allowed | GP_EFER_LMA))
		return -EINVAL;
	if ((cr0 & GP_CR0_PG) && ((val ^ cur) & GP_EFER_LME))
		return -EINVAL;
	*next = (val & allowed) | (cur & GP_EFER_LMA);
	return 0;
}

int guest_policy_msr_write_check(uint32_t msr, uint64_t val)
{
	switch (msr) {
	case MSR_SFMASK:
		return val >> 32 ? -EINVAL : 0; /* bits 63:32 reserved (APM 6.1.1) */
	case MSR_PAT:
		return guest_policy_pat_valid(val) ? 0 : -EINVAL;
	case MSR_LSTAR:
	case MSR_CSTAR:
	case MSR_FS_BASE:
	case MSR_GS_BASE:
	case MSR_KERNEL_GS_BASE:
	case MSR_SYSENTER_ESP:
	case MSR_SYSENTER_EIP:
		return guest_policy_canonical(val) ? 0 : -EINVAL;
	case MSR_SYSENTER_CS:
		return val >> 32 ? -EINVAL : 0;
	}
	return 0; /* STAR, TSC: every value is accepted */
}

int guest_policy_cr0_write_check(uint64_t val, uint64_t efer, uint64_t cr4)
{
	if ((val >> 32) || ((val & GP_CR0_PG) && !(val & GP_CR0_PE)) ||
	    ((val & GP_CR0_NW) && !(val & GP_CR0_CD)) ||
	    ((val & GP_CR0_PG) && (efer & GP_EFER_LME) && !(cr4 & GP_CR4_PAE)))
		return -EINVAL;
	return 0;
}

int guest_policy_cr4_write_check(const struct guest_cpu *c, uint64_t val, uint64_t efer)
{
	if (val & ~guest_policy_cr4_allowed(c))
		return -EINVAL;
	if ((efer & GP_EFER_LMA) && !(val & GP_CR4_PAE))
		return -EINVAL;
	return 0;
}

void guest_policy_reset_state(struct vcpu_state *s)
{
	const struct vcpu_seg data = {0, 0x93, 0xFFFF, 0};

	memset(s, 0, sizeof(*s));
	s->version = VCPU_STATE_VERSION;
	s->gpr[R_RDX] = 0x600;
	s->rip = 0xFFF0;
	s->rflags = 0x2;
	s->cs = (struct vcpu_seg){0xF000, 0x9B, 0xFFFF, 0xFFFF0000};
	s->ds = s->es = s->fs = s->gs = s->ss = data;
	s->ldtr = (struct vcpu_seg){0, 0x82, 0xFFFF, 0};
	s->tr = (struct vcpu_seg){0, 0x8B, 0xFFFF, 0};
	s->gdtr.limit = s->idtr.limit = 0xFFFF;
	s->cr0 = 0x60000010;
	s->dr6 = 0xFFFF0FF0;
	s->dr7 = 0x400;
	s->pat = GUEST_PAT_DEFAULT;
	s->fxsave[0] = 0x7F; /* FCW 0x37F */
	s->fxsave[1] = 0x03;
	s->fxsave[24] = 0x80; /* MXCSR 0x1F80 */
	s->fxsave[25] = 0x1F;
}
