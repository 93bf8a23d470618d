/* NPT as a format of arch/x86/slat_walk.c (APM Vol. 2 15.25): the entry
 * bits, the TLB generation as the invalidation primitive, and the #NPF
 * decoding. */
#include <errno.h>
#include "arch/x86/cpufeat.h"
#include "arch/x86/svm/npt.h"
#include "arch/x86/svm/vmcb.h"
#include "kernel/vm.h"

/* NPT entries are long-mode page-table entries (APM 15.25.5). The nested
 * walk is a user-level access, so U must be set at every level or each
 * access faults (APM 15.25.5; EMULATOR-NOTES: QEMU enforces it). Leaves
 * leave PWT/PCD/PAT clear: host PAT entry 0, write-back, which then
 * combines with the guest's own PAT (APM 15.25.8). */
#define NPT_P (1ull << 0)
#define NPT_W (1ull << 1)
#define NPT_U (1ull << 2)
#define NPT_A (1ull << 5)
#define NPT_D (1ull << 6)
#define NPT_PS (1ull << 7)
#define NPT_ADDR 0x000FFFFFFFFFF000ull

const struct slat_format npt_format = {
	.name = "NPT",
	.present = NPT_P,
	.read = NPT_P,
	.write = NPT_W,
	.user = NPT_U,
	.accessed = NPT_A,
	.dirty = NPT_D,
	.large = NPT_PS,
	.addr = NPT_ADDR,
	/* A #NPF flushes nothing: a stale entry stays in the ASID's TLB. */
	.fault_invalidates = false,
	.invalidate = npt_invalidate,
};

struct slat *npt_create(void)
{
	return slat_create(&npt_format);
}

uint64_t npt_root(const struct slat *s)
{
	return s->root;
}

void npt_invalidate(struct slat *s)
{
	/* APM 15.16.1: TLB entries are tagged with the ASID and survive
	 * VMRUN. svm.c compares this with what it last flushed and sets
	 * TLB_CONTROL for the next VMRUN: the guest runs only after it. */
	__atomic_add_fetch(&s->tlb_gen, 1, __ATOMIC_SEQ_CST);
}

uint64_t npt_tlb_gen(const struct slat *s)
{
	return __atomic_load_n(&s->tlb_gen, __ATOMIC_SEQ_CST);
}

enum npt_fault npt_fault(struct slat *s, uint64_t gpa, uint64_t info)
{
	uint64_t need = NPT_P | NPT_U | (info & NPF_RW ? NPT_W : 0);
	return (enum npt_fault)slat_fault(s, gpa, need);
}

/* ---- Dirty logging: kernel/hv.h's entries, on the VM's slat ---------------- */

bool npt_dirty_supported(enum dirty_mode m)
{
	switch (m) {
	case DIRTY_OFF:
	case DIRTY_WP:
		return true;
	case DIRTY_AD:
		/* Every NPT walk sets A, and D on writes, in the leaf (APM
		 * 15.25.5): there is no separate capability bit. */
		return cpu_features.npt;
	case DIRTY_PML:
		return false; /* a VMX feature */
	}
	return false;
}

int npt_dirty_start(struct vcpu *v, enum dirty_mode m)
{
	if (!npt_dirty_supported(m))
		return -EOPNOTSUPP;
	return slat_dirty_start(v->vm->slat, m);
}

long npt_dirty_harvest(struct vcpu *v, uint64_t *bitmap, uint64_t npages)
{
	return slat_dirty_harvest(v->vm->slat, bitmap, npages);
}

void npt_dirty_stop(struct vcpu *v)
{
	slat_dirty_stop(v->vm->slat);
}
