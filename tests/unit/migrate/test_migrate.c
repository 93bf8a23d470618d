/* The source and destination state machines end to end, over a real
 * non-blocking socketpair, both polled in turn by one thread while the
 * fake guest keeps writing its memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <errno.h>

#include "migrate/auth.h"
#include "migrate/le.h"
#include "migrate/record.h"
#include "migrate/recv.h"
#include "migrate/send.h"
#include "tests/unit/migrate/fake.h"

#define KEY "correct horse battery staple"
#define NPAGES 1024
#define MAX_POLLS 200000

struct run {
	struct fake_clock clock;
	struct fake_src src;
	struct fake_dst dst;
	struct fake_sock ss, ds; /* the source's and the destination's end */
	struct fake_mem mem;	 /* or an in-memory connection (run_new_mem) */
	bool use_mem;
	struct mig_send *s;
	struct mig_recv *r;
	int sret, rret;
	unsigned writes_per_poll;
	uint64_t step_us;
	int polls;
	struct mig_round_row rows[64];
	int nrows;
	struct mig_summary sum;
	char sum_reason[256];
	int sum_calls;
	struct mig_incoming_summary isum;
	int isum_calls;
};

static void on_round(void *ctx, const struct mig_round_row *row)
{
	struct run *t = ctx;

	assert_true(t->nrows < 64);
	t->rows[t->nrows++] = *row;
	if (getenv("TERN_TEST_LOG")) {
		char line[160];
		if (t->nrows == 1) {
			mig_stats_header(line, sizeof(line));
			printf("%s\n", line);
		}
		mig_stats_row(row, line, sizeof(line));
		printf("%s\n", line);
	}
}

static void on_done(void *ctx, const struct mig_summary *s)
{
	struct run *t = ctx;

	t->sum = *s;
	snprintf(t->sum_reason, sizeof(t->sum_reason), "%s", s->reason);
	t->sum_calls++;
	if (getenv("TERN_TEST_LOG")) {
		char buf[1024];
		mig_stats_summary(s, buf, sizeof(buf));
		printf("%s", buf);
	}
}

static void on_incoming(void *ctx, const struct mig_incoming_summary *s)
{
	struct run *t = ctx;

	t->isum = *s;
	t->isum_calls++;
}

/* The next run's guest was paused by the operator (GUEST_CONFIG says so). */
static bool start_paused;
/* The next run's destination has no page op: it takes no deltas. */
static bool dst_without_deltas;

/* Linked with --wrap=malloc (mk/migrate.mk). While set, an allocation the
 * size of a delta cache of at least this much fails: a whole number of
 * MiB, which no other buffer of a migration is. */
