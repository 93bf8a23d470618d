/* Framing of the migration stream; docs/migration-stream.md is the spec. */
#include "migrate/stream.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "migrate/format.h"
#include "migrate/le.h"

enum { IN_HEADER, IN_REC_HDR, IN_PAYLOAD, IN_SKIP, IN_PAD, IN_FAILED };

static uint32_t pad_of(uint32_t len)
{
	return (MIG_REC_ALIGN - len % MIG_REC_ALIGN) % MIG_REC_ALIGN;
}

void mig_stream_sum_init(struct mig_stream_sum *s)
{
	memset(s, 0, sizeof(*s));
}

void mig_stream_sum_update(struct mig_stream_sum *s, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t a = s->a, b = s->b;

	while (len && s->nbytes) {
		s->word |= (uint32_t)*p++ << (8 * s->nbytes);
		len--;
		if (++s->nbytes == 4) {
			a += s->word;
			b += a;
			s->word = 0;
			s->nbytes = 0;
		}
	}
	/* Page data dominates (a tenth of the sender's instructions under TCG
	 * with one word per step). Four words at once, same sums: after words
	 * w0..w3, a grew by their sum and b by 4a + 4w0 + 3w1 + 2w2 + w3. */
	for (; len >= 16; p += 16, len -= 16) {
		uint64_t w0 = le32_get(p), w1 = le32_get(p + 4);
		uint64_t w2 = le32_get(p + 8), w3 = le32_get(p + 12);
		b += 4 * a + 4 * w0 + 3 * w1 + 2 * w2 + w3;
		a += w0 + w1 + w2 + w3;
	}
	for (; len >= 4; p += 4, len -= 4) {
		a += le32_get(p);
		b += a;
	}
	for (; len; len--)
		s->word |= (uint32_t)*p++ << (8 * s->nbytes++);
	s->a = a;
	s->b = b;
}

void mig_stream_out_init(struct mig_stream_out *o, void *buf, size_t cap)
{
	o->buf = buf;
	o->cap = cap;
	o->head = o->tail = 0;
	o->open = SIZE_MAX;
	mig_stream_sum_init(&o->sum);
}

static bool out_room(struct mig_stream_out *o, size_t need)
{
	if (o->cap - o->tail >= need)
		return true;
	if (o->head) {
		/* Usually the bytes kept are fewer than those taken: then the two
		 * ranges are apart and memcpy (newlib's is word-wise; its memmove
		 * goes byte by byte at an odd offset) does the move. */
		size_t keep = o->tail - o->head;
		if (keep <= o->head)
			memcpy(o->buf, o->buf + o->head, keep);
		else
			memmove(o->buf, o->buf + o->head, keep);
		o->tail -= o->head;
		o->head = 0;
	}
	return o->cap - o->tail >= need;
}

int mig_stream_out_header(struct mig_stream_out *o)
{
	if (o->open != SIZE_MAX || !out_room(o, MIG_HEADER_LEN))
		return -ENOSPC;
	uint8_t *p = o->buf + o->tail;
	memcpy(p, MIG_MAGIC, MIG_MAGIC_LEN);
	le32_put(p + 8, MIG_VERSION);
	le32_put(p + 12, 0);
	/* The checksum covers records only: the header is checked field by field. */
	o->tail += MIG_HEADER_LEN;
	return 0;
}

uint8_t *mig_stream_out_begin(struct mig_stream_out *o, uint32_t type, uint32_t max_len)
{
	if (o->open != SIZE_MAX || max_len > MIG_MAX_RECORD_LEN)
		return NULL;
	if (!out_room(o, MIG_REC_HDR_LEN + (size_t)max_len + pad_of(max_len)))
		return NULL;
	o->open = o->tail;
	le32_put(o->buf + o->open, type);
	return o->buf + o->open + MIG_REC_HDR_LEN;
}

void mig_stream_out_commit(struct mig_stream_out *o, uint32_t len)
{
	uint8_t *rec = o->buf + o->open;
	size_t total = MIG_REC_HDR_LEN + (size_t)len + pad_of(len);

	le32_put(rec + 4, len);
	memset(rec + MIG_REC_HDR_LEN + len, 0, pad_of(len));
	mig_stream_sum_update(&o->sum, rec, total);
	o->tail = o->open + total;
	o->open = SIZE_MAX;
}

