/* storage/vol_stream and storage/vol_hash, what `disk import` and `disk
 * sha256` are built on, on a RAM-backed blkdev. What is proved: a body fed
 * in pieces of any size lands byte for byte at the volume's start, in
 * writes of the whole buffer, with the last block zero-padded and nothing
 * past it touched; a body longer than the volume is refused before a byte
 * of the excess is taken; a device error stops the stream for good; the
 * hash of a volume range, read in chunks, is the SHA-256 of those bytes,
 * for lengths that end inside a block too. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mbedtls/sha256.h"
#include "storage/vol_hash.h"
#include "storage/vol_stream.h"
#include "tests/unit/storage/ramdisk.h"

#define KIB (1u << 10)
#define MIB (1u << 20)


static uint8_t *pattern(size_t n, unsigned seed)
{
	uint8_t *p = malloc(n ? n : 1);
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
	return p;
}

/* Feeds `body` in pieces cycling through `sizes` (like TCP segments). */
static int feed(struct vol_stream *s, const uint8_t *body, size_t n, const size_t *sizes,
		int nsizes)
{
	size_t at = 0;

	for (int i = 0; at < n; i++) {
		size_t k = sizes[i % nsizes];
		if (k > n - at)
			k = n - at;
		int rc = vol_stream_put(s, body + at, k);
		if (rc)
			return rc;
		at += k;
	}
	return 0;
}

/* --- the stream ------------------------------------------------------------- */

static void stream_lands_whole(uint32_t bs, size_t n, const size_t *sizes, int nsizes)
{
	const uint64_t vol_lba = MIB / bs, vol_bytes = 4 * MIB, buf_bytes = 64 * KIB;
	struct ramdisk *r = rd_new(8 * MIB, bs, 0xEE);
	uint8_t *buf = malloc(buf_bytes), *body = pattern(n, (unsigned)n);
	struct vol_stream s;

	assert_int_equal(vol_stream_open(&s, &r->dev, vol_lba, vol_bytes, buf, buf_bytes), 0);
	assert_int_equal(feed(&s, body, n, sizes, nsizes), 0);
	assert_int_equal(vol_stream_finish(&s), 0);

	uint8_t *vol = r->mem + MIB;
	size_t padded = (n + bs - 1) / bs * bs;
	assert_memory_equal(vol, body, n);
	for (size_t i = n; i < padded; i++)
		assert_int_equal(vol[i], 0); /* the last block's tail: zeros */
	for (size_t i = padded; i < 8 * MIB - MIB; i++)
		assert_int_equal(vol[i], 0xEE); /* past it: untouched */
	for (size_t i = 0; i < MIB; i++)
		assert_int_equal(r->mem[i], 0xEE); /* before the volume too */
	assert_int_equal(s.taken, n);
	assert_int_equal(s.written, padded);
	/* Every write but the last carries the whole buffer. */
	for (int i = 0; i + 1 < r->writes && i < 64; i++)
		assert_int_equal(r->write_blocks[i], buf_bytes / bs);
	assert_int_equal(r->writes, (int)((padded + buf_bytes - 1) / buf_bytes));
	assert_int_equal(r->flushes, 1);
	free(body);
	free(buf);
	rd_free(r);
}

static void test_a_body_in_odd_pieces_lands_at_the_volume_start_and_ends_zero_padded(void **st)
{
	static const size_t tcp[] = {1460, 1460, 536, 1, 7, 65536, 3000};
	static const size_t one[] = {1};
	(void)st;
	stream_lands_whole(512, 1000003, tcp, 7);
	stream_lands_whole(4096, 1000003, tcp, 7);
	stream_lands_whole(512, 4 * MIB, tcp, 7);  /* exactly the volume */
	stream_lands_whole(512, 64 * KIB, tcp, 7); /* exactly one buffer */
	stream_lands_whole(4096, 5000, one, 1);	   /* byte by byte */
	stream_lands_whole(512, 1, tcp, 7);
}

