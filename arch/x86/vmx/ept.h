/* EPT: the encoding of one VM's guest-physical -> host-physical tables
 * (SDM Vol. 3C 28.3, "The Extended Page Table Mechanism") and INVEPT; the
 * walk and the dirty log are arch/x86/slat_walk.c's, shared with NPT. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "arch/x86/slat_walk.h"
#include "kernel/hv.h"

/* EPT paging-structure entry bits (SDM Tables 28-1 to 28-6). */
#define EPT_R (1ull << 0)
#define EPT_W (1ull << 1)
#define EPT_X (1ull << 2)
#define EPT_RWX (EPT_R | EPT_W | EPT_X)
#define EPT_MT_WB (6ull << 3) /* leaf memory type (28.3.7) */
#define EPT_A (1ull << 8)
#define EPT_D (1ull << 9)
#define EPT_ADDR 0x000FFFFFFFFFF000ull
/* EPTP (SDM 24.6.11): paging-structure memory type WB, 4-level walk, A/D. */
#define EPTP_MT_WB 6ull
#define EPTP_WALK_4 (3ull << 3)
#define EPTP_AD (1ull << 6)
/* IA32_VMX_EPT_VPID_CAP bits (SDM A.10). */
#define EPT_CAP_WALK_4 (1ull << 6)
#define EPT_CAP_WB (1ull << 14)
#define EPT_CAP_INVEPT (1ull << 20)
#define EPT_CAP_AD (1ull << 21)
#define EPT_CAP_INVEPT_SINGLE (1ull << 25)
#define EPT_CAP_INVEPT_ALL (1ull << 26)
#define VPID_CAP_INVVPID (1ull << 32)
#define VPID_CAP_INVVPID_SINGLE (1ull << 41)
#define VPID_CAP_INVVPID_ALL (1ull << 42)

/* The EPT format for arch/x86/slat_walk.c: its bits and INVEPT. */
extern const struct slat_format ept_format;

/* 4 KiB leaves, RWX, write-back; map/destroy/lookup are slat_walk.h's. */
struct slat *ept_create(void);
uint64_t ept_eptp(const struct slat *s);
/* Whether gpa is guest RAM (has a leaf). */
bool ept_mapped(struct slat *s, uint64_t gpa);
/* INVEPT single-context for this EPT (all-context where unsupported). */
void ept_invalidate(struct slat *s);
/* An EPT violation at gpa: true if it was a write to a page write-protected
 * for logging (now logged and writable again) or a stale translation
 * already fixed, i.e. the guest may simply be resumed. */
bool ept_violation_fixed(struct slat *s, uint64_t gpa);
/* PML: records the GPAs log[first..511] as dirty, clears their D bits so
 * the next write logs again, then invalidates (see the comment inside). */
void ept_pml_absorb(struct slat *s, const uint64_t *log, unsigned first);
