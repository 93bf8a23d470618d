/* Nested page tables (APM vol. 2, 15.25): guest-physical -> host-physical
 * with 4 KiB leaves, and the dirty log built on them (leaf D bits, or
 * write protection where A/D cannot be used). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "arch/x86/cpufeat.h"
#include "arch/x86/svm/npt.h"
#include "arch/x86/svm/vmcb.h"
#include "kernel/kernel.h"
#include "kernel/mm/frame.h"
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
#define NPT_D_BIT 6
#define NPT_ADDR 0x000FFFFFFFFFF000ull
#define NPT_TABLE (NPT_P | NPT_W | NPT_U)
#define NPT_LEAF (NPT_P | NPT_W | NPT_U)

#define NPT_LEVELS 4
#define NPT_ENTRIES 512
#define GPA_LIMIT (1ull << 48) /* four levels of nine bits over 4 KiB pages */
#define HPA_LIMIT (1ull << 52)

struct slat {
	uint64_t pml4;	  /* host-physical, VMCB N_CR3 */
	uint64_t gfn_end; /* one past the highest mapped guest page */
	uint64_t tlb_gen;
	enum dirty_mode mode;
	uint64_t *wp_log; /* DIRTY_WP: a bit per guest page written since the last harvest */
	uint64_t wp_words;
};

static uint64_t *table(uint64_t pa)
{
	return phys_ptr(pa & NPT_ADDR);
}

static uint64_t table_alloc(void)
{
	uint64_t pa = frame_alloc(1, 1);

	if (pa)
		memset(phys_ptr(pa), 0, FRAME_SIZE);
	return pa;
}

static unsigned index_at(uint64_t gpa, int level)
{
	return (gpa >> (12 + 9 * level)) & (NPT_ENTRIES - 1);
}

/* The leaf entry for gpa, creating the tables above it if asked to. */
static uint64_t *leaf(struct slat *s, uint64_t gpa, bool create)
{
	uint64_t *t = table(s->pml4);

	for (int level = NPT_LEVELS - 1; level > 0; level--) {
		uint64_t *e = &t[index_at(gpa, level)];
		if (!(*e & NPT_P)) {
			uint64_t pa = create ? table_alloc() : 0;
			if (!pa)
				return NULL;
			*e = pa | NPT_TABLE;
		}
		t = table(*e);
	}
	return &t[index_at(gpa, 0)];
}

/* Calls fn(pt, first gfn of pt) for every last-level table. Inlined with
 * a constant fn, so the harvest loops stay free of indirect calls. */
static inline __attribute__((always_inline)) void
for_each_pt(struct slat *s, void *ctx, void (*fn)(void *ctx, uint64_t *pt, uint64_t gfn))
{
	uint64_t *l4 = table(s->pml4);

	for (unsigned i4 = 0; i4 < NPT_ENTRIES; i4++) {
		if (!(l4[i4] & NPT_P))
			continue;
		uint64_t *l3 = table(l4[i4]);
		for (unsigned i3 = 0; i3 < NPT_ENTRIES; i3++) {
			if (!(l3[i3] & NPT_P))
				continue;
			uint64_t *l2 = table(l3[i3]);
			for (unsigned i2 = 0; i2 < NPT_ENTRIES; i2++) {
				if (!(l2[i2] & NPT_P))
					continue;
				uint64_t gfn = ((uint64_t)i4 << 27) | ((uint64_t)i3 << 18) |
					       ((uint64_t)i2 << 9);
				fn(ctx, table(l2[i2]), gfn);
			}
		}
	}
}

/* Locked, so that a CPU's page walker setting D at the same moment is
 * either seen here or sets it again afterwards (never lost). */
static bool test_and_clear_d(uint64_t *e)
{
	bool was;

	__asm__ volatile("lock btrq %2, %0"
			 : "+m"(*e), "=@ccc"(was)
			 : "Jr"((uint64_t)NPT_D_BIT)
			 : "memory");
	return was;
}

static void tlb_invalidate(struct slat *s)
{
	/* Read by svm.c before each VMRUN: a change means TLB_CONTROL. */
	__atomic_add_fetch(&s->tlb_gen, 1, __ATOMIC_SEQ_CST);
}

uint64_t npt_root(const struct slat *s)
{
	return s->pml4;
}

uint64_t npt_tlb_gen(const struct slat *s)
{
	return __atomic_load_n(&s->tlb_gen, __ATOMIC_SEQ_CST);
}

