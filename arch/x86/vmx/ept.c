/* EPT as a format of arch/x86/slat_walk.c: the entry bits (SDM Vol. 3C
 * Tables 28-1 to 28-6), the EPTP (24.6.11), INVEPT as the invalidation
 * primitive, and the PML log absorption (28.3.6), which only VMX has. */
#include "arch/x86/vmx/ept.h"
#include "arch/x86/vmx/vmcs.h"
#include "kernel/mm/frame.h"

const struct slat_format ept_format = {
	.name = "EPT",
	.present = EPT_RWX, /* "not present" is R = W = X = 0 (28.3.2) */
	.read = EPT_R,
	.write = EPT_W,
	.exec = EPT_X,
	.memtype = EPT_MT_WB,
	.accessed = EPT_A,
	.dirty = EPT_D,
	.large = 1ull << 7,
	.addr = EPT_ADDR,
	/* An EPT violation invalidates the cached mappings used to
	 * translate the faulting GPA (SDM 28.4.3.1, "Operations that
	 * Invalidate Cached Mappings"). */
	.fault_invalidates = true,
	.invalidate = ept_invalidate,
};

struct slat *ept_create(void)
{
	return slat_create(&ept_format);
}

uint64_t ept_eptp(const struct slat *s)
{
	return s->root | EPTP_MT_WB | EPTP_WALK_4 | (vmx_caps.ept_ad ? EPTP_AD : 0);
}

void ept_invalidate(struct slat *s)
{
	if (vmx_caps.ept_vpid & EPT_CAP_INVEPT_SINGLE)
		vmx_invept(INVEPT_SINGLE_CONTEXT, ept_eptp(s));
	else
		vmx_invept(INVEPT_ALL_CONTEXT, 0);
}

bool ept_mapped(struct slat *s, uint64_t gpa)
{
	return slat_mapped(s, gpa);
}

bool ept_violation_fixed(struct slat *s, uint64_t gpa)
{
	/* The qualification's access bits are not needed: a write-protected
	 * page only faults on writes, and anything else on a leaf that
	 * allows everything is stale. */
	enum slat_fault f = slat_fault(s, gpa, EPT_RWX);
	return f == SLAT_FAULT_LOGGED || f == SLAT_FAULT_STALE;
}

void ept_pml_absorb(struct slat *s, const uint64_t *log, unsigned first)
{
	bool cleared = false;

	/* The CPU logs a page only when it sets its D bit (SDM 28.3.6): a
	 * logged page keeps D set and would never be logged again. So for
	 * each logged GPA: record it, then test-and-clear its D bit (locked);
	 * THEN one INVEPT before the guest runs again, for the reason given
	 * in slat_dirty_harvest (a cached translation with D set lets writes
	 * through without setting D, hence without logging). */
	for (unsigned i = first; i < 512; i++) {
		uint64_t gpa = log[i] & ~(FRAME_SIZE - 1);
		slat_log_mark(s, gpa / FRAME_SIZE);
		cleared |= slat_clear_dirty(s, gpa);
	}
	if (cleared)
		slat_invalidate(s);
}
