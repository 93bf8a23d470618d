/* Record payloads; the layouts are tabled in docs/migration-stream.md. */
#include "migrate/record.h"

#include <errno.h>
#include <string.h>

#include "migrate/le.h"

#define TEXT_MAX (MIG_TEXT_HDR_LEN + MIG_MAX_TEXT)
#define BLOB_MAX (MIG_BLOB_HDR_LEN + MIG_MAX_BLOB)
#define BATCH_MIN (MIG_BATCH_HDR_LEN + MIG_PAGE_ENTRY_LEN)

/* The receive buffer is sized for the largest PAGE_DATA. */
_Static_assert(MIG_MAX_DELTA_RECORD_LEN <= MIG_MAX_RECORD_LEN, "PAGE_DELTA over the record limit");

const struct mig_stream_limit mig_record_src_limits[] = {
	{MIG_REC_HELLO, MIG_HELLO_LEN, MIG_HELLO_LEN},
	{MIG_REC_AUTH, MIG_PROOF_LEN, MIG_PROOF_LEN},
	{MIG_REC_GUEST_CONFIG, MIG_CONFIG_FIXED_LEN, MIG_CONFIG_MAX_LEN},
	{MIG_REC_PAGE_DATA, BATCH_MIN, MIG_MAX_RECORD_LEN},
	{MIG_REC_PAGE_DELTA, MIG_BATCH_HDR_LEN + MIG_DELTA_ENTRY_LEN, MIG_MAX_DELTA_RECORD_LEN},
	{MIG_REC_DISK_DATA, BATCH_MIN, MIG_MAX_RECORD_LEN},
	{MIG_REC_DISK_BITMAP, MIG_BITMAP_HDR_LEN + 1, MIG_MAX_BITMAP_LEN},
	{MIG_REC_VCPU_STATE, MIG_BLOB_HDR_LEN, BLOB_MAX},
	{MIG_REC_DEVICE_STATE, MIG_BLOB_HDR_LEN, BLOB_MAX},
	{MIG_REC_END_OF_ROUND, MIG_EOR_LEN, MIG_EOR_LEN},
	{MIG_REC_END, MIG_END_LEN, MIG_END_LEN},
	{MIG_REC_ERROR, MIG_TEXT_HDR_LEN, TEXT_MAX},
	{MIG_REC_HELD_FRAMES, MIG_HELD_HDR_LEN, MIG_HELD_MAX_LEN},
};
const size_t mig_record_src_nlimits =
	sizeof(mig_record_src_limits) / sizeof(mig_record_src_limits[0]);

const struct mig_stream_limit mig_record_dst_limits[] = {
	{MIG_REC_HELLO, MIG_HELLO_LEN, MIG_HELLO_LEN},
	{MIG_REC_AUTH, MIG_PROOF_LEN, MIG_PROOF_LEN},
	{MIG_REC_ACCEPT, 0, 0},
	{MIG_REC_REFUSE, MIG_TEXT_HDR_LEN, TEXT_MAX},
	{MIG_REC_HANDOFF_DONE, MIG_HANDOFF_LEN, MIG_HANDOFF_LEN},
	{MIG_REC_ERROR, MIG_TEXT_HDR_LEN, TEXT_MAX},
};
const size_t mig_record_dst_nlimits =
	sizeof(mig_record_dst_limits) / sizeof(mig_record_dst_limits[0]);

/* A NUL-padded text field: printable, and nothing but NULs after the
 * first NUL, so two hosts never disagree on what the name is. */
static int get_padded(const uint8_t *p, size_t field, char *out, bool name)
{
	size_t n = 0;

	while (n < field && p[n])
		n++;
	for (size_t i = n; i < field; i++)
		if (p[i])
			return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		bool ok = name ? (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
					  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'
			       : c >= 0x20 && c < 0x7f;
		if (!ok)
			return -EBADMSG;
	}
	if (name && (n == 0 || n == field))
		return -EBADMSG;
	memcpy(out, p, n);
	out[n] = 0;
	return 0;
}

static void put_padded(uint8_t *p, size_t field, const char *s)
{
	size_t n = strnlen(s, field - 1);

	memset(p, 0, field);
	memcpy(p, s, n);
}

