/* The order ept.c's dirty logging depends on, checked on the host: every
 * D bit (or W bit) a harvest takes away is gone before its INVEPT, the
 * INVEPT happens before the harvest returns, and what was cleared shows up
 * again once the "CPU" sets it again. Neither Bochs nor QEMU keeps
 * translations across VM entries, so they cannot catch a missing or early
 * INVEPT (docs: /work/shared/EMULATOR-NOTES.md); this test can.
 * The CPU is played by the test: it sets D bits in the leaves, fills a
 * PML log, and raises EPT violations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "arch/x86/vmx/ept.h"
#include "arch/x86/vmx/vmcs.h"

#define PAGES 1024 /* 4 MiB: two leaf tables */
#define HPA 0x40000000ull

struct vmx_caps vmx_caps = {.ept_ad = true, .pml = true, .ept_vpid = EPT_CAP_INVEPT_SINGLE};

/* ---- Fakes of what ept.c uses from the kernel ---- */
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
static uint64_t must_be_clear; /* EPT_D or EPT_W: every leaf lacks it at INVEPT */
static const uint64_t *only;   /* ... or only these gfns (bitmap), if set */

static uint64_t *leaf_of(uint64_t gfn)
{
	uint64_t pa = ept_eptp(slat) & EPT_ADDR, gpa = gfn << 12;

	for (int level = 3; level > 0; level--) {
		uint64_t e = ((uint64_t *)pa)[(gpa >> (12 + 9 * level)) & 511];
		if (!(e & EPT_RWX))
			return NULL;
		pa = e & EPT_ADDR;
	}
	return &((uint64_t *)pa)[gfn & 511];
}

void vmx_invept(uint64_t type, uint64_t eptp)
{
	assert_int_equal(type, INVEPT_SINGLE_CONTEXT);
	assert_int_equal(eptp, ept_eptp(slat));
	for (uint64_t gfn = 0; gfn < PAGES && must_be_clear; gfn++)
		if (!only || (only[gfn / 64] >> (gfn % 64) & 1))
			assert_false(*leaf_of(gfn) & must_be_clear);
	invepts++;
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
	(void)state;
	slat = ept_create();
	assert_non_null(slat);
	assert_int_equal(ept_map(slat, 0, HPA, PAGES * 4096ull), 0);
	invepts = 0;
	must_be_clear = 0;
	only = NULL;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	must_be_clear = 0;
	ept_destroy(slat);
	return 0;
}

static void test_map_gives_4k_rwx_write_back_leaves(void **state)
{
	(void)state;
	for (uint64_t gfn = 0; gfn < PAGES; gfn++) {
		uint64_t e = *leaf_of(gfn);
		assert_int_equal(e & EPT_ADDR, HPA + gfn * 4096);
		assert_int_equal(e & (EPT_RWX | EPT_MT_WB | EPT_D), EPT_RWX | EPT_MT_WB);
	}
	assert_true(ept_mapped(slat, (PAGES - 1) * 4096ull));
	assert_false(ept_mapped(slat, PAGES * 4096ull));
	assert_int_equal(ept_map(slat, 4096, HPA, 4096), -EEXIST);
	assert_int_equal(ept_map(slat, 123, HPA, 4096), -EINVAL);
	assert_true(ept_eptp(slat) & EPTP_AD);
}

static void test_ad_harvest_clears_every_d_bit_before_its_invept(void **state)
{
	(void)state;
	const uint64_t written[] = {0, 1, 511, 512, PAGES - 1};
	uint64_t bm[PAGES / 64] = {0};

	for (uint64_t gfn = 0; gfn < PAGES; gfn += 3)
		cpu_sets(gfn, EPT_D); /* written before logging started */
	must_be_clear = EPT_D;
	assert_int_equal(ept_dirty_start(slat, DIRTY_AD, PAGES), 0);
	assert_int_equal(invepts, 1);

	for (unsigned i = 0; i < 5; i++)
		cpu_sets(written[i], EPT_D);
	bm[0] = 1; /* gfn 0 already in the caller's bitmap: not counted again */
	assert_int_equal(ept_dirty_harvest(slat, bm, PAGES), 4);
	assert_int_equal(invepts, 2); /* before returning, not at some later entry */
	for (uint64_t gfn = 0; gfn < PAGES; gfn++) {
		bool w = gfn == 0 || gfn == 1 || gfn == 511 || gfn == 512 || gfn == PAGES - 1;
		assert_int_equal(has(bm, gfn), w);
	}

	/* Written again after the harvest: reported again. */
	memset(bm, 0, sizeof(bm));
	cpu_sets(511, EPT_D);
	assert_int_equal(ept_dirty_harvest(slat, bm, PAGES), 1);
	assert_true(has(bm, 511));
	assert_int_equal(invepts, 3);
}

