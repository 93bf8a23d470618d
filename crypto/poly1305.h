/* Poly1305 (RFC 8439 2.5) over a message given in pieces of any length.
 * Under the names mbedTLS gives them, these are the kernel's
 * mbedtls_poly1305_* (crypto/alt/); the tern_ prefix keeps them apart from
 * Debian's libmbedcrypto in the host test that compares the two. */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct tern_poly1305 {
	uint64_t r0, r1; /* r, clamped, in two 64-bit limbs */
	uint64_t s0, s1; /* s, added at the end */
	/* The accumulator, h0 + h1 2^64 + h2 2^128, kept below 2^131 and
	 * reduced modulo 2^130 - 5 only at the end. */
	uint64_t h0, h1, h2;
	uint8_t buf[16]; /* a block not yet complete */
	size_t buf_len;
};

void tern_poly1305_starts(struct tern_poly1305 *p, const uint8_t key[32]);
void tern_poly1305_update(struct tern_poly1305 *p, const uint8_t *in, size_t len);
void tern_poly1305_finish(struct tern_poly1305 *p, uint8_t mac[16]);
/* Zeroes the context (key and accumulator). */
void tern_poly1305_wipe(struct tern_poly1305 *p);