struct slat *npt_create(void)
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

/* Grows the write-protect log to cover every mapped page: a page without
 * a log bit could not be marked dirty when its write faults. */
static int wp_log_reserve(struct slat *s)
{
	uint64_t words = (s->gfn_end + 63) / 64;

	if (words <= s->wp_words)
		return 0;
	uint64_t *log = realloc(s->wp_log, words * sizeof(uint64_t));
	if (!log)
		return -ENOMEM;
	memset(log + s->wp_words, 0, (words - s->wp_words) * sizeof(uint64_t));
	s->wp_log = log;
	s->wp_words = words;
	return 0;
}

int npt_map(struct slat *s, uint64_t gpa, uint64_t hpa, uint64_t size)
{
	if ((gpa | hpa | size) & (FRAME_SIZE - 1) || !size)
		return -EINVAL;
	if (gpa >= GPA_LIMIT || size > GPA_LIMIT - gpa || hpa >= HPA_LIMIT ||
	    size > HPA_LIMIT - hpa)
		return -ERANGE;
	/* Write protection must cover a page mapped while it is on. */
	uint64_t flags = s->mode == DIRTY_WP ? NPT_LEAF & ~NPT_W : NPT_LEAF;
	for (uint64_t off = 0; off < size; off += FRAME_SIZE) {
		uint64_t *e = leaf(s, gpa + off, true);
		if (!e)
			return -ENOMEM; /* what is mapped stays; npt_destroy frees it */
		if (*e & NPT_P)
			return -EEXIST;
		*e = (hpa + off) | flags;
		uint64_t gfn = (gpa + off) / FRAME_SIZE;
		if (gfn >= s->gfn_end)
			s->gfn_end = gfn + 1;
	}
	return s->mode == DIRTY_WP ? wp_log_reserve(s) : 0;
}

static void free_level(uint64_t pa, int level)
{
	uint64_t *t = table(pa);

	if (level > 0) {
		for (unsigned i = 0; i < NPT_ENTRIES; i++)
			if (t[i] & NPT_P)
				free_level(t[i] & NPT_ADDR, level - 1);
	}
	frame_free(pa & NPT_ADDR, 1);
}

void npt_destroy(struct slat *s)
{
	if (!s)
		return;
	/* Level 0 tables hold leaves: guest RAM belongs to the VM, not here. */
	free_level(s->pml4, NPT_LEVELS - 1);
	free(s->wp_log);
	free(s);
}

/* ---- Dirty logging ---------------------------------------------------------- */

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

static void pt_clear_d(void *ctx, uint64_t *pt, uint64_t gfn)
{
	(void)ctx;
	(void)gfn;
	for (unsigned i = 0; i < NPT_ENTRIES; i++)
		if (pt[i] & NPT_D)
			test_and_clear_d(&pt[i]);
}

static void pt_protect(void *ctx, uint64_t *pt, uint64_t gfn)
{
	(void)ctx;
	(void)gfn;
	for (unsigned i = 0; i < NPT_ENTRIES; i++)
		if (pt[i] & NPT_W)
			__atomic_fetch_and(&pt[i], ~NPT_W, __ATOMIC_SEQ_CST);
}

static void pt_unprotect(void *ctx, uint64_t *pt, uint64_t gfn)
{
	(void)ctx;
	(void)gfn;
	for (unsigned i = 0; i < NPT_ENTRIES; i++)
		if ((pt[i] & NPT_P) && !(pt[i] & NPT_W))
			__atomic_fetch_or(&pt[i], NPT_W, __ATOMIC_SEQ_CST);
}

void npt_dirty_stop(struct vcpu *v)
{
	struct slat *s = v->vm->slat;

	if (s->mode == DIRTY_WP) {
		for_each_pt(s, NULL, pt_unprotect);
		free(s->wp_log);
		s->wp_log = NULL;
		s->wp_words = 0;
		/* Only permissions were added; the flush just spares the
		 * guest one spurious #NPF per page it wrote before. */
		tlb_invalidate(s);
	}
	s->mode = DIRTY_OFF;
}

