/* EPT tables for one VM (4 KiB leaves only: dirty tracking is per page)
 * and the three ways of knowing which guest pages were written:
 *   DIRTY_AD   the leaf D bits (SDM Vol. 3C 28.3.5, "Accessed and Dirty
 *              Flags for EPT"): locked test-and-clear, then INVEPT;
 *   DIRTY_PML  the page-modification log (28.3.6): the CPU writes the GPA
 *              of every page whose D bit it sets into a 512-entry page;
 *   DIRTY_WP   write-protect: clear W, log the page on its first EPT
 *              violation, give W back.
 * The guest never runs while these run (one CPU, kernel/vm.c), but every
 * D and W update is a locked read-modify-write all the same, so the same
 * code stays right when vCPUs run on other CPUs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "arch/x86/vmx/ept.h"
#include "arch/x86/vmx/vmcs.h"
#include "kernel/kernel.h"
#include "kernel/mm/frame.h"

#define EPT_LEVELS 4
#define EPT_ENTRIES 512
#define GPA_LIMIT (1ull << 48) /* what a 4-level walk translates */
#define PAGE_SHIFT 12

struct slat {
	uint64_t pml4; /* host-physical address of the top table */
	uint64_t top;  /* end of the highest range mapped */
	enum dirty_mode mode;
	uint64_t *log; /* PML, WP: pages written since the last harvest */
	uint64_t log_pages;
};

static uint64_t *table(uint64_t pa)
{
	return phys_ptr(pa);
}

static uint64_t table_alloc(void)
{
	uint64_t pa = frame_alloc(1, 1);

	if (pa)
		memset(table(pa), 0, FRAME_SIZE);
	return pa;
}

static unsigned index_at(uint64_t gpa, int level)
{
	return (gpa >> (PAGE_SHIFT + 9 * level)) & (EPT_ENTRIES - 1);
}

/* The leaf entry for gpa, creating the tables on the way when asked;
 * NULL when there is none (or no memory for one). */
static uint64_t *leaf(const struct slat *s, uint64_t gpa, bool create)
{
	uint64_t pa = s->pml4;

	for (int level = EPT_LEVELS - 1; level > 0; level--) {
		uint64_t *e = &table(pa)[index_at(gpa, level)];
		if (!(*e & EPT_RWX)) {
			uint64_t t = create ? table_alloc() : 0;
			if (!t)
				return NULL;
			/* Non-leaf entries allow everything; the leaf decides. */
			*e = t | EPT_RWX;
		}
		pa = *e & EPT_ADDR;
	}
	return &table(pa)[index_at(gpa, 0)];
}

/* The leaf table covering the 2 MiB around gpa, or NULL. */
static uint64_t *leaf_table(const struct slat *s, uint64_t gpa)
{
	uint64_t *e = leaf(s, gpa & ~((uint64_t)EPT_ENTRIES * FRAME_SIZE - 1), false);
	return e; /* index 0 of that table is its start */
}

static bool test_and_clear(uint64_t *pte, uint64_t bit_mask)
{
	uint64_t old = __atomic_fetch_and(pte, ~bit_mask, __ATOMIC_SEQ_CST);
	return old & bit_mask;
}

static void set_bits(uint64_t *pte, uint64_t bit_mask)
{
	__atomic_fetch_or(pte, bit_mask, __ATOMIC_SEQ_CST);
}

static bool bitmap_test_and_set(uint64_t *bm, uint64_t bit)
{
	uint64_t m = 1ull << (bit % 64), old = bm[bit / 64];

	bm[bit / 64] = old | m;
	return old & m;
}

struct slat *ept_create(void)
{
	struct slat *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->pml4 = table_alloc();
	if (!s->pml4) {
		free(s);
		return NULL;
	}
	return s;
}

uint64_t ept_eptp(const struct slat *s)
{
	return s->pml4 | EPTP_MT_WB | EPTP_WALK_4 | (vmx_caps.ept_ad ? EPTP_AD : 0);
}

void ept_invalidate(const struct slat *s)
{
	if (vmx_caps.ept_vpid & EPT_CAP_INVEPT_SINGLE)
		vmx_invept(INVEPT_SINGLE_CONTEXT, ept_eptp(s));
	else
		vmx_invept(INVEPT_ALL_CONTEXT, 0);
}

int ept_map(struct slat *s, uint64_t gpa, uint64_t hpa, uint64_t size)
{
	uint64_t w = s->mode == DIRTY_WP ? 0 : EPT_W;

	if ((gpa | hpa | size) & (FRAME_SIZE - 1) || !size || gpa + size > GPA_LIMIT ||
	    gpa + size < gpa)
		return -EINVAL;
	for (uint64_t off = 0; off < size; off += FRAME_SIZE) {
		uint64_t *e = leaf(s, gpa + off, true);
		if (!e)
			return -ENOMEM;
		if (*e & EPT_RWX)
			return -EEXIST;
		*e = (hpa + off) | EPT_R | w | EPT_X | EPT_MT_WB;
	}
	if (gpa + size > s->top)
		s->top = gpa + size;
	return 0;
}

