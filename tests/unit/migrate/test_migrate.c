/* The source and destination state machines end to end (run.h): whole
 * migrations over a real non-blocking socketpair or an in-memory pipe, both
 * polled in turn by one thread while the fake guest keeps writing its
 * memory. How they move the guest, stop their rounds, fail, time out and
 * hand the guest over. Cancels are test_migrate_cancel.c; the destination
 * against a scripted source is test_migrate_raw.c; deltas are
 * test_migrate_delta.c. */
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

static void test_live_migration_moves_memory_byte_for_byte(void **state)
{
	struct run *t = run_new(NULL, KEY);

	(void)state;
	t->writes_per_poll = 16;
	uint64_t before = t->src.writes;
	run_to_end(t);
	assert_moved(t);
	assert_true(t->src.writes > before + 100);
	assert_int_equal(t->src.starts, 1);
	assert_int_equal(t->src.pauses, 1);
	/* Round 0 skipped the zero pages and sent the rest. */
	assert_true(t->rows[0].pages_zero > 0);
	assert_true(t->rows[0].pages_sent + t->rows[0].pages_zero == NPAGES);
	assert_true(t->nrows >= 2);
	assert_true(t->sum.stop == MIG_STOP_DOWNTIME || t->sum.stop == MIG_STOP_NO_PROGRESS);
	run_free(t);
}

/* The vCPU state (and in it the guest's TSC, which the destination
 * continues from) is read only once the destination has acknowledged
 * everything before it: not while the transport still holds bytes. */
static void test_vcpu_state_is_read_only_when_the_peer_has_acknowledged_all(void **state)
{
	struct run *t = run_new_on(NULL, KEY, true);

	(void)state;
	t->mem.src_unacked = 4096;
	while (!t->src.paused && t->polls < MAX_POLLS)
		run_poll(t);
	assert_true(t->src.paused);
	for (int i = 0; i < 1000; i++)
		run_poll(t);
	assert_int_equal(t->src.vcpu_reads, 0);
	assert_int_equal(t->dst.starts, 0);
	t->mem.src_unacked = 0;
	run_to_end(t);
	assert_moved(t);
	assert_int_equal(t->src.vcpu_reads, 2);
	run_free(t);
}

/* The destination is told how long the vCPU state waited in its own
 * queue, so that the guest's clock does not lose that time. */
static void test_the_vcpu_state_arrives_with_its_wait_on_the_destination(void **state)
{
	struct run *t = run_new_on(NULL, KEY, true);

	(void)state;
	t->mem.dst_rx_age_us = 8765;
	run_to_end(t);
	assert_moved(t);
	assert_int_equal(t->dst.vcpu_late_us, 8765);
	run_free(t);
}

/* Tern's guests run on the CPU the migration runs on: a pre-copy poll
 * returns after 2 ms of its own clock however much it could still send,
 * and the migration still completes, byte for byte. Here every reading of
 * the clock costs 0.7 ms, so a poll sends a few pages at most. */
static void test_precopy_polls_give_the_cpu_back_after_2_ms(void **state)
{
	struct run *fast = run_new(NULL, KEY), *t = run_new(NULL, KEY);

	(void)state;
	fast->writes_per_poll = t->writes_per_poll = 0;
	run_to_end(fast);
	assert_moved(fast);
	t->clock.tick = 700;
	run_to_end(t);
	assert_moved(t);
	assert_true(t->polls > 4 * fast->polls);
	run_free(fast);
	run_free(t);
}

/* The summary's `time in:` stages take time from the clock readings the
 * migration makes anyway, and together fit in its total time. */
static void test_summary_says_where_the_source_time_went(void **state)
{
	struct run *t = run_new(NULL, KEY);

	(void)state;
	t->clock.tick = 50;
	run_to_end(t);
	assert_moved(t);
	assert_true(t->sum.harvest_us > 0);
	assert_true(t->sum.pages_us > 0);
	assert_true(t->sum.send_us > 0);
	assert_true(t->sum.harvest_us + t->sum.pages_us + t->sum.send_us <= t->sum.total_us);
	assert_true(t->isum.pages_us > 0);
	assert_true(t->isum.recv_us > 0);
	assert_true(t->isum.pages_us + t->isum.recv_us <= t->isum.total_us);
	run_free(t);
}