int mig_record_put_hello(struct mig_stream_out *o, const struct mig_hello *h)
{
	uint8_t *p = mig_stream_out_begin(o, MIG_REC_HELLO, MIG_HELLO_LEN);

	if (!p)
		return -ENOSPC;
	le64_put(p, h->caps);
	le32_put(p + 8, h->page_shift);
	le32_put(p + 12, 0);
	memcpy(p + 16, h->nonce, MIG_NONCE_LEN);
	memset(p + 48, 0, MIG_SOFTWARE_LEN);
	memcpy(p + 48, h->software, strnlen(h->software, MIG_SOFTWARE_LEN));
	mig_stream_out_commit(o, MIG_HELLO_LEN);
	return 0;
}

int mig_record_get_hello(const struct mig_stream_rec *r, struct mig_hello *h)
{
	const uint8_t *p = r->payload;

	if (r->len != MIG_HELLO_LEN)
		return -EBADMSG;
	h->caps = le64_get(p);
	h->page_shift = le32_get(p + 8);
	memcpy(h->nonce, p + 16, MIG_NONCE_LEN);
	/* Informational: keep what is printable. */
	size_t n = 0;
	for (; n < MIG_SOFTWARE_LEN && p[48 + n] >= 0x20 && p[48 + n] < 0x7f; n++)
		h->software[n] = (char)p[48 + n];
	h->software[n] = 0;
	return 0;
}

int mig_record_put_config(struct mig_stream_out *o, const struct mig_guest_config *c)
{
	if (c->device_count > MIG_MAX_DEVICES || c->cpuid_len > MIG_MAX_CPUID_BLOB)
		return -E2BIG;
	uint32_t len = mig_record_config_len(c);
	uint8_t *p = mig_stream_out_begin(o, MIG_REC_GUEST_CONFIG, len);

	if (!p)
		return -ENOSPC;
	memset(p, 0, MIG_CONFIG_FIXED_LEN);
	le64_put(p, c->ram_bytes);
	le32_put(p + 8, c->vcpu_count);
	le32_put(p + 12, c->device_count);
	memcpy(p + 16, c->mac, 6);
	le16_put(p + 22, (uint16_t)((c->has_ipv4 ? MIG_CONFIG_IPV4 : 0) |
				    (c->paused ? MIG_CONFIG_PAUSED : 0) |
				    (c->has_disk ? MIG_CONFIG_DISK : 0) |
				    (c->has_disk && c->disk_has_base ? MIG_CONFIG_DISK_BASE : 0)));
	if (c->has_ipv4)
		memcpy(p + 24, c->ipv4, 4);
	le32_put(p + 28, c->cpuid_id);
	le32_put(p + 32, c->cpuid_len);
	le32_put(p + 36, c->tsc_khz);
	put_padded(p + 40, MIG_NAME_FIELD, c->name);
	uint8_t *d = p + MIG_CONFIG_FIXED_LEN;
	for (uint32_t i = 0; i < c->device_count; i++, d += MIG_DEVICE_ENTRY_LEN) {
		le32_put(d, c->devices[i].id);
		le32_put(d + 4, c->devices[i].kind);
		put_padded(d + 8, MIG_DEVNAME_FIELD, c->devices[i].name);
	}
	memcpy(d, c->cpuid, c->cpuid_len);
	if (c->has_disk) {
		d += c->cpuid_len;
		memset(d, 0, MIG_CONFIG_DISK_LEN);
		put_padded(d, MIG_NAME_FIELD, c->disk_volume);
		le64_put(d + MIG_NAME_FIELD, c->disk_bytes);
		if (c->disk_has_base) {
			d += MIG_CONFIG_DISK_LEN;
			put_padded(d, MIG_NAME_FIELD, c->disk_base_name);
			memcpy(d + MIG_NAME_FIELD, c->disk_base_sha256, 32);
		}
	}
	mig_stream_out_commit(o, len);
	return 0;
}

uint32_t mig_record_config_len(const struct mig_guest_config *c)
{
	return MIG_CONFIG_FIXED_LEN + c->device_count * MIG_DEVICE_ENTRY_LEN + c->cpuid_len +
	       (c->has_disk ? MIG_CONFIG_DISK_LEN : 0) +
	       (c->has_disk && c->disk_has_base ? MIG_CONFIG_BASE_LEN : 0);
}

