/* The harness of the state-machine tests (run.h): the runs, what they
 * assert, and the scripted source's record writers. */
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
#include "tests/unit/migrate/run.h"

static void on_round(void *ctx, const struct mig_round_row *row)
{
	struct run *t = ctx;

	assert_true(t->nrows < 64);
	t->rows[t->nrows++] = *row;
	if (getenv("TERN_TEST_LOG")) {
		char line[160];
		if (t->nrows == 1) {
			mig_stats_header(line, sizeof(line), false);
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
bool start_paused;
/* The next run's destination has no page op: it takes no deltas. */
bool dst_without_deltas;
bool dst_without_frames;
uint32_t src_tsc_khz, dst_tsc_khz;
uint64_t src_disk_blocks;
bool dst_without_disk;
bool src_disk_clone;

struct run *run_new_on(const struct mig_send_params *sp, const char *dst_key, bool mem)
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
	t->src.cfg.tsc_khz = src_tsc_khz;
	if (src_disk_blocks)
		fake_src_add_disk(&t->src, src_disk_blocks);
	if (src_disk_blocks && src_disk_clone)
		fake_src_make_clone(&t->src);
	t->dst.no_disk = dst_without_disk;
	fake_sock_pair(&t->ss, &t->ds);
	fake_mem_init(&t->mem);
	t->use_mem = mem;
	p.key = (const uint8_t *)KEY;
	p.key_len = strlen(KEY);

	struct mig_host h = fake_host(&t->clock);
	struct mig_transport stp = mem ? fake_mem_src(&t->mem) : fake_sock_ops(&t->ss);
	struct mig_transport dtp = mem ? fake_mem_dst(&t->mem) : fake_sock_ops(&t->ds);
	struct mig_src_guest sg = fake_src_ops(&t->src);
	t->dst.no_frames = dst_without_frames;
	struct mig_dst_guest dg = fake_dst_ops(&t->dst);
	struct mig_send_events sev = {on_round, on_done, t};
	if (dst_without_deltas)
		dg.page = NULL;
	dg.tsc_khz = dst_tsc_khz;
	struct mig_recv_events rev = {on_incoming, t};
	assert_int_equal(mig_send_start(&t->s, &p, &stp, &sg, &h, &sev), 0);
	assert_int_equal(mig_recv_start(&t->r, &rp, &dtp, &dg, &h, &rev), 0);
	t->sret = t->rret = 1;
	return t;
}

struct run *run_new(const struct mig_send_params *sp, const char *dst_key)
{
	return run_new_on(sp, dst_key, false);
}

void run_poll(struct run *t)
{
	if (t->sret > 0)
		t->sret = mig_send_poll(t->s);
	fake_src_run(&t->src, t->writes_per_poll);
	if (t->rret > 0)
		t->rret = mig_recv_poll(t->r);
	t->clock.now += t->step_us;
	t->polls++;
}

void run_to_end(struct run *t)
{
	while ((t->sret > 0 || t->rret > 0) && t->polls < MAX_POLLS)
		run_poll(t);
	assert_true(t->sret <= 0 && t->rret <= 0);
	assert_int_equal(t->sum_calls, 1);
	assert_int_equal(t->isum_calls, 1);
}

void run_free(struct run *t)
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

void run_until_pages(struct run *t, uint64_t pages)
{
	while (t->dst.pages_written < pages && t->polls < MAX_POLLS)
		run_poll(t);
	assert_true(t->dst.pages_written >= pages);
	assert_true(t->sret > 0 && t->rret > 0);
}

/* Poll both ends until the source has handed over all the pipe allows. */
void run_until_blocked(struct run *t)
{
	for (int i = 0; i < 10000 && t->mem.to_dst.sent < t->mem.to_dst.cap; i++)
		run_poll(t);
	assert_int_equal(t->mem.to_dst.sent, t->mem.to_dst.cap);
	for (int i = 0; i < 5; i++)
		run_poll(t);
	assert_true(t->sret > 0 && t->rret > 0);
}

uint64_t nonzero_pages(const struct fake_src *g)
{
	static const uint8_t zero[MIG_PAGE_SIZE];
	uint64_t n = 0;

	for (uint64_t i = 0; i < g->npages; i++)
		n += memcmp(g->mem + i * MIG_PAGE_SIZE, zero, MIG_PAGE_SIZE) != 0;
	return n;
}

/* Every page holds data, so the final round alone is over send.c's per-poll
 * budget (SEND_POLL_BUDGET, test_migrate.c). */
void fill_all_pages(struct run *t)
{
	for (uint64_t i = 0; i < t->src.npages; i++)
		memset(t->src.mem + i * MIG_PAGE_SIZE, (int)(i | 1), MIG_PAGE_SIZE);
}

void inject_to_source(struct run *t, uint32_t type, const void *payload, uint32_t len)
{
	uint8_t buf[512];
	struct mig_stream_out o;

	mig_stream_out_init(&o, buf, sizeof(buf));
	assert_int_equal(mig_stream_out_put(&o, type, payload, len), 0);
	fake_pipe_inject(&t->mem.to_src, mig_stream_out_data(&o), mig_stream_out_pending(&o));
}

void assert_moved(struct run *t)
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
	if (t->src.disk) {
		assert_int_equal(t->dst.disk_blocks, t->src.disk_blocks);
		assert_memory_equal(t->dst.disk, t->src.disk, t->src.disk_blocks * MIG_DISK_BLOCK);
		assert_false(t->src.disk_tracking);
		assert_int_equal(t->isum.blocks_sent, t->sum.blocks_sent);
		assert_int_equal(t->isum.blocks_zero, t->sum.blocks_zero);
		assert_int_equal(t->dst.blocks_written, t->sum.blocks_sent + t->sum.blocks_zero);
		assert_int_equal(t->dst.nbitmaps, t->src.nbitmaps);
		assert_int_equal(t->isum.bitmaps, t->src.nbitmaps);
		for (unsigned i = 0; i < t->src.nbitmaps; i++) {
			const struct mig_disk_bitmap *a = &t->src.bitmaps[i], *b = &t->dst.bitmaps[i];
			assert_string_equal(b->name, a->name);
			assert_int_equal(b->granularity, a->granularity);
			assert_int_equal(b->persistent, a->persistent);
			assert_int_equal(b->nbits, a->nbits);
			assert_memory_equal(b->bits, a->bits, (a->nbits + 7) / 8);
		}
	}
}

/* The guest left running on the source, nothing on the destination. */
void assert_stayed(struct run *t, int err)
{
	assert_int_equal(t->sret, err);
	assert_true(t->rret < 0);
	assert_int_equal(mig_send_result(t->s), MIG_FAILED);
	assert_int_equal(mig_recv_result(t->r), MIG_FAILED);
	assert_false(t->src.paused);
	assert_false(t->src.tracking);
	assert_false(t->src.disk_tracking);
	assert_false(t->src.destroyed);
	assert_int_equal(t->src.starts, t->src.stops);
	assert_int_equal(t->src.disk_starts, t->src.disk_stops);
	assert_false(t->dst.started);
	assert_false(t->dst.created);
	assert_int_equal(t->dst.creates, t->dst.destroys);
	fake_dst_check(&t->dst, MIG_FAILED);
	assert_int_equal(t->sum.result, MIG_FAILED);
}

/* The guest runs on at most one host, whatever happened. */
void assert_never_on_both(const struct run *t)
{
	bool on_src = !t->src.destroyed && !t->src.paused;
	assert_false(on_src && t->dst.started);
	assert_false(t->src.destroyed && !t->dst.started);
}

/* ---- the scripted source (struct raw) ---- */

void raw_flush(struct raw *w)
{
	size_t n = mig_stream_out_pending(&w->out);

	if (n)
		assert_int_equal(send(w->t->ss.fd, mig_stream_out_data(&w->out), n, 0), (ssize_t)n);
	mig_stream_out_consume(&w->out, n);
	for (int i = 0; i < 4 && w->t->rret > 0; i++)
		w->t->rret = mig_recv_poll(w->t->r);
}

/* The next record the destination sent. */
uint32_t raw_answer(struct raw *w, struct mig_stream_rec *rec)
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

struct raw *raw_new_caps(uint64_t caps)
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

struct raw *raw_new(void)
{
	return raw_new_caps(0);
}

void raw_auth_and_config(struct raw *w)
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

void raw_free(struct raw *w)
{
	run_free(w->t);
	free(w->out_mem);
	free(w);
}

void raw_page_data(struct raw *w, uint64_t gfn, const void *data)
{
	struct mig_batch b;

	assert_int_equal(mig_record_batch_begin(&w->out, &b), 0);
	mig_record_batch_add(&b, gfn, data);
	mig_record_batch_commit(&w->out, &b);
}

void raw_delta(struct raw *w, uint64_t gfn, const void *enc, uint32_t len)
{
	struct mig_batch b;

	assert_int_equal(mig_record_delta_begin(&w->out, &b), 0);
	mig_record_delta_add(&b, gfn, enc, len);
	mig_record_delta_add(&b, 7, "\x00\x01\x09", 3); /* fine, but never applied */
	mig_record_batch_commit(&w->out, &b);
}

void raw_eor(struct raw *w, uint32_t round, uint64_t pages)
{
	struct mig_eor e = {round, 0, pages};

	assert_int_equal(mig_record_put_eor(&w->out, &e), 0);
}
