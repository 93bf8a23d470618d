/* Nested page tables: the NPT format of arch/x86/slat_walk.c (which does
 * the walk, the allocator and the dirty log for EPT and NPT alike), and
 * what the rest of arch/x86/svm needs besides the hv_ops entries. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/slat_walk.h"
#include "kernel/hv.h"

extern const struct slat_format npt_format;

struct slat *npt_create(void);

bool npt_dirty_supported(enum dirty_mode m);
int npt_dirty_start(struct vcpu *v, enum dirty_mode m);
long npt_dirty_harvest(struct vcpu *v, uint64_t *bitmap, uint64_t npages);
void npt_dirty_stop(struct vcpu *v);

/* Host-physical address of the PML4, for VMCB N_CR3. */
uint64_t npt_root(const struct slat *s);
/* NPT's invalidation primitive: bumps the TLB generation. A vCPU that ran
 * with an older value flushes its ASID (TLB_CONTROL) before the next VMRUN. */
void npt_invalidate(struct slat *s);
uint64_t npt_tlb_gen(const struct slat *s);

enum npt_fault {
	NPT_FAULT_NOT_MAPPED = SLAT_FAULT_NOT_MAPPED, /* no RAM at this GPA */
	NPT_FAULT_LOGGED = SLAT_FAULT_LOGGED, /* DIRTY_WP: write logged, W restored; resume */
	NPT_FAULT_STALE = SLAT_FAULT_STALE,   /* a stale TLB entry, flushed; resume */
	NPT_FAULT_DENIED = SLAT_FAULT_DENIED, /* mapped, yet not allowed (should not happen) */
};
/* Classifies a #NPF at gpa with EXITINFO1 `info` (APM 15.25.6), fixing
 * what is a write-protect dirty fault. */
enum npt_fault npt_fault(struct slat *s, uint64_t gpa, uint64_t info);
