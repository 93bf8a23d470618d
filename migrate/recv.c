/* The destination state machine. Each poll: decode what arrived and act
 * on it record by record, within a budget, then flush the answers. */
#include "migrate/recv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/log.h"
#include "migrate/auth.h"
#include "migrate/delta.h"
#include "migrate/link.h"
#include "migrate/policy.h"
#include "migrate/record.h"
#include "migrate/recv_private.h"

static bool finished(const struct mig_recv *r)
{
	return r->state >= R_HELD;
}

static void report(struct mig_recv *r)
{
	struct mig_incoming_summary *m = &r->summary;

	m->result = r->result;
	m->reason = r->reason;
	memcpy(m->name, r->cfg.name, sizeof(m->name));
	m->total_us = now(r) - r->t_start;
	m->bytes = r->link.bytes_in;
	m->rounds = r->round;
	if (r->ev.done)
		r->ev.done(r->ev.ctx, &r->summary);
}

/* Only what is queued still goes out. */
static void wind_down(struct mig_recv *r)
{
	r->state = mig_link_linger_start(&r->link) ? R_LINGER : R_CLOSED;
	if (r->state == R_CLOSED)
		mig_link_close(&r->link);
}

static void finish(struct mig_recv *r)
{
	wind_down(r);
	report(r);
}

/* Give up: destroy what create() reserved, tell the source why (REFUSE
 * before ACCEPT, ERROR after) unless it was the source that gave up. */
int recv_fail(struct mig_recv *r, int err, uint32_t code, const char *fmt, ...)
{
	va_list ap;

	if (finished(r))
		return r->err;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	r->err = err ? err : -EIO;
	if (r->created) {
		r->g.destroy(r->g.ctx);
		r->created = false;
	}
	if (code && mig_link_can_send(&r->link)) {
		struct mig_stream_out *o = &r->link.out;
		if (!r->header_sent && mig_stream_out_header(o) == 0)
			r->header_sent = true;
		if (r->header_sent)
			mig_record_put_text(o, r->accepted ? MIG_REC_ERROR : MIG_REC_REFUSE, code,
					    r->reason);
	}
	r->result = MIG_FAILED;
	/* Recorded at info level: the operator's one error line is printed by
	 * whoever drives the machine (kernel/migrate_cmd.c). */
	log_info(TAG, "incoming %s: failed: %s", r->cfg.name[0] ? r->cfg.name : "guest", r->reason);
	finish(r);
	return r->err;
}

static int link_failed(struct mig_recv *r, int err)
{
	uint32_t code;

	if (r->link.peer_closed || r->link.tx_err)
		return recv_fail(r, err, 0, "connection lost: %s", r->link.why);
	switch (err) {
	case -EOPNOTSUPP:
		code = MIG_CODE_UNSUPPORTED;
		break;
	case -E2BIG:
		code = MIG_CODE_LIMIT;
		break;
	case -EPROTONOSUPPORT:
		code = MIG_CODE_VERSION;
		break;
	default:
		code = MIG_CODE_PROTOCOL;
	}
	if (r->link.in.type)
		return recv_fail(r, err, code, "bad stream at byte %llu: %s (%s 0x%x)",
				 (unsigned long long)r->link.in.offset, r->link.why,
				 mig_stream_type_name(r->link.in.type), r->link.in.type);
	return recv_fail(r, err, code, "bad stream at byte %llu: %s",
			 (unsigned long long)r->link.in.offset, r->link.why);
}

int mig_recv_start(struct mig_recv **out, const struct mig_recv_params *p,
		   const struct mig_transport *tp, const struct mig_dst_guest *g,
		   const struct mig_host *h, const struct mig_recv_events *ev)
{
	struct mig_recv *r;
	int ret;

	*out = NULL;
	/* No key (key_len 0) is allowed: the destination then answers the
	 * source's HELLO with a REFUSE that says so, instead of dropping the
	 * connection with no reason given. */
	if (p->key_len > MIG_AUTH_KEY_MAX)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	memcpy(r->key, p->key, p->key_len);
	r->key_len = p->key_len;
	r->timeout_us = 1000ull * (p->timeout_ms ? p->timeout_ms : DEFAULT_TIMEOUT);
	r->g = *g;
	if (ev)
		r->ev = *ev;
	ret = mig_link_init(&r->link, tp, h, OUT_CAP, mig_record_src_limits, mig_record_src_nlimits,
			    MIG_MAX_RECORD_LEN, RX_CAP);
	if (ret < 0) {
		free(r);
		return ret;
	}
	r->t_start = now(r);
	r->result = MIG_RUNNING;
	*out = r;
	return 0;
}