static void test_heavy_writer_stops_at_round_limit(void **state)
{
	struct mig_send_params p = {.downtime_ms = 1, .max_rounds = 4};
	struct run *t = run_new(&p, KEY);

	(void)state;
	t->writes_per_poll = 400;
	run_to_end(t);
	assert_moved(t);
	assert_true(t->sum.stop == MIG_STOP_MAX_ROUNDS || t->sum.stop == MIG_STOP_NO_PROGRESS);
	assert_true(t->nrows <= 5);
	/* Every live round left work for the next one. */
	for (int i = 0; i < t->nrows - 1; i++)
		assert_true(t->rows[i].pages_left > 0);
	run_free(t);
}

static void test_idle_guest_stops_after_round_zero(void **state)
{
	struct run *t = run_new(NULL, KEY);

	(void)state;
	t->writes_per_poll = 0;
	run_to_end(t);
	assert_moved(t);
	assert_int_equal(t->nrows, 2);
	assert_int_equal(t->rows[0].pages_left, 0);
	assert_int_equal(t->rows[1].pages_sent, 0);
	assert_int_equal(t->sum.stop, MIG_STOP_DOWNTIME);
	assert_int_equal(t->sum.pages_sent, nonzero_pages(&t->src));
	run_free(t);
}

static void test_offline_migration_pauses_first(void **state)
{
	struct mig_send_params p = {.offline = true};
	struct run *t = run_new(&p, KEY);

	(void)state;
	t->writes_per_poll = 50;
	run_to_end(t);
	assert_moved(t);
	assert_int_equal(t->src.starts, 0);
	assert_int_equal(t->nrows, 1);
	assert_int_equal(t->rows[0].round, 0);
	assert_int_equal(t->sum.stop, MIG_STOP_OFFLINE);
	assert_int_equal(t->sum.pages_sent, nonzero_pages(&t->src));
	run_free(t);
}

static void test_bandwidth_cap_is_honoured(void **state)
{
	struct mig_send_params p = {.bandwidth_mbit = 100};
	struct run *t = run_new(&p, KEY);
	/* 100 Mbit/s is 12.5 bytes per us, plus a burst of 10 ms. */
	const uint64_t burst = 100 * 10000 / 8;

	(void)state;
	run_to_end(t);
	assert_moved(t);
	for (int i = 0; i < t->nrows - 1; i++) {
		assert_true(t->rows[i].bytes <= t->rows[i].elapsed_us * 100 / 8 + burst);
		/* ...and not far below it either: the cap is not a crawl. */
		assert_true(t->rows[i].bytes * 2 >= t->rows[i].elapsed_us * 100 / 8 ||
			    t->rows[i].bytes < 4 * burst);
	}
	run_free(t);
}

static void test_wrong_key_is_refused(void **state)
{
	struct run *t = run_new(NULL, "another key");

	(void)state;
	run_to_end(t);
	assert_stayed(t, -EACCES);
	assert_int_equal(t->dst.creates, 0);
	assert_int_equal(t->src.starts, 0);
	assert_string_equal(mig_send_reason(t->s),
			    "authentication failed: the destination does not know our key");
	assert_non_null(strstr(mig_recv_reason(t->r), "source gave up: authentication failed"));
	run_free(t);
}

static void check_refusal(int create_ret, int cpuid_ret, const char *why)
{
	struct run *t = run_new(NULL, KEY);

	t->dst.create_ret = create_ret;
	t->dst.cpuid_ret = cpuid_ret;
	run_to_end(t);
	assert_stayed(t, create_ret ? create_ret : cpuid_ret);
	assert_int_equal(t->src.starts, 0);
	assert_int_equal(t->dst.destroys, 0);
	assert_non_null(strstr(mig_send_reason(t->s), why));
	assert_non_null(strstr(mig_recv_reason(t->r), why));
	run_free(t);
}

static void test_destination_out_of_memory_refuses(void **state)
{
	(void)state;
	check_refusal(-ENOMEM, 0, "not enough memory for 4 MiB");
}

static void test_name_or_mac_in_use_refuses(void **state)
{
	(void)state;
	check_refusal(-EEXIST, 0, "a guest with name web1 or MAC 52:54:00:12:34:56 exists");
}

