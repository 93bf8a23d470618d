/* The PAGE_DELTA encoding: what the encoder makes decodes to the new page
 * byte for byte, and the decoder refuses every malformed encoding without
 * touching the page. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "migrate/delta.h"

#define PAGE MIG_PAGE_SIZE

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)xorshift();
}

/* Encodes cur against old, decodes it onto a copy of old and checks the
 * result is cur; returns the encoding's length. */
static int round_trip(const uint8_t *old, const uint8_t *cur)
{
	uint8_t enc[MIG_DELTA_MAX], page[PAGE];
	int n = mig_delta_encode(old, cur, enc, sizeof(enc));

	assert_true(n >= 0);
	assert_true(n <= (int)MIG_DELTA_MAX);
	assert_int_equal(mig_delta_check(enc, (size_t)n), 0);
	memcpy(page, old, PAGE);
	assert_int_equal(mig_delta_decode(page, enc, (size_t)n), 0);
	assert_memory_equal(page, cur, PAGE);
	return n;
}

static void test_identical_page_encodes_to_nothing(void **state)
{
	uint8_t old[PAGE], page[PAGE];

	(void)state;
	fill_random(old, PAGE);
	assert_int_equal(round_trip(old, old), 0);
	memcpy(page, old, PAGE);
	assert_int_equal(mig_delta_decode(page, NULL, 0), 0);
	assert_memory_equal(page, old, PAGE);
}

static void test_one_changed_byte_anywhere_round_trips(void **state)
{
	static const size_t at[] = {0, 1, 2, 126, 127, 128, 129, 2048, 4093, 4094, 4095};
	uint8_t old[PAGE], cur[PAGE];

	(void)state;
	fill_random(old, PAGE);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		memcpy(cur, old, PAGE);
		cur[at[i]] ^= 0x5a;
		/* zrun (1 or 2 bytes), lrun 1, the byte */
		assert_int_equal(round_trip(old, cur), (at[i] < 128 ? 1 : 2) + 1 + 1);
	}
}

static void test_first_and_last_byte(void **state)
{
	uint8_t old[PAGE] = {0}, cur[PAGE] = {0}, enc[64];
	static const uint8_t want[] = {0x00, 0x01, 0xee, 0xfe, 0x1f, 0x01, 0xff};

	(void)state;
	cur[0] = 0xee;
	cur[PAGE - 1] = 0xff;
	assert_int_equal(mig_delta_encode(old, cur, enc, sizeof(enc)), sizeof(want));
	assert_memory_equal(enc, want, sizeof(want)); /* zrun 4094 = 0x7e | 0x80, 31 */
	assert_int_equal(round_trip(old, cur), sizeof(want));
}

/* The example of docs/migration-stream.md, byte for byte. */
static void test_the_spec_example(void **state)
{
	uint8_t old[PAGE], cur[PAGE], enc[64];
	static const uint8_t want[] = {0x64, 0x02, 0xaa, 0xbb, 0x99, 0x1f, 0x01, 0x01};

	(void)state;
	memset(old, 0x33, PAGE);
	memcpy(cur, old, PAGE);
	cur[100] = 0xaa;
	cur[101] = 0xbb;
	cur[4095] = 0x01;
	assert_int_equal(mig_delta_encode(old, cur, enc, sizeof(enc)), sizeof(want));
	assert_memory_equal(enc, want, sizeof(want));
}

/* One or two equal bytes inside a changed stretch stay in the literal
 * (a new pair would cost as much); three end it. */
static void test_short_equal_gaps_stay_in_the_literal(void **state)
{
	uint8_t old[PAGE] = {0}, cur[PAGE] = {0}, enc[64];

	(void)state;
	cur[10] = cur[12] = cur[15] = 1; /* gaps of 1 and 2 */
	cur[19] = 1;			 /* a gap of 3 */
	assert_int_equal(mig_delta_encode(old, cur, enc, sizeof(enc)), 2 + 6 + 3);
	static const uint8_t want[] = {10, 6, 1, 0, 1, 0, 0, 1, 3, 1, 1};
	assert_memory_equal(enc, want, sizeof(want));
	round_trip(old, cur);
}