void mig_recv_refuse(struct mig_recv *r, const char *why)
{
	snprintf(r->refuse, sizeof(r->refuse), "%s", why);
}

static int on_hello(struct mig_recv *r, const struct mig_stream_rec *rec)
{
	struct mig_hello hello = {
		.caps = (r->g.page ? MIG_CAP_DELTA : 0) | (r->g.deliver_frame ? MIG_CAP_HELD : 0) |
			(r->g.write_disk && r->g.disk_sync ? MIG_CAP_DISK | MIG_CAP_DISK_BASE : 0),
		.page_shift = MIG_PAGE_SHIFT,
		.software = "tern"};
	struct mig_hello theirs;
	uint8_t proof[MIG_PROOF_LEN];
	struct mig_stream_out *o = &r->link.out;
	int ret;

	if (mig_record_get_hello(rec, &theirs))
		return recv_fail(r, -EBADMSG, MIG_CODE_PROTOCOL, "malformed HELLO");
	if (theirs.page_shift != MIG_PAGE_SHIFT)
		return recv_fail(r, -EPROTONOSUPPORT, MIG_CODE_VERSION,
				 "pages of 2^%u bytes are not supported", theirs.page_shift);
	if (!r->key_len)
		return recv_fail(r, -EACCES, MIG_CODE_AUTH,
				 "no migration key set on the destination (see 'migrate key')");
	if (r->refuse[0])
		return recv_fail(r, -EACCES, MIG_CODE_AUTH, "%s", r->refuse);
	memcpy(r->nonce_src, theirs.nonce, MIG_NONCE_LEN);
	r->delta = (theirs.caps & hello.caps & MIG_CAP_DELTA) != 0;
	r->held = (theirs.caps & hello.caps & MIG_CAP_HELD) != 0;
	r->disk = (theirs.caps & hello.caps & MIG_CAP_DISK) != 0;
	r->disk_base = (theirs.caps & hello.caps & MIG_CAP_DISK_BASE) != 0;
	ret = r->link.host.random(r->link.host.ctx, r->nonce_dst, MIG_NONCE_LEN);
	if (ret < 0)
		return recv_fail(r, ret, MIG_CODE_GUEST, "no random bytes for the challenge (%d)",
				 ret);
	ret = mig_auth_proof(MIG_AUTH_DESTINATION, r->key, r->key_len, r->nonce_src, r->nonce_dst,
			     proof);
	if (ret < 0)
		return recv_fail(r, ret, MIG_CODE_AUTH, "authentication error (%d)", ret);
	memcpy(hello.nonce, r->nonce_dst, MIG_NONCE_LEN);
	if (mig_stream_out_header(o) || mig_record_put_hello(o, &hello) ||
	    mig_stream_out_put(o, MIG_REC_AUTH, proof, MIG_PROOF_LEN))
		return recv_fail(r, -ENOSPC, MIG_CODE_PROTOCOL, "output buffer full");
	r->header_sent = true;
	r->state = R_WAIT_AUTH;
	return 0;
}

