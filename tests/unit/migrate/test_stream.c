/* The stream framing: round trips through the incremental decoder, the
 * checksum, and every rejection of the framing the spec asks for. The
 * payloads' own checks: test_record.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "migrate/format.h"
#include "migrate/le.h"
#include "migrate/record.h"
#include "migrate/stream.h"
#include "tests/unit/migrate/fake.h"

#define OUT_CAP (2u << 20)

struct rig {
	uint8_t *out_mem;
	struct mig_stream_out out;
	uint8_t *in_mem;
	struct mig_stream_in in;
};

static struct rig *rig_new(bool from_source)
{
	struct rig *r = calloc(1, sizeof(*r));

	r->out_mem = malloc(OUT_CAP);
	r->in_mem = malloc(MIG_MAX_RECORD_LEN);
	mig_stream_out_init(&r->out, r->out_mem, OUT_CAP);
	assert_int_equal(
		mig_stream_in_init(&r->in,
				   from_source ? mig_record_src_limits : mig_record_dst_limits,
				   from_source ? mig_record_src_nlimits : mig_record_dst_nlimits,
				   r->in_mem, MIG_MAX_RECORD_LEN),
		0);
	return r;
}

static void rig_free(struct rig *r)
{
	free(r->out_mem);
	free(r->in_mem);
	free(r);
}

/* Feed len bytes in fragments of frag bytes, each copied into its own
 * exactly-sized allocation so ASan catches any read past it. Returns the
 * first non-zero feed result; *at is how far the stream got. */
static int feed(struct rig *r, const uint8_t *data, size_t len, size_t frag, size_t *at,
		struct mig_stream_rec *rec)
{
	while (*at < len) {
		size_t n = len - *at < frag ? len - *at : frag, used;
		uint8_t *piece = malloc(n);
		memcpy(piece, data + *at, n);
		int ret = mig_stream_in_feed(&r->in, piece, n, &used, rec);
		free(piece);
		assert_true(used <= n);
		*at += used;
		if (ret)
			return ret;
		assert_int_equal(used, n);
	}
	return 0;
}

static void put_raw(struct rig *r, uint32_t type, uint32_t len, const void *payload)
{
	uint8_t *p = mig_stream_out_begin(&r->out, type, len);
	assert_non_null(p);
	if (len)
		memcpy(p, payload, len);
	mig_stream_out_commit(&r->out, len);
}

/* A source stream with one record of every kind it may carry. */
static size_t build_source_stream(struct rig *r, uint8_t page[MIG_PAGE_SIZE])
{
	struct mig_hello h = {.caps = 5, .page_shift = 12, .software = "tern 0.1"};
	struct mig_guest_config c;
	struct mig_batch b;

	for (unsigned i = 0; i < MIG_PAGE_SIZE; i++)
		page[i] = (uint8_t)(i * 3);
	memset(h.nonce, 0xab, sizeof(h.nonce));
	fake_config_fill(&c);
	assert_int_equal(mig_stream_out_header(&r->out), 0);
	assert_int_equal(mig_record_put_hello(&r->out, &h), 0);
	assert_int_equal(mig_stream_out_put(&r->out, MIG_REC_AUTH, page, MIG_PROOF_LEN), 0);
	assert_int_equal(mig_record_put_config(&r->out, &c), 0);
	assert_int_equal(mig_record_batch_begin(&r->out, &b), 0);
	mig_record_batch_add(&b, 3, page);
	mig_record_batch_add(&b, 9, NULL);
	mig_record_batch_add(&b, 16383, page);
	mig_record_batch_commit(&r->out, &b);
	assert_int_equal(mig_record_delta_begin(&r->out, &b), 0);
	mig_record_delta_add(&b, 3, "\x05\x02xy", 4);
	mig_record_delta_add(&b, 16383, "", 0);
	mig_record_delta_add(&b, 4, "\x00\x01z", 3);
	mig_record_batch_commit(&r->out, &b);
	struct mig_eor e = {0, MIG_EOR_FINAL, 6};
	assert_int_equal(mig_record_put_eor(&r->out, &e), 0);
	uint8_t *blob = mig_record_blob_begin(&r->out, MIG_REC_VCPU_STATE, 1);
	memcpy(blob, "vcpu-state", 10);
	mig_record_blob_commit(&r->out, 10);
	blob = mig_record_blob_begin(&r->out, MIG_REC_DEVICE_STATE, 2);
	memcpy(blob, "dev", 3);
	mig_record_blob_commit(&r->out, 3);
	struct mig_end end = {1, 6, r->out.sum.a, r->out.sum.b};
	assert_int_equal(mig_record_put_end(&r->out, &end), 0);
	assert_int_equal(mig_record_put_text(&r->out, MIG_REC_ERROR, MIG_CODE_CANCELLED, "bye"), 0);
	return mig_stream_out_pending(&r->out);
}

