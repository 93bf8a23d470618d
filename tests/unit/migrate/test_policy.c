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
	struct mig_policy_round r = {round, BYTES_1000, 100000, left, 0};

	return mig_policy_decide(p, &r);
}

/* A round of BYTES_1000 in 100 ms in which the guest wrote as many pages
 * as it sent: another round would leave as many as it carried. */
#define AS_HOT_AS_THE_LINK 1000u

static enum mig_stop decide_dirtied(struct mig_policy *p, uint32_t round, uint64_t left,
				    uint64_t dirtied)
{
	struct mig_policy_round r = {round, BYTES_1000, 100000, left, dirtied};

	return mig_policy_decide(p, &r);
}

static void test_stops_when_rest_fits_downtime_exactly(void **state)
{
	struct mig_policy p;

	(void)state;
	/* 100 pages at 100 us each: exactly 10 ms. */
	mig_policy_init(&p, 10, 30, false, false);
	assert_int_equal(decide_dirtied(&p, 0, 100, AS_HOT_AS_THE_LINK), MIG_STOP_DOWNTIME);
	mig_policy_init(&p, 9, 30, false, false);
	assert_int_equal(decide_dirtied(&p, 0, 100, AS_HOT_AS_THE_LINK), MIG_STOP_CONTINUE);
	mig_policy_init(&p, 9, 30, false, false);
	assert_int_equal(decide_dirtied(&p, 0, 90, AS_HOT_AS_THE_LINK), MIG_STOP_DOWNTIME);
}

/* A rest that fits is shrunk while each round halves it: 2000 pages/s
 * dirtied (200 in a 100 ms round) against a link of 10000 pages/s. 400
 * pages take 40 ms, in which the guest writes 80: go on. 80 take 8 ms (16
 * written), 16 take 1.6 ms (3 written): on, until the floor. */
static void test_a_fitting_rest_is_shrunk_while_each_round_halves_it(void **state)
{
	struct mig_policy p;
	struct mig_policy_round r;

	(void)state;
	mig_policy_init(&p, 50, 30, false, true);
	r = (struct mig_policy_round){1, BYTES_1000, 100000, 400, 200};
	assert_int_equal(mig_policy_decide(&p, &r), MIG_STOP_CONTINUE);
	r = (struct mig_policy_round){2, 400 * MIG_POLICY_PAGE_WIRE_BYTES, 40000, 80, 80};
	assert_int_equal(mig_policy_decide(&p, &r), MIG_STOP_CONTINUE);
	r = (struct mig_policy_round){3, 80 * MIG_POLICY_PAGE_WIRE_BYTES, 8000, 16, 16};
	assert_int_equal(mig_policy_decide(&p, &r), MIG_STOP_CONTINUE);
	r = (struct mig_policy_round){4, 16 * MIG_POLICY_PAGE_WIRE_BYTES, 1600, 3, 3};
	assert_int_equal(mig_policy_decide(&p, &r), MIG_STOP_DOWNTIME);
	assert_int_equal(p.throttle_pct, 0);
}

/* Not when it would not halve, not at the round limit, not offline. */
static void test_a_fitting_rest_that_would_not_halve_stops(void **state)
{
	struct mig_policy p;

	(void)state;
	mig_policy_init(&p, 50, 30, false, false);
	/* 400 pages take 40 ms, in which a guest writing 5030 pages/s writes 201. */
	assert_int_equal(decide_dirtied(&p, 1, 400, 503), MIG_STOP_DOWNTIME);
	mig_policy_init(&p, 50, 30, false, false);
	assert_int_equal(decide_dirtied(&p, 1, 400, 500), MIG_STOP_CONTINUE);
	mig_policy_init(&p, 50, 2, false, false);
	assert_int_equal(decide_dirtied(&p, 1, 400, 0), MIG_STOP_DOWNTIME);
	mig_policy_init(&p, 50, 30, false, false);
	assert_int_equal(decide_dirtied(&p, 1, MIG_POLICY_SHRINK_FLOOR, 0), MIG_STOP_DOWNTIME);
	mig_policy_init(&p, 50, 30, false, false);
	assert_int_equal(decide_dirtied(&p, 2, MIG_POLICY_SHRINK_FLOOR + 1, 0), MIG_STOP_CONTINUE);
}