static int on_config(struct mig_recv *r, const struct mig_stream_rec *rec)
{
	int ret = mig_record_get_config(rec, &r->cfg);

	if (ret == -E2BIG)
		return recv_fail(r, ret, MIG_CODE_LIMIT, "guest config over this host's limits");
	if (ret < 0) {
		r->cfg.name[0] = 0;
		return recv_fail(r, ret, MIG_CODE_PROTOCOL, "malformed guest config");
	}
	bool any_tsc = false;
	if (r->g.check_cpuid) {
		ret = r->g.check_cpuid(r->g.ctx, r->cfg.cpuid_id, r->cfg.cpuid, r->cfg.cpuid_len);
		if (ret < 0) {
			const char *why = r->g.why ? r->g.why(r->g.ctx) : NULL;
			return recv_fail(r, ret, MIG_CODE_CPUID,
					 "CPUID baseline %u is not available on this host%s%s",
					 r->cfg.cpuid_id, why ? ": " : "", why ? why : "");
		}
		any_tsc = ret == MIG_CPUID_ANY_TSC;
	}
	if (!any_tsc && r->cfg.tsc_khz && r->g.tsc_khz &&
	    !mig_policy_tsc_rates_match(r->cfg.tsc_khz, r->g.tsc_khz))
		return recv_fail(r, -ENOTSUP, MIG_CODE_CPUID,
				 "the guest's TSC runs at %u.%03u MHz, this host's at %u.%03u MHz: "
				 "more than %u %% apart, and Tern cannot scale a TSC",
				 r->cfg.tsc_khz / 1000, r->cfg.tsc_khz % 1000, r->g.tsc_khz / 1000,
				 r->g.tsc_khz % 1000, MIG_TSC_TOLERANCE_PPM / 10000);
	if (r->cfg.has_disk && !r->disk)
		return recv_fail(r, -EOPNOTSUPP, MIG_CODE_UNSUPPORTED,
				 "the guest has a disk, and this host cannot take one");
	if (r->cfg.disk_has_base && !r->disk_base)
		return recv_fail(r, -EOPNOTSUPP, MIG_CODE_UNSUPPORTED,
				 "the guest's disk is a clone, and this host cannot take one");
	r->disk_blocks = r->cfg.has_disk ? r->cfg.disk_bytes / MIG_DISK_BLOCK : 0;
	r->npages = r->cfg.ram_bytes / MIG_PAGE_SIZE;
	if (r->delta) {
		r->has_data = calloc((size_t)((r->npages + 63) / 64), sizeof(uint64_t));
		if (!r->has_data)
			return recv_fail(r, -ENOMEM, MIG_CODE_NO_MEMORY,
					 "not enough memory to track %llu pages for deltas",
					 (unsigned long long)r->npages);
	}
	ret = r->g.create(r->g.ctx, &r->cfg);
	const char *why = ret && r->g.why ? r->g.why(r->g.ctx) : NULL;
	if (why && *why)
		return recv_fail(r, ret,
				 ret == -ENOSPC	  ? MIG_CODE_NO_SPACE
				 : ret == -ENOENT ? MIG_CODE_NO_BASE
				 : ret == -EEXIST ? MIG_CODE_IN_USE
				 : ret == -ENOMEM ? MIG_CODE_NO_MEMORY
						  : MIG_CODE_GUEST,
				 "%s", why);
	if (ret == -ENOMEM)
		return recv_fail(r, ret, MIG_CODE_NO_MEMORY, "not enough memory for %llu MiB",
				 (unsigned long long)(r->cfg.ram_bytes >> 20));
	if (ret == -EEXIST)
		return recv_fail(r, ret, MIG_CODE_IN_USE,
				 "a guest with name %s or MAC %02x:%02x:%02x:%02x:%02x:%02x exists",
				 r->cfg.name, r->cfg.mac[0], r->cfg.mac[1], r->cfg.mac[2],
				 r->cfg.mac[3], r->cfg.mac[4], r->cfg.mac[5]);
	if (ret < 0)
		return recv_fail(r, ret, MIG_CODE_GUEST, "creating the guest failed (%d)", ret);
	r->created = true;
	if (mig_stream_out_put(&r->link.out, MIG_REC_ACCEPT, NULL, 0))
		return recv_fail(r, -ENOSPC, MIG_CODE_PROTOCOL, "output buffer full");
	r->accepted = true;
	r->state = R_ROUNDS;
	log_info(TAG, "incoming %s: accepted, %llu pages, %u vCPUs", r->cfg.name,
		 (unsigned long long)r->npages, r->cfg.vcpu_count);
	return 0;
}

static void set_has_data(struct mig_recv *r, uint64_t gfn, bool yes)
{
	if (yes)
		r->has_data[gfn / 64] |= 1ull << (gfn % 64);
	else
		r->has_data[gfn / 64] &= ~(1ull << (gfn % 64));
}

static int on_pages(struct mig_recv *r, const struct mig_stream_rec *rec)
{
	struct mig_page_iter it;
	const uint8_t *data;
	uint64_t gfn;
	int n, ret;

	uint64_t t = now(r);

	n = mig_record_pages_begin(rec, r->npages, &it);
	if (n < 0)
		return recv_fail(r, n, n == -E2BIG ? MIG_CODE_LIMIT : MIG_CODE_PROTOCOL,
				 "malformed PAGE_DATA in round %u", r->round);
	for (int i = 0; i < n; i++) {
		mig_record_pages_next(&it, &gfn, &data);
		ret = r->g.write_page(r->g.ctx, gfn, data);
		if (ret < 0)
			return recv_fail(r, ret, MIG_CODE_GUEST, "writing page %llu failed (%d)",
					 (unsigned long long)gfn, ret);
		if (data)
			r->summary.pages_sent++;
		else
			r->summary.pages_zero++;
		if (r->has_data)
			set_has_data(r, gfn, data != NULL);
	}
	r->round_entries += (uint64_t)n;
	r->summary.pages_us += now(r) - t;
	return 0;
}

