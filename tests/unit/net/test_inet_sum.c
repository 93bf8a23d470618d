/* net/inet_sum against lwIP's own lwip_standard_chksum, the function it
 * replaces as LWIP_CHKSUM: the same value for the same bytes, at every
 * alignment and length (mk/net.mk builds the reference from lwIP's
 * inet_chksum.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/inet_sum.h"

uint16_t lwip_standard_chksum(const void *dataptr, int len);

#define BIG (64 * 1024)

/* Room for the largest length at the largest offset, and a few bytes
 * beyond the end that must not count. */
static uint8_t buf[BIG + 64];

static void fill_random(uint32_t seed)
{
	for (size_t i = 0; i < sizeof(buf); i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
}

static void assert_same_sum(size_t off, int len)
{
	uint16_t want = lwip_standard_chksum(buf + off, len);
	uint16_t got = inet_sum(buf + off, len);

	if (got != want)
		fail_msg("offset %zu, length %d: 0x%04x, lwIP 0x%04x", off, len, got, want);
}

/* Offsets 0..15 put the start at every position within the 8-byte loads
 * and 16-byte lines; lengths 0..300 cover every tail (4, 2, 1 bytes) and
 * every count of 8- and 64-byte steps up to a few. */
static void test_every_short_length_at_every_offset_matches_lwip(void **state)
{
	(void)state;
	for (uint32_t seed = 1; seed <= 4; seed++) {
		fill_random(seed);
		for (size_t off = 0; off < 16; off++)
			for (int len = 0; len <= 300; len++)
				assert_same_sum(off, len);
	}
}

static void test_64k_at_every_offset_matches_lwip(void **state)
{
	(void)state;
	fill_random(99);
	for (size_t off = 0; off < 16; off++)
		for (int len = BIG - 9; len <= BIG; len++)
			assert_same_sum(off, len);
}

/* 0xff bytes make every addition carry: the end-around carries and the
 * folds are all exercised, and the sum of any even number of them is
 * 0xffff. */
static void test_all_ones_carry_like_lwip(void **state)
{
	(void)state;
	memset(buf, 0xff, sizeof(buf));
	for (size_t off = 0; off < 16; off++) {
		for (int len = 0; len <= 300; len++)
			assert_same_sum(off, len);
		assert_same_sum(off, BIG);
		assert_same_sum(off, BIG - 1);
		assert_int_equal(inet_sum(buf + off, BIG), 0xffff);
	}
}

/* Only all-zero data sums to 0 (as lwIP's does); 0xffff alone does not
 * fold to 0. */
static void test_zero_only_for_zero_data(void **state)
{
	(void)state;
	memset(buf, 0, sizeof(buf));
	assert_int_equal(inet_sum(buf + 1, BIG), 0);
	assert_int_equal(inet_sum(buf, 0), 0);
	assert_int_equal(inet_sum(buf, -5), lwip_standard_chksum(buf, -5));
	buf[7] = 0xff;
	buf[8] = 0xff;
	assert_int_equal(inet_sum(buf, 64), 0xffff);
	for (size_t off = 0; off < 8; off++)
		assert_same_sum(off, 64);
}

/* RFC 1071 3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to dd f2, and stored
 * as returned the sum is in that (network) order. */
static void test_rfc1071_example_in_network_order(void **state)
{
	static const uint8_t data[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	uint8_t out[2];
	uint16_t s;

	(void)state;
	for (size_t off = 0; off < 16; off++) {
		memcpy(buf + off, data, sizeof(data));
		s = inet_sum(buf + off, sizeof(data));
		memcpy(out, &s, sizeof(out));
		assert_int_equal(out[0], 0xdd);
		assert_int_equal(out[1], 0xf2);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_short_length_at_every_offset_matches_lwip),
		cmocka_unit_test(test_64k_at_every_offset_matches_lwip),
		cmocka_unit_test(test_all_ones_carry_like_lwip),
		cmocka_unit_test(test_zero_only_for_zero_data),
		cmocka_unit_test(test_rfc1071_example_in_network_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