static void test_a_body_longer_than_the_volume_is_refused_before_the_excess(void **st)
{
	struct ramdisk *r = rd_new(4 * MIB, 512, 0xEE);
	uint8_t *buf = malloc(64 * KIB), *body = pattern(MIB + 100, 1);
	struct vol_stream s;
	(void)st;

	assert_int_equal(vol_stream_open(&s, &r->dev, 2048, MIB, buf, 64 * KIB), 0);
	assert_int_equal(vol_stream_put(&s, body, MIB - 10), 0);
	/* 20 more do not fit: none of them is taken, the stream goes on. */
	assert_int_equal(vol_stream_put(&s, body + MIB - 10, 20), -EFBIG);
	assert_int_equal(s.taken, MIB - 10);
	assert_int_equal(vol_stream_put(&s, body + MIB - 10, 10), 0);
	assert_int_equal(vol_stream_put(&s, body, 1), -EFBIG);
	assert_int_equal(vol_stream_finish(&s), 0);
	assert_memory_equal(r->mem + MIB, body, MIB);
	for (size_t i = 2 * MIB; i < 4 * MIB; i++)
		assert_int_equal(r->mem[i], 0xEE);
	free(body);
	free(buf);
	rd_free(r);
}

static void test_a_device_error_stops_the_stream_for_good(void **st)
{
	struct ramdisk *r = rd_new(4 * MIB, 512, 0xEE);
	uint8_t *buf = malloc(64 * KIB), *body = pattern(MIB, 2);
	struct vol_stream s;
	(void)st;

	r->fail_write_at = 2;
	assert_int_equal(vol_stream_open(&s, &r->dev, 2048, MIB, buf, 64 * KIB), 0);
	assert_int_equal(vol_stream_put(&s, body, 64 * KIB), 0);     /* write 1 */
	assert_int_equal(vol_stream_put(&s, body, 100 * KIB), -EIO); /* write 2 fails */
	assert_int_equal(s.written, 64 * KIB);			     /* what is on the disk */
	assert_int_equal(vol_stream_put(&s, body, 1), -EIO);
	assert_int_equal(vol_stream_finish(&s), -EIO);
	assert_int_equal(r->flushes, 0);
	assert_int_equal(r->writes, 2);
	free(body);
	free(buf);
	rd_free(r);
}

static void test_a_misfit_buffer_or_range_is_refused(void **st)
{
	struct ramdisk *r = rd_new(4 * MIB, 4096, 0xEE);
	uint8_t buf[8192];
	struct vol_stream s;
	(void)st;

	assert_int_equal(vol_stream_open(&s, &r->dev, 256, MIB, buf, 6000), -EINVAL);
	assert_int_equal(vol_stream_open(&s, &r->dev, 256, MIB, buf, 0), -EINVAL);
	assert_int_equal(vol_stream_open(&s, &r->dev, 256, 4 * MIB, buf, 8192), -EINVAL);
	assert_int_equal(vol_stream_open(&s, &r->dev, 256, 3 * MIB, buf, 8192), 0);
	rd_free(r);
}

static void test_an_empty_stream_writes_nothing_but_flushes(void **st)
{
	struct ramdisk *r = rd_new(2 * MIB, 512, 0xEE);
	uint8_t buf[4096];
	struct vol_stream s;
	(void)st;

	assert_int_equal(vol_stream_open(&s, &r->dev, 2048, MIB, buf, sizeof(buf)), 0);
	assert_int_equal(vol_stream_finish(&s), 0);
	assert_int_equal(r->writes, 0);
	assert_int_equal(r->flushes, 1);
	rd_free(r);
}

/* --- the hash ---------------------------------------------------------------- */

static void hash_range(struct ramdisk *r, uint64_t lba, uint64_t bytes, uint32_t chunk,
		       uint8_t out[32], int *steps)
{
	uint8_t *buf = malloc(chunk);
	struct vol_hash h;
	int rc;

	assert_int_equal(vol_hash_start(&h, &r->dev, lba, bytes, buf, chunk), 0);
	*steps = 0;
	while ((rc = vol_hash_step(&h)) == 1)
		++*steps;
	assert_int_equal(rc, 0);
	++*steps;
	vol_hash_finish(&h, out);
	free(buf);
}

