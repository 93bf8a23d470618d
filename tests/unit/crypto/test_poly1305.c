/* crypto/poly1305.c: RFC 8439's vectors, and one tag whatever the cutting
 * of the message into updates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/poly1305.h"
#include "tests/unit/crypto/pieces.h"
#include "tests/unit/crypto/rfc8439.h"

#define MAX 2048

static void test_tags_give_rfc8439_2_5_2_and_a_3(void **state)
{
	static uint8_t msg[MAX];
	uint8_t key[32], want[16], got[16];
	struct tern_poly1305 p;

	(void)state;
	for (size_t i = 0; i < sizeof(rfc8439_poly1305) / sizeof(rfc8439_poly1305[0]); i++) {
		const struct poly1305_vector *v = &rfc8439_poly1305[i];
		size_t n = unhex(v->msg, msg);

		assert_int_equal(unhex(v->key, key), 32);
		assert_int_equal(unhex(v->tag, want), 16);
		tern_poly1305_starts(&p, key);
		tern_poly1305_update(&p, msg, n);
		tern_poly1305_finish(&p, got);
		assert_memory_equal(got, want, 16);

		/* One byte per update: every block goes through the buffer. */
		tern_poly1305_starts(&p, key);
		for (size_t k = 0; k < n; k++)
			tern_poly1305_update(&p, msg + k, 1);
		tern_poly1305_finish(&p, got);
		assert_memory_equal(got, want, 16);
	}
}

/* chachapoly.c passes an empty AAD as (NULL, 0). */
static void test_empty_update_with_null_changes_nothing(void **state)
{
	const struct poly1305_vector *v = &rfc8439_poly1305[0];
	uint8_t key[32], msg[64], want[16], got[16];
	struct tern_poly1305 p;
	size_t n = unhex(v->msg, msg);

	(void)state;
	unhex(v->key, key);
	unhex(v->tag, want);
	tern_poly1305_starts(&p, key);
	tern_poly1305_update(&p, NULL, 0);
	tern_poly1305_update(&p, msg, 5);
	tern_poly1305_update(&p, NULL, 0);
	tern_poly1305_update(&p, msg + 5, n - 5);
	tern_poly1305_finish(&p, got);
	assert_memory_equal(got, want, 16);
}

static void tag_of(uint64_t seed, uint8_t *msg, size_t n, const size_t *cuts, size_t ncuts,
		   uint8_t tag[16])
{
	uint8_t key[32];
	struct tern_poly1305 p;
	size_t at = 0;

	rnd_bytes(&seed, key, sizeof(key));
	rnd_bytes(&seed, msg, n);
	tern_poly1305_starts(&p, key);
	for (size_t i = 0; i < ncuts; i++) {
		tern_poly1305_update(&p, msg + at, cuts[i] - at);
		at = cuts[i];
	}
	tern_poly1305_update(&p, msg + at, n - at);
	tern_poly1305_finish(&p, tag);
}

/* 100 bytes cut twice, every way. */
static void test_every_cut_in_three_gives_the_same_tag(void **state)
{
	uint8_t msg[100], whole[16], cut[16];

	(void)state;
	tag_of(1, msg, sizeof(msg), NULL, 0, whole);
	for (size_t a = 0; a <= sizeof(msg); a++) {
		for (size_t b = a; b <= sizeof(msg); b++) {
			size_t cuts[2] = {a, b};

			tag_of(1, msg, sizeof(msg), cuts, 2, cut);
			assert_memory_equal(cut, whole, 16);
		}
	}
}

static void test_random_pieces_give_the_same_tag(void **state)
{
	static uint8_t msg[MAX];
	size_t cuts[MAX];
	uint8_t whole[16], cut[16];
	uint64_t s = 2;

	(void)state;
	for (int round = 0; round < 500; round++) {
		size_t n = rnd(&s) % MAX, ncuts = 0;

		tag_of(round, msg, n, NULL, 0, whole);
		for (size_t at = piece(&s, n); at < n; at += piece(&s, n - at))
			cuts[ncuts++] = at;
		tag_of(round, msg, n, cuts, ncuts, cut);
		assert_memory_equal(cut, whole, 16);
	}
}

/* The largest clamped r and blocks of all ones keep the accumulator near
 * the bounds poly1305.c's comments give; cut differently, they agree. */
static void test_largest_key_and_message_agree_across_cuts(void **state)
{
	uint8_t key[32], msg[512], whole[16], cut[16];
	struct tern_poly1305 p;

	(void)state;
	memset(key, 0xff, sizeof(key));
	memset(msg, 0xff, sizeof(msg));
	tern_poly1305_starts(&p, key);
	tern_poly1305_update(&p, msg, sizeof(msg));
	tern_poly1305_finish(&p, whole);
	for (size_t k = 1; k < 40; k++) {
		tern_poly1305_starts(&p, key);
		for (size_t at = 0; at < sizeof(msg); at += k)
			tern_poly1305_update(&p, msg + at,
					     at + k <= sizeof(msg) ? k : sizeof(msg) - at);
		tern_poly1305_finish(&p, cut);
		assert_memory_equal(cut, whole, 16);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tags_give_rfc8439_2_5_2_and_a_3),
		cmocka_unit_test(test_empty_update_with_null_changes_nothing),
		cmocka_unit_test(test_every_cut_in_three_gives_the_same_tag),
		cmocka_unit_test(test_random_pieces_give_the_same_tag),
		cmocka_unit_test(test_largest_key_and_message_agree_across_cuts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