void mig_stream_out_abort(struct mig_stream_out *o)
{
	o->open = SIZE_MAX;
}

void mig_stream_out_discard(struct mig_stream_out *o)
{
	o->head = o->tail = 0;
	o->open = SIZE_MAX;
}

int mig_stream_out_put(struct mig_stream_out *o, uint32_t type, const void *payload, uint32_t len)
{
	uint8_t *p = mig_stream_out_begin(o, type, len);

	if (!p)
		return -ENOSPC;
	if (len)
		memcpy(p, payload, len);
	mig_stream_out_commit(o, len);
	return 0;
}

size_t mig_stream_out_pending(const struct mig_stream_out *o)
{
	return o->tail - o->head;
}

const uint8_t *mig_stream_out_data(const struct mig_stream_out *o)
{
	return o->buf + o->head;
}

void mig_stream_out_consume(struct mig_stream_out *o, size_t n)
{
	o->head += n;
	if (o->head == o->tail && o->open == SIZE_MAX)
		o->head = o->tail = 0;
}

int mig_stream_in_init(struct mig_stream_in *in, const struct mig_stream_limit *limits,
		       size_t nlimits, void *buf, size_t cap)
{
	memset(in, 0, sizeof(*in));
	for (size_t i = 0; i < nlimits; i++)
		if (limits[i].max_len > cap || limits[i].min_len > limits[i].max_len)
			return -EINVAL;
	in->limits = limits;
	in->nlimits = nlimits;
	in->buf = buf;
	in->cap = cap;
	in->state = IN_HEADER;
	mig_stream_sum_init(&in->sum);
	return 0;
}

static int in_fail(struct mig_stream_in *in, int err, const char *why)
{
	in->state = IN_FAILED;
	in->err = err;
	in->why = why;
	return err;
}

static int in_header(struct mig_stream_in *in)
{
	if (memcmp(in->hdr, MIG_MAGIC, MIG_MAGIC_LEN))
		return in_fail(in, -EPROTO, "not a Tern migration stream (bad magic)");
	in->version = le32_get(in->hdr + 8);
	if (in->version != MIG_VERSION) {
		snprintf(in->why_buf, sizeof(in->why_buf),
			 "unsupported stream version %u (this host speaks %u)", in->version,
			 MIG_VERSION);
		return in_fail(in, -EPROTONOSUPPORT, in->why_buf);
	}
	if (le32_get(in->hdr + 12))
		return in_fail(in, -EPROTONOSUPPORT, "unknown stream header flags");
	in->state = IN_REC_HDR;
	in->have = 0;
	return 0;
}

/* Every length is judged here, from the 8-byte record header alone, before
 * a byte of payload is buffered. */
static int in_rec_header(struct mig_stream_in *in)
{
	const struct mig_stream_limit *lim = NULL;

	in->type = le32_get(in->hdr);
	in->len = le32_get(in->hdr + 4);
	in->got = 0;
	in->pad = pad_of(in->len);
	for (size_t i = 0; i < in->nlimits; i++)
		if (in->limits[i].type == in->type)
			lim = &in->limits[i];
	if (!lim) {
		if (!(in->type & MIG_REC_OPTIONAL))
			return in_fail(in, -EOPNOTSUPP, "unknown mandatory record");
		if (in->len > MIG_MAX_RECORD_LEN)
			return in_fail(in, -E2BIG, "record longer than the largest allowed");
		in->state = IN_SKIP;
		return 0;
	}
	if (in->len > lim->max_len)
		return in_fail(in, -E2BIG, "record longer than its type allows");
	if (in->len < lim->min_len)
		return in_fail(in, -EBADMSG, "record shorter than its type needs");
	in->state = IN_PAYLOAD;
	return 0;
}

int mig_stream_in_feed(struct mig_stream_in *in, const void *data, size_t len, size_t *used,
		       struct mig_stream_rec *rec)
{
	const uint8_t *p = data;
	size_t pos = 0;
	int err = 0;