static void test_every_fourth_byte_fits_exactly(void **state)
{
	uint8_t old[PAGE], cur[PAGE];

	(void)state;
	fill_random(old, PAGE);
	memcpy(cur, old, PAGE);
	for (size_t i = 0; i < PAGE; i += 4)
		cur[i] ^= 0xff;
	/* (0,1,x) then 1023 × (3,1,x): three bytes each, 3072 in all. */
	assert_int_equal(round_trip(old, cur), (int)MIG_DELTA_MAX);
}

static void test_every_other_byte_is_not_smaller(void **state)
{
	uint8_t old[PAGE], cur[PAGE], enc[MIG_DELTA_MAX];

	(void)state;
	fill_random(old, PAGE);
	memcpy(cur, old, PAGE);
	for (size_t i = 0; i < PAGE; i += 2)
		cur[i] ^= 0x01;
	assert_int_equal(mig_delta_encode(old, cur, enc, sizeof(enc)), -E2BIG);
}

static void test_fully_different_page_is_not_smaller(void **state)
{
	uint8_t old[PAGE], cur[PAGE], enc[PAGE + 64];

	(void)state;
	memset(old, 0, PAGE);
	memset(cur, 0xff, PAGE);
	assert_int_equal(mig_delta_encode(old, cur, enc, sizeof(enc)), -E2BIG);
	fill_random(old, PAGE);
	fill_random(cur, PAGE);
	assert_int_equal(mig_delta_encode(old, cur, enc, sizeof(enc)), -E2BIG);
}

static void test_out_cap_is_respected(void **state)
{
	uint8_t old[PAGE] = {0}, cur[PAGE] = {0}, enc[16];

	(void)state;
	memset(cur + 100, 7, 10); /* 1 + 1 + 10 bytes */
	assert_int_equal(mig_delta_encode(old, cur, enc, 11), -E2BIG);
	assert_int_equal(mig_delta_encode(old, cur, enc, 12), 12);
	assert_int_equal(mig_delta_encode(old, cur, enc, 0), -E2BIG);
	assert_int_equal(mig_delta_encode(old, old, enc, 0), 0);
}

/* Sparse random writes, words and bytes, as a guest makes them. */
static void test_random_rewrites_round_trip(void **state)
{
	uint8_t old[PAGE], cur[PAGE];
	int encoded = 0;

	(void)state;
	for (int iter = 0; iter < 2000; iter++) {
		fill_random(old, PAGE);
		memcpy(cur, old, PAGE);
		unsigned writes = (unsigned)(xorshift() % 200);
		for (unsigned w = 0; w < writes; w++) {
			size_t at = (size_t)(xorshift() % PAGE);
			size_t n = 1 + (size_t)(xorshift() % 16);
			if (at + n > PAGE)
				n = PAGE - at;
			fill_random(cur + at, n);
		}
		uint8_t enc[MIG_DELTA_MAX];
		int n = mig_delta_encode(old, cur, enc, sizeof(enc));
		if (n == -E2BIG)
			continue;
		assert_true(n >= 0);
		round_trip(old, cur);
		encoded++;
	}
	assert_true(encoded > 1000);
}

/* Structured pages: runs of zeros and of a counter, partly overwritten. */
static void test_structured_pages_round_trip(void **state)
{
	uint8_t old[PAGE], cur[PAGE];

	(void)state;
	for (int iter = 0; iter < 500; iter++) {
		for (size_t i = 0; i < PAGE; i++)
			old[i] = (i / 64) % 3 ? 0 : (uint8_t)i;
		memcpy(cur, old, PAGE);
		size_t at = (size_t)(xorshift() % PAGE), n = (size_t)(xorshift() % 1500);
		if (at + n > PAGE)
			n = PAGE - at;
		memset(cur + at, (int)(xorshift() & 0xff), n);
		round_trip(old, cur);
	}
}

/* Each malformed encoding is refused, and the page stays as it was. */
static void refused(const char *what, const uint8_t *enc, size_t len, int err)
{
	uint8_t page[PAGE], before[PAGE];

	fill_random(before, PAGE);
	memcpy(page, before, PAGE);
	if (mig_delta_check(enc, len) != err || mig_delta_decode(page, enc, len) != err ||
	    memcmp(page, before, PAGE))
		fail_msg("%s: not refused with %d, or the page changed", what, err);
}

