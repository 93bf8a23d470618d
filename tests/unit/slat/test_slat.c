/* The order arch/x86/slat_walk.c's dirty logging depends on, checked on
 * the host for both formats, EPT and NPT: every D bit (or W bit) a
 * harvest takes away is gone before the invalidation, the invalidation
 * happens before the harvest returns, and what was cleared shows up again
 * once the "CPU" sets it again. Neither Bochs nor QEMU keeps translations
 * across VM entries, so they cannot catch a missing or early invalidation
 * (/work/shared/EMULATOR-NOTES.md); this test can.
 * Each test runs once per format with that format's real bit masks and a
 * recording invalidation that checks the leaves, then calls the format's
 * real primitive (INVEPT, faked below; NPT's TLB generation). The CPU is
 * played by the test: it sets D bits, fills a PML log, raises faults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "arch/x86/cpufeat.h"
#include "arch/x86/slat_walk.h"
#include "arch/x86/svm/npt.h"
#include "arch/x86/vmx/ept.h"
#include "arch/x86/vmx/vmcs.h"

#define PAGES 1024 /* 4 MiB: two leaf tables */
#define HPA 0x40000000ull

struct vmx_caps vmx_caps = {.ept_ad = true, .pml = true, .ept_vpid = EPT_CAP_INVEPT_SINGLE};
struct cpu_features cpu_features = {.npt = true};

/* ---- Fakes of what the formats use from the kernel and the CPU ---- */
uint64_t frame_alloc(size_t count, size_t align)
{
	return (uint64_t)aligned_alloc(4096 * align, 4096 * count);
}

void frame_free(uint64_t pa, size_t count)
{
	(void)count;
	free((void *)pa);
}

static struct slat *slat;
static int invepts;

void vmx_invept(uint64_t type, uint64_t eptp)
{
	assert_int_equal(type, INVEPT_SINGLE_CONTEXT);
	assert_int_equal(eptp, ept_eptp(slat));
	invepts++;
}

/* One format under test: its real masks, and a copy whose invalidate is
 * the recorder. */
struct fmt_case {
	const struct slat_format *real;
	struct slat_format rec;
};

static struct fmt_case *fc; /* the case of the running test */
static int invalidations;
static uint64_t must_be_clear; /* D or W: every leaf lacks it at the invalidation */
static const uint64_t *only;   /* ... or only these gfns (bitmap), if set */

static uint64_t *leaf_of(uint64_t gfn)
{
	const struct slat_format *f = fc->real;
	uint64_t pa = slat->root, gpa = gfn << 12;

	for (int level = 3; level > 0; level--) {
		uint64_t e = ((uint64_t *)pa)[(gpa >> (12 + 9 * level)) & 511];
		if (!(e & f->present))
			return NULL;
		pa = e & f->addr;
	}
	return &((uint64_t *)pa)[gfn & 511];
}

static void recording_invalidate(struct slat *s)
{
	assert_ptr_equal(s, slat);
	for (uint64_t gfn = 0; gfn < PAGES && must_be_clear; gfn++)
		if (!only || (only[gfn / 64] >> (gfn % 64) & 1))
			assert_false(*leaf_of(gfn) & must_be_clear);
	/* Then the format's own primitive, which must do its job. */
	int inv0 = invepts;
	uint64_t gen0 = s->tlb_gen;
	fc->real->invalidate(s);
	if (fc->real == &ept_format)
		assert_int_equal(invepts, inv0 + 1);
	else
		assert_int_equal(npt_tlb_gen(s), gen0 + 1);
	invalidations++;
}

static struct fmt_case ept_case = {.real = &ept_format};
static struct fmt_case npt_case = {.real = &npt_format};

static uint64_t D(void)
{
	return fc->real->dirty;
}

static uint64_t W(void)
{
	return fc->real->write;
}

static uint64_t full_leaf(void)
{
	const struct slat_format *f = fc->real;
	return f->read | f->write | f->exec | f->user | f->memtype;
}

/* What a fault handler passes as `need` for a write. */
static uint64_t write_access(void)
{
	const struct slat_format *f = fc->real;
	return f->read | f->write | f->user;
}

static void cpu_sets(uint64_t gfn, uint64_t bit)
{
	*leaf_of(gfn) |= bit;
}

static bool has(const uint64_t *bm, uint64_t gfn)
{
	return bm[gfn / 64] >> (gfn % 64) & 1;
}

static int setup(void **state)
{
	fc = *state;
	fc->rec = *fc->real;
	fc->rec.invalidate = recording_invalidate;
	slat = slat_create(&fc->rec);
	assert_non_null(slat);
	assert_int_equal(slat_map(slat, 0, HPA, PAGES * 4096ull), 0);
	invalidations = invepts = 0;
	must_be_clear = 0;
	only = NULL;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	must_be_clear = 0;
	slat_destroy(slat);
	return 0;
}