static size_t cache_allocs_fail_from;
void *__real_malloc(size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_malloc(size_t size)
{
	if (cache_allocs_fail_from && size >= cache_allocs_fail_from && size % (1 << 20) == 0)
		return NULL;
	return __real_malloc(size);
}

static struct run *run_new_on(const struct mig_send_params *sp, const char *dst_key, bool mem)
{
	struct run *t = calloc(1, sizeof(*t));
	struct mig_send_params p = sp ? *sp : (struct mig_send_params){0};
	struct mig_recv_params rp = {(const uint8_t *)dst_key, strlen(dst_key), 0};

	t->clock.now = 1000000;
	t->clock.rng = 7;
	t->step_us = 1000;
	t->writes_per_poll = 4;
	fake_src_init(&t->src, NPAGES, 2, 2);
	t->src.cfg.paused = start_paused;
	fake_sock_pair(&t->ss, &t->ds);
	fake_mem_init(&t->mem);
	t->use_mem = mem;
	p.key = (const uint8_t *)KEY;
	p.key_len = strlen(KEY);

	struct mig_host h = fake_host(&t->clock);
	struct mig_transport stp = mem ? fake_mem_src(&t->mem) : fake_sock_ops(&t->ss);
	struct mig_transport dtp = mem ? fake_mem_dst(&t->mem) : fake_sock_ops(&t->ds);
	struct mig_src_guest sg = fake_src_ops(&t->src);
	struct mig_dst_guest dg = fake_dst_ops(&t->dst);
	struct mig_send_events sev = {on_round, on_done, t};
	if (dst_without_deltas)
		dg.page = NULL;
	struct mig_recv_events rev = {on_incoming, t};
	assert_int_equal(mig_send_start(&t->s, &p, &stp, &sg, &h, &sev), 0);
	assert_int_equal(mig_recv_start(&t->r, &rp, &dtp, &dg, &h, &rev), 0);
	t->sret = t->rret = 1;
	return t;
}

static struct run *run_new(const struct mig_send_params *sp, const char *dst_key)
{
	return run_new_on(sp, dst_key, false);
}

static void run_poll(struct run *t)
{
	if (t->sret > 0)
		t->sret = mig_send_poll(t->s);
	fake_src_run(&t->src, t->writes_per_poll);
	if (t->rret > 0)
		t->rret = mig_recv_poll(t->r);
	t->clock.now += t->step_us;
	t->polls++;
}

static void run_to_end(struct run *t)
{
	while ((t->sret > 0 || t->rret > 0) && t->polls < MAX_POLLS)
		run_poll(t);
	assert_true(t->sret <= 0 && t->rret <= 0);
	assert_int_equal(t->sum_calls, 1);
	assert_int_equal(t->isum_calls, 1);
}

static void run_free(struct run *t)
{
	mig_send_free(t->s);
	mig_recv_free(t->r);
	if (t->use_mem) {
		/* the socketpair was never used: close it here */
		close(t->ss.fd);
		close(t->ds.fd);
	}
	fake_mem_fini(&t->mem);
	fake_src_fini(&t->src);
	fake_dst_fini(&t->dst);
	free(t);
}

static uint64_t nonzero_pages(const struct fake_src *g)
{
	static const uint8_t zero[MIG_PAGE_SIZE];
	uint64_t n = 0;

	for (uint64_t i = 0; i < g->npages; i++)
		n += memcmp(g->mem + i * MIG_PAGE_SIZE, zero, MIG_PAGE_SIZE) != 0;
	return n;
}

static void assert_moved(struct run *t)
{
	uint8_t blob[FAKE_BLOB_LEN];

	assert_int_equal(t->sret, 0);
	assert_int_equal(t->rret, 0);
	assert_int_equal(mig_send_result(t->s), MIG_DONE);
	assert_int_equal(mig_recv_result(t->r), MIG_DONE);
	assert_true(t->src.destroyed);
	assert_false(t->src.tracking);
	assert_int_equal(t->src.resumes, 0);
	assert_true(t->dst.started);
	assert_int_equal(t->dst.destroys, 0);
	/* Byte for byte: the source was paused from the final round on. */
	assert_memory_equal(t->dst.mem, t->src.mem, (size_t)NPAGES * MIG_PAGE_SIZE);
	for (uint32_t i = 0; i < t->src.cfg.vcpu_count; i++) {
		fake_blob(&t->src, i, blob);
		assert_int_equal(t->dst.vcpu_len[i], FAKE_BLOB_LEN);
		assert_memory_equal(t->dst.vcpu[i], blob, FAKE_BLOB_LEN);
	}
	for (uint32_t i = 0; i < t->src.cfg.device_count; i++) {
		fake_blob(&t->src, t->src.cfg.devices[i].id | 0x100, blob);
		assert_int_equal(t->dst.dev_len[i], FAKE_BLOB_LEN);
		assert_memory_equal(t->dst.dev[i], blob, FAKE_BLOB_LEN);
	}
	assert_string_equal(t->dst.cfg.name, "web1");
	assert_memory_equal(t->dst.cfg.mac, t->src.cfg.mac, 6);
	assert_true(t->nrows >= 1);
	assert_true(t->rows[t->nrows - 1].final);
	assert_int_equal(t->sum.result, MIG_DONE);
	assert_true(t->sum.downtime_known);
	assert_true(t->sum.downtime_max_us >= t->sum.downtime_src_us);
	assert_int_equal(t->sum.rounds, (uint32_t)t->nrows);
	assert_int_equal(t->isum.result, MIG_DONE);
	assert_int_equal(t->isum.rounds, (uint32_t)t->nrows);
	/* What the source counted is what the destination wrote. */
	assert_int_equal(t->isum.pages_sent, t->sum.pages_sent);
	assert_int_equal(t->isum.pages_delta, t->sum.pages_delta);
	assert_int_equal(t->dst.pages_patched, t->isum.pages_delta);
	assert_int_equal(t->dst.pages_written + t->dst.pages_patched,
			 t->isum.pages_sent + t->isum.pages_zero);
}

/* The guest left running on the source, nothing on the destination. */
static void assert_stayed(struct run *t, int err)
{
	assert_int_equal(t->sret, err);
	assert_true(t->rret < 0);
	assert_int_equal(mig_send_result(t->s), MIG_FAILED);
	assert_int_equal(mig_recv_result(t->r), MIG_FAILED);
	assert_false(t->src.paused);
	assert_false(t->src.tracking);
	assert_false(t->src.destroyed);
	assert_int_equal(t->src.starts, t->src.stops);
	assert_false(t->dst.started);
	assert_false(t->dst.created);
	assert_int_equal(t->dst.creates, t->dst.destroys);
	fake_dst_check(&t->dst, MIG_FAILED);
	assert_int_equal(t->sum.result, MIG_FAILED);
}

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

static void run_until_pages(struct run *t, uint64_t pages)
{
	while (t->dst.pages_written < pages && t->polls < MAX_POLLS)
		run_poll(t);
	assert_true(t->dst.pages_written >= pages);
	assert_true(t->sret > 0 && t->rret > 0);
}

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

/* A scripted source speaking raw records to a real destination machine. */
struct raw {
	struct run *t;
	uint8_t *out_mem, in_mem[4096];
	struct mig_stream_out out;
	struct mig_stream_in in;
	uint8_t ns[32], nd[32];
};

static void raw_flush(struct raw *w)
{
	size_t n = mig_stream_out_pending(&w->out);

	if (n)
		assert_int_equal(send(w->t->ss.fd, mig_stream_out_data(&w->out), n, 0), (ssize_t)n);
	mig_stream_out_consume(&w->out, n);
	for (int i = 0; i < 4 && w->t->rret > 0; i++)
		w->t->rret = mig_recv_poll(w->t->r);
}

/* The next record the destination sent. */
static uint32_t raw_answer(struct raw *w, struct mig_stream_rec *rec)
{
	uint8_t c;
	size_t used;

	for (;;) {
		if (recv(w->t->ss.fd, &c, 1, MSG_DONTWAIT) != 1)
			return 0;
		int ret = mig_stream_in_feed(&w->in, &c, 1, &used, rec);
		assert_true(ret >= 0);
		if (ret)
			return rec->type;
	}
}

static struct raw *raw_new_caps(uint64_t caps)
{
	struct raw *w = calloc(1, sizeof(*w));
	struct mig_hello h = {.caps = caps, .page_shift = 12};

	w->t = run_new(NULL, KEY);
	w->out_mem = malloc(2 << 20);
	mig_stream_out_init(&w->out, w->out_mem, 2 << 20);
	mig_stream_in_init(&w->in, mig_record_dst_limits, mig_record_dst_nlimits, w->in_mem,
			   sizeof(w->in_mem));
	memset(w->ns, 0x11, 32);
	memcpy(h.nonce, w->ns, 32);
	mig_stream_out_header(&w->out);
	mig_record_put_hello(&w->out, &h);
	raw_flush(w);
	struct mig_stream_rec rec;
	assert_int_equal(raw_answer(w, &rec), MIG_REC_HELLO);
	memcpy(w->nd, rec.payload + 16, 32);
	assert_int_equal(raw_answer(w, &rec), MIG_REC_AUTH);
	assert_int_equal(mig_auth_verify(MIG_AUTH_DESTINATION, (const uint8_t *)KEY, strlen(KEY),
					 w->ns, w->nd, rec.payload),
			 0);
	return w;
}

static struct raw *raw_new(void)
{
	return raw_new_caps(0);
}

static void raw_auth_and_config(struct raw *w)
{
	uint8_t proof[32];
	struct mig_stream_rec rec;

	mig_auth_proof(MIG_AUTH_SOURCE, (const uint8_t *)KEY, strlen(KEY), w->ns, w->nd, proof);
	mig_stream_out_put(&w->out, MIG_REC_AUTH, proof, 32);
	mig_record_put_config(&w->out, &w->t->src.cfg);
	raw_flush(w);
	assert_int_equal(raw_answer(w, &rec), MIG_REC_ACCEPT);
	assert_true(w->t->dst.created);
}

static void raw_free(struct raw *w)
{
	run_free(w->t);
	free(w->out_mem);
	free(w);
}

static void test_destination_refuses_a_forged_proof(void **state)
{
	struct raw *w = raw_new();
	uint8_t proof[32];
	struct mig_stream_rec rec;
	struct mig_text text;

	(void)state;
	mig_auth_proof(MIG_AUTH_SOURCE, (const uint8_t *)"guess", 5, w->ns, w->nd, proof);
	mig_stream_out_put(&w->out, MIG_REC_AUTH, proof, 32);
	mig_record_put_config(&w->out, &w->t->src.cfg);
	raw_flush(w);
	assert_int_equal(raw_answer(w, &rec), MIG_REC_REFUSE);
	assert_int_equal(mig_record_get_text(&rec, &text), 0);
	assert_int_equal(text.code, MIG_CODE_AUTH);
	assert_int_equal(w->t->rret, -EACCES);
	assert_int_equal(w->t->dst.creates, 0);
	raw_free(w);
}

static void test_unknown_optional_skipped_unknown_mandatory_aborts(void **state)
{
	struct raw *w = raw_new();
	struct mig_stream_rec rec;
	struct mig_text text;
	uint8_t junk[100] = {0};

	(void)state;
	raw_auth_and_config(w);
	mig_stream_out_put(&w->out, MIG_REC_OPTIONAL | 0x42, junk, sizeof(junk));
	raw_flush(w);
	assert_true(w->t->rret > 0);
	assert_int_equal(raw_answer(w, &rec), 0);
	mig_stream_out_put(&w->out, 0x42, junk, sizeof(junk));
	raw_flush(w);
	assert_int_equal(raw_answer(w, &rec), MIG_REC_ERROR);
	assert_int_equal(mig_record_get_text(&rec, &text), 0);
	assert_int_equal(text.code, MIG_CODE_UNSUPPORTED);
	assert_int_equal(w->t->rret, -EOPNOTSUPP);
	assert_int_equal(w->t->dst.destroys, 1);
	raw_free(w);
}

static void test_destination_rejects_records_out_of_order(void **state)
{
	struct raw *w = raw_new();
	struct mig_stream_rec rec;
	struct mig_blob dummy;

	(void)state;
	(void)dummy;
	raw_auth_and_config(w);
	/* vCPU state before the final round. */
	uint8_t *blob = mig_record_blob_begin(&w->out, MIG_REC_VCPU_STATE, 0);
	memset(blob, 0, FAKE_BLOB_LEN);
	mig_record_blob_commit(&w->out, FAKE_BLOB_LEN);
	raw_flush(w);
	assert_int_equal(raw_answer(w, &rec), MIG_REC_ERROR);
	assert_int_equal(w->t->rret, -EPROTO);
	assert_int_equal(w->t->dst.destroys, 1);
	assert_string_equal(mig_recv_reason(w->t->r), "vCPU state before the final round");
	raw_free(w);
}

static void test_destination_checks_round_counts(void **state)
{
	struct raw *w = raw_new();
	struct mig_stream_rec rec;
	struct mig_batch b;
	uint8_t page[MIG_PAGE_SIZE] = {1};

	(void)state;
	raw_auth_and_config(w);
	mig_record_batch_begin(&w->out, &b);
	mig_record_batch_add(&b, 5, page);
	mig_record_batch_commit(&w->out, &b);
	struct mig_eor e = {0, 0, 2};
	mig_record_put_eor(&w->out, &e);
	raw_flush(w);
	assert_int_equal(raw_answer(w, &rec), MIG_REC_ERROR);
	assert_int_equal(w->t->rret, -EBADMSG);
	assert_string_equal(mig_recv_reason(w->t->r), "round 0: 2 pages announced, 1 received");
	raw_free(w);
}

static void test_destination_answers_a_bad_header(void **state)
{
	struct run *t = run_new(NULL, KEY);
	uint8_t junk[16] = "GET / HTTP/1.0\r\n";
	uint8_t in_mem[512];
	struct mig_stream_in in;
	struct mig_stream_rec rec;
	struct mig_text text;
	uint8_t buf[512];
	size_t used;

	(void)state;
	assert_int_equal(send(t->ss.fd, junk, sizeof(junk), 0), 16);
	while (t->rret > 0)
		t->rret = mig_recv_poll(t->r);
	assert_int_equal(t->rret, -EPROTO);
	ssize_t n = recv(t->ss.fd, buf, sizeof(buf), MSG_DONTWAIT);
	mig_stream_in_init(&in, mig_record_dst_limits, mig_record_dst_nlimits, in_mem,
			   sizeof(in_mem));
	assert_int_equal(mig_stream_in_feed(&in, buf, (size_t)n, &used, &rec), 1);
	assert_int_equal(rec.type, MIG_REC_REFUSE);
	mig_record_get_text(&rec, &text);
	assert_int_equal(text.code, MIG_CODE_PROTOCOL);
	assert_string_equal(text.text,
			    "bad stream at byte 16: not a Tern migration stream (bad magic)");
	run_free(t);
}

/* ---- item: the hand-off is decided by what left, not by when we looked -------------- */

/* send.c's per-poll budget: a poll stops once this much left. */
#define SEND_POLL_BUDGET (4u << 20)

/* Every page holds data, so the final round alone is over the budget. */
static void fill_all_pages(struct run *t)
{
	for (uint64_t i = 0; i < t->src.npages; i++)
		memset(t->src.mem + i * MIG_PAGE_SIZE, (int)(i | 1), MIG_PAGE_SIZE);
}

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
	n = t->mem.to_dst.sent;
	run_free(t);
	assert_true(n > SEND_POLL_BUDGET + 8192);
	return n;
}

