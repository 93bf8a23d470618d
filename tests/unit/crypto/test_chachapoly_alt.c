/* The kernel's mbedTLS AEAD: mbedTLS's own chachapoly.c, built with
 * migrate/mbedtls-config.h, over crypto/alt/ (MBEDTLS_CHACHA20_ALT,
 * MBEDTLS_POLY1305_ALT). RFC 8439's AEAD vectors through the calls TLS
 * makes, a forged tag refused, a record fed in pieces, and the one-shot
 * functions the ALT headers promise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mbedtls/chacha20.h"
#include "mbedtls/chachapoly.h"
#include "mbedtls/poly1305.h"
#include "tests/unit/crypto/pieces.h"
#include "tests/unit/crypto/rfc8439.h"

#define MAX 2048

#if !defined(MBEDTLS_CHACHA20_ALT) || !defined(MBEDTLS_POLY1305_ALT)
#error "this test is of crypto/alt/: build it with migrate/mbedtls-config.h"
#endif

struct aead {
	uint8_t key[32], nonce[12], aad[64], plain[MAX], cipher[MAX], tag[16];
	size_t aad_len, len;
};

static void load(const struct aead_vector *v, struct aead *a)
{
	assert_int_equal(unhex(v->key, a->key), 32);
	assert_int_equal(unhex(v->nonce, a->nonce), 12);
	assert_int_equal(unhex(v->tag, a->tag), 16);
	a->aad_len = unhex(v->aad, a->aad);
	a->len = unhex(v->plain, a->plain);
	assert_int_equal(unhex(v->cipher, a->cipher), a->len);
}

static void test_aead_gives_rfc8439_2_8_2_and_a_5(void **state)
{
	static struct aead a;
	static uint8_t out[MAX];
	uint8_t tag[16];
	mbedtls_chachapoly_context ctx;

	(void)state;
	mbedtls_chachapoly_init(&ctx);
	for (size_t i = 0; i < sizeof(rfc8439_aead) / sizeof(rfc8439_aead[0]); i++) {
		load(&rfc8439_aead[i], &a);
		assert_int_equal(mbedtls_chachapoly_setkey(&ctx, a.key), 0);
		assert_int_equal(mbedtls_chachapoly_encrypt_and_tag(&ctx, a.len, a.nonce, a.aad,
								    a.aad_len, a.plain, out, tag),
				 0);
		assert_memory_equal(out, a.cipher, a.len);
		assert_memory_equal(tag, a.tag, 16);
		assert_int_equal(mbedtls_chachapoly_auth_decrypt(&ctx, a.len, a.nonce, a.aad,
								 a.aad_len, a.tag, a.cipher, out),
				 0);
		assert_memory_equal(out, a.plain, a.len);
	}
	mbedtls_chachapoly_free(&ctx);
}

static void test_forged_tag_or_ciphertext_is_refused(void **state)
{
	static struct aead a;
	static uint8_t out[MAX];
	mbedtls_chachapoly_context ctx;

	(void)state;
	load(&rfc8439_aead[0], &a);
	mbedtls_chachapoly_init(&ctx);
	assert_int_equal(mbedtls_chachapoly_setkey(&ctx, a.key), 0);
	a.tag[15] ^= 1;
	assert_int_equal(mbedtls_chachapoly_auth_decrypt(&ctx, a.len, a.nonce, a.aad, a.aad_len,
							 a.tag, a.cipher, out),
			 MBEDTLS_ERR_CHACHAPOLY_AUTH_FAILED);
	a.tag[15] ^= 1;
	a.cipher[a.len - 1] ^= 0x80;
	assert_int_equal(mbedtls_chachapoly_auth_decrypt(&ctx, a.len, a.nonce, a.aad, a.aad_len,
							 a.tag, a.cipher, out),
			 MBEDTLS_ERR_CHACHAPOLY_AUTH_FAILED);
	mbedtls_chachapoly_free(&ctx);
}

/* chachapoly.c keys Poly1305 with one 64-byte update, then continues the
 * same ChaCha20 stream at block 1 over updates of any length: every
 * cutting of a record gives the one-shot's ciphertext and tag. */