static void check_source_stream(size_t frag)
{
	struct rig *r = rig_new(true);
	uint8_t page[MIG_PAGE_SIZE];
	size_t len = build_source_stream(r, page), at = 0;
	const uint8_t *data = mig_stream_out_data(&r->out);
	static const uint32_t want[] = {
		MIG_REC_HELLO,	    MIG_REC_AUTH,	  MIG_REC_GUEST_CONFIG,
		MIG_REC_PAGE_DATA,  MIG_REC_PAGE_DELTA,	  MIG_REC_END_OF_ROUND,
		MIG_REC_VCPU_STATE, MIG_REC_DEVICE_STATE, MIG_REC_END,
		MIG_REC_ERROR,
	};
	struct mig_stream_rec rec;

	assert_int_equal(len % 8, 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(feed(r, data, len, frag, &at, &rec), 1);
		assert_int_equal(rec.type, want[i]);
		switch (rec.type) {
		case MIG_REC_HELLO: {
			struct mig_hello h;
			assert_int_equal(mig_record_get_hello(&rec, &h), 0);
			assert_int_equal(h.caps, 5);
			assert_int_equal(h.page_shift, 12);
			assert_string_equal(h.software, "tern 0.1");
			assert_int_equal(h.nonce[31], 0xab);
			break;
		}
		case MIG_REC_GUEST_CONFIG: {
			struct mig_guest_config c, want_c;
			fake_config_fill(&want_c);
			assert_int_equal(mig_record_get_config(&rec, &c), 0);
			assert_memory_equal(&c, &want_c, sizeof(c));
			break;
		}
		case MIG_REC_PAGE_DATA: {
			struct mig_page_iter it;
			uint64_t gfn;
			const uint8_t *d;
			assert_int_equal(mig_record_pages_begin(&rec, 16384, &it), 3);
			mig_record_pages_next(&it, &gfn, &d);
			assert_int_equal(gfn, 3);
			assert_memory_equal(d, page, MIG_PAGE_SIZE);
			mig_record_pages_next(&it, &gfn, &d);
			assert_int_equal(gfn, 9);
			assert_null(d);
			mig_record_pages_next(&it, &gfn, &d);
			assert_int_equal(gfn, 16383);
			assert_memory_equal(d, page, MIG_PAGE_SIZE);
			break;
		}
		case MIG_REC_PAGE_DELTA: {
			struct mig_page_iter it;
			uint64_t gfn;
			const uint8_t *d;
			uint32_t n;
			assert_int_equal(rec.len, 8 + 16 + 4 + 16 + 16 + 3);
			assert_int_equal(mig_record_deltas_begin(&rec, 16384, &it), 3);
			mig_record_deltas_next(&it, &gfn, &d, &n);
			assert_int_equal(gfn, 3);
			assert_int_equal(n, 4);
			assert_memory_equal(d, "\x05\x02xy", 4);
			mig_record_deltas_next(&it, &gfn, &d, &n);
			assert_int_equal(gfn, 16383);
			assert_int_equal(n, 0);
			mig_record_deltas_next(&it, &gfn, &d, &n);
			assert_int_equal(gfn, 4);
			assert_int_equal(n, 3);
			assert_memory_equal(d, "\x00\x01z", 3);
			break;
		}
		case MIG_REC_END_OF_ROUND: {
			struct mig_eor e;
			assert_int_equal(mig_record_get_eor(&rec, &e), 0);
			assert_int_equal(e.flags, MIG_EOR_FINAL);
			assert_int_equal(e.pages, 6);
			break;
		}
		case MIG_REC_VCPU_STATE: {
			struct mig_blob b;
			assert_int_equal(mig_record_get_blob(&rec, &b), 0);
			assert_int_equal(b.index, 1);
			assert_int_equal(b.len, 10);
			assert_memory_equal(b.data, "vcpu-state", 10);
			break;
		}
		case MIG_REC_END: {
			struct mig_end e;
			assert_int_equal(mig_record_get_end(&rec, &e), 0);
			assert_int_equal(e.sum_a, rec.sum_before.a);
			assert_int_equal(e.sum_b, rec.sum_before.b);
			assert_int_equal(rec.sum_before.nbytes, 0);
			break;
		}
		case MIG_REC_ERROR: {
			struct mig_text t;
			assert_int_equal(mig_record_get_text(&rec, &t), 0);
			assert_int_equal(t.code, MIG_CODE_CANCELLED);
			assert_string_equal(t.text, "bye");
			break;
		}
		}
	}
	assert_int_equal(feed(r, data, len, frag, &at, &rec), 0);
	assert_int_equal(at, len);
	assert_int_equal(mig_stream_in_eof(&r->in), 0);
	rig_free(r);
}