/* Poll both ends until the source has handed over all the pipe allows. */
static void run_until_blocked(struct run *t)
{
	for (int i = 0; i < 10000 && t->mem.to_dst.sent < t->mem.to_dst.cap; i++)
		run_poll(t);
	assert_int_equal(t->mem.to_dst.sent, t->mem.to_dst.cap);
	for (int i = 0; i < 5; i++)
		run_poll(t);
	assert_true(t->sret > 0 && t->rret > 0);
}

static void inject_to_source(struct run *t, uint32_t type, const void *payload, uint32_t len)
{
	uint8_t buf[512];
	struct mig_stream_out o;

	mig_stream_out_init(&o, buf, sizeof(buf));
	assert_int_equal(mig_stream_out_put(&o, type, payload, len), 0);
	fake_pipe_inject(&t->mem.to_src, mig_stream_out_data(&o), mig_stream_out_pending(&o));
}

/* The guest runs on at most one host, whatever happened. */
static void assert_never_on_both(const struct run *t)
{
	bool on_src = !t->src.destroyed && !t->src.paused;
	assert_false(on_src && t->dst.started);
	assert_false(t->src.destroyed && !t->dst.started);
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
	while (t->rret > 0)
		t->rret = mig_recv_poll(t->r);
	assert_int_equal(t->rret, 0);
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

/* Scripted: the final round, a vCPU blob the host refuses, then END. The
 * destination answers ERROR at the blob and never looks at END. */
static void test_destination_refuses_end_after_a_refused_blob(void **state)
{
	struct raw *w = raw_new();
	struct mig_stream_rec rec;
	struct mig_text text;
	struct mig_eor e = {0, MIG_EOR_FINAL, 0};
	struct mig_end end = {1, 0, 0, 0};

	(void)state;
	w->t->dst.vcpu_ret = -EINVAL;
	w->t->dst.why_text = "CR0.PG without CR0.PE";
	raw_auth_and_config(w);
	mig_record_put_eor(&w->out, &e);
	uint8_t *blob = mig_record_blob_begin(&w->out, MIG_REC_VCPU_STATE, 0);
	memset(blob, 0, FAKE_BLOB_LEN);
	mig_record_blob_commit(&w->out, FAKE_BLOB_LEN);
	end.sum_a = w->out.sum.a, end.sum_b = w->out.sum.b;
	mig_record_put_end(&w->out, &end);
	raw_flush(w);
	assert_int_equal(raw_answer(w, &rec), MIG_REC_ERROR);
	assert_int_equal(mig_record_get_text(&rec, &text), 0);
	assert_int_equal(text.code, MIG_CODE_GUEST);
	assert_string_equal(text.text, "vCPU 0 state refused: CR0.PG without CR0.PE (-22)");
	assert_int_equal(raw_answer(w, &rec), 0); /* no HANDOFF_DONE, ever */
	assert_int_equal(w->t->rret, -EINVAL);
	assert_int_equal(w->t->dst.starts, 0);
	assert_int_equal(w->t->dst.destroys, 1);
	raw_free(w);
}

/* Records a source never sends at that point: ERROR PROTOCOL, guest
 * destroyed, never started. */
static void test_destination_rejects_each_record_out_of_order(void **state)
{
	static const struct {
		bool after_final;
		uint32_t type, len;
		const char *why;
	} cases[] = {
		{false, MIG_REC_END, MIG_END_LEN, "END before the final round"},
		{false, MIG_REC_DEVICE_STATE, 8, "device state before the final round"},
		{false, MIG_REC_HELLO, MIG_HELLO_LEN, "unexpected HELLO"},
		{false, MIG_REC_AUTH, MIG_PROOF_LEN, "unexpected AUTH"},
		{true, MIG_REC_END_OF_ROUND, MIG_EOR_LEN, "END_OF_ROUND after the final round"},
		{true, MIG_REC_PAGE_DATA, 8 + 16, "PAGE_DATA after the final round"},
		{true, MIG_REC_GUEST_CONFIG, MIG_CONFIG_FIXED_LEN, "unexpected GUEST_CONFIG"},
	};
	uint8_t payload[MIG_HELLO_LEN + 16] = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct raw *w = raw_new();
		struct mig_stream_rec rec;
		struct mig_text text;

		raw_auth_and_config(w);
		if (cases[i].after_final) {
			struct mig_eor e = {0, MIG_EOR_FINAL, 0};
			mig_record_put_eor(&w->out, &e);
		}
		mig_stream_out_put(&w->out, cases[i].type, payload, cases[i].len);
		raw_flush(w);
		assert_int_equal(raw_answer(w, &rec), MIG_REC_ERROR);
		assert_int_equal(mig_record_get_text(&rec, &text), 0);
		assert_int_equal(text.code, MIG_CODE_PROTOCOL);
		assert_string_equal(mig_recv_reason(w->t->r), cases[i].why);
		assert_int_equal(w->t->rret, -EPROTO);
		assert_int_equal(w->t->dst.destroys, 1);
		assert_int_equal(w->t->dst.starts, 0);
		raw_free(w);
	}
}