static void test_map_gives_4k_leaves_with_every_permission_and_the_format_bits(void **state)
{
	(void)state;
	const struct slat_format *f = fc->real;
	uint64_t *top = (uint64_t *)slat->root;

	for (uint64_t gfn = 0; gfn < PAGES; gfn++) {
		uint64_t e = *leaf_of(gfn);
		assert_int_equal(e & f->addr, HPA + gfn * 4096);
		assert_int_equal(e & ~f->addr, full_leaf()); /* A, D, page size clear */
	}
	/* Tables allow everything (NPT: U at every level, APM 15.25.5). */
	assert_int_equal(top[0] & ~f->addr, f->read | f->write | f->exec | f->user);
	assert_true(slat_mapped(slat, (PAGES - 1) * 4096ull));
	assert_false(slat_mapped(slat, PAGES * 4096ull));
	assert_false(slat_mapped(slat, SLAT_GPA_LIMIT));
	assert_int_equal(slat_map(slat, 4096, HPA, 4096), -EEXIST);
	assert_int_equal(slat_map(slat, 123, HPA, 4096), -EINVAL);
	assert_int_equal(slat_map(slat, SLAT_GPA_LIMIT, HPA, 4096), -ERANGE);
	assert_int_equal(slat_map(slat, 1ull << 32, SLAT_HPA_LIMIT - 4096, 8192), -ERANGE);
}

static void test_ad_harvest_clears_every_d_bit_before_its_invalidation(void **state)
{
	(void)state;
	const uint64_t written[] = {0, 1, 511, 512, PAGES - 1};
	uint64_t bm[PAGES / 64] = {0};

	for (uint64_t gfn = 0; gfn < PAGES; gfn += 3)
		cpu_sets(gfn, D()); /* written before logging started */
	must_be_clear = D();
	assert_int_equal(slat_dirty_start(slat, DIRTY_AD), 0);
	assert_int_equal(invalidations, 1);

	for (unsigned i = 0; i < 5; i++)
		cpu_sets(written[i], D());
	bm[0] = 1; /* gfn 0 already in the caller's bitmap: not counted again */
	assert_int_equal(slat_dirty_harvest(slat, bm, PAGES), 4);
	assert_int_equal(invalidations, 2); /* before returning, not at some later entry */
	for (uint64_t gfn = 0; gfn < PAGES; gfn++) {
		bool w = gfn == 0 || gfn == 1 || gfn == 511 || gfn == 512 || gfn == PAGES - 1;
		assert_int_equal(has(bm, gfn), w);
	}

	/* Written again after the harvest: reported again. */
	memset(bm, 0, sizeof(bm));
	cpu_sets(511, D());
	assert_int_equal(slat_dirty_harvest(slat, bm, PAGES), 1);
	assert_true(has(bm, 511));
	assert_int_equal(invalidations, 3);
}

static void test_harvest_reports_only_pages_below_npages(void **state)
{
	(void)state;
	uint64_t bm[PAGES / 64] = {0};

	assert_int_equal(slat_dirty_start(slat, DIRTY_AD), 0);
	cpu_sets(10, D());
	cpu_sets(600, D());
	assert_int_equal(slat_dirty_harvest(slat, bm, 512), 1);
	assert_true(has(bm, 10));
	assert_false(has(bm, 600));
	/* ... and the rest stays for a harvest that asks for it. */
	assert_int_equal(slat_dirty_harvest(slat, bm, PAGES), 1);
	assert_true(has(bm, 600));
}

/* PML is VMX's alone: EPT only. */
static void test_pml_log_clears_logged_d_bits_before_its_invalidation(void **state)
{
	(void)state;
	uint64_t log[512] = {0}, bm[PAGES / 64] = {0};

	assert_int_equal(slat_dirty_start(slat, DIRTY_PML), 0);
	int base = invalidations;
	/* The CPU logs at index 511 downwards as it sets D bits. */
	cpu_sets(3, EPT_D);
	cpu_sets(700, EPT_D);
	log[511] = 3ull << 12;
	log[510] = (700ull << 12) | 0x123; /* low bits are not part of the page */
	must_be_clear = EPT_D;
	ept_pml_absorb(slat, log, 510);
	assert_int_equal(invalidations, base + 1);
	assert_int_equal(slat_dirty_harvest(slat, bm, PAGES), 2);
	assert_true(has(bm, 3) && has(bm, 700));

	/* A full log (every entry valid) works the same. */
	memset(bm, 0, sizeof(bm));
	for (unsigned i = 0; i < 512; i++) {
		log[i] = (uint64_t)(i * 2) << 12;
		cpu_sets(i * 2, EPT_D);
	}
	ept_pml_absorb(slat, log, 0);
	assert_int_equal(slat_dirty_harvest(slat, bm, PAGES), 512);
	for (uint64_t gfn = 0; gfn < PAGES; gfn++)
		assert_int_equal(has(bm, gfn), gfn % 2 == 0);
}

