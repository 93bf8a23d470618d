/* The source state machine. Each poll: read the destination's answers,
 * then produce and hand over records until the transport pushes back, the
 * per-poll budget is spent or the bandwidth cap says wait. */
#include "migrate/send.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/log.h"
#include "migrate/auth.h"
#include "migrate/link.h"
#include "migrate/policy.h"
#include "migrate/record.h"
#include "migrate/send_private.h"

/* Produce more only below this much unsent output: keeps the transport fed
 * without letting control records queue behind megabytes of pages. */
#define LOW_WATER (256u * 1024)
#define OUT_CAP (MIG_REC_HDR_LEN + MIG_MAX_RECORD_LEN + LOW_WATER + 4096)
#define ANSWER_CAP 4096u
#define POLL_BUDGET (4u * 1024 * 1024)
/* Pre-copy hands the CPU back after this long: Tern runs its guests on the
 * same CPU, and without it one poll could copy, encrypt and send up to
 * POLL_BUDGET (tens of ms under emulation) before any guest ran again. */
#define POLL_TIME_US 2000u
/* Pre-copy hands bytes to the transport in pieces of this size and checks
 * the time between them: encrypting the 512 KiB TCP send buffer at once
 * took 8-12 ms under emulation, past the 2 ms above (`cpu loop`). */
#define FLUSH_CHUNK (32u * 1024)
/* The most the pause waits for the transport to empty (pre_pause): a
 * capped or congested link still pauses the guest soon. */
#define PRE_PAUSE_MAX_US 500000u
#define POLL_RECORDS 16
/* The bandwidth cap allows bursts of this long at the full rate. */
#define BURST_US 10000u

static bool finished(const struct mig_send *s)
{
	return s->state >= S_LINGER;
}

/* Whether the destination may hold all of END: the transport took its last
 * byte. END is the last record ever queued, so that is exactly when the
 * output is empty in S_HANDOFF. */
bool send_end_left(const struct mig_send *s)
{
	return s->state == S_HANDOFF && !mig_stream_out_pending(&s->link.out);
}

static void set_reason(struct mig_send *s, const char *fmt, va_list ap)
{
	vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
}

static void fill_summary(struct mig_send *s)
{
	struct mig_summary *m = &s->summary;
	uint64_t t = now(s);

	m->result = s->result;
	m->reason = s->reason;
	m->total_us = t - s->t_start;
	m->setup_us = (s->t_accept ? s->t_accept : t) - s->t_start;
	m->bytes = s->link.bytes_out;
	m->ram_pages = s->npages;
	m->disk_blocks = s->disk_blocks;
	m->stop = s->stop;
}

void send_finish(struct mig_send *s)
{
	fill_summary(s);
	mig_delta_cache_fini(&s->cache); /* nothing is sent any more */
	s->state = mig_link_linger_start(&s->link) ? S_LINGER : S_CLOSED;
	if (s->state == S_CLOSED)
		mig_link_close(&s->link);
	if (s->ev.done)
		s->ev.done(s->ev.ctx, &s->summary);
}

/* Auto-converge's throttle on the guest's vCPU; released (0) at the pause
 * and on failure, so a guest that stays here runs at full speed again. */
static void set_throttle(struct mig_send *s, uint32_t pct)
{
	if (s->throttle_pct == pct)
		return;
	s->throttle_pct = pct;
	if (s->g.throttle)
		s->g.throttle(s->g.ctx, pct);
}

static void dirty_stop_all(struct mig_send *s)
{
	if (s->dirty_on)
		s->g.dirty_stop(s->g.ctx);
	if (s->disk_dirty_on)
		s->g.disk_dirty_stop(s->g.ctx);
	s->dirty_on = s->disk_dirty_on = false;
}

/* Give up. Before the last byte of END left, the destination cannot run
 * the guest, so it is safe to keep (or resume) it here. After that only an
 * ERROR the peer provably sent (peer_said: it came over an authenticated
 * transport) proves it did not start it; anything else leaves the guest
 * paused and the outcome uncertain. */