static void test_cpuid_baseline_refused(void **state)
{
	(void)state;
	check_refusal(0, -ENOTSUP, "CPUID baseline 1 is not available on this host");
}

/* A Bochs host's TSC runs at 100 MHz, a QEMU host's at 2.1 GHz: without
 * scaling the guest's clock would run 21 times fast. Within 2 % (Tern's
 * calibrations of one rate under TCG) it moves; a source that states no
 * rate (older) is not checked. */
static struct run *run_with_tsc(uint32_t src_khz, uint32_t dst_khz)
{
	src_tsc_khz = src_khz;
	dst_tsc_khz = dst_khz;
	struct run *t = run_new(NULL, KEY);
	src_tsc_khz = dst_tsc_khz = 0; /* for the tests after this one */
	return t;
}

static void test_tsc_rates_apart_are_refused_with_both_named(void **state)
{
	const char *why = "the guest's TSC runs at 100.002 MHz, this host's at 2096.109 MHz: "
			  "more than 2 % apart";
	struct run *t = run_with_tsc(100002, 2096109);

	(void)state;
	run_to_end(t);
	assert_stayed(t, -ENOTSUP);
	assert_int_equal(t->dst.destroys, 0);
	assert_non_null(strstr(mig_send_reason(t->s), why));
	assert_non_null(strstr(mig_recv_reason(t->r), why));
	run_free(t);
	const uint32_t moves[][2] = {{2096109, 2115807}, {0, 2096109}, {100002, 0}};
	for (unsigned i = 0; i < 3; i++) {
		t = run_with_tsc(moves[i][0], moves[i][1]);
		run_to_end(t);
		assert_moved(t);
		run_free(t);
	}
}

/* A pool guest (cpu=pool): the destination traps RDTSC where the rate is
 * not its own, so says MIG_CPUID_ANY_TSC and rates 21 times apart move. */
static void test_tsc_rates_apart_move_when_the_destination_gives_any_rate(void **state)
{
	struct run *t = run_with_tsc(100002, 2096109);

	(void)state;
	t->dst.cpuid_ret = MIG_CPUID_ANY_TSC;
	run_to_end(t);
	assert_moved(t);
	run_free(t);
}

static void test_connection_cut_mid_transfer(void **state)
{
	struct run *t = run_new(NULL, KEY);

	(void)state;
	run_until_pages(t, 200);
	fake_sock_shut(&t->ss);
	run_to_end(t);
	assert_true(t->sret < 0);
	assert_stayed(t, t->sret);
	assert_non_null(strstr(mig_send_reason(t->s), "connection lost"));
	assert_non_null(strstr(mig_recv_reason(t->r), "connection lost"));
	run_free(t);
}

static void test_connection_cut_while_paused_resumes_guest(void **state)
{
	struct mig_send_params p = {.offline = true};
	struct run *t = run_new(&p, KEY);

	(void)state;
	run_until_pages(t, 50);
	fake_sock_shut(&t->ds);
	run_to_end(t);
	assert_stayed(t, t->sret);
	assert_int_equal(t->src.resumes, 1);
	run_free(t);
}

/* Offsets in the source stream: header 16, HELLO 88, AUTH 40, GUEST_CONFIG
 * 8 + 72 + 2 devices * 32 + 48 bytes of CPUID = 192; the first PAGE_DATA. */
#define FIRST_BATCH 336u

static void test_corrupt_record_header_aborts(void **state)
{
	struct run *t = run_new(NULL, KEY);

	(void)state;
	t->ds.corrupt_at = FIRST_BATCH + 4; /* its length */
	run_to_end(t);
	assert_stayed(t, t->sret);
	assert_non_null(strstr(mig_send_reason(t->s), "destination failed"));
	assert_non_null(strstr(mig_recv_reason(t->r), "PAGE_DATA"));
	run_free(t);
}

static void test_corrupt_page_data_caught_by_checksum(void **state)
{
	struct mig_send_params p = {.authenticated = true};
	struct run *t = run_new(&p, KEY);

	(void)state;
	t->writes_per_poll = 0;
	t->ds.corrupt_at = FIRST_BATCH + 8 + 8 + 16 + 100;
	run_to_end(t);
	/* END had left the source; the authenticated ERROR still lets it
	 * resume. */
	assert_stayed(t, -EBADMSG);
	assert_int_equal(t->src.pauses, 1);
	assert_int_equal(t->src.resumes, 1);
	assert_non_null(strstr(mig_recv_reason(t->r), "checksum mismatch"));
	assert_non_null(
		strstr(mig_send_reason(t->s), "destination failed: stream checksum mismatch"));
	run_free(t);
}

