/* Poly1305 (RFC 8439 2.5) in radix 2^64: h = h0 + h1 2^64 + h2 2^128 and
 * r = r0 + r1 2^64, so a block costs four 64x64->128 multiplications and
 * two small ones, which x86-64 (and QEMU's TCG, as one host mul) does in
 * one instruction each; mbedTLS's 32-bit limbs take twenty. */
#include "crypto/poly1305.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "Poly1305's numbers are little-endian; this code loads them as they lie"
#endif

typedef unsigned __int128 u128;

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

/* h = (h + block + hibit 2^128) r, partly reduced modulo p = 2^130 - 5.
 * Aligned to its size rounded up to a power of two, so its loop never
 * straddles a page: QEMU's TCG ends a translation block at a page
 * boundary, and this loop, split so, ran 40% slower. */
static void __attribute__((noinline, aligned(512)))
blocks(struct tern_poly1305 *p, const uint8_t *in, size_t n, uint64_t hibit)
{
	const uint64_t r0 = p->r0, r1 = p->r1;
	/* The clamp clears r1's low two bits, so r1 2^128 = (r1 / 4) 2^130,
	 * which is (r1 / 4) 5 = r1 + r1 / 4 modulo p: the products that land
	 * at 2^128 and above fold back down multiplied by this. */
	const uint64_t sr1 = r1 + (r1 >> 2);
	uint64_t h0 = p->h0, h1 = p->h1, h2 = p->h2;

	for (; n > 0; n--, in += 16) {
		uint64_t m0 = load64(in), m1 = load64(in + 8), c;

		/* Carries by comparison rather than through 128-bit sums,
		 * whose halves gcc kept on the stack: twice as fast under
		 * TCG. */
		h0 += m0;
		c = h0 < m0;
		h1 += c;
		c = h1 < c;
		h1 += m1;
		c += h1 < m1;
		h2 += c + hibit;

		/* h2 <= 6 here (below), r0 and r1 < 2^60: nothing overflows. */
		u128 d0 = (u128)h0 * r0 + (u128)h1 * sr1;
		u128 d1 = (u128)h0 * r1 + (u128)h1 * r0 + h2 * sr1;
		uint64_t d2 = h2 * r0;

		h0 = (uint64_t)d0;
		d1 += (uint64_t)(d0 >> 64);
		h1 = (uint64_t)d1;
		d2 += (uint64_t)(d1 >> 64);

		/* Bits 130 and up: 2^130 = 5 modulo p, so they come back
		 * times five, (d2 & ~3) + (d2 >> 2). What stays is below
		 * 2^130 plus one carry into h2, so h2 <= 4 after this and
		 * <= 6 after the next block's addition. */
		h2 = d2 & 3;
		c = (d2 & ~(uint64_t)3) + (d2 >> 2);
		h0 += c;
		c = h0 < c;
		h1 += c;
		h2 += h1 < c;
	}
	p->h0 = h0, p->h1 = h1, p->h2 = h2;
}

void tern_poly1305_starts(struct tern_poly1305 *p, const uint8_t key[32])
{
	/* RFC 8439 2.5.1's clamp: r &= 0x0ffffffc0ffffffc0ffffffc0fffffff */
	p->r0 = load64(key) & 0x0ffffffc0fffffffull;
	p->r1 = load64(key + 8) & 0x0ffffffc0ffffffcull;
	p->s0 = load64(key + 16);
	p->s1 = load64(key + 24);
	p->h0 = p->h1 = p->h2 = 0;
	p->buf_len = 0;
}

void tern_poly1305_update(struct tern_poly1305 *p, const uint8_t *in, size_t len)
{
	/* mbedTLS passes NULL with a length of 0 (an empty AAD). */
	if (len == 0)
		return;
	if (p->buf_len > 0) {
		size_t n = 16 - p->buf_len;

		if (n > len)
			n = len;
		__builtin_memcpy(p->buf + p->buf_len, in, n);
		p->buf_len += n;
		in += n, len -= n;
		if (p->buf_len < 16)
			return;
		blocks(p, p->buf, 1, 1);
		p->buf_len = 0;
	}
	if (len >= 16) {
		blocks(p, in, len / 16, 1);
		in += len & ~(size_t)15;
		len &= 15;
	}
	__builtin_memcpy(p->buf, in, len);
	p->buf_len = len;
}

void tern_poly1305_finish(struct tern_poly1305 *p, uint8_t mac[16])
{
	if (p->buf_len > 0) {
		/* RFC 8439 2.5.1: a short last block gets its 0x01 byte
		 * right after its end, not at 2^128. */
		p->buf[p->buf_len] = 1;
		for (size_t i = p->buf_len + 1; i < 16; i++)
			p->buf[i] = 0;
		blocks(p, p->buf, 1, 0);
		p->buf_len = 0;
	}

	/* h < 2^130 + 2^128 < 2p, so h mod p is h or h - p = h + 5 - 2^130:
	 * the latter when h + 5 reaches 2^130. Chosen by mask, without a
	 * branch on the secret. */
	u128 t = (u128)p->h0 + 5;
	uint64_t g0 = (uint64_t)t;
	t = (u128)p->h1 + (uint64_t)(t >> 64);
	uint64_t g1 = (uint64_t)t;
	uint64_t g2 = p->h2 + (uint64_t)(t >> 64);
	uint64_t take_g = 0 - (g2 >> 2);
	uint64_t h0 = (p->h0 & ~take_g) | (g0 & take_g);
	uint64_t h1 = (p->h1 & ~take_g) | (g1 & take_g);

	/* tag = (h + s) mod 2^128 */
	t = (u128)h0 + p->s0;
	h0 = (uint64_t)t;
	h1 += p->s1 + (uint64_t)(t >> 64);
	__builtin_memcpy(mac, &h0, 8);
	__builtin_memcpy(mac + 8, &h1, 8);
}

void tern_poly1305_wipe(struct tern_poly1305 *p)
{
	__builtin_memset(p, 0, sizeof(*p));
	/* The stores must happen although p is not read again. */
	__asm__ volatile("" : : "r"(p) : "memory");
}