	*used = 0;
	if (in->state == IN_FAILED)
		return in->err;
	for (;;) {
		size_t n, left = len - pos;

		/* A record is complete once its padding is in, possibly
		 * without consuming anything (an empty payload). */
		if ((in->state == IN_PAYLOAD || in->state == IN_SKIP || in->state == IN_PAD) &&
		    in->got == in->len && in->pad == 0) {
			bool skipped = in->state == IN_SKIP;

			in->state = IN_REC_HDR;
			in->have = 0;
			if (!skipped) {
				rec->type = in->type;
				rec->len = in->len;
				rec->payload = in->buf;
				rec->sum_before = in->rec_start;
				*used = pos;
				in->offset += pos;
				return 1;
			}
		}
		if (!left)
			break;
		switch (in->state) {
		case IN_HEADER:
			n = MIG_HEADER_LEN - in->have < left ? MIG_HEADER_LEN - in->have : left;
			memcpy(in->hdr + in->have, p + pos, n);
			in->have += n;
			pos += n;
			if (in->have == MIG_HEADER_LEN)
				err = in_header(in);
			break;
		case IN_REC_HDR:
			if (in->have == 0)
				in->rec_start = in->sum;
			n = MIG_REC_HDR_LEN - in->have < left ? MIG_REC_HDR_LEN - in->have : left;
			memcpy(in->hdr + in->have, p + pos, n);
			mig_stream_sum_update(&in->sum, p + pos, n);
			in->have += n;
			pos += n;
			if (in->have == MIG_REC_HDR_LEN)
				err = in_rec_header(in);
			break;
		case IN_PAYLOAD:
		case IN_SKIP:
			if (in->got < in->len) {
				n = in->len - in->got < left ? in->len - in->got : left;
				if (in->state == IN_PAYLOAD)
					memcpy(in->buf + in->got, p + pos, n);
				mig_stream_sum_update(&in->sum, p + pos, n);
				in->got += n;
				pos += n;
				break;
			}
			in->state = in->state == IN_SKIP ? IN_SKIP : IN_PAD;
			/* fall through */
		case IN_PAD:
			n = in->pad < left ? in->pad : left;
			for (size_t i = 0; i < n; i++)
				if (p[pos + i])
					err = in_fail(in, -EBADMSG, "non-zero record padding");
			mig_stream_sum_update(&in->sum, p + pos, n);
			in->pad -= n;
			pos += n;
			break;
		}
		if (err) {
			*used = pos;
			in->offset += pos;
			return err;
		}
	}
	*used = pos;
	in->offset += pos;
	return 0;
}

int mig_stream_in_eof(struct mig_stream_in *in)
{
	if (in->state == IN_FAILED)
		return in->err;
	if (in->state == IN_REC_HDR && in->have == 0)
		return 0;
	return in_fail(in, -EBADMSG, "stream truncated in the middle of a record");
}

bool mig_stream_in_started(const struct mig_stream_in *in)
{
	return in->state != IN_HEADER || in->have;
}

const char *mig_stream_in_why(const struct mig_stream_in *in)
{
	return in->why ? in->why : "no error";
}

const char *mig_stream_type_name(uint32_t type)
{
	switch (type) {
	case MIG_REC_HELLO:
		return "HELLO";
	case MIG_REC_AUTH:
		return "AUTH";
	case MIG_REC_GUEST_CONFIG:
		return "GUEST_CONFIG";
	case MIG_REC_PAGE_DATA:
		return "PAGE_DATA";
	case MIG_REC_PAGE_DELTA:
		return "PAGE_DELTA";
	case MIG_REC_DISK_DATA:
		return "DISK_DATA";
	case MIG_REC_DISK_BITMAP:
		return "DISK_BITMAP";
	case MIG_REC_VCPU_STATE:
		return "VCPU_STATE";
	case MIG_REC_DEVICE_STATE:
		return "DEVICE_STATE";
	case MIG_REC_END_OF_ROUND:
		return "END_OF_ROUND";
	case MIG_REC_END:
		return "END";
	case MIG_REC_ERROR:
		return "ERROR";
	case MIG_REC_ACCEPT:
		return "ACCEPT";
	case MIG_REC_REFUSE:
		return "REFUSE";
	case MIG_REC_HANDOFF_DONE:
		return "HANDOFF_DONE";
	case MIG_REC_HELD_FRAMES:
		return "HELD_FRAMES";
	}
	return type & MIG_REC_OPTIONAL ? "unknown optional record" : "unknown record";
}