static void test_corrupt_answer_from_destination(void **state)
{
	struct run *t = run_new(NULL, KEY);

	(void)state;
	t->ss.corrupt_at = 16 + 88 + 40; /* the type of ACCEPT */
	run_to_end(t);
	assert_stayed(t, -EOPNOTSUPP);
	assert_int_equal(t->dst.creates, 1);
	assert_non_null(strstr(mig_send_reason(t->s), "bad answer from the destination"));
	run_free(t);
}

static void test_destination_start_failure_resumes_source(void **state)
{
	struct mig_send_params p = {.authenticated = true};
	struct run *t = run_new(&p, KEY);

	(void)state;
	t->dst.start_ret = -EIO;
	run_to_end(t);
	assert_stayed(t, -EIO);
	assert_int_equal(t->src.resumes, 1);
	assert_non_null(strstr(mig_recv_reason(t->r), "starting the guest failed"));
	run_free(t);
}

static void test_source_times_out_on_silent_destination(void **state)
{
	struct run *t = run_new(NULL, KEY);

	(void)state;
	/* The destination machine is never polled. */
	for (int i = 0; i < 10 && t->sret > 0; i++) {
		t->sret = mig_send_poll(t->s);
		t->clock.now += 2000000;
	}
	assert_int_equal(t->sret, -ETIMEDOUT);
	assert_int_equal(mig_send_result(t->s), MIG_FAILED);
	assert_string_equal(mig_send_reason(t->s),
			    "timeout: the destination was silent for 10000 ms");
	assert_false(t->src.paused);
	run_free(t);
}

static void test_destination_times_out_on_silent_source(void **state)
{
	struct run *t = run_new(NULL, KEY);

	(void)state;
	for (int i = 0; i < 10 && t->rret > 0; i++) {
		t->rret = mig_recv_poll(t->r);
		t->clock.now += 2000000;
	}
	assert_int_equal(t->rret, -ETIMEDOUT);
	assert_false(t->dst.created);
	run_free(t);
}

static void test_handoff_uncertain_keeps_guest_paused(void **state)
{
	struct run *t = run_new(NULL, KEY);
	struct mig_send_status st;

	(void)state;
	for (;;) {
		t->sret = mig_send_poll(t->s);
		fake_src_run(&t->src, t->writes_per_poll);
		mig_send_status(t->s, &st);
		if (!strcmp(st.phase, "hand-off"))
			break;
		assert_true(t->sret > 0);
		t->rret = mig_recv_poll(t->r);
		t->clock.now += t->step_us;
	}
	/* The destination host dies before it reads END. */
	assert_int_equal(mig_send_cancel(t->s, NULL), -EBUSY);
	close(t->ds.fd);
	t->ds.fd = -1;
	run_to_end(t);
	assert_int_equal(mig_send_result(t->s), MIG_UNCERTAIN);
	assert_true(t->src.paused);
	assert_int_equal(t->src.resumes, 0);
	assert_false(t->src.destroyed);
	assert_false(t->dst.started);
	assert_false(t->dst.created);
	assert_int_equal(t->sum.result, MIG_UNCERTAIN);
	run_free(t);
}

static void test_status_reports_progress(void **state)
{
	struct mig_send_params p = {.bandwidth_mbit = 10};
	struct run *t = run_new(&p, KEY);
	struct mig_send_status st;

	(void)state;
	mig_send_status(t->s, &st);
	assert_string_equal(st.phase, "pre-check");
	while (strcmp(st.phase, "transfer")) {
		run_poll(t);
		mig_send_status(t->s, &st);
	}
	assert_int_equal(st.round, 0);
	assert_true(st.percent_sent > 0 && st.percent_sent < 100);
	assert_true(st.pages_left > 0);
	run_to_end(t);
	mig_send_status(t->s, &st);
	assert_string_equal(st.phase, "done");
	run_free(t);
}