/* ---- pages sent again go as deltas ---------------------------------------------------- */

static struct run *delta_run(const struct mig_send_params *p)
{
	struct run *t = run_new(p, KEY);

	/* Every page holds data, so every page rewritten (not zeroed) is in
	 * the cache; the writer changes one byte per write. */
	fill_all_pages(t);
	t->writes_per_poll = 16;
	run_to_end(t);
	assert_moved(t);
	assert_true(t->nrows >= 2);
	return t;
}

static void test_rewritten_pages_go_as_deltas_and_arrive_byte_for_byte(void **state)
{
	struct run *t = delta_run(NULL);
	char text[1024];

	(void)state;
	assert_int_equal(t->sum.delta, MIG_DELTA_ON);
	assert_int_equal(t->sum.delta_cache_bytes, (uint64_t)NPAGES * MIG_PAGE_SIZE);
	assert_int_equal(t->rows[0].pages_delta, 0); /* round 0 sends each page whole */
	assert_true(t->sum.pages_delta > 0);
	assert_true(t->sum.pages_delta <= t->sum.pages_sent);
	/* A one-byte change costs a few bytes instead of 4096. */
	assert_true(t->sum.delta_saved > t->sum.pages_delta * (MIG_PAGE_SIZE - 64));
	assert_int_equal(t->isum.pages_delta, t->sum.pages_delta);
	mig_stats_summary(&t->sum, text, sizeof(text));
	assert_non_null(strstr(text, "\ndelta pages:  "));
	assert_non_null(strstr(text, " (cache 4 MiB, "));
	run_free(t);
}