int mig_record_get_config(const struct mig_stream_rec *r, struct mig_guest_config *c)
{
	const uint8_t *p = r->payload;

	if (r->len < MIG_CONFIG_FIXED_LEN)
		return -EBADMSG;
	memset(c, 0, sizeof(*c));
	c->ram_bytes = le64_get(p);
	c->vcpu_count = le32_get(p + 8);
	c->device_count = le32_get(p + 12);
	memcpy(c->mac, p + 16, 6);
	uint16_t flags = le16_get(p + 22);
	c->cpuid_id = le32_get(p + 28);
	c->cpuid_len = le32_get(p + 32);
	c->tsc_khz = le32_get(p + 36);
	if (c->ram_bytes == 0 || c->ram_bytes % MIG_PAGE_SIZE || c->ram_bytes > MIG_MAX_RAM_BYTES ||
	    c->vcpu_count > MIG_MAX_VCPUS || c->device_count > MIG_MAX_DEVICES ||
	    c->cpuid_len > MIG_MAX_CPUID_BLOB)
		return -E2BIG;
	/* An unknown flag may change what the guest is: refuse it. */
	if (c->vcpu_count == 0 ||
	    (flags & ~(MIG_CONFIG_IPV4 | MIG_CONFIG_PAUSED | MIG_CONFIG_DISK |
		       MIG_CONFIG_DISK_BASE)))
		return -EBADMSG;
	c->has_disk = flags & MIG_CONFIG_DISK;
	c->disk_has_base = flags & MIG_CONFIG_DISK_BASE;
	if (c->disk_has_base && !c->has_disk)
		return -EBADMSG;
	/* Both counts are bounded above, so this cannot wrap. */
	if (r->len != mig_record_config_len(c))
		return -EBADMSG;
	static const uint8_t zero_mac[6];
	if (!memcmp(c->mac, zero_mac, 6) || (c->mac[0] & 1))
		return -EBADMSG;
	c->has_ipv4 = flags & MIG_CONFIG_IPV4;
	c->paused = flags & MIG_CONFIG_PAUSED;
	if (c->has_ipv4)
		memcpy(c->ipv4, p + 24, 4);
	if (get_padded(p + 40, MIG_NAME_FIELD, c->name, true))
		return -EBADMSG;
	const uint8_t *d = p + MIG_CONFIG_FIXED_LEN;
	for (uint32_t i = 0; i < c->device_count; i++, d += MIG_DEVICE_ENTRY_LEN) {
		c->devices[i].id = le32_get(d);
		c->devices[i].kind = le32_get(d + 4);
		if (get_padded(d + 8, MIG_DEVNAME_FIELD - 1, c->devices[i].name, false) ||
		    d[8 + MIG_DEVNAME_FIELD - 1])
			return -EBADMSG;
		for (uint32_t j = 0; j < i; j++)
			if (c->devices[j].id == c->devices[i].id)
				return -EBADMSG;
	}
	memcpy(c->cpuid, d, c->cpuid_len);
	if (c->has_disk) {
		d += c->cpuid_len;
		c->disk_bytes = le64_get(d + MIG_NAME_FIELD);
		if (get_padded(d, MIG_NAME_FIELD, c->disk_volume, true) ||
		    le64_get(d + MIG_NAME_FIELD + 8))
			return -EBADMSG;
		if (!c->disk_bytes || c->disk_bytes % MIG_DISK_BLOCK)
			return -EBADMSG;
		if (c->disk_bytes > MIG_MAX_DISK_BYTES)
			return -E2BIG;
		if (c->disk_has_base) {
			d += MIG_CONFIG_DISK_LEN;
			if (get_padded(d, MIG_NAME_FIELD, c->disk_base_name, true))
				return -EBADMSG;
			memcpy(c->disk_base_sha256, d + MIG_NAME_FIELD, 32);
		}
	}
	return 0;
}

