/* crypto/chacha20.c: RFC 8439's vectors, and one keystream whatever the
 * cutting of the input into updates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/chacha20.h"
#include "tests/unit/crypto/pieces.h"
#include "tests/unit/crypto/rfc8439.h"

#define MAX 2048

static void start(struct tern_chacha20 *c, const struct chacha20_vector *v)
{
	uint8_t key[32], nonce[12];

	assert_int_equal(unhex(v->key, key), 32);
	assert_int_equal(unhex(v->nonce, nonce), 12);
	tern_chacha20_setkey(c, key);
	tern_chacha20_starts(c, nonce, v->counter);
}

/* The vector in one update, then one byte per update. */
static void check_vector(const struct chacha20_vector *v)
{
	static uint8_t plain[MAX], want[MAX], got[MAX];
	struct tern_chacha20 c;
	size_t n = unhex(v->plain, plain);

	assert_int_equal(unhex(v->cipher, want), n);
	start(&c, v);
	tern_chacha20_update(&c, n, plain, got);
	assert_memory_equal(got, want, n);

	memset(got, 0, n);
	start(&c, v);
	for (size_t i = 0; i < n; i++)
		tern_chacha20_update(&c, 1, plain + i, got + i);
	assert_memory_equal(got, want, n);
}

static void test_block_function_gives_rfc8439_2_3_2(void **state)
{
	(void)state;
	check_vector(&rfc8439_block);
}

static void test_poly1305_key_generation_gives_rfc8439_2_6_2(void **state)
{
	(void)state;
	check_vector(&rfc8439_poly_key);
}

static void test_encryption_gives_rfc8439_2_4_2_and_a_2(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rfc8439_chacha20) / sizeof(rfc8439_chacha20[0]); i++)
		check_vector(&rfc8439_chacha20[i]);
}

static void fill(uint64_t seed, struct tern_chacha20 *c, uint8_t *data, size_t n, uint32_t counter)
{
	uint8_t key[32], nonce[12];

	rnd_bytes(&seed, key, sizeof(key));
	rnd_bytes(&seed, nonce, sizeof(nonce));
	rnd_bytes(&seed, data, n);
	tern_chacha20_setkey(c, key);
	tern_chacha20_starts(c, nonce, counter);
}

/* 1000 bytes: fifteen blocks and a part of one, cut once anywhere. */
static void test_every_cut_in_two_gives_the_same_output(void **state)
{
	static uint8_t in[1000], whole[1000], cut[1000];
	struct tern_chacha20 c;

	(void)state;
	fill(1, &c, in, sizeof(in), 7);
	tern_chacha20_update(&c, sizeof(in), in, whole);
	for (size_t k = 0; k <= sizeof(in); k++) {
		fill(1, &c, in, sizeof(in), 7);
		tern_chacha20_update(&c, k, in, cut);
		tern_chacha20_update(&c, sizeof(in) - k, in + k, cut + k);
		assert_memory_equal(cut, whole, sizeof(in));
	}
}

/* 300 bytes (four blocks and a part of one) cut twice, every way. */
static void test_every_cut_in_three_gives_the_same_output(void **state)
{
	static uint8_t in[300], whole[300], cut[300];
	struct tern_chacha20 c;

	(void)state;
	fill(2, &c, in, sizeof(in), 0);
	tern_chacha20_update(&c, sizeof(in), in, whole);
	for (size_t a = 0; a <= sizeof(in); a++) {
		for (size_t b = a; b <= sizeof(in); b++) {
			fill(2, &c, in, sizeof(in), 0);
			tern_chacha20_update(&c, a, in, cut);
			tern_chacha20_update(&c, b - a, in + a, cut + a);
			tern_chacha20_update(&c, sizeof(in) - b, in + b, cut + b);
			assert_memory_equal(cut, whole, sizeof(in));
		}
	}
}

static void test_random_pieces_give_the_same_output(void **state)
{
	static uint8_t in[MAX], whole[MAX], cut[MAX];
	struct tern_chacha20 c;
	uint64_t s = 3;

	(void)state;
	for (int round = 0; round < 300; round++) {
		size_t n = rnd(&s) % MAX;

		fill(round, &c, in, n, 0);
		tern_chacha20_update(&c, n, in, whole);
		fill(round, &c, in, n, 0);
		for (size_t at = 0; at < n;) {
			size_t k = piece(&s, n - at);

			tern_chacha20_update(&c, k, in + at, cut + at);
			at += k;
		}
		assert_memory_equal(cut, whole, n);
	}
}

/* The counter wraps from 2^32 - 1 to 0 and leaves the nonce alone, as
 * mbedTLS's does: a stream across the wrap is the blocks at 2^32 - 2,
 * 2^32 - 1, 0, 1..., each started on its own. */
static void test_counter_wraps_to_zero_without_touching_the_nonce(void **state)
{
	static uint8_t in[1024], whole[1024], single[1024];
	struct tern_chacha20 c;
	const uint32_t first = 0xfffffffeu;

	(void)state;
	fill(4, &c, in, sizeof(in), first);
	tern_chacha20_update(&c, sizeof(in), in, whole);
	assert_int_equal(c.state[12], (uint32_t)(first + 16));
	for (uint32_t b = 0; b < 16; b++) {
		fill(4, &c, in, sizeof(in), first + b);
		tern_chacha20_update(&c, 64, in + 64 * b, single + 64 * b);
	}
	assert_memory_equal(whole, single, sizeof(in));
}

static void test_in_place_gives_the_same_output(void **state)
{
	static uint8_t in[777], out[777];
	struct tern_chacha20 c;

	(void)state;
	fill(5, &c, in, sizeof(in), 0);
	tern_chacha20_update(&c, 300, in, out);
	tern_chacha20_update(&c, sizeof(in) - 300, in + 300, out + 300);
	fill(5, &c, in, sizeof(in), 0);
	tern_chacha20_update(&c, 300, in, in);
	tern_chacha20_update(&c, sizeof(in) - 300, in + 300, in + 300);
	assert_memory_equal(in, out, sizeof(in));
}

/* starts() forgets the keystream left over from a partial block. */
static void test_starts_drops_the_leftover_keystream(void **state)
{
	static uint8_t in[100], a[100], b[100];
	const uint8_t nonce[12] = {1, 2, 3};
	struct tern_chacha20 c;

	(void)state;
	fill(6, &c, in, sizeof(in), 0);
	tern_chacha20_starts(&c, nonce, 3);
	tern_chacha20_update(&c, sizeof(in), in, a);
	tern_chacha20_starts(&c, nonce, 9);
	tern_chacha20_update(&c, 10, in, b);
	tern_chacha20_starts(&c, nonce, 3);
	tern_chacha20_update(&c, sizeof(in), in, b);
	assert_memory_equal(a, b, sizeof(in));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_block_function_gives_rfc8439_2_3_2),
		cmocka_unit_test(test_poly1305_key_generation_gives_rfc8439_2_6_2),
		cmocka_unit_test(test_encryption_gives_rfc8439_2_4_2_and_a_2),
		cmocka_unit_test(test_every_cut_in_two_gives_the_same_output),
		cmocka_unit_test(test_every_cut_in_three_gives_the_same_output),
		cmocka_unit_test(test_random_pieces_give_the_same_output),
		cmocka_unit_test(test_counter_wraps_to_zero_without_touching_the_nonce),
		cmocka_unit_test(test_in_place_gives_the_same_output),
		cmocka_unit_test(test_starts_drops_the_leftover_keystream),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
