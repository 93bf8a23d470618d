/* The HELLO/AUTH proofs: the spec's formula, both directions, wrong keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "migrate/auth.h"

static const uint8_t key[] = "secret-key";
static const uint8_t other[] = "secret-kez";
#define KEYLEN (sizeof(key) - 1)

static uint8_t ns[32], nd[32];

static int setup(void **state)
{
	(void)state;
	for (int i = 0; i < 32; i++) {
		ns[i] = (uint8_t)i;
		nd[i] = (uint8_t)(32 + i);
	}
	return 0;
}

/* Computed outside Tern (Python's hmac) from the formula in
 * docs/migration-stream.md, so the code cannot drift from the spec. */
static void test_proofs_match_the_spec(void **state)
{
	static const uint8_t src[32] = {
		0x6b, 0xb1, 0x54, 0x1b, 0xcf, 0x4b, 0xff, 0x63, 0xb8, 0x38, 0xa5,
		0x65, 0x1d, 0x0c, 0xc2, 0x1d, 0x74, 0xef, 0xc7, 0x2d, 0xd0, 0x7f,
		0x0a, 0x1a, 0xb7, 0x8b, 0xa9, 0x69, 0x71, 0xab, 0x7d, 0xf1,
	};
	static const uint8_t dst[32] = {
		0xc6, 0x46, 0x1c, 0xcf, 0x07, 0xde, 0xf6, 0x14, 0xb4, 0xf1, 0x96,
		0x5b, 0xaf, 0xad, 0xdc, 0xd0, 0x68, 0x1f, 0x36, 0x81, 0x93, 0x83,
		0x91, 0xd4, 0xce, 0x9c, 0x65, 0x50, 0x2a, 0xb3, 0x3e, 0x42,
	};
	uint8_t proof[32];

	(void)state;
	assert_int_equal(mig_auth_proof(MIG_AUTH_SOURCE, key, KEYLEN, ns, nd, proof), 0);
	assert_memory_equal(proof, src, 32);
	assert_int_equal(mig_auth_proof(MIG_AUTH_DESTINATION, key, KEYLEN, ns, nd, proof), 0);
	assert_memory_equal(proof, dst, 32);
}

static void test_right_key_verifies_both_directions(void **state)
{
	uint8_t proof[32];

	(void)state;
	mig_auth_proof(MIG_AUTH_SOURCE, key, KEYLEN, ns, nd, proof);
	assert_int_equal(mig_auth_verify(MIG_AUTH_SOURCE, key, KEYLEN, ns, nd, proof), 0);
	mig_auth_proof(MIG_AUTH_DESTINATION, key, KEYLEN, ns, nd, proof);
	assert_int_equal(mig_auth_verify(MIG_AUTH_DESTINATION, key, KEYLEN, ns, nd, proof), 0);
}

static void test_wrong_key_fails_both_directions(void **state)
{
	uint8_t proof[32];

	(void)state;
	/* A source with another key, checked by the destination. */
	mig_auth_proof(MIG_AUTH_SOURCE, other, KEYLEN, ns, nd, proof);
	assert_int_equal(mig_auth_verify(MIG_AUTH_SOURCE, key, KEYLEN, ns, nd, proof), -EACCES);
	/* A destination with another key, checked by the source. */
	mig_auth_proof(MIG_AUTH_DESTINATION, other, KEYLEN, ns, nd, proof);
	assert_int_equal(mig_auth_verify(MIG_AUTH_DESTINATION, key, KEYLEN, ns, nd, proof),
			 -EACCES);
	/* A key that is a prefix of the right one. */
	mig_auth_proof(MIG_AUTH_SOURCE, key, KEYLEN - 1, ns, nd, proof);
	assert_int_equal(mig_auth_verify(MIG_AUTH_SOURCE, key, KEYLEN, ns, nd, proof), -EACCES);
}

static void test_proof_cannot_be_reflected_or_replayed(void **state)
{
	uint8_t proof[32];

	(void)state;
	mig_auth_proof(MIG_AUTH_DESTINATION, key, KEYLEN, ns, nd, proof);
	assert_int_equal(mig_auth_verify(MIG_AUTH_SOURCE, key, KEYLEN, ns, nd, proof), -EACCES);
	/* Fresh nonce on either side: the old proof is worthless. */
	uint8_t nd2[32];
	memcpy(nd2, nd, 32);
	nd2[31] ^= 1;
	assert_int_equal(mig_auth_verify(MIG_AUTH_DESTINATION, key, KEYLEN, ns, nd2, proof),
			 -EACCES);
	assert_int_equal(mig_auth_verify(MIG_AUTH_DESTINATION, key, KEYLEN, nd, ns, proof),
			 -EACCES);
}

static void test_every_bit_of_the_proof_matters(void **state)
{
	uint8_t proof[32];

	(void)state;
	mig_auth_proof(MIG_AUTH_SOURCE, key, KEYLEN, ns, nd, proof);
	for (int i = 0; i < 256; i++) {
		proof[i / 8] ^= (uint8_t)(1 << (i % 8));
		assert_int_equal(mig_auth_verify(MIG_AUTH_SOURCE, key, KEYLEN, ns, nd, proof),
				 -EACCES);
		proof[i / 8] ^= (uint8_t)(1 << (i % 8));
	}
}

static void test_empty_or_huge_key_refused(void **state)
{
	uint8_t proof[32], big[MIG_AUTH_KEY_MAX + 1] = {0};

	(void)state;
	assert_int_equal(mig_auth_proof(MIG_AUTH_SOURCE, key, 0, ns, nd, proof), -EINVAL);
	assert_int_equal(mig_auth_proof(MIG_AUTH_SOURCE, big, sizeof(big), ns, nd, proof), -EINVAL);
	assert_int_equal(mig_auth_proof(MIG_AUTH_SOURCE, big, MIG_AUTH_KEY_MAX, ns, nd, proof), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proofs_match_the_spec),
		cmocka_unit_test(test_right_key_verifies_both_directions),
		cmocka_unit_test(test_wrong_key_fails_both_directions),
		cmocka_unit_test(test_proof_cannot_be_reflected_or_replayed),
		cmocka_unit_test(test_every_bit_of_the_proof_matters),
		cmocka_unit_test(test_empty_or_huge_key_refused),
	};
	return cmocka_run_group_tests_name("migrate/auth", tests, setup, NULL);
}
