/* The EPT/NPT walker, allocator and dirty log, driven by a format's bit
 * masks (slat_walk.h). Three ways of knowing which guest pages were
 * written (kernel/hv.h):
 *   DIRTY_AD   the leaf D bits (SDM Vol. 3C 28.3.5, "Accessed and Dirty
 *              Flags for EPT"; APM Vol. 2 15.25.5): locked test-and-clear,
 *              then one invalidation;
 *   DIRTY_PML  vmx/ fills the log from the CPU's page-modification log;
 *   DIRTY_WP   write-protect: clear W, log the page on its first fault,
 *              give W back.
 * The guest never runs while these run (one CPU, kernel/vm.c), but every
 * D and W update is a locked read-modify-write all the same, so the code
 * stays right when vCPUs run on other CPUs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "arch/x86/slat_walk.h"
#include "kernel/kernel.h"
#include "kernel/mm/frame.h"

#define PAGE_SHIFT 12

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

static uint64_t perms(const struct slat_format *f)
{
	return f->read | f->write | f->exec | f->user;
}

static bool present(const struct slat_format *f, uint64_t e)
{
	return e & f->present;
}

static unsigned index_at(uint64_t gpa, int level)
{
	return (gpa >> (PAGE_SHIFT + 9 * level)) & (SLAT_ENTRIES - 1);
}

/* The leaf entry for gpa, creating the tables on the way when asked; NULL
 * when there is none (or no memory for one). */
static uint64_t *walk(struct slat *s, uint64_t gpa, bool create)
{
	const struct slat_format *f = s->fmt;
	uint64_t pa = s->root;

	if (gpa >= SLAT_GPA_LIMIT)
		return NULL;
	for (int level = SLAT_LEVELS - 1; level > 0; level--) {
		uint64_t *e = &table(pa)[index_at(gpa, level)];
		if (!present(f, *e)) {
			uint64_t t = create ? table_alloc() : 0;
			if (!t)
				return NULL;
			*e = t | perms(f);
		} else if (*e & f->large) {
			return NULL; /* not a table Tern made: no 4 KiB leaf here */
		}
		pa = *e & f->addr;
	}
	return &table(pa)[index_at(gpa, 0)];
}

bool slat_mapped(struct slat *s, uint64_t gpa)
{
	uint64_t *e = walk(s, gpa, false);
	return e && present(s->fmt, *e);
}

/* The last-level table covering the 2 MiB that start at gfn (a multiple
 * of 512), or NULL. */
static uint64_t *leaf_table(struct slat *s, uint64_t gfn)
{
	return walk(s, gfn << PAGE_SHIFT, false); /* index 0 of that table */
}

static bool test_and_clear(uint64_t *e, uint64_t bit)
{
	return __atomic_fetch_and(e, ~bit, __ATOMIC_SEQ_CST) & bit;
}

static void set_bits(uint64_t *e, uint64_t bits)
{
	__atomic_fetch_or(e, bits, __ATOMIC_SEQ_CST);
}

void slat_invalidate(struct slat *s)
{
	s->fmt->invalidate(s);
}

struct slat *slat_create(const struct slat_format *fmt)
{
	struct slat *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->fmt = fmt;
	s->root = table_alloc();
	if (!s->root) {
		free(s);
		return NULL;
	}
	return s;
}

/* Grows the software log to cover every mapped page: a page without a
 * log bit could not be reported when it is written. */
static int log_reserve(struct slat *s)
{
	uint64_t words = (s->gfn_end + 63) / 64;

	if (words <= s->log_words)
		return 0;
	uint64_t *log = realloc(s->log, words * sizeof(uint64_t));
	if (!log)
		return -ENOMEM;
	memset(log + s->log_words, 0, (words - s->log_words) * sizeof(uint64_t));
	s->log = log;
	s->log_words = words;
	return 0;
}

int slat_map(struct slat *s, uint64_t gpa, uint64_t hpa, uint64_t size)
{
	const struct slat_format *f = s->fmt;
	uint64_t leaf = perms(f) | f->memtype;

	if ((gpa | hpa | size) & (FRAME_SIZE - 1) || !size)
		return -EINVAL;
	if (gpa >= SLAT_GPA_LIMIT || size > SLAT_GPA_LIMIT - gpa || hpa >= SLAT_HPA_LIMIT ||
	    size > SLAT_HPA_LIMIT - hpa)
		return -ERANGE;
	/* Write protection must cover a page mapped while it is on. */
	if (s->mode == DIRTY_WP)
		leaf &= ~f->write;
	for (uint64_t off = 0; off < size; off += FRAME_SIZE) {
		uint64_t *e = walk(s, gpa + off, true);
		if (!e)
			return -ENOMEM;
		if (present(f, *e))
			return -EEXIST;
		*e = (hpa + off) | leaf;
		uint64_t gfn = (gpa + off) >> PAGE_SHIFT;
		if (gfn >= s->gfn_end)
			s->gfn_end = gfn + 1;
	}
	return s->log ? log_reserve(s) : 0;
}

