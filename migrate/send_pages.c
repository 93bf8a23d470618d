/* The rounds of pre-copy on the source: which pages go, as what (whole,
 * ZERO, or a delta against the copy sent before), batched into records. */
#include <string.h>

#include "kernel/log.h"
#include "migrate/record.h"
#include "migrate/send_private.h"

/* Less memory than asked is fine, none at all means whole pages only: a
 * migration never fails for want of its cache. */
void send_start_delta(struct mig_send *s, uint32_t mib)
{
	int ret = mig_delta_cache_init(&s->cache, (uint64_t)mib << 20, s->npages, &s->link.host);

	if (ret < 0) {
		s->summary.delta = MIG_DELTA_NO_MEMORY;
		log_warn(TAG, "%s: no memory for a delta cache of %u MiB: sending whole pages only",
			 s->cfg.name, mib);
		return;
	}
	s->summary.delta = MIG_DELTA_ON;
	s->summary.delta_cache_bytes = mig_delta_cache_bytes(&s->cache);
	if (ret > 0)
		log_warn(TAG, "%s: memory is short: a delta cache of %llu KiB, not %u MiB",
			 s->cfg.name, (unsigned long long)(s->summary.delta_cache_bytes >> 10),
			 mib);
}

static bool page_is_zero(const void *page)
{
	const uint64_t *w = page;

	for (size_t i = 0; i < MIG_PAGE_SIZE / 8; i++)
		if (w[i])
			return false;
	return true;
}

uint64_t send_count_bits(const uint64_t *bitmap, size_t nwords)
{
	uint64_t n = 0;

	for (size_t i = 0; i < nwords; i++)
		n += (uint64_t)__builtin_popcountll(bitmap[i]);
	return n;
}

/* The next page to send at or after the cursor, clearing its bit; false
 * at the end of the round. */
static bool take_next(struct mig_send *s, uint64_t *gfn)
{
	while (s->cursor < s->space) {
		size_t w = (size_t)(s->cursor / 64);
		uint64_t bits = s->bitmap[w] & (~0ull << (s->cursor % 64));
		if (!bits) {
			s->cursor = (uint64_t)(w + 1) * 64;
			continue;
		}
		uint64_t g = (uint64_t)w * 64 + (uint64_t)__builtin_ctzll(bits);
		if (g >= s->space)
			break;
		s->bitmap[w] &= ~(1ull << (g % 64));
		s->cursor = g + 1;
		*gfn = g;
		return true;
	}
	s->cursor = s->space;
	return false;
}

/* Bits that are neither a page nor a block are never set: after the
 * harvests and after filling the bitmap for round 0. */
void send_mask_space(struct mig_send *s)
{
	uint64_t *w = s->bitmap;

	if (s->npages % 64)
		w[s->npages / 64] &= (1ull << (s->npages % 64)) - 1;
	for (uint64_t i = (s->npages + 63) / 64; i < s->disk_base / 64; i++)
		w[i] = 0;
	if (s->space % 64)
		w[s->space / 64] &= (1ull << (s->space % 64)) - 1;
}

void send_start_round(struct mig_send *s, uint32_t round, bool final, uint64_t t)
{
	s->round = round;
	s->final = final;
	s->cursor = 0;
	s->round_todo = send_count_bits(s->bitmap, s->nwords);
	s->round_entries = 0;
	s->disk_buf_n = 0;
	memset(&s->row, 0, sizeof(s->row));
	s->row.round = round;
	s->row.final = final;
	s->row.disk = s->cfg.has_disk;
	s->round_start_us = t;
	s->round_bytes0 = s->link.bytes_out + mig_stream_out_pending(&s->link.out);
	s->state = S_ROUND;
}

/* The guest is paused in the final round: that round runs to its end. */
bool send_time_up(struct mig_send *s)
{
	s->now_seen = now(s);
	return !s->final && s->now_seen >= s->poll_end_us;
}

/* Whether disk block b is still to go in this round. */
static bool block_pending(const struct mig_send *s, uint64_t b)
{
	uint64_t bit = s->disk_base + b;
	return s->bitmap[bit / 64] >> (bit % 64) & 1;
}

/* Disk block b, from the read-ahead buffer; when b is not in it, b and
 * the run of blocks after it still to go this round are read at once.
 * NULL if the read failed (*err set). */
static const uint8_t *disk_block(struct mig_send *s, uint64_t b, int *err)
{
	if (b < s->disk_buf_first || b >= s->disk_buf_first + s->disk_buf_n) {
		uint32_t n = 1;
		while (n < DISK_READ_BLOCKS && b + n < s->disk_blocks && block_pending(s, b + n))
			n++;
		s->disk_buf_n = 0;
		int ret = s->g.disk_read(s->g.ctx, b, n, s->disk_buf);
		if (ret < 0) {
			*err = ret;
			s->disk_err_n = n;
			return NULL;
		}
		s->disk_buf_first = b;
		s->disk_buf_n = n;
	}
	return s->disk_buf + (b - s->disk_buf_first) * MIG_DISK_BLOCK;
}

/* A disk block goes whole, or as a ZERO entry in every round: the
 * destination's new volume is not zeroed. No deltas: a block is read
 * into a buffer that the next read reuses. */