static void test_harvest_reports_only_pages_below_npages(void **state)
{
	(void)state;
	uint64_t bm[PAGES / 64] = {0};

	assert_int_equal(ept_dirty_start(slat, DIRTY_AD, PAGES), 0);
	cpu_sets(10, EPT_D);
	cpu_sets(600, EPT_D);
	assert_int_equal(ept_dirty_harvest(slat, bm, 512), 1);
	assert_true(has(bm, 10));
	assert_false(has(bm, 600));
}

static void test_pml_log_clears_logged_d_bits_before_its_invept(void **state)
{
	(void)state;
	uint64_t log[512] = {0}, bm[PAGES / 64] = {0};

	assert_int_equal(ept_dirty_start(slat, DIRTY_PML, PAGES), 0);
	int base = invepts;
	/* The CPU logs at index 511 downwards as it sets D bits. */
	cpu_sets(3, EPT_D);
	cpu_sets(700, EPT_D);
	log[511] = 3ull << 12;
	log[510] = (700ull << 12) | 0x123; /* low bits are not part of the page */
	must_be_clear = EPT_D;
	ept_pml_absorb(slat, log, 510);
	assert_int_equal(invepts, base + 1);
	assert_int_equal(ept_dirty_harvest(slat, bm, PAGES), 2);
	assert_true(has(bm, 3) && has(bm, 700));

	/* A full log (every entry valid) works the same. */
	memset(bm, 0, sizeof(bm));
	for (unsigned i = 0; i < 512; i++) {
		log[i] = (uint64_t)(i * 2) << 12;
		cpu_sets(i * 2, EPT_D);
	}
	ept_pml_absorb(slat, log, 0);
	assert_int_equal(ept_dirty_harvest(slat, bm, PAGES), 512);
	for (uint64_t gfn = 0; gfn < PAGES; gfn++)
		assert_int_equal(has(bm, gfn), gfn % 2 == 0);
}

static void test_wp_logs_the_fault_and_protects_again_before_its_invept(void **state)
{
	(void)state;
	uint64_t bm[PAGES / 64] = {0}, dirty[PAGES / 64] = {0};

	must_be_clear = EPT_W;
	assert_int_equal(ept_dirty_start(slat, DIRTY_WP, PAGES), 0);
	assert_int_equal(invepts, 1);
	int base = invepts;

	/* A write faults, is logged, and W comes back without an INVEPT. */
	assert_true(ept_violation_fixed(slat, (5ull << 12) | 0x10));
	assert_true(*leaf_of(5) & EPT_W);
	assert_true(ept_violation_fixed(slat, 900ull << 12));
	assert_int_equal(invepts, base);
	/* A second fault through a stale translation is harmless. */
	assert_true(ept_violation_fixed(slat, 5ull << 12));
	/* Outside RAM: not the backend's to fix. */
	assert_false(ept_violation_fixed(slat, (uint64_t)PAGES << 12));

	dirty[0] = 1ull << 5;
	dirty[900 / 64] = 1ull << (900 % 64);
	only = dirty; /* the harvest protects these again before its INVEPT */
	assert_int_equal(ept_dirty_harvest(slat, bm, PAGES), 2);
	assert_int_equal(invepts, base + 1);
	assert_true(has(bm, 5) && has(bm, 900));
	assert_false(*leaf_of(5) & EPT_W);

	/* Written again after the harvest: faults and is logged again. */
	memset(bm, 0, sizeof(bm));
	assert_true(ept_violation_fixed(slat, 5ull << 12));
	assert_int_equal(ept_dirty_harvest(slat, bm, PAGES), 1);
	assert_true(has(bm, 5));

	must_be_clear = 0;
	ept_dirty_stop(slat);
	for (uint64_t gfn = 0; gfn < PAGES; gfn++)
		assert_true(*leaf_of(gfn) & EPT_W);
}

static void test_harvest_without_logging_is_refused(void **state)
{
	(void)state;
	uint64_t bm[PAGES / 64] = {0};

	assert_int_equal(ept_dirty_harvest(slat, bm, PAGES), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_map_gives_4k_rwx_write_back_leaves, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_ad_harvest_clears_every_d_bit_before_its_invept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_harvest_reports_only_pages_below_npages, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pml_log_clears_logged_d_bits_before_its_invept,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_wp_logs_the_fault_and_protects_again_before_its_invept, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_harvest_without_logging_is_refused, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