static void test_roundtrip_fed_one_byte_at_a_time(void **state)
{
	(void)state;
	check_source_stream(1);
}

static void test_roundtrip_fed_in_odd_fragments(void **state)
{
	(void)state;
	check_source_stream(7);
	check_source_stream(4099);
	check_source_stream(1 << 20);
}

static void test_empty_record_is_delivered(void **state)
{
	struct rig *r = rig_new(false);
	struct mig_stream_rec rec;
	size_t at = 0;

	(void)state;
	mig_stream_out_header(&r->out);
	put_raw(r, MIG_REC_ACCEPT, 0, NULL);
	mig_record_put_handoff(&r->out, 1234);
	size_t len = mig_stream_out_pending(&r->out);
	const uint8_t *d = mig_stream_out_data(&r->out);
	assert_int_equal(feed(r, d, len, 1, &at, &rec), 1);
	assert_int_equal(rec.type, MIG_REC_ACCEPT);
	assert_int_equal(rec.len, 0);
	assert_int_equal(feed(r, d, len, 1, &at, &rec), 1);
	uint64_t us;
	assert_int_equal(mig_record_get_handoff(&rec, &us), 0);
	assert_int_equal(us, 1234);
	rig_free(r);
}

static int feed_header_then(struct rig *r, uint32_t magic_fix, uint32_t version, uint32_t flags)
{
	uint8_t h[16];
	struct mig_stream_rec rec;
	size_t used;

	memcpy(h, MIG_MAGIC, 8);
	h[0] ^= (uint8_t)magic_fix;
	le32_put(h + 8, version);
	le32_put(h + 12, flags);
	return mig_stream_in_feed(&r->in, h, sizeof(h), &used, &rec);
}

static void test_bad_magic_rejected(void **state)
{
	struct rig *r = rig_new(true);

	(void)state;
	assert_int_equal(feed_header_then(r, 1, MIG_VERSION, 0), -EPROTO);
	assert_string_equal(mig_stream_in_why(&r->in), "not a Tern migration stream (bad magic)");
	rig_free(r);
}