static void test_delta_off_sends_whole_pages(void **state)
{
	struct mig_send_params p = {.delta_off = true};
	struct run *t = delta_run(&p);
	char text[1024];

	(void)state;
	assert_int_equal(t->sum.delta, MIG_DELTA_OFF);
	assert_int_equal(t->sum.pages_delta, 0);
	assert_int_equal(t->sum.delta_saved, 0);
	assert_int_equal(t->isum.pages_delta, 0);
	assert_int_equal(t->dst.pages_patched, 0);
	mig_stats_summary(&t->sum, text, sizeof(text));
	assert_null(strstr(text, "delta pages:"));
	run_free(t);
}

/* An older destination (no DELTA in its HELLO) is never sent a PAGE_DELTA. */
static void test_destination_without_deltas_gets_whole_pages(void **state)
{
	char text[1024];

	(void)state;
	dst_without_deltas = true;
	struct run *t = delta_run(NULL);
	dst_without_deltas = false;
	assert_int_equal(t->sum.delta, MIG_DELTA_PEER);
	assert_int_equal(t->sum.pages_delta, 0);
	assert_int_equal(t->dst.pages_patched, 0);
	mig_stats_summary(&t->sum, text, sizeof(text));
	assert_non_null(strstr(text, "\ndelta pages:  0 (off: the destination does not take "
				     "deltas)\n"));
	run_free(t);
}

