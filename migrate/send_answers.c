/* The source's side of the conversation: what each answer of the
 * destination (HELLO, AUTH, ACCEPT, REFUSE, ERROR, HANDOFF_DONE) does to a
 * migration, and which answers are legal in which state. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kernel/log.h"
#include "migrate/auth.h"
#include "migrate/record.h"
#include "migrate/send_private.h"

static int on_auth(struct mig_send *s, const struct mig_stream_rec *rec)
{
	uint8_t proof[MIG_PROOF_LEN];
	int ret;

	if (!s->have_peer_hello)
		return send_fail(s, -EPROTO, MIG_CODE_PROTOCOL, false,
				 "destination sent AUTH before HELLO");
	ret = mig_auth_verify(MIG_AUTH_DESTINATION, s->key, s->key_len, s->nonce_src, s->nonce_dst,
			      rec->payload);
	if (ret == -EACCES)
		return send_fail(s, ret, MIG_CODE_AUTH, false,
				 "authentication failed: the destination does not know our key");
	if (ret < 0)
		return send_fail(s, ret, MIG_CODE_AUTH, false, "authentication error (%d)", ret);
	ret = mig_auth_proof(MIG_AUTH_SOURCE, s->key, s->key_len, s->nonce_src, s->nonce_dst,
			     proof);
	if (ret < 0)
		return send_fail(s, ret, MIG_CODE_AUTH, false, "authentication error (%d)", ret);
	if (mig_stream_out_put(&s->link.out, MIG_REC_AUTH, proof, MIG_PROOF_LEN) ||
	    mig_record_put_config(&s->link.out, &s->cfg))
		return send_fail(s, -ENOSPC, MIG_CODE_PROTOCOL, false, "output buffer full");
	s->state = S_WAIT_ACCEPT;
	return 1;
}

static int on_accept(struct mig_send *s)
{
	int ret;

	if ((ret = send_put_bitmaps_early(s)) < 0)
		return ret;
	s->t_accept = now(s);
	memset(s->bitmap, 0xff, s->nwords * sizeof(uint64_t));
	send_mask_space(s);
	if (s->cfg.has_disk && (ret = send_disk_round0(s)) < 0)
		return ret;
	if (s->offline) {
		s->t_pause = s->t_accept;
		ret = s->g.pause(s->g.ctx);
		if (ret < 0)
			return send_fail(s, ret, MIG_CODE_GUEST, false,
					 "pausing the guest failed (%d)", ret);
		s->paused = true;
		s->stop = MIG_STOP_OFFLINE;
		send_start_round(s, 0, true, s->t_accept);
		return 1;
	}
	/* Logging starts before round 0 reads a single page, so every write
	 * that races the copy is caught. */
	ret = send_dirty_start_all(s);
	if (ret < 0)
		return send_fail(s, ret, MIG_CODE_GUEST, false,
				 "starting the dirty log failed (%d)", ret);
	send_start_round(s, 0, false, s->t_accept);
	return 1;
}

static int on_handoff(struct mig_send *s, const struct mig_stream_rec *rec)
{
	uint64_t resume_us, t = now(s);

	send_note_end_left(s);
	if (!send_end_left(s))
		return send_fail(s, -EPROTO, MIG_CODE_PROTOCOL, false,
				 "destination sent HANDOFF_DONE before END had left");
	if (mig_record_get_handoff(rec, &resume_us))
		return send_fail(s, -EPROTO, MIG_CODE_PROTOCOL, false, "malformed HANDOFF_DONE");
	s->summary.downtime_known = true;
	s->summary.downtime_src_us = s->t_end - s->t_pause;
	s->summary.downtime_dst_us = resume_us;
	s->summary.downtime_max_us = t - s->t_pause;
	/* Frames that reached our copy after its device state was written
	 * would die with it: the destination gives them to the guest. */
	if (s->pass_frames &&
	    mig_record_put_held(&s->link.out, s->g.held_frame, s->g.ctx, &s->summary.frames_held))
		log_warn(TAG, "%s: no room to pass on the frames held for the guest", s->cfg.name);
	/* The destination runs the guest: only now is our copy redundant. */
	s->g.destroy(s->g.ctx);
	s->paused = false;
	s->result = MIG_DONE;
	s->err = 0;
	snprintf(s->reason, sizeof(s->reason), "guest running on the destination");
	log_info(TAG, "%s: migration completed", s->cfg.name);
	send_finish(s);
	return 0;
}