/* Every entry is checked (structure, encoding, and that its page holds
 * the data it is a delta of) before any page changes. */
static int on_deltas(struct mig_recv *r, const struct mig_stream_rec *rec)
{
	struct mig_page_iter it, all;
	const uint8_t *enc;
	uint64_t gfn, t = now(r);
	uint32_t len;
	int n;

	if (!r->delta)
		return recv_fail(r, -EPROTO, MIG_CODE_PROTOCOL,
				 "PAGE_DELTA, but the DELTA capability was not agreed");
	if (r->round == 0)
		return recv_fail(r, -EPROTO, MIG_CODE_PROTOCOL, "PAGE_DELTA in round 0");
	n = mig_record_deltas_begin(rec, r->npages, &all);
	if (n < 0)
		return recv_fail(r, n, n == -E2BIG ? MIG_CODE_LIMIT : MIG_CODE_PROTOCOL,
				 "malformed PAGE_DELTA in round %u", r->round);
	it = all;
	for (int i = 0; i < n; i++) {
		mig_record_deltas_next(&it, &gfn, &enc, &len);
		if (!(r->has_data[gfn / 64] >> (gfn % 64) & 1))
			return recv_fail(
				r, -EPROTO, MIG_CODE_PROTOCOL,
				"PAGE_DELTA in round %u for page %llu, which holds no data",
				r->round, (unsigned long long)gfn);
		if (mig_delta_check(enc, len))
			return recv_fail(r, -EBADMSG, MIG_CODE_PROTOCOL,
					 "PAGE_DELTA in round %u: malformed delta of page %llu",
					 r->round, (unsigned long long)gfn);
	}
	for (int i = 0; i < n; i++) {
		mig_record_deltas_next(&all, &gfn, &enc, &len);
		uint8_t *page = r->g.page(r->g.ctx, gfn);
		int ret = page ? mig_delta_decode(page, enc, len) : -EFAULT;
		if (ret < 0)
			return recv_fail(r, ret, MIG_CODE_GUEST,
					 "applying the delta of page %llu failed (%d)",
					 (unsigned long long)gfn, ret);
	}
	r->summary.pages_sent += (uint64_t)n;
	r->summary.pages_delta += (uint64_t)n;
	r->round_entries += (uint64_t)n;
	r->summary.pages_us += now(r) - t;
	return 0;
}

static int on_eor(struct mig_recv *r, const struct mig_stream_rec *rec)
{
	struct mig_eor e;

	if (mig_record_get_eor(rec, &e))
		return recv_fail(r, -EPROTO, MIG_CODE_PROTOCOL, "malformed END_OF_ROUND");
	if (e.round != r->round)
		return recv_fail(r, -EPROTO, MIG_CODE_PROTOCOL, "END_OF_ROUND %u where %u was due",
				 e.round, r->round);
	if (e.pages != r->round_entries)
		return recv_fail(r, -EBADMSG, MIG_CODE_CHECKSUM,
				 "round %u: %llu pages announced, %llu received", e.round,
				 (unsigned long long)e.pages, (unsigned long long)r->round_entries);
	r->entries_total += r->round_entries;
	r->round_entries = 0;
	r->round++;
	if (e.flags & MIG_EOR_FINAL) {
		r->state = R_STATE;
	} else if (r->cfg.has_disk && r->g.disk_flush) {
		int ret = r->g.disk_flush(r->g.ctx);
		if (ret < 0)
			return recv_fail(r, ret, MIG_CODE_GUEST, "flushing the disk failed (%d)",
					 ret);
	}
	return 0;
}

int recv_refused(struct mig_recv *r, int ret, const char *what)
{
	const char *why = r->g.why ? r->g.why(r->g.ctx) : NULL;

	if (ret > 0)
		ret = -EINVAL; /* the op broke its contract: still a refusal */
	if (!why || !*why)
		why = ret == -EINVAL   ? "not a state this host can run"
		      : ret == -EPROTO ? "unknown blob version"
		      : ret == -ENOMEM ? "out of memory"
				       : "restoring it failed";
	return recv_fail(r, ret, MIG_CODE_GUEST, "%s state refused: %s (%d)", what, why, ret);
}