static void test_bad_version_rejected(void **state)
{
	struct rig *r = rig_new(true);

	(void)state;
	assert_int_equal(feed_header_then(r, 0, MIG_VERSION + 1, 0), -EPROTONOSUPPORT);
	assert_int_equal(r->in.version, MIG_VERSION + 1);
	assert_string_equal(mig_stream_in_why(&r->in),
			    "unsupported stream version 3 (this host speaks 2)");
	rig_free(r);
	/* a version 1 peer (before the LAPIC, I/O APIC and CMOS clock moved) */
	r = rig_new(true);
	assert_int_equal(feed_header_then(r, 0, 1, 0), -EPROTONOSUPPORT);
	assert_string_equal(mig_stream_in_why(&r->in),
			    "unsupported stream version 1 (this host speaks 2)");
	rig_free(r);
}

static void test_unknown_header_flag_rejected(void **state)
{
	struct rig *r = rig_new(true);

	(void)state;
	assert_int_equal(feed_header_then(r, 0, MIG_VERSION, 0x100), -EPROTONOSUPPORT);
	rig_free(r);
}

/* Only the 8-byte record header is given: the verdict must not need the
 * payload, so nothing of an oversize record is ever buffered. */
static int feed_record_header(struct rig *r, uint32_t type, uint32_t len)
{
	uint8_t h[8];
	struct mig_stream_rec rec;
	size_t used;

	assert_int_equal(feed_header_then(r, 0, MIG_VERSION, 0), 0);
	le32_put(h, type);
	le32_put(h + 4, len);
	return mig_stream_in_feed(&r->in, h, sizeof(h), &used, &rec);
}

static void test_oversize_length_rejected_before_buffering(void **state)
{
	struct rig *r = rig_new(true);

	(void)state;
	assert_int_equal(feed_record_header(r, MIG_REC_PAGE_DATA, MIG_MAX_RECORD_LEN + 1), -E2BIG);
	rig_free(r);
	r = rig_new(true);
	assert_int_equal(feed_record_header(r, MIG_REC_PAGE_DATA, UINT32_MAX), -E2BIG);
	rig_free(r);
	r = rig_new(true);
	assert_int_equal(feed_record_header(r, MIG_REC_HELLO, MIG_HELLO_LEN + 1), -E2BIG);
	rig_free(r);
	r = rig_new(true);
	assert_int_equal(feed_record_header(r, MIG_REC_VCPU_STATE, MIG_MAX_BLOB + 9), -E2BIG);
	rig_free(r);
	/* Optional records are skipped, but not without bound. */
	r = rig_new(true);
	assert_int_equal(feed_record_header(r, MIG_REC_OPTIONAL | 0x55, MIG_MAX_RECORD_LEN + 1),
			 -E2BIG);
	rig_free(r);
}

static void test_undersize_length_rejected(void **state)
{
	struct rig *r = rig_new(true);

	(void)state;
	assert_int_equal(feed_record_header(r, MIG_REC_AUTH, MIG_PROOF_LEN - 1), -EBADMSG);
	rig_free(r);
	r = rig_new(true);
	assert_int_equal(feed_record_header(r, MIG_REC_PAGE_DATA, 8), -EBADMSG);
	rig_free(r);
}

static void test_truncated_stream_detected(void **state)
{
	struct rig *r = rig_new(true);
	uint8_t page[MIG_PAGE_SIZE];
	struct mig_stream_rec rec;
	size_t at = 0;

	(void)state;
	size_t len = build_source_stream(r, page);
	const uint8_t *d = mig_stream_out_data(&r->out);
	/* Stop in the middle of GUEST_CONFIG. */
	assert_int_equal(feed(r, d, 16 + 88 + 40 + 50, 13, &at, &rec), 1);
	assert_int_equal(feed(r, d, 16 + 88 + 40 + 50, 13, &at, &rec), 1);
	assert_int_equal(feed(r, d, 16 + 88 + 40 + 50, 13, &at, &rec), 0);
	assert_int_equal(mig_stream_in_eof(&r->in), -EBADMSG);
	assert_string_equal(mig_stream_in_why(&r->in),
			    "stream truncated in the middle of a record");
	(void)len;
	rig_free(r);
	/* A stream cut inside its header is truncated too. */
	r = rig_new(true);
	size_t used;
	assert_int_equal(mig_stream_in_feed(&r->in, MIG_MAGIC, 5, &used, &rec), 0);
	assert_true(mig_stream_in_started(&r->in));
	assert_int_equal(mig_stream_in_eof(&r->in), -EBADMSG);
	rig_free(r);
}