/* ---- item: the hand-off is decided by what left, not by when we looked -------------- */

/* send.c's per-poll budget: a poll stops once this much left. */
#define SEND_POLL_BUDGET (4u << 20)

/* The whole source stream of an offline migration of a full guest, in
 * bytes: the runs are deterministic, so a second run sends exactly this. */
static uint64_t full_offline_stream_bytes(void)
{
	struct mig_send_params p = {.offline = true};
	struct run *t = run_new_on(&p, KEY, true);
	uint64_t n;

	fill_all_pages(t);
	run_to_end(t);
	assert_moved(t);
	/* Up to END: the source's HELD_FRAMES (no frame) follows HANDOFF_DONE. */
	n = t->mem.to_dst.sent - (MIG_REC_HDR_LEN + MIG_HELD_HDR_LEN);
	run_free(t);
	assert_true(n > SEND_POLL_BUDGET + 8192);
	return n;
}

/* The poll that hands END's last byte to the transport stops right there
 * (its budget is spent); HANDOFF_DONE is the next thing the source reads.
 * It must finish the hand-off: resuming here would run the guest twice. */
static void test_handoff_done_right_after_the_budget_stopped_at_end_completes(void **state)
{
	struct mig_send_params p = {.offline = true};
	uint64_t total = full_offline_stream_bytes();
	struct run *t = run_new_on(&p, KEY, true);

	(void)state;
	fill_all_pages(t);
	t->mem.to_dst.cap = total - SEND_POLL_BUDGET;
	run_until_blocked(t);
	assert_true(t->src.paused);
	t->mem.to_dst.cap = UINT64_MAX;
	/* This poll moves exactly the budget: the last byte is END's. */
	t->sret = mig_send_poll(t->s);
	assert_int_equal(t->sret, 1);
	assert_int_equal(t->mem.to_dst.sent, total);
	/* It runs on the destination, which then waits for HELD_FRAMES. */
	while (t->rret > 0 && !t->dst.started)
		t->rret = mig_recv_poll(t->r);
	assert_int_equal(t->rret, 1);
	assert_true(t->dst.started);
	run_to_end(t);
	assert_moved(t);
	assert_never_on_both(t);
	run_free(t);
}

/* A HANDOFF_DONE while part of END is still queued here cannot be true: the
 * destination cannot have END. The source gives up, never lets the rest of
 * END out, and runs the guest again; the destination never starts it. */
static void test_handoff_done_before_end_left_is_refused_and_end_withheld(void **state)
{
	struct mig_send_params p = {.offline = true};
	uint64_t total = full_offline_stream_bytes();
	struct run *t = run_new_on(&p, KEY, true);
	struct mig_send_status st;
	uint8_t resume[8] = {0};

	(void)state;
	fill_all_pages(t);
	t->mem.to_dst.cap = total - 20; /* inside END's payload */
	run_until_blocked(t);
	mig_send_status(t->s, &st);
	assert_string_equal(st.phase, "suspend");
	inject_to_source(t, MIG_REC_HANDOFF_DONE, resume, sizeof(resume));
	t->mem.to_dst.cap = UINT64_MAX;
	t->sret = mig_send_poll(t->s);
	assert_int_equal(t->sret, -EPROTO);
	assert_string_equal(mig_send_reason(t->s),
			    "destination sent HANDOFF_DONE before END had left");
	assert_int_equal(t->mem.to_dst.sent, total - 20);
	run_to_end(t);
	assert_stayed(t, -EPROTO);
	assert_int_equal(t->src.resumes, 1);
	assert_int_equal(t->dst.starts, 0);
	assert_never_on_both(t);
	run_free(t);
}

/* END left; an ERROR arrives before HANDOFF_DONE. On a connection nobody
 * authenticates it may be forged (the destination is in fact starting the
 * guest): the source keeps the guest paused and calls the hand-off
 * uncertain, so the guest never runs on both hosts. */