static int on_blob(struct mig_recv *r, const struct mig_stream_rec *rec)
{
	struct mig_blob b;
	char what[48];
	int ret;
	bool vcpu = rec->type == MIG_REC_VCPU_STATE;

	ret = mig_record_get_blob(rec, &b);
	if (ret < 0)
		return recv_fail(r, ret, ret == -E2BIG ? MIG_CODE_LIMIT : MIG_CODE_PROTOCOL,
				 "malformed %s state", vcpu ? "vCPU" : "device");
	if (vcpu) {
		if (b.index >= r->cfg.vcpu_count || (r->vcpus_seen >> b.index & 1))
			return recv_fail(r, -EPROTO, MIG_CODE_PROTOCOL,
					 "unexpected state for vCPU %u", b.index);
		r->vcpus_seen |= 1ull << b.index;
		snprintf(what, sizeof(what), "vCPU %u", b.index);
		/* Its TSC was read on the source just before it was sent:
		 * the time it then sat here, behind the records ahead of it,
		 * is time the guest's clock must not lose. */
		ret = r->g.set_vcpu_state(r->g.ctx, b.index, b.data, b.len,
					  mig_link_rx_age_us(&r->link));
	} else {
		uint32_t i = 0;
		while (i < r->cfg.device_count && r->cfg.devices[i].id != b.index)
			i++;
		if (i == r->cfg.device_count || (r->devs_seen >> i & 1))
			return recv_fail(r, -EPROTO, MIG_CODE_PROTOCOL,
					 "unexpected state for device %u", b.index);
		r->devs_seen |= 1u << i;
		snprintf(what, sizeof(what), "device %u (%s)", b.index, r->cfg.devices[i].name);
		ret = r->g.set_device_state(r->g.ctx, b.index, b.data, b.len);
	}
	return ret ? recv_refused(r, ret, what) : 0;
}

/* The only way a guest starts here: everything announced arrived and the
 * checksum agrees with what we read. */
static int on_end(struct mig_recv *r, const struct mig_stream_rec *rec)
{
	uint64_t t_end = now(r);
	struct mig_end e;
	int ret;

	if (mig_record_get_end(rec, &e))
		return recv_fail(r, -EBADMSG, MIG_CODE_PROTOCOL, "malformed END");
	if (e.rounds != r->round || e.pages != r->entries_total)
		return recv_fail(r, -EBADMSG, MIG_CODE_CHECKSUM,
				 "END announces %u rounds and %llu pages, received %u and %llu",
				 e.rounds, (unsigned long long)e.pages, r->round,
				 (unsigned long long)r->entries_total);
	if (e.sum_a != rec->sum_before.a || e.sum_b != rec->sum_before.b)
		return recv_fail(r, -EBADMSG, MIG_CODE_CHECKSUM,
				 "stream checksum mismatch: the data was corrupted in transit");
	uint64_t all_vcpus = r->cfg.vcpu_count == 64 ? ~0ull : (1ull << r->cfg.vcpu_count) - 1;
	uint32_t all_devs = r->cfg.device_count == 32 ? ~0u : (1u << r->cfg.device_count) - 1;
	if (r->vcpus_seen != all_vcpus || r->devs_seen != all_devs)
		return recv_fail(r, -EBADMSG, MIG_CODE_PROTOCOL,
				 "END before every vCPU and device state");

	ret = r->g.start(r->g.ctx);
	if (ret < 0)
		return recv_fail(r, ret, MIG_CODE_GUEST, "starting the guest failed (%d)", ret);
	r->created = false;
	r->summary.resume_us = now(r) - t_end;
	if (mig_record_put_handoff(&r->link.out, r->summary.resume_us))
		log_err(TAG, "incoming %s: no room to acknowledge the hand-off", r->cfg.name);
	r->result = MIG_DONE;
	r->err = 0;
	snprintf(r->reason, sizeof(r->reason), "guest running here");
	log_info(TAG, "incoming %s: running here", r->cfg.name);
	if (!r->held) {
		finish(r);
		return 0;
	}
	report(r);
	r->state = R_HELD;
	r->held_since = now(r);
	return 0;
}

/* How long a destination waits for HELD_FRAMES after HANDOFF_DONE: the
 * source sends it as soon as it reads HANDOFF_DONE. */
