/* Frames held for a migrated guest (HELD_FRAMES, MIG_CAP_HELD): the frames
 * that reached the source's copy after its device state was written go to
 * the destination once it runs the guest, exactly once; a migration that
 * does not complete passes on none (the source's guest keeps them); an
 * older destination is sent none; a malformed record is refused whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "migrate/le.h"
#include "migrate/record.h"
#include "tests/unit/migrate/run.h"

static void hold(struct fake_src *g, unsigned n)
{
	g->held_count = n;
	for (unsigned i = 0; i < n; i++)
		memset(g->held[i], 0xA0 + i, sizeof(g->held[i]));
}

static void test_held_frames_reach_the_started_guest_once(void **state)
{
	struct run *t = run_new(NULL, KEY);

	(void)state;
	hold(&t->src, 3);
	run_to_end(t);
	assert_moved(t);
	/* Each frame asked for once, then one past the last; the fake
	 * destination aborts on a frame before its guest started. */
	assert_int_equal(t->src.held_reads, 4);
	assert_int_equal(t->dst.delivered, 3);
	for (unsigned i = 0; i < 3; i++)
		assert_memory_equal(t->dst.frames[i], t->src.held[i], 64);
	assert_int_equal(mig_send_summary(t->s)->frames_held, 3);
	run_free(t);
}

static void test_no_held_frame_moves_nothing(void **state)
{
	struct run *t = run_new(NULL, KEY);

	(void)state;
	run_to_end(t);
	assert_moved(t);
	assert_int_equal(t->src.held_reads, 1);
	assert_int_equal(t->dst.delivered, 0);
	run_free(t);
}

static void test_cancelled_migration_passes_on_no_frame(void **state)
{
	struct run *t = run_new(NULL, KEY);

	(void)state;
	hold(&t->src, 2);
	run_until_pages(t, 100);
	assert_int_equal(mig_send_cancel(t->s, NULL), 0);
	run_to_end(t);
	assert_stayed(t, -ECANCELED);
	assert_int_equal(t->src.held_reads, 0);
	assert_int_equal(t->dst.delivered, 0);
	run_free(t);
}

/* A destination that does not offer HELD in its HELLO is sent none. */
static void test_older_destination_is_sent_no_frames(void **state)
{
	dst_without_frames = true;
	struct run *t = run_new(NULL, KEY);
	dst_without_frames = false;

	(void)state;
	hold(&t->src, 2);
	run_to_end(t);
	assert_moved(t);
	assert_int_equal(t->src.held_reads, 0);
	assert_int_equal(mig_send_summary(t->s)->frames_held, 0);
	run_free(t);
}

/* The source vanishes between HANDOFF_DONE and HELD_FRAMES: the guest
 * runs on the destination all the same, and the destination winds down. */
static void test_destination_stays_done_when_the_source_vanishes(void **state)
{
	struct run *t = run_new(NULL, KEY);

	(void)state;
	hold(&t->src, 2);
	while (!t->dst.started && t->polls < 100000)
		run_poll(t);
	assert_true(t->dst.started);
	fake_sock_shut(&t->ss);
	while (t->rret > 0 && t->polls < 200000) {
		t->rret = mig_recv_poll(t->r);
		t->clock.now += t->step_us;
		t->polls++;
	}
	assert_int_equal(t->rret, 0);
	assert_int_equal(mig_recv_result(t->r), MIG_DONE);
	assert_int_equal(t->dst.delivered, 0);
	assert_int_equal(t->isum_calls, 1);
	run_free(t);
}

/* ---- the record ---- */

static size_t held_record(uint8_t *p, uint32_t count, const uint16_t *lens, unsigned nlens)
{
	size_t off = MIG_HELD_HDR_LEN;

	le32_put(p, count);
	le32_put(p + 4, 0);
	for (unsigned i = 0; i < nlens; i++) {
		le16_put(p + off, lens[i]);
		memset(p + off + 2, 0x55, lens[i]);
		off += 2u + lens[i];
	}
	return off;
}

static int check(const uint8_t *p, size_t len)
{
	struct mig_stream_rec r = {.type = MIG_REC_HELD_FRAMES, .len = (uint32_t)len, .payload = p};
	struct mig_held_iter it;

	return mig_record_held_begin(&r, &it);
}

static void test_malformed_held_frames_are_refused(void **state)
{
	static uint8_t p[MIG_HELD_MAX_LEN + 64];
	const uint16_t good[] = {60, 1518, 14};
	const uint16_t tiny[] = {13}, huge[] = {1519};
	size_t n;

	(void)state;
	n = held_record(p, 3, good, 3);
	assert_int_equal(check(p, n), 0);
	assert_int_equal(check(p, n - 1), -EBADMSG);	  /* the last frame cut short */
	assert_int_equal(check(p, n + 1), -EBADMSG);	  /* a byte after the last frame */
	n = held_record(p, 4, good, 3);
	assert_int_equal(check(p, n), -EBADMSG);	  /* one frame fewer than counted */
	n = held_record(p, 1, tiny, 1);
	assert_int_equal(check(p, n), -EBADMSG);	  /* shorter than an Ethernet header */
	n = held_record(p, 1, huge, 1);
	assert_int_equal(check(p, n), -EBADMSG);	  /* longer than a frame */
	n = held_record(p, MIG_HELD_MAX_FRAMES + 1, NULL, 0);
	assert_int_equal(check(p, n), -EBADMSG);	  /* more than the limit */
	n = held_record(p, 0, NULL, 0);
	le32_put(p + 4, 1);
	assert_int_equal(check(p, n), -EBADMSG);	  /* the reserved word */
	assert_int_equal(check(p, 4), -EBADMSG);	  /* shorter than its header */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_held_frames_reach_the_started_guest_once),
		cmocka_unit_test(test_no_held_frame_moves_nothing),
		cmocka_unit_test(test_cancelled_migration_passes_on_no_frame),
		cmocka_unit_test(test_older_destination_is_sent_no_frames),
		cmocka_unit_test(test_destination_stays_done_when_the_source_vanishes),
		cmocka_unit_test(test_malformed_held_frames_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