int send_fail(struct mig_send *s, int err, uint32_t code, bool peer_said, const char *fmt, ...)
{
	va_list ap;
	bool uncertain = send_end_left(s) && !peer_said;

	if (finished(s))
		return s->err;
	va_start(ap, fmt);
	set_reason(s, fmt, ap);
	va_end(ap);
	s->err = err ? err : -EIO;

	if (s->state == S_HANDOFF) {
		/* Queued END bytes must never reach the peer after we gave up:
		 * they could complete the stream. Nothing follows them either:
		 * an ERROR behind a cut record would be read as its payload. */
		mig_stream_out_discard(&s->link.out);
	} else if (code && s->state != S_START && mig_link_can_send(&s->link) && !peer_said) {
		/* Anything queued may go out ahead of the ERROR, which then
		 * ends the stream. */
		mig_record_put_text(&s->link.out, MIG_REC_ERROR, code, s->reason);
	}
	set_throttle(s, 0);
	dirty_stop_all(s);
	if (s->paused && !uncertain) {
		int ret = s->g.resume(s->g.ctx);
		if (ret < 0) {
			size_t n = strlen(s->reason);
			snprintf(s->reason + n, sizeof(s->reason) - n,
				 "; resuming the guest failed (%d)", ret);
		} else {
			s->paused = false;
		}
	}
	s->result = uncertain ? MIG_UNCERTAIN : MIG_FAILED;
	/* Info level: the driver prints the operator's one error line. */
	log_info(TAG, "%s: %s: %s", s->cfg.name, mig_stats_result_name(s->result), s->reason);
	send_finish(s);
	return s->err;
}

static int link_failed(struct mig_send *s, int err)
{
	uint32_t code = err == -EOPNOTSUPP ? MIG_CODE_UNSUPPORTED
			: err == -E2BIG	   ? MIG_CODE_LIMIT
					   : MIG_CODE_PROTOCOL;

	if (s->link.peer_closed || s->link.tx_err)
		return send_fail(s, err, 0, false, "connection lost: %s", s->link.why);
	return send_fail(s, err, code, false, "bad answer from the destination: %s",
			 s->link.why ? s->link.why : "transport error");
}

int mig_send_start(struct mig_send **out, const struct mig_send_params *p,
		   const struct mig_transport *tp, const struct mig_src_guest *g,
		   const struct mig_host *h, const struct mig_send_events *ev)
{
	struct mig_send *s;
	int ret;

	*out = NULL;
	if (!p->key_len || p->key_len > MIG_AUTH_KEY_MAX)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	memcpy(s->key, p->key, p->key_len);
	s->key_len = p->key_len;
	s->offline = p->offline;
	s->authenticated = p->authenticated;
	s->bandwidth_mbit = p->bandwidth_mbit;
	s->timeout_us = 1000ull * (p->timeout_ms ? p->timeout_ms : MIG_DEFAULT_TIMEOUT_MS);
	s->g = *g;
	if (ev)
		s->ev = *ev;
	mig_policy_init(&s->policy, p->downtime_ms ? p->downtime_ms : MIG_DEFAULT_DOWNTIME_MS,
			p->max_rounds ? p->max_rounds : MIG_DEFAULT_MAX_ROUNDS, p->offline,
			p->auto_converge);

	ret = g->get_config(g->ctx, &s->cfg);
	if (ret < 0)
		goto err_free;
	ret = mig_link_init(&s->link, tp, h, OUT_CAP, mig_record_dst_limits, mig_record_dst_nlimits,
			    ANSWER_CAP, ANSWER_CAP);
	if (ret < 0)
		goto err_free;
	/* Judge the config with the destination's own decoder, so we never
	 * start what the peer is bound to refuse. */
	ret = mig_record_put_config(&s->link.out, &s->cfg);
	if (ret == 0) {
		struct mig_guest_config *check = malloc(sizeof(*check));
		struct mig_stream_rec rec = {
			.type = MIG_REC_GUEST_CONFIG,
			.len = mig_record_config_len(&s->cfg),
			.payload = mig_stream_out_data(&s->link.out) + MIG_REC_HDR_LEN,
		};
		ret = check ? mig_record_get_config(&rec, check) : -ENOMEM;
		free(check);
	}
	mig_stream_out_discard(&s->link.out);
	mig_stream_sum_init(&s->link.out.sum);
	if (ret < 0)
		goto err_link;

	s->npages = s->cfg.ram_bytes / MIG_PAGE_SIZE;
	s->space = s->npages;
	if (s->cfg.has_disk && (ret = send_disk_setup(s)) < 0)
		goto err_link;
	s->nwords = (size_t)((s->space + 63) / 64);
	s->bitmap = calloc(s->nwords, sizeof(uint64_t));
	if (!s->bitmap) {
		ret = -ENOMEM;
		goto err_link;
	}
	/* An offline migration sends every page once: nothing to delta. */
	if (!p->delta_off && !p->offline)
		send_start_delta(s, p->delta_cache_mib ? p->delta_cache_mib
						       : MIG_DEFAULT_DELTA_CACHE_MIB);
	s->t_start = now(s);
	s->tokens_at = s->t_start;
	s->result = MIG_RUNNING;
	s->state = S_START;
	if (s->cfg.has_disk)
		log_info(TAG, "%s: migration started (%s, %llu pages, disk %s of %llu blocks)",
			 s->cfg.name, s->offline ? "offline" : "live",
			 (unsigned long long)s->npages, s->cfg.disk_volume,
			 (unsigned long long)s->disk_blocks);
	else
		log_info(TAG, "%s: migration started (%s, %llu pages)", s->cfg.name,
			 s->offline ? "offline" : "live", (unsigned long long)s->npages);
	*out = s;
	return 0;

err_link:
	free(s->disk_buf);
	mig_link_fini(&s->link);
err_free:
	memset(s->key, 0, sizeof(s->key));
	free(s);
	return ret;
}