static void test_the_hash_of_a_range_read_in_chunks_is_its_sha256(void **st)
{
	static const uint64_t lengths[] = {1, 511, 512, 513, 65536, 65537, 1000003, 3 * MIB};
	struct ramdisk *r = rd_new(4 * MIB, 512, 0xEE);
	uint8_t *fill = pattern(3 * MIB, 9), got[32], want[32];
	int steps;
	(void)st;

	memcpy(r->mem + MIB, fill, 3 * MIB);
	for (unsigned i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		hash_range(r, 2048, lengths[i], 64 * KIB, got, &steps);
		mbedtls_sha256_ret(fill, lengths[i], want, 0);
		assert_memory_equal(got, want, 32);
		assert_int_equal(steps, (int)((lengths[i] + 64 * KIB - 1) / (64 * KIB)));
	}
	free(fill);
	rd_free(r);
}

static void test_the_hash_of_abc_is_the_fips_180_value(void **st)
{
	/* FIPS 180-2, appendix B.1: SHA-256("abc"). */
	static const uint8_t abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
					0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
					0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
					0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	struct ramdisk *r = rd_new(2 * MIB, 4096, 0xEE);
	uint8_t got[32];
	int steps;
	(void)st;

	memcpy(r->mem + MIB, "abc", 3);
	hash_range(r, 256, 3, 8192, got, &steps);
	assert_memory_equal(got, abc, 32);
	rd_free(r);
}

static void test_a_read_error_ends_the_hash_and_a_range_past_the_disk_is_refused(void **st)
{
	struct ramdisk *r = rd_new(2 * MIB, 512, 0xEE);
	uint8_t buf[4096];
	struct vol_hash h;
	(void)st;

	assert_int_equal(vol_hash_start(&h, &r->dev, 2048, MIB + 1, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(vol_hash_start(&h, &r->dev, 2048, MIB, buf, 1000), -EINVAL);
	assert_int_equal(vol_hash_start(&h, &r->dev, 2048, MIB, buf, sizeof(buf)), 0);
	assert_int_equal(vol_hash_step(&h), 1);
	r->fail_reads = true;
	assert_int_equal(vol_hash_step(&h), -EIO);
	vol_hash_abort(&h);
	rd_free(r);
}

/* --- import then hash: what the integration test does, on the host ----------- */

static void test_an_imported_body_hashes_to_its_own_sha256(void **st)
{
	const size_t n = 3 * MIB + 777;
	static const size_t tcp[] = {1460, 2920, 1};
	struct ramdisk *r = rd_new(8 * MIB, 512, 0xEE);
	uint8_t *buf = malloc(128 * KIB), *body = pattern(n, 5), got[32], want[32];
	struct vol_stream s;
	int steps;
	(void)st;

	assert_int_equal(vol_stream_open(&s, &r->dev, 2048, 4 * MIB, buf, 128 * KIB), 0);
	assert_int_equal(feed(&s, body, n, tcp, 3), 0);
	assert_int_equal(vol_stream_finish(&s), 0);
	hash_range(r, 2048, n, 64 * KIB, got, &steps);
	mbedtls_sha256_ret(body, n, want, 0);
	assert_memory_equal(got, want, 32);
	free(body);
	free(buf);
	rd_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_a_body_in_odd_pieces_lands_at_the_volume_start_and_ends_zero_padded),
		cmocka_unit_test(test_a_body_longer_than_the_volume_is_refused_before_the_excess),
		cmocka_unit_test(test_a_device_error_stops_the_stream_for_good),
		cmocka_unit_test(test_a_misfit_buffer_or_range_is_refused),
		cmocka_unit_test(test_an_empty_stream_writes_nothing_but_flushes),
		cmocka_unit_test(test_the_hash_of_a_range_read_in_chunks_is_its_sha256),
		cmocka_unit_test(test_the_hash_of_abc_is_the_fips_180_value),
		cmocka_unit_test(
			test_a_read_error_ends_the_hash_and_a_range_past_the_disk_is_refused),
		cmocka_unit_test(test_an_imported_body_hashes_to_its_own_sha256),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