static void free_tables(const struct slat_format *f, uint64_t pa, int level)
{
	if (level > 0) {
		uint64_t *t = table(pa);
		for (unsigned i = 0; i < SLAT_ENTRIES; i++)
			if (present(f, t[i]) && !(t[i] & f->large))
				free_tables(f, t[i] & f->addr, level - 1);
	}
	frame_free(pa, 1);
}

void slat_destroy(struct slat *s)
{
	if (!s)
		return;
	/* The CPU tags cached translations with this root (EPTP) or ASID; a
	 * later VM whose top table lands on the same frame must not inherit
	 * them (SDM 28.4.1, "Information That May Be Cached"). */
	slat_invalidate(s);
	free_tables(s->fmt, s->root, SLAT_LEVELS - 1);
	free(s->log);
	free(s);
}

/* ---- Dirty logging --------------------------------------------------------- */

/* Clears bit in every leaf that has it (dirty_start/stop, not the harvest
 * loop); returns whether any had it. */
static bool clear_in_every_leaf(struct slat *s, uint64_t bit)
{
	bool changed = false;

	for (uint64_t gfn = 0; gfn < s->gfn_end; gfn += SLAT_ENTRIES) {
		uint64_t *t = leaf_table(s, gfn);
		if (!t)
			continue;
		for (unsigned i = 0; i < SLAT_ENTRIES; i++)
			if (present(s->fmt, t[i]) && (t[i] & bit))
				changed |= test_and_clear(&t[i], bit);
	}
	return changed;
}

static void allow_writes_everywhere(struct slat *s)
{
	uint64_t w = s->fmt->write;

	for (uint64_t gfn = 0; gfn < s->gfn_end; gfn += SLAT_ENTRIES) {
		uint64_t *t = leaf_table(s, gfn);
		if (!t)
			continue;
		for (unsigned i = 0; i < SLAT_ENTRIES; i++)
			if (present(s->fmt, t[i]) && !(t[i] & w))
				set_bits(&t[i], w);
	}
}

void slat_dirty_stop(struct slat *s)
{
	if (s->mode == DIRTY_WP) {
		allow_writes_everywhere(s);
		/* Not required for more permission (a stale read-only
		 * translation faults, and slat_fault calls it stale) but it
		 * spares the guest one fault per page it writes next. */
		slat_invalidate(s);
	}
	free(s->log);
	s->log = NULL;
	s->log_words = 0;
	s->mode = DIRTY_OFF;
}

int slat_dirty_start(struct slat *s, enum dirty_mode m)
{
	if (s->mode != DIRTY_OFF)
		slat_dirty_stop(s);
	if (m == DIRTY_OFF)
		return 0;
	if (m == DIRTY_PML || m == DIRTY_WP) {
		int rc = log_reserve(s);
		if (rc)
			return rc;
	}
	/* Start from a clean slate: every page written from now on, and only
	 * those, shows up in the first harvest. Clearing D (or W) is not
	 * enough while the CPU may hold translations made before: they let a
	 * write through without setting D (or faulting), hence the
	 * invalidation before the guest runs again. */
	clear_in_every_leaf(s, m == DIRTY_WP ? s->fmt->write : s->fmt->dirty);
	s->mode = m;
	slat_invalidate(s);
	return 0;
}

static bool bitmap_test_and_set(uint64_t *bm, uint64_t bit)
{
	uint64_t m = 1ull << (bit % 64), old = bm[bit / 64];

	bm[bit / 64] = old | m;
	return old & m;
}

void slat_log_mark(struct slat *s, uint64_t gfn)
{
	if (gfn / 64 < s->log_words)
		__atomic_fetch_or(&s->log[gfn / 64], 1ull << (gfn % 64), __ATOMIC_SEQ_CST);
}

bool slat_clear_dirty(struct slat *s, uint64_t gpa)
{
	uint64_t *e = walk(s, gpa, false);
	return e && test_and_clear(e, s->fmt->dirty);
}

/* Moves the software log (PML, WP) into the caller's bitmap; with
 * reprotect, takes W away from each page moved. Returns the bits set. */
