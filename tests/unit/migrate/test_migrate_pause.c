/* When the source pauses the guest: once iterating stopped, not before the
 * transport has sent (and the peer acknowledged) the last live round,
 * since the vCPU state waits for that anyway and the wait would be
 * downtime; but no longer than a bound when acknowledgements do not come. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/migrate/run.h"

/* Polls until the source has reported round 0 (and so decided to stop:
 * the guest writes too little to go on). */
static struct run *stopped_with_bytes_unacknowledged(void)
{
	struct run *t = run_new_on(NULL, KEY, true);

	t->writes_per_poll = 0;
	t->mem.src_unacked = 100000; /* the transport never empties by itself */
	while (t->nrows < 1 && t->polls < MAX_POLLS)
		run_poll(t);
	assert_int_equal(t->nrows, 1);
	assert_int_equal(t->src.pauses, 0);
	return t;
}

static void test_the_guest_runs_until_the_last_round_is_acknowledged(void **state)
{
	struct run *t = stopped_with_bytes_unacknowledged();

	(void)state;
	for (int i = 0; i < 100; i++) /* 100 ms of the fake clock */
		run_poll(t);
	assert_int_equal(t->src.pauses, 0);
	t->mem.src_unacked = 0;
	run_poll(t);
	assert_int_equal(t->src.pauses, 1);
	run_to_end(t);
	assert_moved(t);
	run_free(t);
}

static void test_acknowledgements_that_do_not_come_hold_the_pause_half_a_second(void **state)
{
	struct run *t = stopped_with_bytes_unacknowledged();
	uint64_t stopped_at = t->clock.now;

	(void)state;
	while (!t->src.pauses && t->polls < MAX_POLLS)
		run_poll(t);
	uint64_t waited = t->clock.now - stopped_at;
	assert_true(waited >= 500000 && waited <= 500000 + 3 * t->step_us);
	t->mem.src_unacked = 0;
	run_to_end(t);
	assert_moved(t);
	run_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_guest_runs_until_the_last_round_is_acknowledged),
		cmocka_unit_test(test_acknowledgements_that_do_not_come_hold_the_pause_half_a_second),
	};
	return cmocka_run_group_tests_name("migrate/pause", tests, NULL, NULL);
}
