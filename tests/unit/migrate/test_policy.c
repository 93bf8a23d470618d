/* The stop rule, case by case with exact figures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "migrate/policy.h"

/* 1000 pages' worth of wire bytes in 100 ms: one page per 100 us. */
#define BYTES_1000 (1000ull * MIG_POLICY_PAGE_WIRE_BYTES)

static enum mig_stop decide(struct mig_policy *p, uint32_t round, uint64_t left)
{
	struct mig_policy_round r = {round, BYTES_1000, 100000, left};

	return mig_policy_decide(p, &r);
}

static void test_stops_when_rest_fits_downtime_exactly(void **state)
{
	struct mig_policy p;

	(void)state;
	/* 100 pages at 100 us each: exactly 10 ms. */
	mig_policy_init(&p, 10, 30, false);
	assert_int_equal(decide(&p, 0, 100), MIG_STOP_DOWNTIME);
	mig_policy_init(&p, 9, 30, false);
	assert_int_equal(decide(&p, 0, 100), MIG_STOP_CONTINUE);
	mig_policy_init(&p, 9, 30, false);
	assert_int_equal(decide(&p, 0, 90), MIG_STOP_DOWNTIME);
}

static void test_idle_guest_stops_after_round_zero(void **state)
{
	struct mig_policy p;

	(void)state;
	mig_policy_init(&p, 50, 30, false);
	assert_int_equal(decide(&p, 0, 0), MIG_STOP_DOWNTIME);
}

static void test_max_rounds_counts_round_zero(void **state)
{
	struct mig_policy p;

	(void)state;
	mig_policy_init(&p, 1, 3, false);
	assert_int_equal(decide(&p, 0, 5000), MIG_STOP_CONTINUE);
	assert_int_equal(decide(&p, 1, 4000), MIG_STOP_CONTINUE);
	assert_int_equal(decide(&p, 2, 3000), MIG_STOP_MAX_ROUNDS);
	mig_policy_init(&p, 1, 1, false);
	assert_int_equal(decide(&p, 0, 5000), MIG_STOP_MAX_ROUNDS);
}

static void test_fitting_wins_over_max_rounds(void **state)
{
	struct mig_policy p;

	(void)state;
	mig_policy_init(&p, 50, 1, false);
	assert_int_equal(decide(&p, 0, 10), MIG_STOP_DOWNTIME);
}

static void test_two_rounds_without_progress_stop(void **state)
{
	struct mig_policy p;

	(void)state;
	mig_policy_init(&p, 1, 30, false);
	assert_int_equal(decide(&p, 0, 5000), MIG_STOP_CONTINUE);
	assert_int_equal(decide(&p, 1, 4000), MIG_STOP_CONTINUE); /* progress */
	assert_int_equal(decide(&p, 2, 4500), MIG_STOP_CONTINUE); /* one stall */
	assert_int_equal(decide(&p, 3, 4100), MIG_STOP_NO_PROGRESS);
}

static void test_progress_is_against_best_round(void **state)
{
	struct mig_policy p;

	(void)state;
	mig_policy_init(&p, 1, 30, false);
	assert_int_equal(decide(&p, 0, 5000), MIG_STOP_CONTINUE);
	assert_int_equal(decide(&p, 1, 6000), MIG_STOP_CONTINUE); /* stall 1 */
	assert_int_equal(decide(&p, 2, 3000), MIG_STOP_CONTINUE); /* new best */
	assert_int_equal(decide(&p, 3, 3000), MIG_STOP_CONTINUE); /* equal: stall 1 */
	assert_int_equal(decide(&p, 4, 3500), MIG_STOP_NO_PROGRESS);
	mig_policy_init(&p, 1, 30, false);
	decide(&p, 0, 5000);
	decide(&p, 1, 3000);
	assert_int_equal(decide(&p, 2, 3500), MIG_STOP_CONTINUE);
	/* Below the previous round but not below the best: still stuck. */
	assert_int_equal(decide(&p, 3, 3200), MIG_STOP_NO_PROGRESS);
}

static void test_offline_stops_at_once(void **state)
{
	struct mig_policy p;

	(void)state;
	mig_policy_init(&p, 50, 30, true);
	assert_int_equal(decide(&p, 0, 100000), MIG_STOP_OFFLINE);
}

static void test_unknown_rate_never_claims_a_fit(void **state)
{
	struct mig_policy p;
	struct mig_policy_round r = {0, 0, 100, 1};

	(void)state;
	mig_policy_init(&p, 50, 30, false);
	assert_int_equal(mig_policy_decide(&p, &r), MIG_STOP_CONTINUE);
	r = (struct mig_policy_round){1, 100, 0, 1};
	assert_int_equal(mig_policy_decide(&p, &r), MIG_STOP_CONTINUE);
	r = (struct mig_policy_round){2, 0, 0, 0};
	assert_int_equal(mig_policy_decide(&p, &r), MIG_STOP_DOWNTIME);
}

static void test_expected_time_rounds_up_and_saturates(void **state)
{
	(void)state;
	assert_int_equal(mig_policy_expected_us(0, 0, 0), 0);
	assert_int_equal(mig_policy_expected_us(1, 0, 10), UINT64_MAX);
	assert_int_equal(mig_policy_expected_us(1, MIG_POLICY_PAGE_WIRE_BYTES, 10), 10);
	assert_int_equal(mig_policy_expected_us(1, 3 * MIG_POLICY_PAGE_WIRE_BYTES, 10), 4);
	assert_int_equal(mig_policy_expected_us(UINT64_MAX, 1, UINT64_MAX), UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stops_when_rest_fits_downtime_exactly),
		cmocka_unit_test(test_idle_guest_stops_after_round_zero),
		cmocka_unit_test(test_max_rounds_counts_round_zero),
		cmocka_unit_test(test_fitting_wins_over_max_rounds),
		cmocka_unit_test(test_two_rounds_without_progress_stop),
		cmocka_unit_test(test_progress_is_against_best_round),
		cmocka_unit_test(test_offline_stops_at_once),
		cmocka_unit_test(test_unknown_rate_never_claims_a_fit),
		cmocka_unit_test(test_expected_time_rounds_up_and_saturates),
	};
	return cmocka_run_group_tests_name("migrate/policy", tests, NULL, NULL);
}
