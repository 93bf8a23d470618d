/* What the crypto tests share beyond the RFC's vectors: a seeded generator
 * (the same bytes on every run, so a failure repeats) and the cutting of a
 * message into pieces, the way TLS and chachapoly.c feed the primitives. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* xorshift64*: small and good enough for test data. */
static inline uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static inline void rnd_bytes(uint64_t *s, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(rnd(s) >> 56);
}

/* The length of the next piece of what is left: mostly short ones (the
 * buffered and leftover paths), sometimes long ones (the bulk paths),
 * sometimes empty. */
static inline size_t piece(uint64_t *s, size_t left)
{
	size_t n;

	switch (rnd(s) % 4) {
	case 0:
		n = rnd(s) % 17;
		break;
	case 1:
		n = rnd(s) % 80;
		break;
	case 2:
		n = rnd(s) % 700;
		break;
	default:
		n = 0;
		break;
	}
	return n < left ? n : left;
}
