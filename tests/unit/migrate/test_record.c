/* The record payloads (migrate/record.c) as the receiver reads them:
 * PAGE_DATA and DELTA batches, GUEST_CONFIG, blobs and error texts, each
 * malformed in every way the spec names and refused. The framing around
 * them: test_stream.c. */
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

/* A PAGE_DATA payload by hand, to say things the encoder never would. */
static struct mig_stream_rec batch_rec(uint8_t *buf, uint32_t count, uint32_t entries, uint64_t gfn,
				       uint32_t flags, uint32_t extra)
{
	uint32_t len = 8;

	le32_put(buf, count);
	le32_put(buf + 4, 0);
	for (uint32_t i = 0; i < entries; i++) {
		le64_put(buf + len, gfn + i);
		le32_put(buf + len + 8, flags);
		le32_put(buf + len + 12, 0);
		len += 16 + (flags & MIG_PAGE_ZERO ? 0 : MIG_PAGE_SIZE);
	}
	return (struct mig_stream_rec){
		.type = MIG_REC_PAGE_DATA, .len = len + extra, .payload = buf};
}

static void test_batch_rejections(void **state)
{
	uint8_t *buf = calloc(1, MIG_MAX_RECORD_LEN + 4096);
	struct mig_page_iter it;
	struct mig_stream_rec rec;

	(void)state;
	rec = batch_rec(buf, 2, 2, 0, MIG_PAGE_ZERO, 0);
	assert_int_equal(mig_record_pages_begin(&rec, 100, &it), 2);
	/* More pages than a batch may hold. */
	rec = batch_rec(buf, MIG_MAX_BATCH_PAGES + 1, MIG_MAX_BATCH_PAGES + 1, 0, MIG_PAGE_ZERO, 0);
	assert_int_equal(mig_record_pages_begin(&rec, 1000, &it), -E2BIG);
	rec = batch_rec(buf, 0, 0, 0, 0, 16);
	assert_int_equal(mig_record_pages_begin(&rec, 100, &it), -EBADMSG);
	/* The count claims more entries than the length holds. */
	rec = batch_rec(buf, 3, 2, 0, 0, 0);
	assert_int_equal(mig_record_pages_begin(&rec, 100, &it), -EBADMSG);
	/* Bytes left over after the last entry. */
	rec = batch_rec(buf, 2, 2, 0, MIG_PAGE_ZERO, 8);
	assert_int_equal(mig_record_pages_begin(&rec, 100, &it), -EBADMSG);
	/* A gfn beyond the guest's RAM. */
	rec = batch_rec(buf, 2, 2, 99, MIG_PAGE_ZERO, 0);
	assert_int_equal(mig_record_pages_begin(&rec, 100, &it), -EBADMSG);
	/* A flag nobody defined. */
	rec = batch_rec(buf, 1, 1, 0, MIG_PAGE_ZERO | 4, 0);
	assert_int_equal(mig_record_pages_begin(&rec, 100, &it), -EBADMSG);
	free(buf);
}

/* A PAGE_DELTA payload by hand: count, then entries of len bytes each. */
static struct mig_stream_rec delta_rec(uint8_t *buf, uint32_t count, uint32_t entries, uint64_t gfn,
				       uint32_t len, uint32_t extra)
{
	uint32_t at = 8;

	le32_put(buf, count);
	le32_put(buf + 4, 0);
	for (uint32_t i = 0; i < entries; i++) {
		le64_put(buf + at, gfn + i);
		le32_put(buf + at + 8, len);
		le32_put(buf + at + 12, 0);
		at += 16 + len;
	}
	return (struct mig_stream_rec){
		.type = MIG_REC_PAGE_DELTA, .len = at + extra, .payload = buf};
}

