/* storage/bitmap: dirty block bitmaps in memory. What is proved: a write
 * marks every granule it touches, partial ones at both ends included, at
 * granularities from 4 KiB to 16 MiB; runs merge adjacent granules and
 * the last run stops at the volume's end; the granularity rule; clearing
 * and counting. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "storage/bitmap.h"

#define KIB (1ull << 10)
#define MIB (1ull << 20)

/* The runs as "off+len," pairs, for one assert per case. */
static void runs(const struct bitmap *b, char *out, size_t cap)
{
	uint64_t from = 0, off, len;
	size_t n = 0;

	out[0] = 0;
	while (bitmap_next_run(b, &from, &off, &len) && n < cap)
		n += (size_t)snprintf(out + n, cap - n, "%llu+%llu,", (unsigned long long)off,
				      (unsigned long long)len);
}

static void test_granularity_rule(void **state)
{
	(void)state;
	assert_true(bitmap_gran_ok(4 * KIB, 512));
	assert_true(bitmap_gran_ok(64 * KIB, 4096));
	assert_true(bitmap_gran_ok(16 * MIB, 512));
	assert_false(bitmap_gran_ok(2 * KIB, 512));  /* under 4 KiB */
	assert_false(bitmap_gran_ok(32 * MIB, 512)); /* over 16 MiB */
	assert_false(bitmap_gran_ok(96 * KIB, 512)); /* not a power of two */
	assert_false(bitmap_gran_ok(0, 512));
	assert_false(bitmap_gran_ok(4 * KIB, 8192)); /* under the device's block */
	assert_int_equal(bitmap_bytes_for(64 * MIB, 64 * KIB), 128);
	assert_int_equal(bitmap_bytes_for(64 * MIB + 1, 64 * KIB), 129); /* 1025 bits */
}

static void test_a_write_marks_every_granule_it_touches_partial_ones_included(void **state)
{
	struct bitmap b;
	char s[256];

	(void)state;
	assert_int_equal(bitmap_init(&b, 64 * MIB, 64 * KIB), 0);
	assert_int_equal(b.nbits, 1024);
	/* one byte: its granule */
	bitmap_mark(&b, 65 * KIB + 3, 1);
	runs(&b, s, sizeof(s));
	assert_string_equal(s, "65536+65536,");
	/* 2 bytes across a granule boundary: both granules */
	bitmap_clear(&b);
	bitmap_mark(&b, 128 * KIB - 1, 2);
	runs(&b, s, sizeof(s));
	assert_string_equal(s, "65536+131072,");
	assert_int_equal(bitmap_count(&b), 2);
	/* an odd range: 4097 bytes at 1 MiB - 512: granules 15 and 16 */
	bitmap_clear(&b);
	bitmap_mark(&b, MIB - 512, 4097);
	assert_true(bitmap_test(&b, 15));
	assert_true(bitmap_test(&b, 16));
	assert_false(bitmap_test(&b, 14));
	assert_false(bitmap_test(&b, 17));
	/* a zero-length write marks nothing */
	bitmap_clear(&b);
	bitmap_mark(&b, 5 * MIB, 0);
	assert_int_equal(bitmap_count(&b), 0);
	bitmap_free(&b);
}

static void test_a_large_write_sets_whole_bytes_and_both_ragged_ends(void **state)
{
	struct bitmap b;

	(void)state;
	assert_int_equal(bitmap_init(&b, 64 * MIB, 4 * KIB), 0); /* 16384 bits */
	/* granules 3 .. 1000 */
	bitmap_mark(&b, 3 * 4 * KIB + 100, (1000 - 3) * 4 * KIB);
	for (uint64_t g = 0; g < 1100; g++)
		assert_int_equal(bitmap_test(&b, g), g >= 3 && g <= 1000);
	assert_int_equal(bitmap_count(&b), 998);
	uint64_t from = 0, off, len;
	assert_true(bitmap_next_run(&b, &from, &off, &len));
	assert_int_equal(off, 3 * 4 * KIB);
	assert_int_equal(len, 998 * 4 * KIB);
	assert_false(bitmap_next_run(&b, &from, &off, &len));
	bitmap_free(&b);
}

static void test_runs_merge_neighbours_and_stop_at_the_volume_end(void **state)
{
	struct bitmap b;
	char s[256];

	(void)state;
	/* 10 MiB + 4 KiB at 1 MiB granularity: 11 granules, the last 4 KiB */
	assert_int_equal(bitmap_init(&b, 10 * MIB + 4 * KIB, MIB), 0);
	assert_int_equal(b.nbits, 11);
	bitmap_mark(&b, 0, 1);
	bitmap_mark(&b, MIB, 1);	     /* merges with granule 0 */
	bitmap_mark(&b, 5 * MIB + 7, 9);     /* alone */
	bitmap_mark(&b, 10 * MIB, 64 * KIB); /* past the end: clipped, last granule */
	runs(&b, s, sizeof(s));
	assert_string_equal(s, "0+2097152,5242880+1048576,10485760+4096,");
	/* a write wholly past the end marks nothing */
	bitmap_mark(&b, 11 * MIB, 4096);
	assert_int_equal(bitmap_count(&b), 4);
	bitmap_free(&b);
}

static void test_every_granularity_marks_the_same_bytes(void **state)
{
	(void)state;
	for (uint32_t g = 4 * KIB; g <= 16 * MIB; g <<= 1) {
		struct bitmap b;
		assert_int_equal(bitmap_init(&b, 64 * MIB, g), 0);
		bitmap_mark(&b, 3 * MIB + 5, 10);
		uint64_t from = 0, off, len;
		assert_true(bitmap_next_run(&b, &from, &off, &len));
		/* the run is the granule holding the bytes */
		assert_int_equal(off, (3 * MIB + 5) / g * g);
		assert_int_equal(len, g);
		assert_false(bitmap_next_run(&b, &from, &off, &len));
		bitmap_free(&b);
	}
}

static void test_init_refuses_a_bad_granularity_or_an_empty_volume(void **state)
{
	struct bitmap b;

	(void)state;
	assert_int_equal(bitmap_init(&b, 64 * MIB, 3000), -EINVAL);
	assert_int_equal(bitmap_init(&b, 0, 4096), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_granularity_rule),
		cmocka_unit_test(test_a_write_marks_every_granule_it_touches_partial_ones_included),
		cmocka_unit_test(test_a_large_write_sets_whole_bytes_and_both_ragged_ends),
		cmocka_unit_test(test_runs_merge_neighbours_and_stop_at_the_volume_end),
		cmocka_unit_test(test_every_granularity_marks_the_same_bytes),
		cmocka_unit_test(test_init_refuses_a_bad_granularity_or_an_empty_volume),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
