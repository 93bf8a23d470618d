/* Cancelled migrations, end to end over the harness of run.h: the guest
 * stays on the source, the destination discards it, and the ERROR gets
 * through before the close (linger: while the link takes bytes and until
 * the peer acknowledged them, within the idle and total limits). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <errno.h>

#include "migrate/link.h"
#include "tests/unit/migrate/run.h"

static void test_cancel_mid_transfer_keeps_guest_running(void **state)
{
	struct run *t = run_new(NULL, KEY);

	(void)state;
	run_until_pages(t, 100);
	assert_int_equal(mig_send_cancel(t->s, "operator said so"), 0);
	assert_int_equal(mig_send_cancel(t->s, NULL), -EALREADY);
	run_to_end(t);
	assert_stayed(t, -ECANCELED);
	assert_int_equal(t->src.pauses, 0);
	assert_string_equal(mig_send_reason(t->s), "cancelled: operator said so");
	assert_string_equal(mig_recv_reason(t->r), "source gave up: cancelled: operator said so");
	run_free(t);
}

/* Mid round 0 over the in-memory pipe, the link stalls with the source's
 * output full, and the operator cancels; from then on each poll advances
 * the clock by step_us. */
static struct run *cancel_on_a_stalled_link(uint64_t step_us)
{
	struct run *t = run_new_on(NULL, KEY, true);

	run_until_pages(t, 100);
	t->mem.to_dst.cap = t->mem.to_dst.sent + 4096;
	run_until_blocked(t);
	assert_int_equal(mig_send_cancel(t->s, NULL), 0);
	t->step_us = step_us;
	return t;
}

/* A cancel leaves whole records queued ahead of the ERROR. The source
 * hands them on for as long as the link keeps taking them, here seconds
 * of a crawl, so the destination hears why instead of a record cut off by
 * the close. */
static void test_cancel_on_a_crawling_link_still_delivers_the_error(void **state)
{
	struct run *t = cancel_on_a_stalled_link(MIG_LINGER_IDLE_US / 4);
	uint64_t cancelled_at = t->clock.now;

	(void)state;
	while (t->sret > 0 && t->polls < MAX_POLLS) {
		t->mem.to_dst.cap += 16 * 1024;
		run_poll(t);
	}
	run_to_end(t);
	assert_stayed(t, -ECANCELED);
	assert_true(t->clock.now - cancelled_at > MIG_LINGER_IDLE_US);
	assert_string_equal(mig_recv_reason(t->r), "source gave up: cancelled: by the operator");
	run_free(t);
}

/* A destination that stopped reading cannot hold a cancelled source's
 * connection open: after MIG_LINGER_IDLE_US without progress it closes,
 * and the destination, holding a cut record, discards the guest. */
static void test_cancel_on_a_dead_link_closes_after_the_idle_limit(void **state)
{
	struct run *t = cancel_on_a_stalled_link(MIG_LINGER_IDLE_US / 10);
	uint64_t cancelled_at = t->clock.now;

	(void)state;
	while (t->sret > 0 && t->polls < MAX_POLLS)
		run_poll(t);
	uint64_t waited = t->clock.now - cancelled_at;
	assert_true(waited >= MIG_LINGER_IDLE_US && waited <= MIG_LINGER_IDLE_US + 3 * t->step_us);
	run_to_end(t);
	assert_stayed(t, -ECANCELED);
	assert_string_equal(mig_recv_reason(t->r),
			    "connection lost: connection closed in the middle of a record");
	run_free(t);
}

/* After a cancel the source closes only once the destination has
 * acknowledged every byte (a close may become a reset, which drops what
 * the transport still holds), for as long as acknowledgements come; a
 * peer that stops acknowledging is given up after the idle limit. */
static void test_cancel_lingers_until_the_peer_acknowledged_all(void **state)
{
	(void)state;
	for (int stuck = 0; stuck < 2; stuck++) {
		struct run *t = run_new_on(NULL, KEY, true);
		run_until_pages(t, 100);
		t->mem.src_unacked = 100000;
		assert_int_equal(mig_send_cancel(t->s, NULL), 0);
		t->step_us = MIG_LINGER_IDLE_US / 4;
		uint64_t cancelled_at = t->clock.now;
		while (t->sret > 0 && t->polls < MAX_POLLS) {
			if (!stuck)
				t->mem.src_unacked -= t->mem.src_unacked > 10000 ? 10000 : t->mem.src_unacked;
			run_poll(t);
		}
		uint64_t waited = t->clock.now - cancelled_at;
		if (stuck) {
			assert_true(waited >= MIG_LINGER_IDLE_US &&
				    waited <= MIG_LINGER_IDLE_US + 3 * t->step_us);
		} else {
			assert_int_equal(t->mem.src_unacked, 0);
			assert_true(waited > 2 * MIG_LINGER_IDLE_US); /* 10 acknowledgements */
		}
		run_to_end(t);
		assert_stayed(t, -ECANCELED);
		assert_string_equal(mig_recv_reason(t->r), "source gave up: cancelled: by the operator");
		run_free(t);
	}
}

static void test_cancel_while_paused_resumes_guest(void **state)
{
	struct mig_send_params p = {.offline = true};
	struct run *t = run_new(&p, KEY);

	(void)state;
	run_until_pages(t, 50);
	assert_true(t->src.paused);
	assert_int_equal(mig_send_cancel(t->s, NULL), 0);
	run_to_end(t);
	assert_stayed(t, -ECANCELED);
	assert_int_equal(t->src.resumes, 1);
	run_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cancel_mid_transfer_keeps_guest_running),
		cmocka_unit_test(test_cancel_on_a_crawling_link_still_delivers_the_error),
		cmocka_unit_test(test_cancel_on_a_dead_link_closes_after_the_idle_limit),
		cmocka_unit_test(test_cancel_lingers_until_the_peer_acknowledged_all),
		cmocka_unit_test(test_cancel_while_paused_resumes_guest),
	};
	return cmocka_run_group_tests_name("migrate/cancel", tests, NULL, NULL);
}