/* The estimate cannot see a round's floor (a guest time slice, the
 * harvest): 69 pages left, then 22, then 25 though 22 was expected to
 * leave 5. Once a round did not halve the rest, the next fit stops. */
static void test_a_round_that_did_not_halve_the_rest_ends_the_shrinking(void **state)
{
	struct mig_policy p;

	(void)state;
	mig_policy_init(&p, 50, 30, false, false);
	assert_int_equal(decide_dirtied(&p, 4, 69, 0), MIG_STOP_CONTINUE);
	assert_int_equal(decide_dirtied(&p, 5, 22, 0), MIG_STOP_CONTINUE);
	assert_int_equal(decide_dirtied(&p, 6, 25, 0), MIG_STOP_DOWNTIME);
}

static void test_idle_guest_stops_after_round_zero(void **state)
{
	struct mig_policy p;

	(void)state;
	mig_policy_init(&p, 50, 30, false, false);
	assert_int_equal(decide(&p, 0, 0), MIG_STOP_DOWNTIME);
}

static void test_max_rounds_counts_round_zero(void **state)
{
	struct mig_policy p;

	(void)state;
	mig_policy_init(&p, 1, 3, false, false);
	assert_int_equal(decide(&p, 0, 5000), MIG_STOP_CONTINUE);
	assert_int_equal(decide(&p, 1, 4000), MIG_STOP_CONTINUE);
	assert_int_equal(decide(&p, 2, 3000), MIG_STOP_MAX_ROUNDS);
	mig_policy_init(&p, 1, 1, false, false);
	assert_int_equal(decide(&p, 0, 5000), MIG_STOP_MAX_ROUNDS);
}

static void test_fitting_wins_over_max_rounds(void **state)
{
	struct mig_policy p;

	(void)state;
	mig_policy_init(&p, 50, 1, false, false);
	assert_int_equal(decide(&p, 0, 10), MIG_STOP_DOWNTIME);
	mig_policy_init(&p, 50, 2, false, false);
	assert_int_equal(decide(&p, 0, 10), MIG_STOP_CONTINUE); /* the rest halves */
	assert_int_equal(decide(&p, 1, 10), MIG_STOP_DOWNTIME);
}

static void test_two_rounds_without_progress_stop(void **state)
{
	struct mig_policy p;

	(void)state;
	mig_policy_init(&p, 1, 30, false, false);
	assert_int_equal(decide(&p, 0, 5000), MIG_STOP_CONTINUE);
	assert_int_equal(decide(&p, 1, 4000), MIG_STOP_CONTINUE); /* progress */
	assert_int_equal(decide(&p, 2, 4500), MIG_STOP_CONTINUE); /* one stall */
	assert_int_equal(decide(&p, 3, 4100), MIG_STOP_NO_PROGRESS);
}

static void test_progress_is_against_best_round(void **state)
{
	struct mig_policy p;

	(void)state;
	mig_policy_init(&p, 1, 30, false, false);
	assert_int_equal(decide(&p, 0, 5000), MIG_STOP_CONTINUE);
	assert_int_equal(decide(&p, 1, 6000), MIG_STOP_CONTINUE); /* stall 1 */
	assert_int_equal(decide(&p, 2, 3000), MIG_STOP_CONTINUE); /* new best */
	assert_int_equal(decide(&p, 3, 3000), MIG_STOP_CONTINUE); /* equal: stall 1 */
	assert_int_equal(decide(&p, 4, 3500), MIG_STOP_NO_PROGRESS);
	mig_policy_init(&p, 1, 30, false, false);
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
	mig_policy_init(&p, 50, 30, true, false);
	assert_int_equal(decide(&p, 0, 100000), MIG_STOP_OFFLINE);
}