#define MIG_HELD_WAIT_US 2000000u

#define IN(st) (1u << (st))
#define BEFORE_FINISH (IN(R_HELD) - 1)

/* Which records the source may send in which state; everything else is out
 * of order and fails the migration (ERROR PROTOCOL, the guest destroyed). */
static const struct {
	uint32_t type;
	uint32_t states;
} legal[] = {
	{MIG_REC_HELLO, IN(R_WAIT_HELLO)},
	{MIG_REC_AUTH, IN(R_WAIT_AUTH)},
	{MIG_REC_GUEST_CONFIG, IN(R_WAIT_CONFIG)},
	{MIG_REC_PAGE_DATA, IN(R_ROUNDS)},
	{MIG_REC_PAGE_DELTA, IN(R_ROUNDS)},
	{MIG_REC_DISK_DATA, IN(R_ROUNDS)},
	{MIG_REC_END_OF_ROUND, IN(R_ROUNDS)},
	{MIG_REC_VCPU_STATE, IN(R_STATE)},
	{MIG_REC_DEVICE_STATE, IN(R_STATE)},
	{MIG_REC_DISK_BITMAP, IN(R_ROUNDS) | IN(R_STATE)},
	{MIG_REC_END, IN(R_STATE)},
	{MIG_REC_ERROR, BEFORE_FINISH},
};

static bool legal_now(const struct mig_recv *r, uint32_t type)
{
	for (size_t i = 0; i < sizeof(legal) / sizeof(legal[0]); i++)
		if (legal[i].type == type)
			return legal[i].states & IN(r->state);
	return false;
}

static int out_of_order(struct mig_recv *r, uint32_t type)
{
	const char *what = type == MIG_REC_VCPU_STATE	  ? "vCPU state"
			   : type == MIG_REC_DEVICE_STATE ? "device state"
							  : mig_stream_type_name(type);

	if (r->state == R_ROUNDS &&
	    (type == MIG_REC_VCPU_STATE || type == MIG_REC_DEVICE_STATE || type == MIG_REC_END))
		return recv_fail(r, -EPROTO, MIG_CODE_PROTOCOL, "%s before the final round", what);
	if (r->state == R_STATE && (type == MIG_REC_PAGE_DATA || type == MIG_REC_PAGE_DELTA ||
				    type == MIG_REC_DISK_DATA || type == MIG_REC_END_OF_ROUND))
		return recv_fail(r, -EPROTO, MIG_CODE_PROTOCOL, "%s after the final round", what);
	return recv_fail(r, -EPROTO, MIG_CODE_PROTOCOL, "unexpected %s", what);
}

static int on_record(struct mig_recv *r, const struct mig_stream_rec *rec)
{
	struct mig_text text;

	if (!legal_now(r, rec->type))
		return out_of_order(r, rec->type);
	switch (rec->type) {
	case MIG_REC_ERROR:
		if (mig_record_get_text(rec, &text))
			return recv_fail(r, -EBADMSG, MIG_CODE_PROTOCOL, "malformed ERROR");
		return recv_fail(r, mig_record_err_of(text.code), 0, "source gave up: %s",
				 text.text[0] ? text.text : mig_record_code_name(text.code));
	case MIG_REC_HELLO:
		return on_hello(r, rec);
	case MIG_REC_AUTH:
		if (mig_auth_verify(MIG_AUTH_SOURCE, r->key, r->key_len, r->nonce_src, r->nonce_dst,
				    rec->payload))
			return recv_fail(r, -EACCES, MIG_CODE_AUTH,
					 "authentication failed: the source does not know our key");
		r->state = R_WAIT_CONFIG;
		return 0;
	case MIG_REC_GUEST_CONFIG:
		return on_config(r, rec);
	case MIG_REC_PAGE_DATA:
		return on_pages(r, rec);
	case MIG_REC_PAGE_DELTA:
		return on_deltas(r, rec);
	case MIG_REC_DISK_DATA:
		return recv_on_disk(r, rec);
	case MIG_REC_END_OF_ROUND:
		return on_eor(r, rec);
	case MIG_REC_VCPU_STATE:
	case MIG_REC_DEVICE_STATE:
		return on_blob(r, rec);
	case MIG_REC_DISK_BITMAP:
		return recv_on_bitmap(r, rec);
	case MIG_REC_END:
		return on_end(r, rec);
	}
	return out_of_order(r, rec->type);
}