static void test_wp_logs_the_fault_and_protects_again_before_its_invalidation(void **state)
{
	(void)state;
	uint64_t bm[PAGES / 64] = {0}, dirty[PAGES / 64] = {0};

	must_be_clear = W();
	assert_int_equal(slat_dirty_start(slat, DIRTY_WP), 0);
	assert_int_equal(invalidations, 1);
	int base = invalidations;

	/* A write faults, is logged, and W comes back without an invalidation. */
	assert_int_equal(slat_fault(slat, (5ull << 12) | 0x10, write_access()), SLAT_FAULT_LOGGED);
	assert_true(*leaf_of(5) & W());
	assert_int_equal(slat_fault(slat, 900ull << 12, write_access()), SLAT_FAULT_LOGGED);
	assert_int_equal(invalidations, base);
	/* Outside RAM: not the backend's to fix. */
	assert_int_equal(slat_fault(slat, (uint64_t)PAGES << 12, write_access()),
			 SLAT_FAULT_NOT_MAPPED);
	/* A page mapped while logging is on is write-protected too. */
	assert_int_equal(slat_map(slat, (uint64_t)PAGES << 12, HPA + PAGES * 4096ull, 4096), 0);
	assert_false(*leaf_of(PAGES) & W());
	assert_int_equal(slat_fault(slat, (uint64_t)PAGES << 12, write_access()),
			 SLAT_FAULT_LOGGED);

	dirty[0] = 1ull << 5;
	dirty[900 / 64] = 1ull << (900 % 64);
	only = dirty; /* the harvest protects these again before its invalidation */
	uint64_t bm2[PAGES / 64 + 1] = {0};
	assert_int_equal(slat_dirty_harvest(slat, bm2, PAGES + 1), 3);
	assert_int_equal(invalidations, base + 1);
	assert_true(has(bm2, 5) && has(bm2, 900) && has(bm2, PAGES));
	assert_false(*leaf_of(5) & W());

	/* Written again after the harvest: faults and is logged again. */
	assert_int_equal(slat_fault(slat, 5ull << 12, write_access()), SLAT_FAULT_LOGGED);
	assert_int_equal(slat_dirty_harvest(slat, bm, PAGES), 1);
	assert_true(has(bm, 5));

	must_be_clear = 0;
	slat_dirty_stop(slat);
	for (uint64_t gfn = 0; gfn <= PAGES; gfn++)
		assert_true(*leaf_of(gfn) & W());
}

static void test_stale_fault_is_resumed_and_invalidated_unless_the_fault_did(void **state)
{
	(void)state;
	/* Every permission is there: the fault came through a translation
	 * cached before W came back. EPT: the violation itself dropped it
	 * (SDM 28.4.3.1); NPT: the ASID must be flushed. */
	assert_int_equal(slat_fault(slat, 7ull << 12, write_access()), SLAT_FAULT_STALE);
	assert_int_equal(invalidations, fc->real->fault_invalidates ? 0 : 1);
	/* Not logging, W clear: not Tern's doing, not the guest's to pass. */
	*leaf_of(8) &= ~W();
	assert_int_equal(slat_fault(slat, 8ull << 12, write_access()), SLAT_FAULT_DENIED);
}

static void test_harvest_without_logging_is_refused(void **state)
{
	(void)state;
	uint64_t bm[PAGES / 64] = {0};

	assert_int_equal(slat_dirty_harvest(slat, bm, PAGES), -EINVAL);
	assert_int_equal(invalidations, 0);
}

/* clang-format off */
#define EPT(t) {#t " (EPT)", t, setup, teardown, &ept_case}
#define NPT(t) {#t " (NPT)", t, setup, teardown, &npt_case}
#define BOTH(t) EPT(t), NPT(t)
/* clang-format on */

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_map_gives_4k_leaves_with_every_permission_and_the_format_bits),
		BOTH(test_ad_harvest_clears_every_d_bit_before_its_invalidation),
		BOTH(test_harvest_reports_only_pages_below_npages),
		EPT(test_pml_log_clears_logged_d_bits_before_its_invalidation),
		BOTH(test_wp_logs_the_fault_and_protects_again_before_its_invalidation),
		BOTH(test_stale_fault_is_resumed_and_invalidated_unless_the_fault_did),
		BOTH(test_harvest_without_logging_is_refused),
	};
	return cmocka_run_group_tests_name("slat (EPT and NPT)", tests, NULL, NULL);
}