static void emit_row(struct mig_send *s, uint64_t t)
{
	s->row.elapsed_us = t - s->round_start_us;
	s->row.bytes = s->link.bytes_out + mig_stream_out_pending(&s->link.out) - s->round_bytes0;
	s->summary.pages_sent += s->row.pages_sent;
	s->summary.pages_zero += s->row.pages_zero;
	s->summary.pages_delta += s->row.pages_delta;
	s->summary.delta_saved += s->row.delta_saved;
	s->summary.blocks_sent += s->row.blocks_sent;
	s->summary.blocks_zero += s->row.blocks_zero;
	s->summary.rounds = s->round + 1;
	/* In pages' worth: what a delta saved counts as sent, so the stop
	 * rule and auto-converge weigh dirty pages against the pages the
	 * link carries, whole or not. */
	s->last_bytes = s->row.bytes + s->row.delta_saved;
	s->last_elapsed = s->row.elapsed_us;
	s->last_rate_x10 = s->row.elapsed_us ? s->row.bytes * 80 / s->row.elapsed_us : 0;
	if (s->ev.round)
		s->ev.round(s->ev.ctx, &s->row);
}

/* The dirty logs into the bitmap, timed for the summary's `time in:`. */
static int harvest(struct mig_send *s)
{
	uint64_t t = now(s);
	int ret = s->g.dirty_harvest(s->g.ctx, s->bitmap, s->npages);

	if (!ret && s->disk_dirty_on)
		ret = s->g.disk_dirty_harvest(s->g.ctx, s->bitmap + s->disk_base / 64,
					      s->disk_blocks);
	s->summary.harvest_us += now(s) - t;
	return ret;
}

/* Both logs, before round 0 reads a page or a block. */
int send_dirty_start_all(struct mig_send *s)
{
	int ret = s->g.dirty_start(s->g.ctx);

	if (ret < 0)
		return ret;
	s->dirty_on = true;
	if (s->cfg.has_disk) {
		ret = s->g.disk_dirty_start(s->g.ctx);
		if (ret < 0)
			return ret;
		s->disk_dirty_on = true;
	}
	return 0;
}

static int suspend(struct mig_send *s)
{
	int ret;

	s->t_pause = now(s);
	set_throttle(s, 0);
	ret = s->g.pause(s->g.ctx);
	if (ret < 0)
		return send_fail(s, ret, MIG_CODE_GUEST, false, "pausing the guest failed (%d)",
				 ret);
	s->paused = true;
	if (s->dirty_on) {
		/* Pages (and blocks) written between the last harvest and the
		 * pause. */
		ret = harvest(s);
		if (ret < 0)
			return send_fail(s, ret, MIG_CODE_GUEST, false,
					 "dirty log harvest failed (%d)", ret);
		send_mask_space(s);
		dirty_stop_all(s);
	}
	send_start_round(s, s->round + 1, true, s->t_pause);
	return 1;
}