static void test_record_in_random_pieces_gives_the_one_shot_result(void **state)
{
	static uint8_t plain[MAX], whole[MAX], cut[MAX];
	uint8_t key[32], nonce[12], aad[13], tag_whole[16], tag_cut[16];
	mbedtls_chachapoly_context ctx;
	uint64_t s = 21;

	(void)state;
	mbedtls_chachapoly_init(&ctx);
	for (int round = 0; round < 300; round++) {
		size_t n = rnd(&s) % MAX;

		rnd_bytes(&s, key, sizeof(key));
		rnd_bytes(&s, nonce, sizeof(nonce));
		rnd_bytes(&s, aad, sizeof(aad));
		rnd_bytes(&s, plain, n);
		assert_int_equal(mbedtls_chachapoly_setkey(&ctx, key), 0);
		assert_int_equal(mbedtls_chachapoly_encrypt_and_tag(
					 &ctx, n, nonce, aad, sizeof(aad), plain, whole, tag_whole),
				 0);
		assert_int_equal(mbedtls_chachapoly_starts(&ctx, nonce, MBEDTLS_CHACHAPOLY_ENCRYPT),
				 0);
		for (size_t at = 0; at < sizeof(aad);) {
			size_t k = piece(&s, sizeof(aad) - at);

			assert_int_equal(mbedtls_chachapoly_update_aad(&ctx, aad + at, k), 0);
			at += k;
		}
		for (size_t at = 0; at < n;) {
			size_t k = piece(&s, n - at);

			assert_int_equal(mbedtls_chachapoly_update(&ctx, k, plain + at, cut + at),
					 0);
			at += k;
		}
		assert_int_equal(mbedtls_chachapoly_finish(&ctx, tag_cut), 0);
		assert_memory_equal(cut, whole, n);
		assert_memory_equal(tag_cut, tag_whole, 16);
	}
	mbedtls_chachapoly_free(&ctx);
}

static void test_one_shot_functions_give_rfc8439_vectors(void **state)
{
	static uint8_t in[MAX], want[MAX], out[MAX];
	uint8_t key[32], nonce[12], tag[16];

	(void)state;
	for (size_t i = 0; i < sizeof(rfc8439_chacha20) / sizeof(rfc8439_chacha20[0]); i++) {
		const struct chacha20_vector *v = &rfc8439_chacha20[i];
		size_t n = unhex(v->plain, in);

		unhex(v->key, key);
		unhex(v->nonce, nonce);
		unhex(v->cipher, want);
		assert_int_equal(mbedtls_chacha20_crypt(key, nonce, v->counter, n, in, out), 0);
		assert_memory_equal(out, want, n);
	}
	for (size_t i = 0; i < sizeof(rfc8439_poly1305) / sizeof(rfc8439_poly1305[0]); i++) {
		const struct poly1305_vector *v = &rfc8439_poly1305[i];
		size_t n = unhex(v->msg, in);

		unhex(v->key, key);
		unhex(v->tag, want);
		assert_int_equal(mbedtls_poly1305_mac(key, in, n, tag), 0);
		assert_memory_equal(tag, want, 16);
	}
}

/* cipher_wrap.c allocates contexts and hands them to init and free. */
static void test_init_and_free_leave_no_key_behind(void **state)
{
	static const uint8_t zero[sizeof(mbedtls_chachapoly_context)];
	mbedtls_chachapoly_context ctx;
	const uint8_t key[32] = {1, 2, 3};

	(void)state;
	mbedtls_chachapoly_init(&ctx);
	assert_int_equal(mbedtls_chachapoly_setkey(&ctx, key), 0);
	mbedtls_chacha20_free(&ctx.chacha20_ctx);
	mbedtls_poly1305_free(&ctx.poly1305_ctx);
	assert_memory_equal(&ctx.chacha20_ctx, zero, sizeof(ctx.chacha20_ctx));
	assert_memory_equal(&ctx.poly1305_ctx, zero, sizeof(ctx.poly1305_ctx));
	mbedtls_chacha20_free(NULL);
	mbedtls_poly1305_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aead_gives_rfc8439_2_8_2_and_a_5),
		cmocka_unit_test(test_forged_tag_or_ciphertext_is_refused),
		cmocka_unit_test(test_record_in_random_pieces_gives_the_one_shot_result),
		cmocka_unit_test(test_one_shot_functions_give_rfc8439_vectors),
		cmocka_unit_test(test_init_and_free_leave_no_key_behind),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