static void test_unknown_rate_never_claims_a_fit(void **state)
{
	struct mig_policy p;
	struct mig_policy_round r = {0, 0, 100, 1, 0};

	(void)state;
	mig_policy_init(&p, 50, 30, false, false);
	assert_int_equal(mig_policy_decide(&p, &r), MIG_STOP_CONTINUE);
	r = (struct mig_policy_round){1, 100, 0, 1, 0};
	assert_int_equal(mig_policy_decide(&p, &r), MIG_STOP_CONTINUE);
	r = (struct mig_policy_round){2, 0, 0, 0, 0};
	assert_int_equal(mig_policy_decide(&p, &r), MIG_STOP_DOWNTIME);
}

/* A round of BYTES_1000 on the wire in which the guest wrote `dirtied`
 * pages (of 4 KiB each): hot when they outweigh
 * half the bytes sent. */
static enum mig_stop decide_hot(struct mig_policy *p, uint32_t round, uint64_t left,
				uint64_t dirtied)
{
	struct mig_policy_round r = {round, BYTES_1000, 100000, left, dirtied};

	return mig_policy_decide(p, &r);
}

static void test_throttle_starts_on_the_second_hot_round_and_rises(void **state)
{
	struct mig_policy p;
	const uint64_t hot = BYTES_1000 / 2 / 4096 + 1, cool = BYTES_1000 / 2 / 4096;

	(void)state;
	mig_policy_init(&p, 1, 30, false, true);
	assert_int_equal(decide_hot(&p, 0, 5000, hot), MIG_STOP_CONTINUE);
	assert_int_equal(p.throttle_pct, 0); /* one hot round is not enough */
	assert_int_equal(decide_hot(&p, 1, 4900, cool), MIG_STOP_CONTINUE);
	assert_int_equal(decide_hot(&p, 2, 4800, hot), MIG_STOP_CONTINUE);
	assert_int_equal(p.throttle_pct, 0); /* the cool round broke the run */
	assert_int_equal(decide_hot(&p, 3, 5000, hot), MIG_STOP_CONTINUE);
	assert_int_equal(p.throttle_pct, MIG_THROTTLE_INITIAL);
	/* Stalled rounds do not stop it while the throttle can still rise. */
	uint32_t round = 4, want = MIG_THROTTLE_INITIAL;
	while (want < MIG_THROTTLE_MAX) {
		want = mig_policy_next_throttle(want);
		assert_int_equal(decide_hot(&p, round++, 5000, hot), MIG_STOP_CONTINUE);
		assert_int_equal(p.throttle_pct, want);
	}
	assert_int_equal(p.throttle_max, MIG_THROTTLE_MAX);
	/* At its most, two more rounds without progress end it. */
	assert_int_equal(decide_hot(&p, round++, 5000, hot), MIG_STOP_CONTINUE);
	assert_int_equal(decide_hot(&p, round++, 5000, hot), MIG_STOP_NO_PROGRESS);
	assert_int_equal(p.throttle_pct, MIG_THROTTLE_MAX);
}