static int linger(struct mig_recv *r)
{
	int ret = mig_link_linger(&r->link);

	if (ret == 1)
		return 1;
	if (ret < 0 && r->result == MIG_DONE)
		log_warn(TAG, "incoming %s: the source was not told of the hand-off", r->cfg.name);
	r->state = R_CLOSED;
	return r->err;
}

static void deliver_held(struct mig_recv *r, const struct mig_stream_rec *rec)
{
	struct mig_held_iter it;
	const uint8_t *frame;
	size_t len;

	if (mig_record_held_begin(rec, &it)) {
		log_warn(TAG, "incoming %s: malformed HELD_FRAMES after the hand-off, ignored",
			 r->cfg.name);
		return;
	}
	while (mig_record_held_next(&it, &frame, &len)) {
		r->g.deliver_frame(r->g.ctx, frame, len);
		r->summary.frames_held++;
	}
	if (r->summary.frames_held)
		log_info(TAG, "incoming %s: %u frames held by the source given to the guest",
			 r->cfg.name, r->summary.frames_held);
}

/* The guest runs here and the migration is done, whatever comes now: the
 * source's HELD_FRAMES, anything else (ignored), a broken link, or
 * nothing within MIG_HELD_WAIT_US; then the connection winds down. */
static int poll_held(struct mig_recv *r)
{
	struct mig_stream_rec rec;
	ssize_t n = mig_link_flush(&r->link, SIZE_MAX); /* HANDOFF_DONE */
	int ret = n < 0 ? (int)n : mig_link_next(&r->link, &rec);

	if (ret == 0 && now(r) - r->held_since < MIG_HELD_WAIT_US)
		return 1;
	if (ret > 0 && rec.type == MIG_REC_HELD_FRAMES)
		deliver_held(r, &rec);
	else if (ret > 0)
		log_warn(TAG, "incoming %s: %s after the hand-off, ignored", r->cfg.name,
			 mig_stream_type_name(rec.type));
	wind_down(r);
	return r->state == R_LINGER ? linger(r) : r->err;
}

int mig_recv_poll(struct mig_recv *r)
{
	struct mig_stream_rec rec;
	uint64_t in0 = r->link.bytes_in;
	int ret;

	if (r->state == R_CLOSED)
		return r->err;
	if (r->state == R_LINGER)
		return linger(r);
	if (r->state == R_HELD)
		return poll_held(r);
	while (!finished(r) && r->link.bytes_in - in0 < POLL_BUDGET) {
		uint64_t t = now(r);
		ret = mig_link_next(&r->link, &rec);
		r->summary.recv_us += now(r) - t;
		if (ret == 0)
			break;
		if (ret < 0)
			link_failed(r, ret);
		else
			on_record(r, &rec);
	}
	if (!finished(r)) {
		ssize_t n = mig_link_flush(&r->link, SIZE_MAX);
		if (n < 0)
			link_failed(r, (int)n);
		else if (now(r) - r->link.last_io_us > r->timeout_us)
			recv_fail(r, -ETIMEDOUT, MIG_CODE_TIMEOUT,
				  "timeout: the source was silent for %llu ms",
				  (unsigned long long)(r->timeout_us / 1000));
	}
	if (r->state == R_LINGER)
		return linger(r);
	if (r->state == R_HELD)
		return poll_held(r);
	return r->state == R_CLOSED ? r->err : 1;
}

int mig_recv_cancel(struct mig_recv *r, const char *why)
{
	if (finished(r))
		return -EALREADY;
	recv_fail(r, -ECANCELED, MIG_CODE_CANCELLED, "cancelled: %s",
		  why && *why ? why : "by the operator");
	return 0;
}

enum mig_result mig_recv_result(const struct mig_recv *r)
{
	return r->result;
}

const char *mig_recv_reason(const struct mig_recv *r)
{
	return r->reason;
}

const char *mig_recv_name(const struct mig_recv *r)
{
	return r->cfg.name;
}

const struct mig_incoming_summary *mig_recv_summary(const struct mig_recv *r)
{
	return &r->summary;
}

void mig_recv_free(struct mig_recv *r)
{
	if (!r)
		return;
	if (!finished(r))
		recv_fail(r, -ECANCELED, 0, "abandoned");
	mig_link_fini(&r->link);
	free(r->has_data);
	memset(r->key, 0, sizeof(r->key));
	free(r);
}
