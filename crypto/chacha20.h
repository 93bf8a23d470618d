/* ChaCha20 (RFC 8439 2.4) as a stream: a key and nonce set once, then any
 * number of updates of any length that continue one keystream. Under the
 * names mbedTLS gives them, these are the kernel's mbedtls_chacha20_*
 * (crypto/alt/); the tern_ prefix keeps them apart from Debian's
 * libmbedcrypto in the host test that compares the two. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define TERN_CHACHA20_BLOCK 64

struct tern_chacha20 {
	/* RFC 8439 2.3: constants, key, block counter, nonce. Word 12 is the
	 * counter of the next block to generate; it wraps at 2^32 without
	 * touching the nonce, as mbedTLS's does. */
	uint32_t state[16];
	/* The keystream of the last block generated, for an update that
	 * starts inside it; bytes before `used` are spent. */
	uint8_t keystream[TERN_CHACHA20_BLOCK];
	size_t used;
};

void tern_chacha20_setkey(struct tern_chacha20 *c, const uint8_t key[32]);
/* Restarts the keystream at block `counter` of `nonce`. */
void tern_chacha20_starts(struct tern_chacha20 *c, const uint8_t nonce[12], uint32_t counter);
/* out = in XOR the next len bytes of keystream; in == out is allowed
 * (not a partial overlap). */
void tern_chacha20_update(struct tern_chacha20 *c, size_t len, const uint8_t *in, uint8_t *out);
/* Zeroes the context (key and keystream). */
void tern_chacha20_wipe(struct tern_chacha20 *c);