static void test_decode_refuses_malformed_encodings(void **state)
{
	static const struct {
		const char *what;
		uint8_t enc[12];
		size_t len;
	} bad[] = {
		{"zrun cut short", {0x80}, 1},
		{"lrun missing", {0x05}, 1},
		{"lrun cut short", {0x05, 0x81}, 2},
		{"literal cut short", {0x00, 0x05, 1, 2, 3, 4}, 6},
		{"three-byte number", {0x80, 0x80, 0x01, 0x01, 0xaa}, 5},
		{"not the shortest form", {0x85, 0x00, 0x01, 0xaa}, 4},
		{"zrun past the page", {0x81, 0x20, 0x01, 0xaa}, 4},	   /* 4097 */
		{"zrun to the end, no room", {0x80, 0x20, 0x01, 0xaa}, 4}, /* 4096 + 1 */
		{"lrun past the page", {0xff, 0x1f, 0x02, 1, 2}, 5},	   /* 4095 + 2 */
		{"zero lrun", {0x05, 0x00}, 2},
		{"zero lrun at the end", {0x00, 0x01, 0xaa, 0x05, 0x00}, 5},
		{"zero zrun after a literal", {0x00, 0x01, 0xaa, 0x00, 0x01, 0xbb}, 6},
		{"trailing byte", {0x00, 0x01, 0xaa, 0x07}, 4},
		{"trailing zrun and lrun", {0x00, 0x01, 0xaa, 0x07, 0x01}, 5},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused(bad[i].what, bad[i].enc, bad[i].len, -EBADMSG);
}

static void test_decode_refuses_a_run_after_the_last_byte(void **state)
{
	/* A literal that ends the page, then anything at all. */
	uint8_t enc[] = {0xff, 0x1f, 0x01, 0xaa, 0x01, 0x01, 0xbb};

	(void)state;
	assert_int_equal(mig_delta_check(enc, 4), 0); /* this much is fine */
	refused("a pair after the page's end", enc, sizeof(enc), -EBADMSG);
}

static void test_decode_refuses_an_encoding_over_the_limit(void **state)
{
	static uint8_t enc[MIG_DELTA_MAX + 1];

	(void)state;
	/* Valid pairs (0,1,x),(3,1,x),... over the limit: the length alone
	 * refuses it. */
	size_t n = 0;
	for (uint32_t i = 0; n + 3 <= sizeof(enc); i++) {
		enc[n++] = i ? 3 : 0;
		enc[n++] = 1;
		enc[n++] = 0xab;
	}
	enc[n++] = 0; /* one byte past MIG_DELTA_MAX */
	assert_int_equal(n, MIG_DELTA_MAX + 1);
	refused("one byte over", enc, MIG_DELTA_MAX + 1, -E2BIG);
}

static void test_decode_writes_only_the_literals(void **state)
{
	uint8_t page[PAGE], want[PAGE];
	static const uint8_t enc[] = {0x64, 0x02, 0xaa, 0xbb, 0x99, 0x1f, 0x01, 0x01};

	(void)state;
	fill_random(page, PAGE);
	memcpy(want, page, PAGE);
	want[100] = 0xaa;
	want[101] = 0xbb;
	want[4095] = 0x01;
	assert_int_equal(mig_delta_decode(page, enc, sizeof(enc)), 0);
	assert_memory_equal(page, want, PAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identical_page_encodes_to_nothing),
		cmocka_unit_test(test_one_changed_byte_anywhere_round_trips),
		cmocka_unit_test(test_first_and_last_byte),
		cmocka_unit_test(test_the_spec_example),
		cmocka_unit_test(test_short_equal_gaps_stay_in_the_literal),
		cmocka_unit_test(test_every_fourth_byte_fits_exactly),
		cmocka_unit_test(test_every_other_byte_is_not_smaller),
		cmocka_unit_test(test_fully_different_page_is_not_smaller),
		cmocka_unit_test(test_out_cap_is_respected),
		cmocka_unit_test(test_random_rewrites_round_trip),
		cmocka_unit_test(test_structured_pages_round_trip),
		cmocka_unit_test(test_decode_refuses_malformed_encodings),
		cmocka_unit_test(test_decode_refuses_a_run_after_the_last_byte),
		cmocka_unit_test(test_decode_refuses_an_encoding_over_the_limit),
		cmocka_unit_test(test_decode_writes_only_the_literals),
	};
	return cmocka_run_group_tests_name("migrate/delta", tests, NULL, NULL);
}
