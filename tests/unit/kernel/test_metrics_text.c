/* kernel/metrics_text: the Prometheus text format behind /metrics. Label
 * values and help text are escaped as the format says, values print
 * exactly, and a buffer too small keeps whole lines only and says so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kernel/metrics_text.h"

static void test_a_family_and_its_samples(void **state)
{
	char buf[512];
	struct metrics_text t;

	(void)state;
	mt_init(&t, buf, sizeof(buf));
	mt_family(&t, "tern_guests", "gauge", "Guests by state");
	mt_sample(&t, "tern_guests", (const char *[]){"state", "running", NULL}, 2);
	mt_sample(&t, "tern_up", NULL, 1);
	mt_sample(&t, "tern_x", (const char *[]){"a", "1", "b", "2", NULL},
		  18446744073709551615ull);
	mt_sample_micro(&t, "tern_downtime_seconds", NULL, 12900);
	mt_sample_micro(&t, "tern_uptime_seconds", NULL, 3000001);
	assert_false(t.truncated);
	assert_string_equal(buf, "# HELP tern_guests Guests by state\n"
				 "# TYPE tern_guests gauge\n"
				 "tern_guests{state=\"running\"} 2\n"
				 "tern_up 1\n"
				 "tern_x{a=\"1\",b=\"2\"} 18446744073709551615\n"
				 "tern_downtime_seconds 0.012900\n"
				 "tern_uptime_seconds 3.000001\n");
	assert_int_equal(t.len, strlen(buf));
}

static void test_label_values_and_help_are_escaped(void **state)
{
	char buf[256];
	struct metrics_text t;

	(void)state;
	mt_init(&t, buf, sizeof(buf));
	mt_family(&t, "m", "counter", "a \\ b\nc \"q\"");
	mt_sample(&t, "m", (const char *[]){"port", "a\"b\\c\nd", NULL}, 7);
	assert_string_equal(buf, "# HELP m a \\\\ b\\nc \"q\"\n"
				 "# TYPE m counter\n"
				 "m{port=\"a\\\"b\\\\c\\nd\"} 7\n");
}

static void test_what_does_not_fit_is_left_out_whole(void **state)
{
	char buf[40];
	struct metrics_text t;

	(void)state;
	mt_init(&t, buf, sizeof(buf));
	mt_sample(&t, "tern_a", NULL, 1);		   /* 9 bytes */
	mt_sample(&t, "tern_b", NULL, 22);		   /* 10 */
	mt_sample(&t, "tern_a_rather_long_name", NULL, 3); /* 26: does not fit */
	mt_sample(&t, "tern_c", NULL, 4);		   /* would fit, but comes after a gap */
	assert_true(t.truncated);
	assert_string_equal(buf, "tern_a 1\ntern_b 22\n");
	assert_int_equal(t.len, 19);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_family_and_its_samples),
		cmocka_unit_test(test_label_values_and_help_are_escaped),
		cmocka_unit_test(test_what_does_not_fit_is_left_out_whole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