/* The live round's bytes are all out: harvest, report, decide. */
static int end_round(struct mig_send *s)
{
	uint64_t t = now(s);
	int ret = harvest(s);

	if (ret < 0)
		return send_fail(s, ret, MIG_CODE_GUEST, false, "dirty log harvest failed (%d)",
				 ret);
	send_mask_space(s);
	uint64_t dirty = send_count_bits(s->bitmap, s->nwords);
	s->row.pages_dirtied = dirty;
	s->row.pages_left = dirty;
	s->row.throttle_pct = s->throttle_pct;
	s->pages_left = dirty;
	emit_row(s, t);

	struct mig_policy_round pr = {s->round, s->last_bytes, s->row.elapsed_us, dirty, dirty};
	s->stop = mig_policy_decide(&s->policy, &pr);
	s->summary.throttle_max_pct = s->policy.throttle_max;
	if (s->stop == MIG_STOP_CONTINUE) {
		set_throttle(s, s->policy.throttle_pct);
		send_start_round(s, s->round + 1, false, t);
		return 1;
	}
	log_info(TAG, "%s: stopping after round %u: %s", s->cfg.name, s->round,
		 mig_policy_reason(s->stop));
	s->t_stop = t;
	s->state = S_PRE_PAUSE;
	return 1;
}

/* Before the pause, the transport sends what it still holds of the last
 * round (lwIP's window and send buffer: up to 768 KiB, 25 ms at 250
 * Mbit/s) while the guest runs: produce_state waits for every byte to be
 * acknowledged before it reads the vCPU state, so that wait was downtime
 * (8-19 ms for an idle guest whose last round carried 8 pages). What the
 * guest writes meanwhile is in the final harvest. A transport that cannot
 * tell (unacked 0) or a link that stalls does not hold the pause back for
 * long. */
static int pre_pause(struct mig_send *s)
{
	if (mig_link_unacked(&s->link) && now(s) - s->t_stop < PRE_PAUSE_MAX_US)
		return 0;
	return suspend(s);
}

static int produce_state(struct mig_send *s)
{
	struct mig_stream_out *o = &s->link.out;
	int len;

	if (s->next_vcpu < s->cfg.vcpu_count) {
		/* The vCPU state holds the guest's TSC, which the destination
		 * continues from when the record arrives: the guest's clock
		 * loses whatever time the record spends queued. So the
		 * destination first has every byte before it (hundreds of ms
		 * of last pages at tens of MB/s otherwise; now about a round
		 * trip plus the record's own transit). */
		if (s->next_vcpu == 0 && (mig_stream_out_pending(o) || mig_link_unacked(&s->link)))
			return 0;
		uint8_t *blob = mig_record_blob_begin(o, MIG_REC_VCPU_STATE, s->next_vcpu);
		if (!blob)
			return 0;
		len = s->g.vcpu_state(s->g.ctx, s->next_vcpu, blob, MIG_MAX_BLOB);
		if (len < 0 || len > (int)MIG_MAX_BLOB) {
			mig_stream_out_abort(o);
			return send_fail(s, len < 0 ? len : -E2BIG, MIG_CODE_GUEST, false,
					 "reading the state of vCPU %u failed (%d)", s->next_vcpu,
					 len);
		}
		mig_record_blob_commit(o, (uint32_t)len);
		s->next_vcpu++;
		return 1;
	}
	if (s->next_dev < s->cfg.device_count) {
		uint32_t id = s->cfg.devices[s->next_dev].id;
		uint8_t *blob = mig_record_blob_begin(o, MIG_REC_DEVICE_STATE, id);
		if (!blob)
			return 0;
		len = s->g.device_state(s->g.ctx, id, blob, MIG_MAX_BLOB);
		if (len < 0 || len > (int)MIG_MAX_BLOB) {
			mig_stream_out_abort(o);
			return send_fail(s, len < 0 ? len : -E2BIG, MIG_CODE_GUEST, false,
					 "reading the state of device %u failed (%d)", id, len);
		}
		mig_record_blob_commit(o, (uint32_t)len);
		s->next_dev++;
		return 1;
	}
	/* The disk's bitmaps, final now that the guest is paused. */
	if (s->next_bitmap < MIG_MAX_BITMAPS) {
		int ret = send_put_bitmap(s, s->next_bitmap);
		if (ret == -ENOSPC)
			return 0; /* no room in the output yet */
		if (ret < 0)
			return ret;
		s->next_bitmap = ret ? s->next_bitmap + 1 : MIG_MAX_BITMAPS;
		s->summary.bitmaps += (uint32_t)ret;
		return 1;
	}
	/* The checksum covers every record committed so far, and END is
	 * the next one. */
	struct mig_end e = {s->round + 1, s->entries_total, o->sum.a, o->sum.b};
	if (mig_record_put_end(o, &e))
		return 0;
	s->state = S_HANDOFF;
	return 1;
}