static void test_forged_error_after_end_keeps_the_guest_paused(void **state)
{
	struct mig_send_params p = {.offline = true};
	struct run *t = run_new_on(&p, KEY, true);
	struct mig_send_status st;
	uint8_t err[8 + 5] = {MIG_CODE_GUEST, 0, 0, 0, 0, 0, 0, 0, 'f', 'o', 'r', 'g', 'e'};

	(void)state;
	for (int i = 0; i < 1000 && !t->src.paused; i++) {
		t->sret = mig_send_poll(t->s);
		if (!t->src.paused)
			t->rret = mig_recv_poll(t->r);
	}
	/* From the pause on only the source runs, until END is out. */
	for (int i = 0; i < 1000; i++) {
		t->sret = mig_send_poll(t->s);
		mig_send_status(t->s, &st);
		if (!strcmp(st.phase, "hand-off"))
			break;
	}
	assert_string_equal(st.phase, "hand-off");
	inject_to_source(t, MIG_REC_ERROR, err, sizeof(err));
	t->sret = mig_send_poll(t->s);
	assert_int_equal(mig_send_result(t->s), MIG_UNCERTAIN);
	assert_string_equal(mig_send_reason(t->s),
			    "destination failed after END (unauthenticated): forge");
	assert_true(t->src.paused);
	assert_int_equal(t->src.resumes, 0);
	assert_false(t->src.destroyed);
	while (t->rret > 0)
		t->rret = mig_recv_poll(t->r);
	assert_true(t->dst.started); /* it had END: the guest runs there only */
	assert_never_on_both(t);
	run_free(t);
}

/* The same ERROR from a real destination (it could not start the guest)
 * over a plain connection: still uncertain, the operator decides. */
static void test_error_after_end_on_a_plain_connection_is_uncertain(void **state)
{
	struct run *t = run_new(NULL, KEY);

	(void)state;
	t->dst.start_ret = -EIO;
	while ((t->sret > 0 || t->rret > 0) && t->polls < MAX_POLLS)
		run_poll(t);
	assert_int_equal(mig_send_result(t->s), MIG_UNCERTAIN);
	assert_non_null(strstr(mig_send_reason(t->s),
			       "destination failed after END (unauthenticated): starting the guest "
			       "failed"));
	assert_true(t->src.paused);
	assert_int_equal(t->src.resumes, 0);
	assert_false(t->src.destroyed);
	assert_false(t->dst.started);
	assert_false(t->dst.created);
	assert_never_on_both(t);
	run_free(t);
}

/* Answers a destination never sends in mid-transfer: each fails the
 * migration; the guest keeps running here and B keeps nothing. */
static void test_out_of_order_answers_during_transfer_fail_cleanly(void **state)
{
	static const struct {
		uint32_t type, len;
		const char *why;
	} cases[] = {
		{MIG_REC_HELLO, MIG_HELLO_LEN, "unexpected HELLO from the destination"},
		{MIG_REC_AUTH, MIG_PROOF_LEN, "unexpected AUTH from the destination"},
		{MIG_REC_ACCEPT, 0, "unexpected ACCEPT from the destination"},
		{MIG_REC_REFUSE, 8, "unexpected REFUSE from the destination"},
		{MIG_REC_HANDOFF_DONE, 8, "unexpected HANDOFF_DONE from the destination"},
	};
	uint8_t payload[MIG_HELLO_LEN] = {0};

	(void)state;
	/* Capped, so round 0 takes many polls. */
	struct mig_send_params p = {.bandwidth_mbit = 100};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run *t = run_new_on(&p, KEY, true);
		while (t->dst.pages_written < 100)
			run_poll(t);
		assert_true(t->sret > 0);
		inject_to_source(t, cases[i].type, payload, cases[i].len);
		run_to_end(t);
		assert_stayed(t, -EPROTO);
		assert_string_equal(mig_send_reason(t->s), cases[i].why);
		assert_int_equal(t->src.pauses, 0);
		assert_never_on_both(t);
		run_free(t);
	}
}

/* ---- a destination that cannot run a blob says so before END ------------------------- */

static void check_blob_refused(bool vcpu, const char *why, const char *reason)
{
	struct mig_send_params p = {.authenticated = true};
	struct run *t = run_new(&p, KEY);

	if (vcpu)
		t->dst.vcpu_ret = -EINVAL;
	else
		t->dst.dev_ret = -EINVAL;
	t->dst.why_text = why;
	run_to_end(t);
	assert_stayed(t, -EIO); /* what ERROR GUEST means to the source */
	assert_int_equal(t->rret, -EINVAL);
	assert_int_equal(t->dst.refusals, 1);
	assert_int_equal(t->dst.starts, 0);
	assert_int_equal(t->src.resumes, 1);
	assert_string_equal(mig_recv_reason(t->r), reason);
	assert_non_null(strstr(mig_send_reason(t->s), reason));
	assert_never_on_both(t);
	run_free(t);
}