static long log_move(struct slat *s, uint64_t *bitmap, uint64_t npages, bool reprotect)
{
	long n = 0;

	for (uint64_t w = 0; w < s->log_words && w * 64 < npages; w++) {
		if (!s->log[w])
			continue;
		/* KVM's order: take the log word, then write-protect those
		 * pages. A write in between lands before the caller copies
		 * the pages, so this round copies it, and it is not lost. */
		uint64_t bits = __atomic_exchange_n(&s->log[w], 0, __ATOMIC_SEQ_CST);
		while (bits) {
			uint64_t gfn = w * 64 + (uint64_t)__builtin_ctzll(bits);
			bits &= bits - 1;
			if (gfn >= npages) {
				slat_log_mark(s, gfn); /* not the caller's: keep it */
				continue;
			}
			if (reprotect) {
				uint64_t *e = walk(s, gfn << PAGE_SHIFT, false);
				if (e)
					test_and_clear(e, s->fmt->write);
			}
			if (!bitmap_test_and_set(bitmap, gfn))
				n++;
		}
	}
	return n;
}

long slat_dirty_harvest(struct slat *s, uint64_t *bitmap, uint64_t npages)
{
	const uint64_t d = s->fmt->dirty;
	uint64_t end = s->gfn_end < npages ? s->gfn_end : npages;
	long n = 0;

	switch (s->mode) {
	case DIRTY_OFF:
		return -EINVAL;
	case DIRTY_PML:
		/* vmx/ has already moved the hardware log into s->log,
		 * clearing the D bits and invalidating (ept_pml_absorb). */
		return log_move(s, bitmap, npages, false);
	case DIRTY_WP:
		/* Write-protect the logged pages again before reporting them:
		 * clear W with a locked operation, then invalidate, so a cached
		 * writable translation cannot let a later write through
		 * unlogged (SDM 28.4.3.4, 28.3.3.4 in older editions,
		 * "Guidelines for Use of the INVEPT Instruction": invalidate
		 * after reducing EPT permissions; APM 15.16.1 for the ASID). */
		n = log_move(s, bitmap, npages, true);
		slat_invalidate(s);
		return n;
	case DIRTY_AD:
		break;
	}
	/* DIRTY_AD. The ordering every dirty page depends on (SDM 28.3.5,
	 * "Accessed and Dirty Flags for EPT", and 28.4.3.4 (28.3.3.4 in older
	 * editions), "Guidelines for Use of the INVEPT Instruction"; APM
	 * 15.25.5, "Nested Paging and the A/D bits", and 15.16.1, TLB_CONTROL):
	 *  1. test-and-clear each leaf D bit with a locked instruction, so a D
	 *     the CPU sets concurrently is either seen now or left set for the
	 *     next harvest, never lost;
	 *  2. THEN one invalidation for this VM, before the guest runs again:
	 *     the CPU may keep a translation it made while D was 1 and write
	 *     through it without setting D again; after the invalidation a
	 *     write walks the tables and sets D afresh;
	 *  3. only then may the caller copy the pages it was told about.
	 * The invalidation is requested here, before returning, never lazily
	 * by the caller, so step 3 cannot overtake step 2 (INVEPT executes at
	 * once; the NPT flush is TLB_CONTROL at the next VMRUN, and the guest
	 * does not run before it). Neither emulator catches a mistake here
	 * (EMULATOR-NOTES): tests/unit/slat checks the order on both formats. */
	for (uint64_t gfn = 0; gfn < end; gfn += SLAT_ENTRIES) {
		uint64_t *t = leaf_table(s, gfn);
		if (!t)
			continue;
		for (unsigned i = 0; i < SLAT_ENTRIES && gfn + i < end; i++) {
			/* A plain read first: only pages with D set pay for a
			 * locked instruction. A D set after it is seen next time. */
			if (!(t[i] & d) || !test_and_clear(&t[i], d))
				continue;
			if (!bitmap_test_and_set(bitmap, gfn + i))
				n++;
		}
	}
	slat_invalidate(s);
	return n;
}

enum slat_fault slat_fault(struct slat *s, uint64_t gpa, uint64_t need)
{
	const struct slat_format *f = s->fmt;
	uint64_t *e = walk(s, gpa, false);

	if (!e || !present(f, *e))
		return SLAT_FAULT_NOT_MAPPED;
	if ((need & f->write) && !(*e & f->write)) {
		if (s->mode != DIRTY_WP)
			return SLAT_FAULT_DENIED;
		/* Log first, then allow the write: the page can only change
		 * once it is writable, and by then it is in the log (a harvest
		 * that takes the bit also protects the page again, never the
		 * reverse). More permission never needs an invalidation. */
		slat_log_mark(s, gpa >> PAGE_SHIFT);
		set_bits(e, f->write);
		return SLAT_FAULT_LOGGED;
	}
	if ((*e & need) != need)
		return SLAT_FAULT_DENIED;
	/* The leaf allows this access: the fault came through a translation
	 * cached before the permission came back (slat_dirty_stop). */
	if (!f->fault_invalidates)
		slat_invalidate(s);
	return SLAT_FAULT_STALE;
}
