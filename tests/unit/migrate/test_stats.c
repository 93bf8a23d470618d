/* The console lines, character for character: tools and docs parse them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "migrate/stats.h"

static void test_header_and_row_line_up(void **state)
{
	char h[160], r[160];
	struct mig_round_row row = {
		.round = 0,
		.pages_sent = 16384,
		.pages_zero = 49152,
		.bytes = 67371008,
		.elapsed_us = 140250,
		.pages_dirtied = 231,
		.pages_left = 231,
		.throttle_pct = 40,
	};

	(void)state;
	mig_stats_header(h, sizeof(h), false);
	mig_stats_row(&row, r, sizeof(r));
	assert_string_equal(h,
			    " round  sent pages  zero pages  round ms  sent Mbit/s  dirty Mbit/s  "
			    "left dirty  throttle %");
	assert_string_equal(r, "    0        16384       49152     140.3       3842.9          "
			       "53.9         231          40");
	assert_int_equal(strlen(h), strlen(r));
	row = (struct mig_round_row){.round = 3, .final = true, .pages_sent = 12};
	mig_stats_row(&row, r, sizeof(r));
	assert_string_equal(r, "    3*          12           0       0.0            -             "
			       "-           0           0");
}

static void test_summary_of_a_completed_migration(void **state)
{
	char buf[1024];
	struct mig_summary s = {
		.result = MIG_DONE,
		.total_us = 1234567,
		.setup_us = 20100,
		.downtime_known = true,
		.downtime_src_us = 11000,
		.downtime_dst_us = 1300,
		.downtime_max_us = 12900,
		.bytes = 71516160,
		.pages_sent = 16615,
		.pages_zero = 49152,
		.ram_pages = 65536,
		.rounds = 3,
		.throttle_max_pct = 60,
		.stop = MIG_STOP_DOWNTIME,
		.harvest_us = 4250,
		.pages_us = 310400,
		.send_us = 880000,
	};

	(void)state;
	int n = mig_stats_summary(&s, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(buf));
	assert_string_equal(
		buf, "result:       completed, guest running on the destination\n"
		     "total time:   1234.6 ms\n"
		     "downtime:     12.3 ms (source 11.0 + destination 1.3; at most 12.9 ms)\n"
		     "setup time:   20.1 ms\n"
		     "on the wire:  71516160 bytes (68.2 MiB)\n"
		     "pages sent:   16615 (0.25 x guest RAM of 65536 pages)\n"
		     "zero pages:   49152\n"
		     "rounds:       3\n"
		     "throttled:    up to 60 % of the guest's CPU (auto-converge)\n"
		     "stopped:      remaining dirty pages fit the downtime target\n"
		     "time in:      dirty log 4.3 ms, pages 310.4 ms, transport 880.0 ms\n");
}

static void test_summary_of_a_failure_says_where_the_guest_is(void **state)
{
	char buf[1024];
	struct mig_summary s = {.result = MIG_FAILED, .reason = "destination refused: x"};

	(void)state;
	mig_stats_summary(&s, buf, sizeof(buf));
	assert_non_null(strstr(buf, "result:       failed: destination refused: x; guest running "
				    "on this host\n"));
	assert_non_null(strstr(buf, "downtime:     -\n"));
	s.result = MIG_UNCERTAIN;
	mig_stats_summary(&s, buf, sizeof(buf));
	assert_non_null(strstr(buf, "guest paused on this host"));
}

static void test_summary_says_what_deltas_did(void **state)
{
	char buf[1024];
	struct mig_summary s = {
		.result = MIG_DONE,
		.pages_sent = 5000,
		.pages_zero = 7,
		.rounds = 3,
		.delta = MIG_DELTA_ON,
		.delta_cache_bytes = 64ull << 20,
		.pages_delta = 1234,
		.delta_saved = 4300000, /* 4.1 MiB */
	};

	(void)state;
	mig_stats_summary(&s, buf, sizeof(buf));
	assert_non_null(strstr(buf, "zero pages:   7\n"
				    "delta pages:  1234 (cache 64 MiB, 4.1 MiB saved)\n"
				    "rounds:       3\n"));
	s.delta_cache_bytes = 32 << 10; /* a guest of 8 pages */
	mig_stats_summary(&s, buf, sizeof(buf));
	assert_non_null(strstr(buf, "delta pages:  1234 (cache 32 KiB, 4.1 MiB saved)\n"));
	s.delta = MIG_DELTA_NO_MEMORY;
	mig_stats_summary(&s, buf, sizeof(buf));
	assert_non_null(strstr(buf, "delta pages:  0 (off: no memory for the cache)\n"));
	s.delta = MIG_DELTA_PEER;
	mig_stats_summary(&s, buf, sizeof(buf));
	assert_non_null(
		strstr(buf, "delta pages:  0 (off: the destination does not take deltas)\n"));
	s.delta = MIG_DELTA_OFF;
	mig_stats_summary(&s, buf, sizeof(buf));
	assert_null(strstr(buf, "delta"));
}

static void test_summary_truncates_safely(void **state)
{
	char buf[40];
	struct mig_summary s = {.result = MIG_DONE, .rounds = 1};

	(void)state;
	memset(buf, 'x', sizeof(buf));
	int n = mig_stats_summary(&s, buf, sizeof(buf));
	assert_true(n > (int)sizeof(buf));
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	assert_int_equal(mig_stats_summary(&s, buf, 0), n);
}

static void test_incoming_line(void **state)
{
	char buf[256];
	struct mig_incoming_summary s = {
		.result = MIG_DONE,
		.name = "web1",
		.total_us = 999000,
		.resume_us = 1234,
		.bytes = 3 << 20,
		.pages_sent = 700,
		.pages_zero = 3,
		.rounds = 4,
		.recv_us = 512300,
		.pages_us = 80000,
	};

	(void)state;
	mig_stats_incoming(&s, buf, sizeof(buf));
	assert_string_equal(buf, "incoming web1: completed in 999.0 ms, 700 pages + 3 zero, 3.0 "
				 "MiB, 4 rounds, resumed 1.2 ms after the last byte\n"
				 "time in:      transport 512.3 ms, pages 80.0 ms");
	s.result = MIG_FAILED;
	s.reason = "connection lost";
	mig_stats_incoming(&s, buf, sizeof(buf));
	assert_string_equal(buf, "incoming web1: failed: connection lost; nothing kept");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_and_row_line_up),
		cmocka_unit_test(test_summary_of_a_completed_migration),
		cmocka_unit_test(test_summary_of_a_failure_says_where_the_guest_is),
		cmocka_unit_test(test_summary_says_what_deltas_did),
		cmocka_unit_test(test_summary_truncates_safely),
		cmocka_unit_test(test_incoming_line),
	};
	return cmocka_run_group_tests_name("migrate/stats", tests, NULL, NULL);
}
