/* Nested page tables: the SVM half of slat_* (hv.h). What the rest of
 * arch/x86/svm needs besides the hv_ops entries. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "kernel/hv.h"

struct slat *npt_create(void);
int npt_map(struct slat *s, uint64_t gpa, uint64_t hpa, uint64_t size);
void npt_destroy(struct slat *s);

bool npt_dirty_supported(enum dirty_mode m);
int npt_dirty_start(struct vcpu *v, enum dirty_mode m);
long npt_dirty_harvest(struct vcpu *v, uint64_t *bitmap, uint64_t npages);
void npt_dirty_stop(struct vcpu *v);

/* Host-physical address of the PML4, for VMCB N_CR3. */
uint64_t npt_root(const struct slat *s);
/* Bumped whenever an entry loses a permission or a D bit: a vCPU that ran
 * with an older value must flush its ASID before the next VMRUN. */
uint64_t npt_tlb_gen(const struct slat *s);

enum npt_fault {
	NPT_FAULT_NOT_MAPPED, /* no RAM at this GPA */
	NPT_FAULT_LOGGED,     /* DIRTY_WP: write logged, W restored; resume */
	NPT_FAULT_STALE,      /* the entry allows the access: a stale TLB entry; flush, resume */
	NPT_FAULT_DENIED,     /* mapped, yet the access is not allowed (should not happen) */
};
/* Classifies a #NPF at gpa with EXITINFO1 `info` (APM 15.25.6), fixing
 * what is a write-protect dirty fault. */
enum npt_fault npt_fault(struct slat *s, uint64_t gpa, uint64_t info);