int mig_record_put_text(struct mig_stream_out *o, uint32_t type, uint32_t code, const char *text)
{
	uint32_t n = (uint32_t)strnlen(text, MIG_MAX_TEXT);
	uint8_t *p = mig_stream_out_begin(o, type, MIG_TEXT_HDR_LEN + n);

	if (!p)
		return -ENOSPC;
	le32_put(p, code);
	le32_put(p + 4, 0);
	memcpy(p + MIG_TEXT_HDR_LEN, text, n);
	mig_stream_out_commit(o, MIG_TEXT_HDR_LEN + n);
	return 0;
}

int mig_record_get_text(const struct mig_stream_rec *r, struct mig_text *t)
{
	if (r->len < MIG_TEXT_HDR_LEN || r->len > MIG_TEXT_HDR_LEN + MIG_MAX_TEXT)
		return -EBADMSG;
	t->code = le32_get(r->payload);
	uint32_t n = r->len - MIG_TEXT_HDR_LEN;
	/* The text goes to a console: nothing unprintable gets through. */
	for (uint32_t i = 0; i < n; i++) {
		uint8_t c = r->payload[MIG_TEXT_HDR_LEN + i];
		t->text[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	t->text[n] = 0;
	return 0;
}

int mig_record_put_eor(struct mig_stream_out *o, const struct mig_eor *e)
{
	uint8_t p[MIG_EOR_LEN];

	le32_put(p, e->round);
	le32_put(p + 4, e->flags);
	le64_put(p + 8, e->pages);
	return mig_stream_out_put(o, MIG_REC_END_OF_ROUND, p, sizeof(p));
}

int mig_record_get_eor(const struct mig_stream_rec *r, struct mig_eor *e)
{
	if (r->len != MIG_EOR_LEN)
		return -EBADMSG;
	e->round = le32_get(r->payload);
	e->flags = le32_get(r->payload + 4);
	e->pages = le64_get(r->payload + 8);
	return e->flags & ~MIG_EOR_FINAL ? -EBADMSG : 0;
}

int mig_record_put_end(struct mig_stream_out *o, const struct mig_end *e)
{
	uint8_t p[MIG_END_LEN];

	le32_put(p, e->rounds);
	le32_put(p + 4, 0);
	le64_put(p + 8, e->pages);
	le64_put(p + 16, e->sum_a);
	le64_put(p + 24, e->sum_b);
	return mig_stream_out_put(o, MIG_REC_END, p, sizeof(p));
}

int mig_record_get_end(const struct mig_stream_rec *r, struct mig_end *e)
{
	if (r->len != MIG_END_LEN)
		return -EBADMSG;
	e->rounds = le32_get(r->payload);
	e->pages = le64_get(r->payload + 8);
	e->sum_a = le64_get(r->payload + 16);
	e->sum_b = le64_get(r->payload + 24);
	return 0;
}

int mig_record_put_handoff(struct mig_stream_out *o, uint64_t resume_us)
{
	uint8_t p[MIG_HANDOFF_LEN];

	le64_put(p, resume_us);
	return mig_stream_out_put(o, MIG_REC_HANDOFF_DONE, p, sizeof(p));
}

int mig_record_get_handoff(const struct mig_stream_rec *r, uint64_t *resume_us)
{
	if (r->len != MIG_HANDOFF_LEN)
		return -EBADMSG;
	*resume_us = le64_get(r->payload);
	return 0;
}

int mig_record_put_held(struct mig_stream_out *o, mig_held_frame_fn frame, void *ctx,
			uint32_t *count)
{
	uint8_t *p = mig_stream_out_begin(o, MIG_REC_HELD_FRAMES, MIG_HELD_MAX_LEN);
	size_t off = MIG_HELD_HDR_LEN;
	const uint8_t *f;
	size_t len;
	uint32_t n = 0;

	if (!p)
		return -ENOSPC;
	while (n < MIG_HELD_MAX_FRAMES && frame && !frame(ctx, n, &f, &len)) {
		if (len < MIG_FRAME_MIN || len > MIG_FRAME_MAX)
			break; /* never put what a receiver refuses */
		le16_put(p + off, (uint16_t)len);
		memcpy(p + off + 2, f, len);
		off += 2 + len;
		n++;
	}
	le32_put(p, n);
	le32_put(p + 4, 0);
	mig_stream_out_commit(o, (uint32_t)off);
	*count = n;
	return 0;
}

int mig_record_held_begin(const struct mig_stream_rec *r, struct mig_held_iter *it)
{
	if (r->len < MIG_HELD_HDR_LEN)
		return -EBADMSG;
	uint32_t n = le32_get(r->payload);
	if (n > MIG_HELD_MAX_FRAMES || le32_get(r->payload + 4))
		return -EBADMSG;
	size_t off = MIG_HELD_HDR_LEN;
	for (uint32_t i = 0; i < n; i++) {
		if (r->len - off < 2)
			return -EBADMSG;
		uint16_t len = le16_get(r->payload + off);
		if (len < MIG_FRAME_MIN || len > MIG_FRAME_MAX || r->len - off - 2 < len)
			return -EBADMSG;
		off += 2u + len;
	}
	if (off != r->len)
		return -EBADMSG;
	*it = (struct mig_held_iter){.p = r->payload + MIG_HELD_HDR_LEN, .left = n};
	return 0;
}

bool mig_record_held_next(struct mig_held_iter *it, const uint8_t **frame, size_t *len)
{
	if (!it->left)
		return false;
	*len = le16_get(it->p);
	*frame = it->p + 2;
	it->p += 2 + *len;
	it->left--;
	return true;
}

uint8_t *mig_record_blob_begin(struct mig_stream_out *o, uint32_t type, uint32_t index)
{
	uint8_t *p = mig_stream_out_begin(o, type, MIG_BLOB_HDR_LEN + MIG_MAX_BLOB);

	if (!p)
		return NULL;
	le32_put(p, index);
	return p + MIG_BLOB_HDR_LEN;
}

void mig_record_blob_commit(struct mig_stream_out *o, uint32_t len)
{
	le32_put(o->buf + o->open + MIG_REC_HDR_LEN + 4, len);
	mig_stream_out_commit(o, MIG_BLOB_HDR_LEN + len);
}

int mig_record_get_blob(const struct mig_stream_rec *r, struct mig_blob *b)
{
	if (r->len < MIG_BLOB_HDR_LEN)
		return -EBADMSG;
	b->index = le32_get(r->payload);
	b->len = le32_get(r->payload + 4);
	if (b->len > MIG_MAX_BLOB)
		return -E2BIG;
	if (r->len != MIG_BLOB_HDR_LEN + b->len)
		return -EBADMSG;
	b->data = r->payload + MIG_BLOB_HDR_LEN;
	return 0;
}

int mig_record_batch_begin(struct mig_stream_out *o, struct mig_batch *b)
{
	return mig_record_blocks_begin(o, b, MIG_REC_PAGE_DATA);
}

int mig_record_blocks_begin(struct mig_stream_out *o, struct mig_batch *b, uint32_t type)
{
	b->payload = mig_stream_out_begin(o, type, MIG_MAX_RECORD_LEN);
	if (!b->payload)
		return -ENOSPC;
	b->type = type;
	b->count = 0;
	b->len = MIG_BATCH_HDR_LEN;
	return 0;
}

const uint8_t *mig_record_batch_add(struct mig_batch *b, uint64_t gfn, const void *data)
{
	uint8_t *e = b->payload + b->len;

	le64_put(e, gfn);
	le32_put(e + 8, data ? 0 : MIG_PAGE_ZERO);
	le32_put(e + 12, 0);
	b->len += MIG_PAGE_ENTRY_LEN;
	b->count++;
	if (!data)
		return NULL;
	memcpy(e + MIG_PAGE_ENTRY_LEN, data, MIG_PAGE_SIZE);
	b->len += MIG_PAGE_SIZE;
	return e + MIG_PAGE_ENTRY_LEN;
}

void mig_record_batch_commit(struct mig_stream_out *o, struct mig_batch *b)
{
	le32_put(b->payload, b->count);
	le32_put(b->payload + 4, 0);
	mig_stream_out_commit(o, b->len);
}

/* A batch record's entry count (PAGE_DATA, PAGE_DELTA): 1 to
 * MIG_MAX_BATCH_PAGES, in a payload of at least min_len bytes. */
static int batch_count(const struct mig_stream_rec *r, size_t min_len)
{
	if (r->len < min_len)
		return -EBADMSG;
	uint32_t count = le32_get(r->payload);
	if (count > MIG_MAX_BATCH_PAGES)
		return -E2BIG;
	return count ? (int)count : -EBADMSG;
}

int mig_record_pages_begin(const struct mig_stream_rec *r, uint64_t npages,
			   struct mig_page_iter *it)
{
	const uint8_t *p = r->payload + MIG_BATCH_HDR_LEN, *end = r->payload + r->len;
	int count = batch_count(r, BATCH_MIN);

	if (count < 0)
		return count;
	for (int i = 0; i < count; i++) {
		if ((size_t)(end - p) < MIG_PAGE_ENTRY_LEN)
			return -EBADMSG;
		uint64_t gfn = le64_get(p);
		uint32_t flags = le32_get(p + 8);
		if (gfn >= npages || (flags & ~MIG_PAGE_ZERO))
			return -EBADMSG;
		p += MIG_PAGE_ENTRY_LEN;
		if (!(flags & MIG_PAGE_ZERO)) {
			if ((size_t)(end - p) < MIG_PAGE_SIZE)
				return -EBADMSG;
			p += MIG_PAGE_SIZE;
		}
	}
	if (p != end)
		return -EBADMSG;
	it->p = r->payload + MIG_BATCH_HDR_LEN;
	it->end = end;
	return count;
}

void mig_record_pages_next(struct mig_page_iter *it, uint64_t *gfn, const uint8_t **data)
{
	*gfn = le64_get(it->p);
	bool zero = le32_get(it->p + 8) & MIG_PAGE_ZERO;
	it->p += MIG_PAGE_ENTRY_LEN;
	*data = zero ? NULL : it->p;
	if (!zero)
		it->p += MIG_PAGE_SIZE;
}

int mig_record_delta_begin(struct mig_stream_out *o, struct mig_batch *b)
{
	b->payload = mig_stream_out_begin(o, MIG_REC_PAGE_DELTA, MIG_MAX_DELTA_RECORD_LEN);
	if (!b->payload)
		return -ENOSPC;
	b->type = MIG_REC_PAGE_DELTA;
	b->count = 0;
	b->len = MIG_BATCH_HDR_LEN;
	return 0;
}

void mig_record_delta_add(struct mig_batch *b, uint64_t gfn, const void *enc, uint32_t len)
{
	uint8_t *e = b->payload + b->len;

	le64_put(e, gfn);
	le32_put(e + 8, len);
	le32_put(e + 12, 0);
	memcpy(e + MIG_DELTA_ENTRY_LEN, enc, len);
	b->len += MIG_DELTA_ENTRY_LEN + len;
	b->count++;
}

int mig_record_deltas_begin(const struct mig_stream_rec *r, uint64_t npages,
			    struct mig_page_iter *it)
{
	const uint8_t *p = r->payload + MIG_BATCH_HDR_LEN, *end = r->payload + r->len;
	int count = batch_count(r, MIG_BATCH_HDR_LEN + MIG_DELTA_ENTRY_LEN);

	if (count < 0)
		return count;
	for (int i = 0; i < count; i++) {
		if ((size_t)(end - p) < MIG_DELTA_ENTRY_LEN)
			return -EBADMSG;
		uint64_t gfn = le64_get(p);
		uint32_t len = le32_get(p + 8);
		if (len > MIG_DELTA_MAX)
			return -E2BIG;
		if (gfn >= npages)
			return -EBADMSG;
		p += MIG_DELTA_ENTRY_LEN;
		if ((size_t)(end - p) < len)
			return -EBADMSG;
		p += len;
	}
	if (p != end)
		return -EBADMSG;
	it->p = r->payload + MIG_BATCH_HDR_LEN;
	it->end = end;
	return count;
}

void mig_record_deltas_next(struct mig_page_iter *it, uint64_t *gfn, const uint8_t **enc,
			    uint32_t *len)
{
	*gfn = le64_get(it->p);
	*len = le32_get(it->p + 8);
	*enc = it->p + MIG_DELTA_ENTRY_LEN;
	it->p += MIG_DELTA_ENTRY_LEN + *len;
}

int mig_record_put_bitmap(struct mig_stream_out *o, const struct mig_disk_bitmap *b)
{
	uint64_t nbytes = (b->nbits + 7) / 8;

	if (!b->nbits || MIG_BITMAP_HDR_LEN + nbytes > MIG_MAX_BITMAP_LEN)
		return -E2BIG;
	uint32_t len = (uint32_t)(MIG_BITMAP_HDR_LEN + nbytes);
	uint8_t *p = mig_stream_out_begin(o, MIG_REC_DISK_BITMAP, len);
	if (!p)
		return -ENOSPC;
	memset(p, 0, MIG_BITMAP_HDR_LEN);
	put_padded(p, MIG_NAME_FIELD, b->name);
	le32_put(p + 32, b->granularity);
	le32_put(p + 36, (b->persistent ? MIG_BITMAP_PERSISTENT : 0) |
				 (b->inconsistent ? MIG_BITMAP_INCONSISTENT : 0));
	le64_put(p + 40, b->nbits);
	memcpy(p + MIG_BITMAP_HDR_LEN, b->bits, nbytes);
	mig_stream_out_commit(o, len);
	return 0;
}

int mig_record_get_bitmap(const struct mig_stream_rec *r, uint64_t disk_bytes,
			  struct mig_disk_bitmap *b)
{
	const uint8_t *p = r->payload;

	if (r->len < MIG_BITMAP_HDR_LEN)
		return -EBADMSG;
	memset(b, 0, sizeof(*b));
	if (get_padded(p, MIG_NAME_FIELD, b->name, true))
		return -EBADMSG;
	b->granularity = le32_get(p + 32);
	uint32_t flags = le32_get(p + 36);
	b->nbits = le64_get(p + 40);
	uint32_t g = b->granularity;
	if (g < MIG_BITMAP_GRAN_MIN || g > MIG_BITMAP_GRAN_MAX || (g & (g - 1)) ||
	    (flags & ~(MIG_BITMAP_PERSISTENT | MIG_BITMAP_INCONSISTENT)))
		return -EBADMSG;
	if (!disk_bytes || b->nbits != (disk_bytes + g - 1) / g)
		return -EBADMSG;
	uint64_t nbytes = (b->nbits + 7) / 8;
	if (r->len != MIG_BITMAP_HDR_LEN + nbytes)
		return -EBADMSG;
	b->bits = p + MIG_BITMAP_HDR_LEN;
	if (b->nbits % 8 && (b->bits[nbytes - 1] >> (b->nbits % 8)))
		return -EBADMSG; /* a bit past the disk's end */
	b->persistent = flags & MIG_BITMAP_PERSISTENT;
	b->inconsistent = flags & MIG_BITMAP_INCONSISTENT;
	return 0;
}

static const struct {
	uint32_t code;
	int err;
	const char *name;
} codes[] = {
	{MIG_CODE_PROTOCOL, -EPROTO, "protocol error"},
	{MIG_CODE_VERSION, -EPROTONOSUPPORT, "unsupported version"},
	{MIG_CODE_AUTH, -EACCES, "authentication failed"},
	{MIG_CODE_CPUID, -ENOTSUP, "CPUID baseline not supported"},
	{MIG_CODE_NO_MEMORY, -ENOMEM, "not enough memory"},
	{MIG_CODE_IN_USE, -EEXIST, "name or MAC in use"},
	{MIG_CODE_LIMIT, -E2BIG, "over a limit"},
	{MIG_CODE_GUEST, -EIO, "guest operation failed"},
	{MIG_CODE_CANCELLED, -ECANCELED, "cancelled"},
	{MIG_CODE_TIMEOUT, -ETIMEDOUT, "timeout"},
	{MIG_CODE_CHECKSUM, -EBADMSG, "checksum or count mismatch"},
	{MIG_CODE_UNSUPPORTED, -EOPNOTSUPP, "unsupported record"},
	{MIG_CODE_NO_SPACE, -ENOSPC, "no space for the disk"},
	{MIG_CODE_NO_BASE, -ENOENT, "the disk's base is missing"},
};

uint32_t mig_record_code_of(int err)
{
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].err == err)
			return codes[i].code;
	return MIG_CODE_GUEST;
}

int mig_record_err_of(uint32_t code)
{
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == code)
			return codes[i].err;
	return -EPROTO;
}

const char *mig_record_code_name(uint32_t code)
{
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == code)
			return codes[i].name;
	return "unknown code";
}