int npt_dirty_start(struct vcpu *v, enum dirty_mode m)
{
	struct slat *s = v->vm->slat;

	if (m == DIRTY_OFF) {
		npt_dirty_stop(v);
		return 0;
	}
	if (!npt_dirty_supported(m))
		return -EOPNOTSUPP;
	npt_dirty_stop(v);
	if (m == DIRTY_WP) {
		int err = wp_log_reserve(s);
		if (err)
			return err;
		for_each_pt(s, NULL, pt_protect);
	} else {
		for_each_pt(s, NULL, pt_clear_d);
	}
	s->mode = m;
	/* The guest may hold writable, dirty translations in its TLB; they
	 * go before it runs again (see npt_dirty_harvest). */
	tlb_invalidate(s);
	return 0;
}

struct harvest {
	uint64_t *bitmap;
	uint64_t npages;
	long found;
};

static void mark(struct harvest *h, uint64_t gfn)
{
	uint64_t bit = 1ull << (gfn % 64);

	if (gfn < h->npages && !(h->bitmap[gfn / 64] & bit)) {
		h->bitmap[gfn / 64] |= bit;
		h->found++;
	}
}

static void pt_harvest_d(void *ctx, uint64_t *pt, uint64_t gfn)
{
	struct harvest *h = ctx;

	for (unsigned i = 0; i < NPT_ENTRIES; i++) {
		/* A plain read first: only pages with D set pay for a locked
		 * instruction. A D bit set after this read is seen next time. */
		if ((pt[i] & (NPT_P | NPT_D)) == (NPT_P | NPT_D) && test_and_clear_d(&pt[i]))
			mark(h, gfn + i);
	}
}

static long harvest_wp(struct slat *s, struct harvest *h)
{
	for (uint64_t w = 0; w < s->wp_words; w++) {
		if (!s->wp_log[w])
			continue;
		/* KVM's order: take the log word, then write-protect those
		 * pages. A write in between lands before the pages are
		 * copied, so this round copies it, and it is not lost. */
		uint64_t bits = __atomic_exchange_n(&s->wp_log[w], 0, __ATOMIC_SEQ_CST);
		while (bits) {
			uint64_t gfn = w * 64 + __builtin_ctzll(bits);
			bits &= bits - 1;
			uint64_t *e = leaf(s, gfn * FRAME_SIZE, false);
			if (e)
				__atomic_fetch_and(e, ~NPT_W, __ATOMIC_SEQ_CST);
			mark(h, gfn);
		}
	}
	return h->found;
}

long npt_dirty_harvest(struct vcpu *v, uint64_t *bitmap, uint64_t npages)
{
	struct slat *s = v->vm->slat;
	struct harvest h = {.bitmap = bitmap, .npages = npages};

	if (s->mode == DIRTY_AD)
		for_each_pt(s, &h, pt_harvest_d);
	else if (s->mode == DIRTY_WP)
		harvest_wp(s, &h);
	else
		return -EINVAL;
	/* APM 15.25.5 / 15.16.1 ordering: every D bit was test-and-cleared
	 * (or every logged page write-protected) above; only now is the
	 * guest's ASID flushed, and before it runs again: svm.c sees the new
	 * generation and sets TLB_CONTROL for the next VMRUN. A TLB entry
	 * cached with D=1 (or W=1) would let the guest write without setting
	 * D (or faulting), and that write would be missing from the next
	 * harvest. The guest does not run between this return and that
	 * VMRUN (one CPU), so the caller's copy of the pages sees every write
	 * up to here, and every later write sets D again through a fresh
	 * walk. Emulators do not catch a missing flush (EMULATOR-NOTES). */
	tlb_invalidate(s);
	return h.found;
}

enum npt_fault npt_fault(struct slat *s, uint64_t gpa, uint64_t info)
{
	uint64_t *e = gpa < GPA_LIMIT ? leaf(s, gpa, false) : NULL;

	if (!e || !(*e & NPT_P))
		return NPT_FAULT_NOT_MAPPED;
	if ((info & NPF_RW) && !(*e & NPT_W)) {
		if (s->mode != DIRTY_WP)
			return NPT_FAULT_DENIED;
		uint64_t gfn = gpa / FRAME_SIZE;
		/* Log before allowing the write: a harvest that takes the
		 * log bit also re-protects the page, never the reverse. */
		if (gfn / 64 < s->wp_words)
			__atomic_fetch_or(&s->wp_log[gfn / 64], 1ull << (gfn % 64),
					  __ATOMIC_SEQ_CST);
		__atomic_fetch_or(e, NPT_W, __ATOMIC_SEQ_CST);
		return NPT_FAULT_LOGGED;
	}
	/* The entry allows this access now: the TLB held an older one. */
	tlb_invalidate(s);
	return NPT_FAULT_STALE;
}