/* A small cache holds few of the pages: fewer deltas, still byte for byte. */
static void test_small_cache_still_moves_memory_byte_for_byte(void **state)
{
	struct mig_send_params p = {.delta_cache_mib = 1};
	struct run *t;

	(void)state;
	t = run_new(&p, KEY); /* 4 MiB of guest, a 1 MiB cache */
	fill_all_pages(t);
	t->writes_per_poll = 16;
	run_to_end(t);
	assert_moved(t);
	assert_int_equal(t->sum.delta_cache_bytes, 1u << 20);
	assert_true(t->sum.pages_delta > 0);
	run_free(t);
}

/* Short of memory, a smaller cache; without any, whole pages: the
 * migration itself never fails for its cache. */
static void test_no_memory_for_the_cache_means_whole_pages(void **state)
{
	char text[1024];
	struct run *t;

	(void)state;
	cache_allocs_fail_from = 2 << 20;
	t = delta_run(NULL);
	assert_int_equal(t->sum.delta, MIG_DELTA_ON);
	assert_int_equal(t->sum.delta_cache_bytes, 1 << 20); /* not 4 MiB */
	assert_true(t->sum.pages_delta > 0);
	run_free(t);
	cache_allocs_fail_from = 1 << 20;
	t = delta_run(NULL);
	cache_allocs_fail_from = 0;
	assert_int_equal(t->sum.delta, MIG_DELTA_NO_MEMORY);
	assert_int_equal(t->sum.pages_delta, 0);
	assert_int_equal(t->dst.pages_patched, 0);
	mig_stats_summary(&t->sum, text, sizeof(text));
	assert_non_null(strstr(text, "\ndelta pages:  0 (off: no memory for the cache)\n"));
	run_free(t);
}