static void test_a_saturated_round_raises_the_throttle_two_steps(void **state)
{
	struct mig_policy p;
	/* 90 % of the round's bytes dirtied: saturated; just under: one step. */
	const uint64_t sat = BYTES_1000 * 9 / 10 / 4096 + 1, hot = BYTES_1000 * 9 / 10 / 4096 - 1;

	(void)state;
	mig_policy_init(&p, 1, 30, false, true);
	decide_hot(&p, 0, 5000, sat);
	decide_hot(&p, 1, 5000, sat);
	/* The first step is INITIAL whatever the rounds looked like. */
	assert_int_equal(p.throttle_pct, MIG_THROTTLE_INITIAL);
	decide_hot(&p, 2, 5000, sat);
	assert_int_equal(p.throttle_pct, 60);
	decide_hot(&p, 3, 5000, hot);
	assert_int_equal(p.throttle_pct, 80);
	decide_hot(&p, 4, 5000, sat);
	assert_int_equal(p.throttle_pct, 95);
	decide_hot(&p, 5, 5000, sat);
	assert_int_equal(p.throttle_pct, 98);
	decide_hot(&p, 6, 5000, sat);
	assert_int_equal(p.throttle_pct, MIG_THROTTLE_MAX);
	assert_int_equal(p.throttle_max, MIG_THROTTLE_MAX);
}

static void test_throttle_steps(void **state)
{
	const uint32_t steps[] = {20, 40, 60, 80, 90, 95, 97, 98, 99, 99};
	uint32_t pct = 0;

	(void)state;
	for (unsigned i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		pct = mig_policy_next_throttle(pct);
		assert_int_equal(pct, steps[i]);
	}
}

static void test_no_throttle_when_off_or_offline(void **state)
{
	struct mig_policy p;

	(void)state;
	mig_policy_init(&p, 1, 30, false, false);
	decide_hot(&p, 0, 5000, 5000);
	decide_hot(&p, 1, 5000, 5000);
	assert_int_equal(decide_hot(&p, 2, 5000, 5000), MIG_STOP_NO_PROGRESS);
	assert_int_equal(p.throttle_pct, 0);
	mig_policy_init(&p, 1, 30, true, true);
	assert_false(p.auto_converge);
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

static void test_tsc_rates_match_within_2_percent_either_way(void **state)
{
	(void)state;
	assert_true(mig_policy_tsc_rates_match(2096109, 2096109));
	assert_true(mig_policy_tsc_rates_match(2096109, 2115807)); /* 0.93 % */
	assert_true(mig_policy_tsc_rates_match(2115807, 2096109));
	assert_true(mig_policy_tsc_rates_match(1000000, 980000)); /* exactly 2 % of the higher */
	assert_false(mig_policy_tsc_rates_match(1000000, 979999));
	assert_false(mig_policy_tsc_rates_match(979999, 1000000));
	assert_false(mig_policy_tsc_rates_match(100002, 2096109));
	assert_false(mig_policy_tsc_rates_match(UINT32_MAX, 1));
	assert_true(mig_policy_tsc_rates_match(UINT32_MAX, UINT32_MAX));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tsc_rates_match_within_2_percent_either_way),
		cmocka_unit_test(test_stops_when_rest_fits_downtime_exactly),
		cmocka_unit_test(test_a_fitting_rest_is_shrunk_while_each_round_halves_it),
		cmocka_unit_test(test_a_fitting_rest_that_would_not_halve_stops),
		cmocka_unit_test(test_a_round_that_did_not_halve_the_rest_ends_the_shrinking),
		cmocka_unit_test(test_idle_guest_stops_after_round_zero),
		cmocka_unit_test(test_max_rounds_counts_round_zero),
		cmocka_unit_test(test_fitting_wins_over_max_rounds),
		cmocka_unit_test(test_two_rounds_without_progress_stop),
		cmocka_unit_test(test_progress_is_against_best_round),
		cmocka_unit_test(test_offline_stops_at_once),
		cmocka_unit_test(test_unknown_rate_never_claims_a_fit),
		cmocka_unit_test(test_expected_time_rounds_up_and_saturates),
		cmocka_unit_test(test_throttle_starts_on_the_second_hot_round_and_rises),
		cmocka_unit_test(test_no_throttle_when_off_or_offline),
		cmocka_unit_test(test_throttle_steps),
		cmocka_unit_test(test_a_saturated_round_raises_the_throttle_two_steps),
	};
	return cmocka_run_group_tests_name("migrate/policy", tests, NULL, NULL);
}