#define IN(st) (1u << (st))
#define BEFORE_FINISH (IN(S_LINGER) - 1)

/* Which answers the destination may send in which state; everything else
 * is out of order and fails the migration. */
static const struct {
	uint32_t type;
	uint32_t states;
} legal[] = {
	{MIG_REC_HELLO, IN(S_WAIT_AUTH)},
	{MIG_REC_AUTH, IN(S_WAIT_AUTH)},
	/* A destination may refuse before it read anything (too busy). */
	{MIG_REC_REFUSE, IN(S_START) | IN(S_WAIT_AUTH) | IN(S_WAIT_ACCEPT)},
	{MIG_REC_ACCEPT, IN(S_WAIT_ACCEPT)},
	{MIG_REC_ERROR, BEFORE_FINISH},
	/* ...and only once END has left: on_handoff checks that. */
	{MIG_REC_HANDOFF_DONE, IN(S_HANDOFF)},
};

static bool legal_now(const struct mig_send *s, uint32_t type)
{
	for (size_t i = 0; i < sizeof(legal) / sizeof(legal[0]); i++)
		if (legal[i].type == type)
			return legal[i].states & IN(s->state);
	return false;
}

/* Deltas go only to a destination that offered DELTA in its HELLO; to
 * any other the cache is useless, and its memory goes back at once. */
static void no_delta_unless(struct mig_send *s, uint64_t peer_caps)
{
	if (!s->cache.slots)
		return;
	if (peer_caps & MIG_CAP_DELTA) {
		s->delta = true;
		return;
	}
	mig_delta_cache_fini(&s->cache);
	s->summary.delta = MIG_DELTA_PEER;
	log_info(TAG, "%s: the destination does not take deltas: sending whole pages", s->cfg.name);
}

int send_on_record(struct mig_send *s, const struct mig_stream_rec *rec)
{
	struct mig_hello hello;
	struct mig_text text;

	if (!legal_now(s, rec->type))
		return send_fail(s, -EPROTO, MIG_CODE_PROTOCOL, false,
				 "unexpected %s from the destination",
				 mig_stream_type_name(rec->type));
	switch (rec->type) {
	case MIG_REC_HELLO:
		if (s->have_peer_hello || mig_record_get_hello(rec, &hello))
			break;
		if (hello.page_shift != MIG_PAGE_SHIFT)
			return send_fail(s, -EPROTONOSUPPORT, MIG_CODE_VERSION, false,
					 "destination uses pages of 2^%u bytes", hello.page_shift);
		memcpy(s->nonce_dst, hello.nonce, MIG_NONCE_LEN);
		s->have_peer_hello = true;
		if (s->cfg.has_disk && !(hello.caps & MIG_CAP_DISK))
			return send_fail(s, -EOPNOTSUPP, MIG_CODE_UNSUPPORTED, false,
					 "the destination cannot take a disk (its Tern has no "
					 "copy-storage)");
		if (s->cfg.disk_has_base && !(hello.caps & MIG_CAP_DISK_BASE))
			return send_fail(
				s, -EOPNOTSUPP, MIG_CODE_UNSUPPORTED, false,
				"the destination cannot take a clone's disk (its Tern has no "
				"copy-storage inc): use --copy-storage all");
		no_delta_unless(s, hello.caps);
		s->pass_frames = (hello.caps & MIG_CAP_HELD) && s->g.held_frame;
		return 1;
	case MIG_REC_AUTH:
		return on_auth(s, rec);
	case MIG_REC_ACCEPT:
		return on_accept(s);
	case MIG_REC_REFUSE:
	case MIG_REC_ERROR:
		if (mig_record_get_text(rec, &text))
			break;
		if (send_end_left(s) && !s->authenticated)
			/* Anyone on the path could have written it, and
			 * believing it could run the guest on both hosts. */
			return send_fail(s, mig_record_err_of(text.code), 0, false,
					 "destination failed after END (unauthenticated): %s",
					 text.text[0] ? text.text
						      : mig_record_code_name(text.code));
		return send_fail(s, mig_record_err_of(text.code), 0, true, "destination %s: %s",
				 rec->type == MIG_REC_REFUSE ? "refused" : "failed",
				 text.text[0] ? text.text : mig_record_code_name(text.code));
	case MIG_REC_HANDOFF_DONE:
		return on_handoff(s, rec);
	}
	return send_fail(s, -EPROTO, MIG_CODE_PROTOCOL, false, "unexpected %s from the destination",
			 mig_stream_type_name(rec->type));
}