static bool look_at_block(struct mig_send *s, uint64_t b, struct page_out *p)
{
	int err = 0;
	const uint8_t *data = disk_block(s, b, &err);

	if (!data) {
		s->disk_err = err;
		s->disk_err_block = b;
		return false;
	}
	*p = (struct page_out){MIG_REC_DISK_DATA, b, page_is_zero(data) ? NULL : data, 0};
	return true;
}

/* What gfn goes as; false if nothing (a hole, a zero page in round 0). */
static bool look_at(struct mig_send *s, uint64_t gfn, struct page_out *p)
{
	if (gfn >= s->npages)
		return look_at_block(s, gfn - s->disk_base, p);
	const uint8_t *page = s->g.page(s->g.ctx, gfn), *old;

	if (!page)
		return false;
	*p = (struct page_out){MIG_REC_PAGE_DATA, gfn, page, 0};
	if (page_is_zero(page)) {
		if (s->round > 0) {
			p->data = NULL;
			return true;
		}
		/* Reserved memory starts zeroed on the destination. */
		s->row.pages_zero++;
		return false;
	}
	/* Round 0 sends each page once: there is nothing to delta against. */
	if (!s->delta || s->round == 0 || !(old = mig_delta_cache_get(&s->cache, gfn)))
		return true;
	memcpy(s->snap, page, MIG_PAGE_SIZE);
	int n = mig_delta_encode(old, s->snap, s->enc, sizeof(s->enc));
	p->data = s->snap; /* whole, if the delta is not smaller */
	if (n >= 0) {
		p->type = MIG_REC_PAGE_DELTA;
		p->enc_len = (uint32_t)n;
	}
	return true;
}

/* Remember what the destination now holds for gfn. */
static void keep(struct mig_send *s, uint64_t gfn, const uint8_t *sent)
{
	/* Nothing follows the final round, and every copy would lengthen
	 * the downtime. */
	if (!s->delta || s->final)
		return;
	/* Round 0 goes through the gfns in order, so of the pages sharing a
	 * slot only the last would stay: copy just those. */
	if (s->round == 0 && gfn + s->cache.slots < s->npages)
		return;
	if (sent)
		mig_delta_cache_put(&s->cache, gfn, sent);
	else
		mig_delta_cache_drop(&s->cache, gfn); /* no delta against a ZERO entry */
}

static void put_page(struct mig_send *s, struct mig_batch *b, const struct page_out *p)
{
	if (p->type == MIG_REC_DISK_DATA) {
		if (mig_record_batch_add(b, p->gfn, p->data))
			s->row.blocks_sent++;
		else
			s->row.blocks_zero++;
		return;
	}
	if (p->type == MIG_REC_PAGE_DELTA) {
		mig_record_delta_add(b, p->gfn, s->enc, p->enc_len);
		s->row.pages_sent++;
		s->row.pages_delta++;
		s->row.delta_saved += MIG_PAGE_SIZE - p->enc_len;
		keep(s, p->gfn, s->snap);
		return;
	}
	/* The cache takes the record's copy, not the page, which the guest
	 * may have written since. */
	const uint8_t *sent = mig_record_batch_add(b, p->gfn, p->data);
	if (sent)
		s->row.pages_sent++;
	else
		s->row.pages_zero++;
	keep(s, p->gfn, sent);
}

/* The next page to send: the one held back, else the next dirty one. */
static bool next_page(struct mig_send *s, struct page_out *p)
{
	uint64_t gfn;

	if (s->held.type) {
		*p = s->held;
		s->held.type = 0;
		return true;
	}
	while (!s->disk_err && take_next(s, &gfn))
		if (look_at(s, gfn, p))
			return true;
	return false;
}

/* The page loop: no allocation, no formatting. Pages are read after the
 * harvest that cleared their dirty bits, so a write racing the copy
 * re-dirties the page and it goes again next round; while the guest runs a
 * copy may be torn, never stale for good. One batch holds one record type:
 * a page of the other type ends it and starts the next. */
int send_produce_batch(struct mig_send *s)
{
	struct mig_stream_out *o = &s->link.out;
	struct mig_batch b = {0};
	struct page_out p;

	while (!send_time_up(s) && next_page(s, &p)) {
		if (b.count && (p.type != b.type || b.count == MIG_MAX_BATCH_PAGES)) {
			s->held = p;
			break;
		}
		if (!b.count && (p.type == MIG_REC_PAGE_DELTA ? mig_record_delta_begin(o, &b)
							      : mig_record_blocks_begin(o, &b, p.type))) {
			s->held = p;
			return 0; /* no room yet */
		}
		put_page(s, &b, &p);
	}
	if (b.count) {
		s->round_entries += b.count;
		mig_record_batch_commit(o, &b);
	}
	if (s->disk_err)
		return s->disk_err;
	if (!s->held.type && s->cursor >= s->space) {
		struct mig_eor e = {s->round, s->final ? MIG_EOR_FINAL : 0, s->round_entries};
		if (mig_record_put_eor(&s->link.out, &e))
			return 1; /* no room: retried with an empty batch next time */
		s->entries_total += s->round_entries;
		s->state = s->final ? S_STATE : S_ROUND_DRAIN;
	}
	return 1;
}
