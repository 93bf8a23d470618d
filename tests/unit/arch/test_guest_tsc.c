/* The guest's TSC at its own rate (arch/x86/guest_tsc.c): a pool guest
 * created on a 100 MHz Bochs host reads 100 MHz on a 2.1 GHz QEMU host and
 * the other way round, continues from the value it was given, and never
 * runs backwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "arch/x86/guest_tsc.h"

#define BOCHS_HZ 99999000ull
#define QEMU_HZ 2096030000ull

static void test_native_rate_is_an_offset(void **state)
{
	struct guest_tsc t;

	(void)state;
	guest_tsc_init(&t, QEMU_HZ, QEMU_HZ, false);
	guest_tsc_set(&t, 5000, 1000000);
	assert_false(t.trap);
	assert_int_equal(guest_tsc_at(&t, 5000), 1000000);
	assert_int_equal(guest_tsc_at(&t, 6000), 1001000);
	assert_int_equal(t.offset + 6000, 1001000); /* what the CPU adds */
	guest_tsc_set(&t, 10, 3); /* backwards (a guest WRMSR): the offset wraps */
	assert_int_equal(guest_tsc_at(&t, 20), 13);
}

/* One host second at each host's rate is one guest second at the guest's. */
static void check_second(uint64_t guest_hz, uint64_t host_hz)
{
	struct guest_tsc t;
	uint64_t start = 123456789ull << 20; /* the guest's TSC when it arrived */

	guest_tsc_init(&t, guest_hz, host_hz, true);
	guest_tsc_set(&t, 777, start);
	assert_true(t.trap);
	assert_int_equal(guest_tsc_at(&t, 777), start);
	uint64_t after = guest_tsc_at(&t, 777 + host_hz) - start;
	assert_true(after <= guest_hz && guest_hz - after <= 1); /* truncation only */
	/* An hour at the host's rate: still exact to a part in 10^9. */
	after = guest_tsc_at(&t, 777 + host_hz * 3600) - start;
	uint64_t want = guest_hz * 3600;
	assert_true(after <= want && want - after <= want / 1000000000 + 1);
}

static void test_trapped_rate_follows_the_guest_not_the_host(void **state)
{
	(void)state;
	check_second(BOCHS_HZ, QEMU_HZ); /* a Bochs-born guest on QEMU */
	check_second(QEMU_HZ, BOCHS_HZ); /* a QEMU-born guest on Bochs */
	check_second(3000000000ull, 25000000ull);
}

static void test_trapped_tsc_is_monotonic(void **state)
{
	struct guest_tsc t;
	uint64_t prev = 0;

	(void)state;
	guest_tsc_init(&t, BOCHS_HZ, QEMU_HZ, true);
	guest_tsc_set(&t, 1ull << 40, 42);
	for (uint64_t h = 1ull << 40; h < (1ull << 40) + 100000; h += 7) {
		uint64_t g = guest_tsc_at(&t, h);
		assert_true(g >= prev);
		prev = g;
	}
	assert_true(prev > 42);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_native_rate_is_an_offset),
		cmocka_unit_test(test_trapped_rate_follows_the_guest_not_the_host),
		cmocka_unit_test(test_trapped_tsc_is_monotonic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
