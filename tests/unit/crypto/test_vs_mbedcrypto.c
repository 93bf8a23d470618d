/* crypto/ against Debian's libmbedcrypto (mbedTLS 2.28's portable code,
 * what the kernel ran before): random keys, nonces and counters, every
 * length from 0 to 2000, each message fed in random pieces. The AEAD is
 * RFC 8439 2.8 put together here from tern_ calls, the way chachapoly.c
 * puts together mbedtls_ ones; the kernel's own chachapoly.c over crypto/
 * is test_chachapoly_alt's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/chacha20.h>
#include <mbedtls/chachapoly.h>
#include <mbedtls/poly1305.h>

#include "crypto/chacha20.h"
#include "crypto/poly1305.h"
#include "tests/unit/crypto/pieces.h"

#define MAXLEN 2000

static uint8_t msg[MAXLEN], want[MAXLEN], got[MAXLEN];

static void test_chacha20_matches_mbedtls_for_every_length(void **state)
{
	uint64_t s = 11;

	(void)state;
	for (size_t n = 0; n <= MAXLEN; n++) {
		uint8_t key[32], nonce[12];
		/* Every fourth counter is a few blocks before the wrap. */
		uint32_t counter = (uint32_t)rnd(&s) | (n % 4 == 0 ? 0xfffffff8u : 0);
		struct tern_chacha20 c;

		rnd_bytes(&s, key, sizeof(key));
		rnd_bytes(&s, nonce, sizeof(nonce));
		rnd_bytes(&s, msg, n);
		assert_int_equal(mbedtls_chacha20_crypt(key, nonce, counter, n, msg, want), 0);

		tern_chacha20_setkey(&c, key);
		tern_chacha20_starts(&c, nonce, counter);
		for (size_t at = 0; at < n;) {
			size_t k = piece(&s, n - at);

			tern_chacha20_update(&c, k, msg + at, got + at);
			at += k;
		}
		assert_memory_equal(got, want, n);
	}
}

static void test_poly1305_matches_mbedtls_for_every_length(void **state)
{
	uint64_t s = 12;

	(void)state;
	for (size_t n = 0; n <= MAXLEN; n++) {
		uint8_t key[32], tag_want[16], tag_got[16];
		struct tern_poly1305 p;

		rnd_bytes(&s, key, sizeof(key));
		rnd_bytes(&s, msg, n);
		/* Some with every bit set, where the carries are longest. */
		if (n % 7 == 0) {
			memset(key, 0xff, sizeof(key));
			memset(msg, 0xff, n);
		}
		assert_int_equal(mbedtls_poly1305_mac(key, msg, n, tag_want), 0);

		tern_poly1305_starts(&p, key);
		for (size_t at = 0; at < n;) {
			size_t k = piece(&s, n - at);

			tern_poly1305_update(&p, msg + at, k);
			at += k;
		}
		tern_poly1305_finish(&p, tag_got);
		assert_memory_equal(tag_got, tag_want, 16);
	}
}

/* Carries that random data almost never makes (a 64-bit limb of all ones
 * taking a carry, a sum at or just above 2^130 - 5): small r, so the
 * product stays near h, and every sequence of up to eight blocks of all
 * ones or all zeros, then 0..15 bytes of ones. */
