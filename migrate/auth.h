/* The HELLO/AUTH challenge-response (docs/migration-stream.md, "AUTH"):
 * each side proves it knows the pre-shared key by an HMAC-SHA256 over both
 * nonces and a label naming its role. mbedTLS does the cryptography. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "migrate/format.h"

enum mig_auth_role {
	MIG_AUTH_SOURCE,
	MIG_AUTH_DESTINATION,
};

/* The longest key `migrate key` accepts. */
#define MIG_AUTH_KEY_MAX 128u

int mig_auth_proof(enum mig_auth_role role, const uint8_t *key, size_t key_len,
		   const uint8_t nonce_src[MIG_NONCE_LEN], const uint8_t nonce_dst[MIG_NONCE_LEN],
		   uint8_t proof[MIG_PROOF_LEN]);
/* 0 if proof is role's proof for these nonces under key, -EACCES if not.
 * The comparison takes the same time wherever the first difference is. */
int mig_auth_verify(enum mig_auth_role role, const uint8_t *key, size_t key_len,
		    const uint8_t nonce_src[MIG_NONCE_LEN], const uint8_t nonce_dst[MIG_NONCE_LEN],
		    const uint8_t proof[MIG_PROOF_LEN]);
