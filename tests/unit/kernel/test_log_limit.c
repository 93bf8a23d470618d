/* kernel/log_limit: the per-guest token bucket behind log_guest(). A guest
 * provoking log lines in a loop gets LOG_LIMIT_BURST through, then one per
 * LOG_LIMIT_RATE_MS, and the rest are counted, not printed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kernel/log_limit.h"

static void test_a_burst_passes_then_lines_are_held_and_counted(void **state)
{
	struct log_limit l = {0};
	uint32_t held = 99;
	unsigned passed = 0;

	(void)state;
	for (int i = 0; i < 1000; i++) /* a tight loop: all at the same ms */
		passed += log_limit_take(&l, 5000, &held);
	assert_int_equal(passed, LOG_LIMIT_BURST);
	assert_int_equal(held, 0);
	assert_int_equal(l.suppressed, 1000 - LOG_LIMIT_BURST);
	/* a second later one more passes and reports what was held */
	assert_false(log_limit_take(&l, 5000 + LOG_LIMIT_RATE_MS - 1, &held));
	assert_true(log_limit_take(&l, 5000 + LOG_LIMIT_RATE_MS, &held));
	assert_int_equal(held, 1000 - LOG_LIMIT_BURST + 1);
	assert_false(log_limit_take(&l, 5000 + LOG_LIMIT_RATE_MS, &held));
}

static void test_a_flood_gets_one_line_a_second(void **state)
{
	struct log_limit l = {0};
	uint32_t held;
	unsigned passed = 0;

	(void)state;
	/* 60 s of a line every millisecond */
	for (uint64_t t = 0; t < 60000; t++)
		passed += log_limit_take(&l, t, &held);
	assert_int_equal(passed, LOG_LIMIT_BURST + 59);
}

static void test_a_quiet_guest_gets_its_whole_burst_back(void **state)
{
	struct log_limit l = {0};
	uint32_t held;

	(void)state;
	for (int i = 0; i < 3 * LOG_LIMIT_BURST; i++)
		log_limit_take(&l, 100, &held);
	unsigned passed = 0;
	for (int i = 0; i < 3 * LOG_LIMIT_BURST; i++)
		passed += log_limit_take(&l, 100 + 3600 * 1000, &held);
	assert_int_equal(passed, LOG_LIMIT_BURST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_burst_passes_then_lines_are_held_and_counted),
		cmocka_unit_test(test_a_flood_gets_one_line_a_second),
		cmocka_unit_test(test_a_quiet_guest_gets_its_whole_burst_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