static void free_tables(uint64_t pa, int level)
{
	if (level > 0) {
		uint64_t *t = table(pa);
		for (unsigned i = 0; i < EPT_ENTRIES; i++)
			if (t[i] & EPT_RWX)
				free_tables(t[i] & EPT_ADDR, level - 1);
	}
	frame_free(pa, 1);
}

void ept_destroy(struct slat *s)
{
	if (!s)
		return;
	/* The CPU tags cached translations with this EPTP; a later VM whose
	 * top table lands on the same frame must not inherit them (SDM
	 * 28.4.1, "Information That May Be Cached"). */
	ept_invalidate(s);
	free_tables(s->pml4, EPT_LEVELS - 1);
	free(s->log);
	free(s);
}

bool ept_mapped(struct slat *s, uint64_t gpa)
{
	uint64_t *e = gpa < GPA_LIMIT ? leaf(s, gpa, false) : NULL;
	return e && (*e & EPT_RWX);
}

/* Applies fn to every leaf (dirty_start/stop, not the harvest loop);
 * fn returns whether it took a permission or a D bit away. */
static bool for_each_leaf(struct slat *s, bool (*fn)(uint64_t *pte))
{
	uint64_t end = s->top >> PAGE_SHIFT;
	bool changed = false;

	for (uint64_t gfn = 0; gfn < end; gfn += EPT_ENTRIES) {
		uint64_t *t = leaf_table(s, gfn << PAGE_SHIFT);
		if (!t)
			continue;
		for (unsigned i = 0; i < EPT_ENTRIES; i++)
			if (t[i] & EPT_RWX)
				changed |= fn(&t[i]);
	}
	return changed;
}

static bool clear_dirty(uint64_t *pte)
{
	return (*pte & EPT_D) && test_and_clear(pte, EPT_D);
}

static bool write_protect(uint64_t *pte)
{
	return (*pte & EPT_W) && test_and_clear(pte, EPT_W);
}

static bool write_allow(uint64_t *pte)
{
	if (!(*pte & EPT_W))
		set_bits(pte, EPT_W);
	return false;
}

int ept_dirty_start(struct slat *s, enum dirty_mode m, uint64_t npages)
{
	if (s->mode != DIRTY_OFF)
		ept_dirty_stop(s);
	if (m == DIRTY_OFF)
		return 0;
	if ((m == DIRTY_AD || m == DIRTY_PML) && !vmx_caps.ept_ad)
		return -ENOTSUP;
	if (m == DIRTY_PML || m == DIRTY_WP) {
		s->log = calloc((npages + 63) / 64, sizeof(uint64_t));
		if (!s->log)
			return -ENOMEM;
		s->log_pages = npages;
	}
	/* Start from a clean slate: every page written from now on, and only
	 * those, shows up in the first harvest. Clearing D (or W) is not
	 * enough while the CPU may hold translations made before: they let a
	 * write through without setting D (or faulting), hence the INVEPT
	 * before the guest runs again. */
	if (m == DIRTY_WP)
		for_each_leaf(s, write_protect);
	else
		for_each_leaf(s, clear_dirty);
	s->mode = m;
	ept_invalidate(s);
	return 0;
}

void ept_dirty_stop(struct slat *s)
{
	if (s->mode == DIRTY_WP) {
		for_each_leaf(s, write_allow);
		/* Not required for more permissions (a stale read-only
		 * translation faults and the fault refreshes it, see
		 * ept_violation_fixed) but it spares the guest those faults. */
		ept_invalidate(s);
	}
	free(s->log);
	s->log = NULL;
	s->log_pages = 0;
	s->mode = DIRTY_OFF;
}

/* Moves the software log (PML, WP) into the caller's bitmap; with
 * reprotect, takes W away from each page moved. */
static long log_move(struct slat *s, uint64_t *bitmap, uint64_t npages, bool reprotect)
{
	uint64_t limit = s->log_pages < npages ? s->log_pages : npages;
	bool changed = false;
	long n = 0;

	for (uint64_t w = 0; w < (limit + 63) / 64; w++) {
		uint64_t bits = s->log[w];
		if (!bits)
			continue;
		s->log[w] = 0;
		while (bits) {
			uint64_t gfn = w * 64 + (uint64_t)__builtin_ctzll(bits);
			bits &= bits - 1;
			if (gfn >= limit)
				break;
			if (reprotect) {
				uint64_t *e = leaf(s, gfn << PAGE_SHIFT, false);
				if (e)
					changed |= test_and_clear(e, EPT_W);
			}
			if (!bitmap_test_and_set(bitmap, gfn))
				n++;
		}
	}
	if (changed)
		ept_invalidate(s); /* see DIRTY_WP in ept_dirty_harvest */
	return n;
}