static void test_delta_batch_rejections(void **state)
{
	uint8_t *buf = calloc(1, MIG_MAX_RECORD_LEN + 4096);
	struct mig_page_iter it;
	struct mig_stream_rec rec;

	(void)state;
	rec = delta_rec(buf, 2, 2, 0, 5, 0);
	assert_int_equal(mig_record_deltas_begin(&rec, 100, &it), 2);
	/* The largest batch there is. */
	rec = delta_rec(buf, MIG_MAX_BATCH_PAGES, MIG_MAX_BATCH_PAGES, 0, MIG_DELTA_MAX, 0);
	assert_int_equal(rec.len, MIG_MAX_DELTA_RECORD_LEN);
	assert_int_equal(mig_record_deltas_begin(&rec, 1000, &it), MIG_MAX_BATCH_PAGES);
	/* More entries than a batch may hold. */
	rec = delta_rec(buf, MIG_MAX_BATCH_PAGES + 1, MIG_MAX_BATCH_PAGES + 1, 0, 0, 0);
	assert_int_equal(mig_record_deltas_begin(&rec, 1000, &it), -E2BIG);
	rec = delta_rec(buf, 0, 0, 0, 0, 16);
	assert_int_equal(mig_record_deltas_begin(&rec, 100, &it), -EBADMSG);
	/* An encoding longer than any delta may be. */
	rec = delta_rec(buf, 1, 1, 0, MIG_DELTA_MAX + 1, 0);
	assert_int_equal(mig_record_deltas_begin(&rec, 100, &it), -E2BIG);
	/* The count claims more entries than the length holds. */
	rec = delta_rec(buf, 3, 2, 0, 5, 0);
	assert_int_equal(mig_record_deltas_begin(&rec, 100, &it), -EBADMSG);
	/* An entry's len runs past the record. */
	rec = delta_rec(buf, 2, 2, 0, 5, 0);
	le32_put(buf + 8 + 21 + 8, 6);
	assert_int_equal(mig_record_deltas_begin(&rec, 100, &it), -EBADMSG);
	/* Bytes left over after the last entry. */
	rec = delta_rec(buf, 2, 2, 0, 5, 3);
	assert_int_equal(mig_record_deltas_begin(&rec, 100, &it), -EBADMSG);
	/* A gfn beyond the guest's RAM. */
	rec = delta_rec(buf, 2, 2, 99, 5, 0);
	assert_int_equal(mig_record_deltas_begin(&rec, 100, &it), -EBADMSG);
	free(buf);
}

static int config_after(void (*spoil)(struct mig_guest_config *c, uint8_t *p, uint32_t *len))
{
	static uint8_t mem[MIG_MAX_RECORD_LEN];
	struct mig_stream_out out;
	struct mig_guest_config c;
	static struct mig_guest_config got;

	mig_stream_out_init(&out, mem, sizeof(mem));
	fake_config_fill(&c);
	mig_record_put_config(&out, &c);
	uint8_t *p = (uint8_t *)mig_stream_out_data(&out) + 8;
	uint32_t len = le32_get(p - 4);
	if (spoil)
		spoil(&c, p, &len);
	struct mig_stream_rec rec = {.type = MIG_REC_GUEST_CONFIG, .len = len, .payload = p};
	return mig_record_get_config(&rec, &got);
}

