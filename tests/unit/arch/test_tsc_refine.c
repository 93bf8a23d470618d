/* arch/x86/tsc.h tsc_pm_ticks: the wraps of the 24-bit ACPI PM timer
 * that two readings a second or more apart cannot show. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "arch/x86/tsc.h"

#define HZ 3579545ull /* PM timer: one wrap is 4.69 s */

static void test_no_wrap(void **st)
{
	(void)st;
	assert_int_equal(tsc_pm_ticks(1000, 1000 + HZ, HZ), HZ);
	/* The estimate may be off (a 0.1 % wrong TSC rate): the count is what
	 * the timer says. */
	assert_int_equal(tsc_pm_ticks(1000, 1000 + HZ, HZ + HZ / 1000), HZ);
	assert_int_equal(tsc_pm_ticks(5, 5, 0), 0);
}

static void test_the_reading_wrapped_past_zero(void **st)
{
	(void)st;
	uint32_t from = 0xFFF000;
	uint32_t to = (uint32_t)((from + HZ) & 0xFFFFFF);
	assert_true(to < from);
	assert_int_equal(tsc_pm_ticks(from, to, HZ - 500), HZ);
}

static void test_whole_wraps_come_from_the_estimate(void **st)
{
	(void)st;
	uint64_t passed = 3 * PM_TIMER_WRAP + 12345; /* 14 s: the poll was late */
	uint32_t from = 777, to = (uint32_t)((777 + passed) & 0xFFFFFF);
	assert_int_equal(tsc_pm_ticks(from, to, passed), passed);
	/* Right while the estimate is within half a wrap either way. */
	assert_int_equal(tsc_pm_ticks(from, to, passed + PM_TIMER_WRAP / 2 - 1), passed);
	assert_int_equal(tsc_pm_ticks(from, to, passed - PM_TIMER_WRAP / 2 + 1), passed);
	/* An estimate just under a wrap with a reading just over zero. */
	assert_int_equal(tsc_pm_ticks(0, 10, PM_TIMER_WRAP - 5), PM_TIMER_WRAP + 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_wrap),
		cmocka_unit_test(test_the_reading_wrapped_past_zero),
		cmocka_unit_test(test_whole_wraps_come_from_the_estimate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