static void raw_page_data(struct raw *w, uint64_t gfn, const void *data)
{
	struct mig_batch b;

	assert_int_equal(mig_record_batch_begin(&w->out, &b), 0);
	mig_record_batch_add(&b, gfn, data);
	mig_record_batch_commit(&w->out, &b);
}

static void raw_delta(struct raw *w, uint64_t gfn, const void *enc, uint32_t len)
{
	struct mig_batch b;

	assert_int_equal(mig_record_delta_begin(&w->out, &b), 0);
	mig_record_delta_add(&b, gfn, enc, len);
	mig_record_delta_add(&b, 7, "\x00\x01\x09", 3); /* fine, but never applied */
	mig_record_batch_commit(&w->out, &b);
}

static void raw_eor(struct raw *w, uint32_t round, uint64_t pages)
{
	struct mig_eor e = {round, 0, pages};

	assert_int_equal(mig_record_put_eor(&w->out, &e), 0);
}

/* A hostile or broken source's PAGE_DELTA: refused with ERROR PROTOCOL,
 * nothing applied, the guest destroyed and never started. */
static void test_destination_refuses_bad_deltas(void **state)
{
	static const uint8_t page[MIG_PAGE_SIZE] = {1, 2, 3};
	static const struct {
		uint64_t caps;
		int setup; /* 0: page 5 and 7 sent in round 0; 1: ... then page 5 ZERO in round 1 */
		uint32_t round;
		uint64_t gfn;
		const char *enc;
		uint32_t len;
		int err;
		const char *why;
	} cases[] = {
		{0, 0, 1, 5, "\x00\x01\x09", 3, -EPROTO,
		 "PAGE_DELTA, but the DELTA capability was not agreed"},
		{MIG_CAP_DELTA, 0, 0, 5, "\x00\x01\x09", 3, -EPROTO, "PAGE_DELTA in round 0"},
		{MIG_CAP_DELTA, 0, 1, 6, "\x00\x01\x09", 3, -EPROTO,
		 "PAGE_DELTA in round 1 for page 6, which holds no data"},
		{MIG_CAP_DELTA, 1, 1, 5, "\x00\x01\x09", 3, -EPROTO,
		 "PAGE_DELTA in round 1 for page 5, which holds no data"},
		{MIG_CAP_DELTA, 0, 1, 5, "\x80", 1, -EBADMSG,
		 "PAGE_DELTA in round 1: malformed delta of page 5"},
		{MIG_CAP_DELTA, 0, 1, 5, "\xff\x1f\x02\x01\x02", 5, -EBADMSG,
		 "PAGE_DELTA in round 1: malformed delta of page 5"},
		{MIG_CAP_DELTA, 0, 1, NPAGES, "\x00\x01\x09", 3, -EBADMSG,
		 "malformed PAGE_DELTA in round 1"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct raw *w = raw_new_caps(cases[i].caps);
		struct mig_stream_rec rec;
		struct mig_text text;

		raw_auth_and_config(w);
		if (cases[i].round > 0) {
			raw_page_data(w, 5, page);
			raw_page_data(w, 7, page);
			raw_eor(w, 0, 2);
		}
		if (cases[i].setup == 1)
			raw_page_data(w, 5, NULL);
		raw_delta(w, cases[i].gfn, cases[i].enc, cases[i].len);
		raw_flush(w);
		assert_int_equal(raw_answer(w, &rec), MIG_REC_ERROR);
		assert_int_equal(mig_record_get_text(&rec, &text), 0);
		assert_int_equal(text.code, MIG_CODE_PROTOCOL);
		assert_string_equal(mig_recv_reason(w->t->r), cases[i].why);
		assert_int_equal(w->t->rret, cases[i].err);
		assert_int_equal(w->t->dst.pages_patched, 0);
		assert_int_equal(w->t->dst.destroys, 1);
		assert_int_equal(w->t->dst.starts, 0);
		raw_free(w);
	}
}

/* ...and a good one is applied to the page it has. */
static void test_destination_applies_a_delta_to_the_page_it_holds(void **state)
{
	struct raw *w = raw_new_caps(MIG_CAP_DELTA);
	uint8_t page[MIG_PAGE_SIZE], want[MIG_PAGE_SIZE];
	struct mig_stream_rec rec;

	(void)state;
	memset(page, 0x33, sizeof(page));
	raw_auth_and_config(w);
	raw_page_data(w, 5, page);
	raw_page_data(w, 7, page);
	raw_eor(w, 0, 2);
	raw_delta(w, 5, "\x64\x02\xaa\xbb\x99\x1f\x01\x01", 8);
	raw_eor(w, 1, 2);
	raw_flush(w);
	assert_int_equal(raw_answer(w, &rec), 0); /* no complaint */
	assert_true(w->t->rret > 0);
	memcpy(want, page, sizeof(want));
	want[100] = 0xaa, want[101] = 0xbb, want[4095] = 0x01;
	assert_memory_equal(w->t->dst.mem + 5 * MIG_PAGE_SIZE, want, MIG_PAGE_SIZE);
	want[0] = 0x09;
	memcpy(want + 1, page + 1, MIG_PAGE_SIZE - 1);
	assert_memory_equal(w->t->dst.mem + 7 * MIG_PAGE_SIZE, want, MIG_PAGE_SIZE);
	assert_int_equal(w->t->dst.pages_patched, 2);
	raw_free(w);
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
		cmocka_unit_test(test_precopy_polls_give_the_cpu_back_after_2_ms),
		cmocka_unit_test(test_summary_says_where_the_source_time_went),
		cmocka_unit_test(test_heavy_writer_stops_at_round_limit),
		cmocka_unit_test(test_idle_guest_stops_after_round_zero),
		cmocka_unit_test(test_offline_migration_pauses_first),
		cmocka_unit_test(test_bandwidth_cap_is_honoured),
		cmocka_unit_test(test_cancel_mid_transfer_keeps_guest_running),
		cmocka_unit_test(test_cancel_while_paused_resumes_guest),
		cmocka_unit_test(test_wrong_key_is_refused),
		cmocka_unit_test(test_destination_out_of_memory_refuses),
		cmocka_unit_test(test_name_or_mac_in_use_refuses),
		cmocka_unit_test(test_cpuid_baseline_refused),
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
		cmocka_unit_test(test_destination_refuses_a_forged_proof),
		cmocka_unit_test(test_unknown_optional_skipped_unknown_mandatory_aborts),
		cmocka_unit_test(test_destination_rejects_records_out_of_order),
		cmocka_unit_test(test_destination_checks_round_counts),
		cmocka_unit_test(test_destination_answers_a_bad_header),
		cmocka_unit_test(test_handoff_done_right_after_the_budget_stopped_at_end_completes),
		cmocka_unit_test(test_handoff_done_before_end_left_is_refused_and_end_withheld),
		cmocka_unit_test(test_forged_error_after_end_keeps_the_guest_paused),
		cmocka_unit_test(test_error_after_end_on_a_plain_connection_is_uncertain),
		cmocka_unit_test(test_out_of_order_answers_during_transfer_fail_cleanly),
		cmocka_unit_test(test_refused_vcpu_blob_fails_the_migration_and_the_source_resumes),
		cmocka_unit_test(
			test_refused_device_blob_fails_the_migration_and_the_source_resumes),
		cmocka_unit_test(test_destination_refuses_end_after_a_refused_blob),
		cmocka_unit_test(test_destination_rejects_each_record_out_of_order),
		cmocka_unit_test(test_paused_flag_reaches_the_destination),
		cmocka_unit_test(test_rewritten_pages_go_as_deltas_and_arrive_byte_for_byte),
		cmocka_unit_test(test_delta_off_sends_whole_pages),
		cmocka_unit_test(test_destination_without_deltas_gets_whole_pages),
		cmocka_unit_test(test_small_cache_still_moves_memory_byte_for_byte),
		cmocka_unit_test(test_no_memory_for_the_cache_means_whole_pages),
		cmocka_unit_test(test_destination_refuses_bad_deltas),
		cmocka_unit_test(test_destination_applies_a_delta_to_the_page_it_holds),
	};
	return cmocka_run_group_tests_name("migrate/state machines", tests, NULL, NULL);
}