/* Called after every flush: the first time END is seen gone, the final
 * round ends and the wait for HANDOFF_DONE begins. */
void send_note_end_left(struct mig_send *s)
{
	if (s->end_noted || !send_end_left(s))
		return;
	s->end_noted = true;
	s->t_end = now(s);
	emit_row(s, s->t_end);
	log_info(TAG, "%s: all state sent, waiting for the destination to resume it", s->cfg.name);
}

/* One step of output for the current state: 1 if it did something, 0 if
 * it must wait, negative once failed. */
static int produce(struct mig_send *s)
{
	struct mig_stream_out *o = &s->link.out;
	int ret;

	switch (s->state) {
	case S_START: {
		struct mig_hello hello = {.caps = (s->cache.slots ? MIG_CAP_DELTA : 0) |
						  (s->g.held_frame ? MIG_CAP_HELD : 0) |
						  (s->cfg.has_disk ? MIG_CAP_DISK : 0) |
						  (s->cfg.disk_has_base ? MIG_CAP_DISK_BASE : 0),
					  .page_shift = MIG_PAGE_SHIFT,
					  .software = "tern"};
		ret = s->link.host.random(s->link.host.ctx, s->nonce_src, MIG_NONCE_LEN);
		if (ret < 0)
			return send_fail(s, ret, 0, false, "no random bytes for the challenge (%d)",
					 ret);
		memcpy(hello.nonce, s->nonce_src, MIG_NONCE_LEN);
		if (mig_stream_out_header(o) || mig_record_put_hello(o, &hello))
			return send_fail(s, -ENOSPC, 0, false, "output buffer too small");
		s->state = S_WAIT_AUTH;
		return 1;
	}
	case S_ROUND: {
		/* Timed with the clock readings send_time_up() makes anyway: more
		 * readings would eat the poll's time (the unit tests' clock
		 * moves at every reading). */
		uint64_t t = s->now_seen;
		ret = send_produce_batch(s);
		s->summary.pages_us += s->now_seen - t;
		if (ret < 0)
			return send_fail(
				s, ret, MIG_CODE_GUEST, false,
				"reading blocks %llu-%llu of disk %s failed (%d)",
				(unsigned long long)s->disk_err_block,
				(unsigned long long)(s->disk_err_block + s->disk_err_n - 1),
				s->cfg.disk_volume, ret);
		return ret;
	}
	case S_ROUND_DRAIN:
		if (mig_stream_out_pending(o))
			return 0;
		return end_round(s);
	case S_PRE_PAUSE:
		return pre_pause(s);
	case S_STATE:
		return produce_state(s);
	default:
		return 0;
	}
}

static size_t tokens(struct mig_send *s)
{
	uint64_t t;

	/* The cap protects the link while the guest runs; once paused,
	 * every millisecond is downtime. */
	if (!s->bandwidth_mbit || s->paused)
		return SIZE_MAX;
	t = now(s);
	/* One Mbit/s is one bit per microsecond. */
	s->tokens_bits += (t - s->tokens_at) * s->bandwidth_mbit;
	s->tokens_at = t;
	uint64_t burst = (uint64_t)s->bandwidth_mbit * BURST_US;
	if (burst < 8 * 65536)
		burst = 8 * 65536;
	if (s->tokens_bits > burst)
		s->tokens_bits = burst;
	return (size_t)(s->tokens_bits / 8);
}

/* Bytes the transport took (0 when it had no room), or a negative error. */
static ssize_t flush(struct mig_send *s)
{
	size_t allow = tokens(s);
	size_t max = !s->final && allow > FLUSH_CHUNK ? FLUSH_CHUNK : allow;
	/* From the last reading to the transport's after its last send. */
	uint64_t t = s->now_seen;
	ssize_t n = mig_link_flush(&s->link, max);

	if (s->link.last_io_us > t) {
		s->summary.send_us += s->link.last_io_us - t;
		s->now_seen = s->link.last_io_us;
	}
	if (n < 0)
		return link_failed(s, (int)n);
	if (allow != SIZE_MAX)
		s->tokens_bits -= 8 * (uint64_t)n;
	send_note_end_left(s);
	return n;
}