static void test_refused_vcpu_blob_fails_the_migration_and_the_source_resumes(void **state)
{
	(void)state;
	check_blob_refused(true, "EFER.LMA without CR0.PG",
			   "vCPU 0 state refused: EFER.LMA without CR0.PG (-22)");
	check_blob_refused(true, NULL, "vCPU 0 state refused: not a state this host can run (-22)");
}

static void test_refused_device_blob_fails_the_migration_and_the_source_resumes(void **state)
{
	(void)state;
	check_blob_refused(false, "queue 0 ring outside guest RAM",
			   "device 10 (dev0) state refused: queue 0 ring outside guest RAM (-22)");
}

/* ---- the operator's pause travels --------------------------------------------------- */

static void test_paused_flag_reaches_the_destination(void **state)
{
	struct run *t = run_new(NULL, KEY);

	(void)state;
	run_to_end(t);
	assert_moved(t);
	assert_false(t->dst.cfg.paused);
	run_free(t);
	start_paused = true;
	t = run_new(NULL, KEY);
	start_paused = false;
	run_to_end(t);
	assert_moved(t);
	assert_true(t->dst.cfg.paused);
	run_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_live_migration_moves_memory_byte_for_byte),
		cmocka_unit_test(test_vcpu_state_is_read_only_when_the_peer_has_acknowledged_all),
		cmocka_unit_test(test_the_vcpu_state_arrives_with_its_wait_on_the_destination),
		cmocka_unit_test(test_precopy_polls_give_the_cpu_back_after_2_ms),
		cmocka_unit_test(test_summary_says_where_the_source_time_went),
		cmocka_unit_test(test_heavy_writer_stops_at_round_limit),
		cmocka_unit_test(test_idle_guest_stops_after_round_zero),
		cmocka_unit_test(test_offline_migration_pauses_first),
		cmocka_unit_test(test_bandwidth_cap_is_honoured),
		cmocka_unit_test(test_wrong_key_is_refused),
		cmocka_unit_test(test_destination_out_of_memory_refuses),
		cmocka_unit_test(test_name_or_mac_in_use_refuses),
		cmocka_unit_test(test_cpuid_baseline_refused),
		cmocka_unit_test(test_tsc_rates_apart_are_refused_with_both_named),
		cmocka_unit_test(test_tsc_rates_apart_move_when_the_destination_gives_any_rate),
		cmocka_unit_test(test_connection_cut_mid_transfer),
		cmocka_unit_test(test_connection_cut_while_paused_resumes_guest),
		cmocka_unit_test(test_corrupt_record_header_aborts),
		cmocka_unit_test(test_corrupt_page_data_caught_by_checksum),
		cmocka_unit_test(test_corrupt_answer_from_destination),
		cmocka_unit_test(test_destination_start_failure_resumes_source),
		cmocka_unit_test(test_source_times_out_on_silent_destination),
		cmocka_unit_test(test_destination_times_out_on_silent_source),
		cmocka_unit_test(test_handoff_uncertain_keeps_guest_paused),
		cmocka_unit_test(test_status_reports_progress),
		cmocka_unit_test(test_handoff_done_right_after_the_budget_stopped_at_end_completes),
		cmocka_unit_test(test_handoff_done_before_end_left_is_refused_and_end_withheld),
		cmocka_unit_test(test_forged_error_after_end_keeps_the_guest_paused),
		cmocka_unit_test(test_error_after_end_on_a_plain_connection_is_uncertain),
		cmocka_unit_test(test_out_of_order_answers_during_transfer_fail_cleanly),
		cmocka_unit_test(test_refused_vcpu_blob_fails_the_migration_and_the_source_resumes),
		cmocka_unit_test(
			test_refused_device_blob_fails_the_migration_and_the_source_resumes),
		cmocka_unit_test(test_paused_flag_reaches_the_destination),
	};
	return cmocka_run_group_tests_name("migrate/state machines", tests, NULL, NULL);
}