static void test_unknown_mandatory_record_aborts(void **state)
{
	struct rig *r = rig_new(true);

	(void)state;
	assert_int_equal(feed_record_header(r, 0x77, 8), -EOPNOTSUPP);
	assert_int_equal(r->in.type, 0x77);
	rig_free(r);
	/* A destination record in the source stream is just as unknown. */
	r = rig_new(true);
	assert_int_equal(feed_record_header(r, MIG_REC_ACCEPT, 0), -EOPNOTSUPP);
	rig_free(r);
}

static void test_unknown_optional_record_skipped(void **state)
{
	struct rig *r = rig_new(true);
	uint8_t junk[5001];
	struct mig_hello h = {.page_shift = 12};
	struct mig_stream_rec rec;
	size_t at = 0;

	(void)state;
	memset(junk, 0xee, sizeof(junk));
	mig_stream_out_header(&r->out);
	put_raw(r, MIG_REC_OPTIONAL | 0x1234, sizeof(junk), junk);
	struct mig_stream_sum before = r->out.sum;
	mig_record_put_hello(&r->out, &h);
	size_t len = mig_stream_out_pending(&r->out);
	assert_int_equal(feed(r, mig_stream_out_data(&r->out), len, 333, &at, &rec), 1);
	assert_int_equal(rec.type, MIG_REC_HELLO);
	/* Skipped bytes still count in the checksum. */
	assert_memory_equal(&rec.sum_before, &before, sizeof(before));
	assert_int_equal(at, len);
	rig_free(r);
}

static void test_nonzero_padding_rejected(void **state)
{
	struct rig *r = rig_new(true);
	struct mig_stream_rec rec;
	size_t at = 0;

	(void)state;
	mig_stream_out_header(&r->out);
	mig_record_put_text(&r->out, MIG_REC_ERROR, 1, "abc"); /* 11 bytes, 5 of padding */
	uint8_t *d = (uint8_t *)mig_stream_out_data(&r->out);
	d[16 + 8 + 11 + 2] = 1;
	assert_int_equal(feed(r, d, mig_stream_out_pending(&r->out), 1, &at, &rec), -EBADMSG);
	rig_free(r);
}

static void test_errors_are_sticky(void **state)
{
	struct rig *r = rig_new(true);
	struct mig_stream_rec rec;
	size_t used;

	(void)state;
	assert_int_equal(feed_record_header(r, 0x77, 8), -EOPNOTSUPP);
	assert_int_equal(mig_stream_in_feed(&r->in, "x", 1, &used, &rec), -EOPNOTSUPP);
	assert_int_equal(used, 0);
	rig_free(r);
}

static void test_checksum_does_not_depend_on_fragments(void **state)
{
	uint8_t data[1003];
	struct mig_stream_sum whole, parts;

	(void)state;
	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 37 + 1);
	mig_stream_sum_init(&whole);
	mig_stream_sum_update(&whole, data, sizeof(data));
	mig_stream_sum_init(&parts);
	for (size_t at = 0, n = 1; at < sizeof(data); at += n, n = n % 7 + 1)
		mig_stream_sum_update(&parts, data + at,
				      at + n > sizeof(data) ? sizeof(data) - at : n);
	assert_memory_equal(&whole, &parts, sizeof(whole));
	/* Swapping two words changes it. */
	uint32_t tmp;
	memcpy(&tmp, data, 4);
	memcpy(data, data + 4, 4);
	memcpy(data + 4, &tmp, 4);
	mig_stream_sum_init(&parts);
	mig_stream_sum_update(&parts, data, sizeof(data));
	assert_true(parts.a == whole.a && parts.b != whole.b);
}