static int linger(struct mig_send *s)
{
	if (mig_link_linger(&s->link) != 1)
		s->state = S_CLOSED;
	return s->state == S_CLOSED ? s->err : 1;
}

int mig_send_poll(struct mig_send *s)
{
	struct mig_stream_rec rec;
	size_t out0 = (size_t)s->link.bytes_out;
	int ret;

	if (s->state == S_CLOSED)
		return s->err;
	if (s->state == S_LINGER)
		return linger(s);
	s->now_seen = now(s);
	s->poll_end_us = s->now_seen + POLL_TIME_US;

	for (int i = 0; i < POLL_RECORDS; i++) {
		ret = mig_link_next(&s->link, &rec);
		if (ret == 0)
			break;
		if (ret < 0)
			link_failed(s, ret);
		else
			send_on_record(s, &rec);
		if (finished(s))
			return s->state == S_LINGER ? 1 : s->err;
	}

	for (;;) {
		ssize_t sent = flush(s);
		if (sent < 0 || finished(s))
			break;
		if (s->link.bytes_out - out0 >= POLL_BUDGET || send_time_up(s))
			break;
		if (mig_stream_out_pending(&s->link.out) >= LOW_WATER) {
			if (sent > 0)
				continue; /* the transport has room: more of it */
			break;
		}
		ret = produce(s);
		if (ret <= 0 || finished(s))
			break;
	}

	if (!finished(s) && now(s) - s->link.last_io_us > s->timeout_us)
		send_fail(s, -ETIMEDOUT, MIG_CODE_TIMEOUT, false,
			  "timeout: the destination was silent for %llu ms",
			  (unsigned long long)(s->timeout_us / 1000));
	if (s->state == S_LINGER)
		return 1;
	return s->state == S_CLOSED ? s->err : 1;
}

int mig_send_cancel(struct mig_send *s, const char *why)
{
	if (finished(s))
		return -EALREADY;
	if (send_end_left(s))
		return -EBUSY;
	send_fail(s, -ECANCELED, MIG_CODE_CANCELLED, false, "cancelled: %s",
		  why && *why ? why : "by the operator");
	return 0;
}

enum mig_result mig_send_result(const struct mig_send *s)
{
	return s->result;
}

const char *mig_send_reason(const struct mig_send *s)
{
	return s->reason;
}

const struct mig_summary *mig_send_summary(const struct mig_send *s)
{
	return &s->summary;
}

void mig_send_status(const struct mig_send *s, struct mig_send_status *st)
{
	static const char *const phase[] = {
		[S_START] = "pre-check",       [S_WAIT_AUTH] = "pre-check",
		[S_WAIT_ACCEPT] = "pre-check", [S_ROUND] = "transfer",
		[S_ROUND_DRAIN] = "transfer",  [S_PRE_PAUSE] = "transfer",
		[S_STATE] = "suspend",	       [S_HANDOFF] = "suspend",
	};

	memset(st, 0, sizeof(*st));
	if (finished(s))
		st->phase = s->result == MIG_DONE     ? "done"
			    : s->result == MIG_FAILED ? "failed"
						      : "uncertain";
	else if (send_end_left(s))
		st->phase = "hand-off";
	else
		st->phase = s->state == S_ROUND && s->final ? "suspend" : phase[s->state];
	st->round = s->round;
	if (s->state >= S_ROUND)
		st->percent_sent =
			s->round > 0 || s->state > S_ROUND
				? 100
				: (uint32_t)(s->cursor * 100 / (s->space ? s->space : 1));
	uint64_t done_in_round =
		s->row.pages_sent + s->row.pages_zero + s->row.blocks_sent + s->row.blocks_zero;
	st->pages_left = s->state == S_ROUND && s->round_todo > done_in_round
				 ? s->round_todo - done_in_round
				 : 0;
	st->rate_mbit_x10 = s->last_rate_x10;
	st->elapsed_us = now(s) - s->t_start;
	st->expected_downtime_us =
		mig_policy_expected_us(s->pages_left, s->last_bytes, s->last_elapsed);
}

void mig_send_free(struct mig_send *s)
{
	if (!s)
		return;
	if (!finished(s))
		send_fail(s, -ECANCELED, 0, false, "abandoned");
	mig_link_fini(&s->link);
	mig_delta_cache_fini(&s->cache);
	free(s->bitmap);
	free(s->disk_buf);
	memset(s->key, 0, sizeof(s->key));
	free(s);
}