static void bad_name(struct mig_guest_config *c, uint8_t *p, uint32_t *len)
{
	(void)c, (void)len;
	p[40 + 3] = ' ';
}
static void empty_name(struct mig_guest_config *c, uint8_t *p, uint32_t *len)
{
	(void)c, (void)len;
	memset(p + 40, 0, 32);
}
static void junk_after_name(struct mig_guest_config *c, uint8_t *p, uint32_t *len)
{
	(void)c, (void)len;
	p[40 + 30] = 'x';
}
static void zero_mac(struct mig_guest_config *c, uint8_t *p, uint32_t *len)
{
	(void)c, (void)len;
	memset(p + 16, 0, 6);
}
static void multicast_mac(struct mig_guest_config *c, uint8_t *p, uint32_t *len)
{
	(void)c, (void)len;
	p[16] |= 1;
}
static void odd_ram(struct mig_guest_config *c, uint8_t *p, uint32_t *len)
{
	(void)c, (void)len;
	le64_put(p, 4097);
}
static void huge_ram(struct mig_guest_config *c, uint8_t *p, uint32_t *len)
{
	(void)c, (void)len;
	le64_put(p, MIG_MAX_RAM_BYTES + 4096);
}
static void no_vcpu(struct mig_guest_config *c, uint8_t *p, uint32_t *len)
{
	(void)c, (void)len;
	le32_put(p + 8, 0);
}
static void many_vcpus(struct mig_guest_config *c, uint8_t *p, uint32_t *len)
{
	(void)c, (void)len;
	le32_put(p + 8, MIG_MAX_VCPUS + 1);
}
static void many_devices(struct mig_guest_config *c, uint8_t *p, uint32_t *len)
{
	(void)c, (void)len;
	le32_put(p + 12, MIG_MAX_DEVICES + 1);
}
static void twin_devices(struct mig_guest_config *c, uint8_t *p, uint32_t *len)
{
	(void)c, (void)len;
	le32_put(p + 72 + 32, 1);
}
static void short_by_one(struct mig_guest_config *c, uint8_t *p, uint32_t *len)
{
	(void)c, (void)p;
	(*len)--;
}
static void big_cpuid(struct mig_guest_config *c, uint8_t *p, uint32_t *len)
{
	(void)c, (void)len;
	le32_put(p + 32, MIG_MAX_CPUID_BLOB + 1);
}
static void unknown_flag(struct mig_guest_config *c, uint8_t *p, uint32_t *len)
{
	(void)c, (void)len;
	p[22] |= 4; /* bits 0 (ipv4) and 1 (paused) are defined */
}

static void test_config_rejections(void **state)
{
	(void)state;
	assert_int_equal(config_after(NULL), 0);
	assert_int_equal(config_after(bad_name), -EBADMSG);
	assert_int_equal(config_after(empty_name), -EBADMSG);
	assert_int_equal(config_after(junk_after_name), -EBADMSG);
	assert_int_equal(config_after(zero_mac), -EBADMSG);
	assert_int_equal(config_after(multicast_mac), -EBADMSG);
	assert_int_equal(config_after(odd_ram), -E2BIG);
	assert_int_equal(config_after(huge_ram), -E2BIG);
	assert_int_equal(config_after(no_vcpu), -EBADMSG);
	assert_int_equal(config_after(many_vcpus), -E2BIG);
	assert_int_equal(config_after(many_devices), -E2BIG);
	assert_int_equal(config_after(twin_devices), -EBADMSG);
	assert_int_equal(config_after(short_by_one), -EBADMSG);
	assert_int_equal(config_after(big_cpuid), -E2BIG);
	assert_int_equal(config_after(unknown_flag), -EBADMSG);
}

static void test_blob_length_must_match_record(void **state)
{
	uint8_t p[16] = {0};
	struct mig_blob b;

	(void)state;
	le32_put(p + 4, 9);
	struct mig_stream_rec rec = {.type = MIG_REC_VCPU_STATE, .len = 16, .payload = p};
	assert_int_equal(mig_record_get_blob(&rec, &b), -EBADMSG);
	le32_put(p + 4, 8);
	assert_int_equal(mig_record_get_blob(&rec, &b), 0);
	le32_put(p + 4, MIG_MAX_BLOB + 1);
	assert_int_equal(mig_record_get_blob(&rec, &b), -E2BIG);
}

static void test_error_text_is_made_printable(void **state)
{
	uint8_t p[8 + 4] = {0};
	struct mig_text t;

	(void)state;
	le32_put(p, MIG_CODE_AUTH);
	memcpy(p + 8, "a\nb\x1b", 4);
	struct mig_stream_rec rec = {.type = MIG_REC_REFUSE, .len = sizeof(p), .payload = p};
	assert_int_equal(mig_record_get_text(&rec, &t), 0);
	assert_string_equal(t.text, "a?b?");
	assert_int_equal(mig_record_err_of(t.code), -EACCES);
	assert_int_equal(mig_record_code_of(-ENOMEM), MIG_CODE_NO_MEMORY);
	assert_int_equal(mig_record_err_of(999), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_rejections),
		cmocka_unit_test(test_delta_batch_rejections),
		cmocka_unit_test(test_config_rejections),
		cmocka_unit_test(test_blob_length_must_match_record),
		cmocka_unit_test(test_error_text_is_made_printable),
	};
	return cmocka_run_group_tests_name("migrate/record", tests, NULL, NULL);
}