/* The spec's definition, one little-endian word at a time, against the
 * implementation's four-word steps: whole buffers of every length up to a
 * page and more, and the same bytes fed in odd fragments. */
static void test_checksum_is_the_specs_word_by_word_sum(void **state)
{
	static uint8_t data[4096 + 67];
	uint32_t x = 12345;

	(void)state;
	for (unsigned i = 0; i < sizeof(data); i++) {
		x = x * 1103515245u + 12345u;
		data[i] = (uint8_t)(x >> 16);
	}
	memset(data + 100, 0xff, 64); /* carries into the high half of a */
	for (size_t len = 0; len <= sizeof(data); len += len < 64 ? 1 : 61) {
		uint64_t a = 0, b = 0;
		for (size_t i = 0; i + 4 <= len; i += 4) {
			a += (uint32_t)data[i] | (uint32_t)data[i + 1] << 8 |
			     (uint32_t)data[i + 2] << 16 | (uint32_t)data[i + 3] << 24;
			b += a;
		}
		struct mig_stream_sum s, f;
		mig_stream_sum_init(&s);
		mig_stream_sum_update(&s, data, len);
		assert_true(s.a == a && s.b == b && s.nbytes == len % 4);
		mig_stream_sum_init(&f);
		for (size_t at = 0, n = 3; at < len; at += n, n = n * 2 + 1)
			mig_stream_sum_update(&f, data + at, at + n > len ? len - at : n);
		assert_memory_equal(&s, &f, sizeof(s));
	}
}

static void test_encoder_reports_full_buffer(void **state)
{
	uint8_t mem[64], proof[32] = {0};
	struct mig_stream_out o;

	(void)state;
	mig_stream_out_init(&o, mem, sizeof(mem));
	assert_int_equal(mig_stream_out_header(&o), 0);
	assert_int_equal(mig_stream_out_put(&o, MIG_REC_AUTH, proof, 32), 0);
	assert_int_equal(mig_stream_out_put(&o, MIG_REC_AUTH, proof, 32), -ENOSPC);
	mig_stream_out_consume(&o, 16);
	/* The drained header makes room again. */
	assert_int_equal(mig_stream_out_put(&o, MIG_REC_ACCEPT, NULL, 0), 0);
	assert_int_equal(mig_stream_out_pending(&o), 48);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_fed_one_byte_at_a_time),
		cmocka_unit_test(test_roundtrip_fed_in_odd_fragments),
		cmocka_unit_test(test_empty_record_is_delivered),
		cmocka_unit_test(test_bad_magic_rejected),
		cmocka_unit_test(test_bad_version_rejected),
		cmocka_unit_test(test_unknown_header_flag_rejected),
		cmocka_unit_test(test_oversize_length_rejected_before_buffering),
		cmocka_unit_test(test_undersize_length_rejected),
		cmocka_unit_test(test_truncated_stream_detected),
		cmocka_unit_test(test_unknown_mandatory_record_aborts),
		cmocka_unit_test(test_unknown_optional_record_skipped),
		cmocka_unit_test(test_nonzero_padding_rejected),
		cmocka_unit_test(test_errors_are_sticky),
		cmocka_unit_test(test_checksum_does_not_depend_on_fragments),
		cmocka_unit_test(test_checksum_is_the_specs_word_by_word_sum),
		cmocka_unit_test(test_encoder_reports_full_buffer),
	};
	return cmocka_run_group_tests_name("migrate/stream", tests, NULL, NULL);
}
