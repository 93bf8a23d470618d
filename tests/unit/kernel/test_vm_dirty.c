/* kernel/vm_dirty.c: the one dirty log `vm dirty` and migration share.
 * A harvest reports what the CPU's log saw and what Tern's devices wrote
 * (vm->dev_dirty, filled by vm_gpa_write), counts each page once, and
 * clears both; start and stop leave nothing half-on. The backend is a
 * fake that reports the pages the test says the guest wrote. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "kernel/vm.h"
#include "kernel/vm_dirty.h"

#define PAGES 200 /* not a multiple of 64 */

static uint64_t guest_wrote[(PAGES + 63) / 64];
static int starts, stops, start_rc;
static enum dirty_mode supported_up_to;

static bool fake_supported(enum dirty_mode m)
{
	return m != DIRTY_OFF && m <= supported_up_to;
}

static int fake_start(struct vcpu *v, enum dirty_mode m)
{
	(void)v;
	(void)m;
	starts++;
	return start_rc;
}

static long fake_harvest(struct vcpu *v, uint64_t *bitmap, uint64_t npages)
{
	long n = 0;

	(void)v;
	for (uint64_t g = 0; g < npages; g++)
		if (guest_wrote[g / 64] >> (g % 64) & 1) {
			n += !(bitmap[g / 64] >> (g % 64) & 1);
			bitmap[g / 64] |= 1ull << (g % 64);
		}
	memset(guest_wrote, 0, sizeof(guest_wrote));
	return n;
}

static void fake_stop(struct vcpu *v)
{
	(void)v;
	stops++;
}

static const struct hv_ops fake_hv = {
	.name = "fake",
	.dirty_supported = fake_supported,
	.dirty_start = fake_start,
	.dirty_harvest = fake_harvest,
	.dirty_stop = fake_stop,
};
const struct hv_ops *hv = &fake_hv;

static struct vm vm;

static void device_writes(uint64_t gfn)
{
	vm.dev_dirty[gfn / 64] |= 1ull << (gfn % 64); /* what vm_gpa_write does */
}

static bool has(const uint64_t *bm, uint64_t gfn)
{
	return bm[gfn / 64] >> (gfn % 64) & 1;
}

static int setup(void **state)
{
	(void)state;
	memset(&vm, 0, sizeof(vm));
	vm.npages = PAGES;
	vm.vcpu.vm = &vm;
	memset(guest_wrote, 0, sizeof(guest_wrote));
	starts = stops = start_rc = 0;
	supported_up_to = DIRTY_WP;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vm_dirty_stop(&vm);
	return 0;
}

static void test_harvest_reports_guest_and_device_writes_once_each(void **state)
{
	(void)state;
	uint64_t bm[(PAGES + 63) / 64] = {0};

	assert_int_equal(vm_dirty_start(&vm, DIRTY_AD), 0);
	assert_int_equal(vm.dirty, DIRTY_AD);
	assert_non_null(vm.dev_dirty);
	guest_wrote[0] = 1ull << 3 | 1ull << 5;
	device_writes(5);   /* both wrote it: counted once */
	device_writes(70);  /* a receive buffer: only the device wrote it */
	device_writes(199); /* the last page */
	assert_int_equal(vm_dirty_harvest(&vm, bm, PAGES), 4);
	assert_true(has(bm, 3) && has(bm, 5) && has(bm, 70) && has(bm, 199));

	/* Reported, so cleared: nothing new, nothing again. */
	memset(bm, 0, sizeof(bm));
	assert_int_equal(vm_dirty_harvest(&vm, bm, PAGES), 0);
	device_writes(70);
	assert_int_equal(vm_dirty_harvest(&vm, bm, PAGES), 1);
	assert_true(has(bm, 70));
}

static void test_harvest_keeps_device_pages_beyond_npages_for_later(void **state)
{
	(void)state;
	uint64_t bm[(PAGES + 63) / 64] = {0};

	assert_int_equal(vm_dirty_start(&vm, DIRTY_WP), 0);
	device_writes(10);
	device_writes(150);
	assert_int_equal(vm_dirty_harvest(&vm, bm, 100), 1);
	assert_false(has(bm, 150));
	assert_int_equal(vm_dirty_harvest(&vm, bm, PAGES), 1);
	assert_true(has(bm, 150));
}

static void test_one_log_per_vm_and_nothing_left_on_after_a_failure(void **state)
{
	(void)state;
	uint64_t bm[(PAGES + 63) / 64] = {0};

	assert_int_equal(vm_dirty_harvest(&vm, bm, PAGES), -EINVAL); /* off */
	supported_up_to = DIRTY_AD;
	assert_int_equal(vm_dirty_start(&vm, DIRTY_WP), -ENOTSUP);
	assert_int_equal(vm_dirty_start(&vm, DIRTY_OFF), -ENOTSUP);
	start_rc = -ENOMEM;
	assert_int_equal(vm_dirty_start(&vm, DIRTY_AD), -ENOMEM);
	assert_int_equal(vm.dirty, DIRTY_OFF);
	assert_null(vm.dev_dirty);

	start_rc = 0;
	assert_int_equal(vm_dirty_start(&vm, DIRTY_AD), 0);
	/* A second owner (migration while `vm dirty` is on) is refused. */
	assert_int_equal(vm_dirty_start(&vm, DIRTY_AD), -EBUSY);
	assert_int_equal(starts, 2);
	vm_dirty_stop(&vm);
	assert_int_equal(stops, 1);
	assert_int_equal(vm.dirty, DIRTY_OFF);
	assert_null(vm.dev_dirty);
	vm_dirty_stop(&vm); /* harmless when off */
	assert_int_equal(stops, 1);
}

static void test_best_method_is_pml_then_ad_then_wp(void **state)
{
	(void)state;
	supported_up_to = DIRTY_WP;
	assert_int_equal(vm_dirty_best(), DIRTY_PML);
	supported_up_to = DIRTY_AD;
	assert_int_equal(vm_dirty_best(), DIRTY_AD);
	supported_up_to = DIRTY_OFF;
	assert_int_equal(vm_dirty_best(), DIRTY_OFF);
	assert_string_equal(vm_dirty_name(DIRTY_PML), "pml");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_harvest_reports_guest_and_device_writes_once_each, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_harvest_keeps_device_pages_beyond_npages_for_later, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_one_log_per_vm_and_nothing_left_on_after_a_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_best_method_is_pml_then_ad_then_wp, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