static void test_poly1305_matches_mbedtls_at_the_carry_edges(void **state)
{
	static const uint8_t r_small[][16] = {
		{1},
		{2},
		{5},
		{0, 0, 0, 0, 0, 0, 0, 0, 4},
		{0xff, 0xff, 0xff, 0x0f, 0xfc, 0xff, 0xff, 0x0f},
	};
	uint8_t key[32], m[8 * 16 + 15], tag_want[16], tag_got[16];
	struct tern_poly1305 p;

	(void)state;
	for (size_t k = 0; k < sizeof(r_small) / sizeof(r_small[0]); k++) {
		memcpy(key, r_small[k], 16);
		/* s = 0 shows h itself; s = all ones makes the last addition carry. */
		for (int s_ones = 0; s_ones < 2; s_ones++) {
			memset(key + 16, s_ones ? 0xff : 0, 16);
			for (size_t nb = 1; nb <= 8; nb++) {
				for (unsigned pat = 0; pat < (1u << nb); pat++) {
					size_t tail = (pat * 7 + nb) % 16, n = nb * 16 + tail;

					for (size_t b = 0; b < nb; b++)
						memset(m + 16 * b, (pat >> b) & 1 ? 0xff : 0, 16);
					memset(m + nb * 16, 0xff, tail);
					assert_int_equal(mbedtls_poly1305_mac(key, m, n, tag_want),
							 0);
					tern_poly1305_starts(&p, key);
					tern_poly1305_update(&p, m, n);
					tern_poly1305_finish(&p, tag_got);
					assert_memory_equal(tag_got, tag_want, 16);
				}
			}
		}
	}
}

/* RFC 8439 2.8: Poly1305 keyed by block 0 over the padded AAD, the padded
 * ciphertext (from block 1) and the two lengths. */
static void aead_encrypt(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *aad,
			 size_t aad_len, const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[16],
			 uint64_t *s)
{
	static const uint8_t zero[64];
	uint8_t otk[64], lens[16];
	struct tern_chacha20 c;
	struct tern_poly1305 p;

	tern_chacha20_setkey(&c, key);
	tern_chacha20_starts(&c, nonce, 0);
	tern_chacha20_update(&c, 64, zero, otk);
	tern_poly1305_starts(&p, otk);
	tern_poly1305_update(&p, aad, aad_len);
	tern_poly1305_update(&p, zero, (16 - aad_len % 16) % 16);
	for (size_t at = 0; at < n;) {
		size_t k = piece(s, n - at);

		tern_chacha20_update(&c, k, in + at, out + at);
		tern_poly1305_update(&p, out + at, k);
		at += k;
	}
	tern_poly1305_update(&p, zero, (16 - n % 16) % 16);
	for (int i = 0; i < 8; i++) {
		lens[i] = (uint8_t)((uint64_t)aad_len >> (8 * i));
		lens[8 + i] = (uint8_t)((uint64_t)n >> (8 * i));
	}
	tern_poly1305_update(&p, lens, 16);
	tern_poly1305_finish(&p, tag);
}

static void test_aead_matches_mbedtls_chachapoly_for_every_length(void **state)
{
	mbedtls_chachapoly_context ctx;
	uint64_t s = 13;

	(void)state;
	mbedtls_chachapoly_init(&ctx);
	for (size_t n = 0; n <= MAXLEN; n++) {
		uint8_t key[32], nonce[12], aad[40], tag_want[16], tag_got[16];
		/* TLS 1.2's AAD is 13 bytes; others too, for the padding. */
		size_t aad_len = n % 3 == 0 ? 13 : rnd(&s) % sizeof(aad);

		rnd_bytes(&s, key, sizeof(key));
		rnd_bytes(&s, nonce, sizeof(nonce));
		rnd_bytes(&s, aad, aad_len);
		rnd_bytes(&s, msg, n);
		assert_int_equal(mbedtls_chachapoly_setkey(&ctx, key), 0);
		assert_int_equal(mbedtls_chachapoly_encrypt_and_tag(&ctx, n, nonce, aad, aad_len,
								    msg, want, tag_want),
				 0);
		aead_encrypt(key, nonce, aad, aad_len, msg, n, got, tag_got, &s);
		assert_memory_equal(got, want, n);
		assert_memory_equal(tag_got, tag_want, 16);
	}
	mbedtls_chachapoly_free(&ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chacha20_matches_mbedtls_for_every_length),
		cmocka_unit_test(test_poly1305_matches_mbedtls_for_every_length),
		cmocka_unit_test(test_poly1305_matches_mbedtls_at_the_carry_edges),
		cmocka_unit_test(test_aead_matches_mbedtls_chachapoly_for_every_length),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