long ept_dirty_harvest(struct slat *s, uint64_t *bitmap, uint64_t npages)
{
	uint64_t end = s->top >> PAGE_SHIFT;
	bool cleared = false;
	long n = 0;

	switch (s->mode) {
	case DIRTY_OFF:
		return -EINVAL;
	case DIRTY_PML:
		/* vmx_pml_drain() has already moved the hardware log into
		 * s->log, clearing the D bits and invalidating (ept_pml_absorb). */
		return log_move(s, bitmap, npages, false);
	case DIRTY_WP:
		/* Write-protect the logged pages again before reporting them:
		 * clear W with a locked operation, then INVEPT, so a cached
		 * writable translation cannot let a later write through
		 * unlogged (SDM 28.4.3.4, 28.3.3.4 in older editions,
		 * "Guidelines for Use of the INVEPT Instruction": invalidate
		 * after reducing EPT permissions). */
		return log_move(s, bitmap, npages, true);
	case DIRTY_AD:
		break;
	}
	if (npages < end)
		end = npages;
	/* DIRTY_AD. Ordering (SDM 28.3.5, "Accessed and Dirty Flags for EPT";
	 * 28.4.3.4, 28.3.3.4 in older editions, "Guidelines for Use of the
	 * INVEPT Instruction"):
	 *  1. test-and-clear each leaf D bit with a locked instruction, so a D
	 *     the CPU sets concurrently is either seen now or left set for the
	 *     next harvest, never lost;
	 *  2. INVEPT for this EPTP before the guest runs again: the CPU may keep
	 *     a translation that it made while D was 1 and write through it
	 *     without setting D again; after the INVEPT a write must walk
	 *     the tables and set D afresh;
	 *  3. only then may the caller copy the pages it was told about.
	 * The INVEPT is done here, before returning, not lazily at the next
	 * VM entry, so step 3 can never overtake step 2. */
	for (uint64_t gfn = 0; gfn < end; gfn += EPT_ENTRIES) {
		uint64_t *t = leaf_table(s, gfn << PAGE_SHIFT);
		if (!t)
			continue;
		for (unsigned i = 0; i < EPT_ENTRIES && gfn + i < end; i++) {
			if (!(t[i] & EPT_D) || !test_and_clear(&t[i], EPT_D))
				continue;
			cleared = true;
			if (!bitmap_test_and_set(bitmap, gfn + i))
				n++;
		}
	}
	if (cleared)
		ept_invalidate(s);
	return n;
}

bool ept_violation_fixed(struct slat *s, uint64_t gpa)
{
	uint64_t *e = gpa < GPA_LIMIT ? leaf(s, gpa, false) : NULL;
	uint64_t gfn = gpa >> PAGE_SHIFT;

	if (!e || !(*e & EPT_RWX))
		return false; /* not guest RAM */
	if (s->mode == DIRTY_WP && !(*e & EPT_W)) {
		/* Log first, then allow the write: the page can only change
		 * once it is writable, and by then it is in the log. No INVEPT:
		 * the EPT violation itself invalidated the translations for
		 * this GPA (SDM 28.4.3.1, "Operations that Invalidate Cached
		 * Mappings"), and more permission never needs one. */
		if (gfn < s->log_pages)
			s->log[gfn / 64] |= 1ull << (gfn % 64);
		set_bits(e, EPT_W);
		return true;
	}
	/* A leaf that now allows everything: the violation came from a
	 * translation cached before W was given back (ept_dirty_stop). */
	return (*e & EPT_RWX) == EPT_RWX;
}

void ept_pml_absorb(struct slat *s, const uint64_t *log, unsigned first)
{
	bool cleared = false;

	/* The CPU logs a page only when it sets its D bit (SDM 28.3.6): a
	 * logged page keeps D set and would never be logged again. So for
	 * each logged GPA: record it, then test-and-clear its D bit (locked);
	 * then INVEPT before the guest runs again, for the reason given in
	 * ept_dirty_harvest (a cached translation with D set lets writes
	 * through without setting D, hence without logging). */
	for (unsigned i = first; i < EPT_ENTRIES; i++) {
		uint64_t gpa = log[i] & ~(FRAME_SIZE - 1), gfn = gpa >> PAGE_SHIFT;
		uint64_t *e = gpa < GPA_LIMIT ? leaf(s, gpa, false) : NULL;
		if (gfn < s->log_pages)
			s->log[gfn / 64] |= 1ull << (gfn % 64);
		if (e)
			cleared |= test_and_clear(e, EPT_D);
	}
	if (cleared)
		ept_invalidate(s);
}
