/* ChaCha20 (RFC 8439) as a stream: the keystream left over from the last
 * block, then one block at a time, XORed eight bytes per step. One block
 * in general-purpose registers, not four in SSE2 ones: under QEMU 7.2's
 * TCG, where the lab's Terns run, an SSE2 register lives in memory and
 * each dependent operation on it waits for the last one's store, so four
 * blocks in SSE2 ran at a third of the speed of this (crypto/README.md
 * has the figures). */
#include "crypto/chacha20.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ChaCha20's words are little-endian; this code loads them as they lie"
#endif

/* The kernel builds with -ffreestanding, where a plain memcpy() is a call. */
static inline uint32_t load32(const uint8_t *p)
{
	uint32_t v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint32_t rotl(uint32_t v, int n)
{
	return (v << n) | (v >> (32 - n));
}

/* Zeroes n bytes at p although nothing reads them again: keystream left
 * on the stack would be as good as the key for the record it covers. */
static void wipe(void *p, size_t n)
{
	__builtin_memset(p, 0, n);
	__asm__ volatile("" : : "r"(p) : "memory");
}

/* RFC 8439 2.1 */
#define QR(a, b, c, d)                                                                             \
	do {                                                                                       \
		a += b, d = rotl(d ^ a, 16);                                                       \
		c += d, b = rotl(b ^ c, 12);                                                       \
		a += b, d = rotl(d ^ a, 8);                                                        \
		c += d, b = rotl(b ^ c, 7);                                                        \
	} while (0)

/* RFC 8439 2.3: the block of counter s[12] into ks. The sixteen words
 * are named variables, not an array, so that gcc keeps them in registers
 * (all but two or three): under QEMU's TCG a register operation is a host
 * instruction or two, a spill to the stack a guest memory access. The ten
 * double rounds are unrolled (10% faster there): no loop counter on the
 * stack, and no loop that can straddle a page, which TCG runs as two
 * translation blocks and a jump per turn (poly1305.c's blocks() says
 * what that costs). */
static inline __attribute__((always_inline)) void block(const uint32_t s[16], uint32_t ks[16])
{
	uint32_t x0 = s[0], x1 = s[1], x2 = s[2], x3 = s[3], x4 = s[4], x5 = s[5], x6 = s[6],
		 x7 = s[7], x8 = s[8], x9 = s[9], x10 = s[10], x11 = s[11], x12 = s[12],
		 x13 = s[13], x14 = s[14], x15 = s[15];

#pragma GCC unroll 10
	for (int i = 0; i < 10; i++) {
		QR(x0, x4, x8, x12);
		QR(x1, x5, x9, x13);
		QR(x2, x6, x10, x14);
		QR(x3, x7, x11, x15);
		QR(x0, x5, x10, x15);
		QR(x1, x6, x11, x12);
		QR(x2, x7, x8, x13);
		QR(x3, x4, x9, x14);
	}
	ks[0] = x0 + s[0], ks[1] = x1 + s[1], ks[2] = x2 + s[2], ks[3] = x3 + s[3];
	ks[4] = x4 + s[4], ks[5] = x5 + s[5], ks[6] = x6 + s[6], ks[7] = x7 + s[7];
	ks[8] = x8 + s[8], ks[9] = x9 + s[9], ks[10] = x10 + s[10], ks[11] = x11 + s[11];
	ks[12] = x12 + s[12], ks[13] = x13 + s[13], ks[14] = x14 + s[14], ks[15] = x15 + s[15];
}

/* Eight bytes per step while there are eight, then bytes. */
static inline void xor_bytes(uint8_t *out, const uint8_t *in, const uint8_t *ks, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t a, b;

		__builtin_memcpy(&a, in + i, 8);
		__builtin_memcpy(&b, ks + i, 8);
		a ^= b;
		__builtin_memcpy(out + i, &a, 8);
	}
	for (; i < n; i++)
		out[i] = in[i] ^ ks[i];
}

/* Whole blocks through a keystream on the stack; a last partial one
 * through c->keystream, whose rest a later update uses. One call site of
 * block(), so one copy of its unrolled rounds. */
static void blocks(struct tern_chacha20 *c, size_t len, const uint8_t *in, uint8_t *out)
{
	uint32_t ks[16];

	while (len > 0) {
		block(c->state, ks);
		c->state[12]++;
		if (len < TERN_CHACHA20_BLOCK) {
			__builtin_memcpy(c->keystream, ks, sizeof(ks));
			xor_bytes(out, in, c->keystream, len);
			c->used = len;
			break;
		}
		xor_bytes(out, in, (const uint8_t *)ks, TERN_CHACHA20_BLOCK);
		len -= TERN_CHACHA20_BLOCK, in += TERN_CHACHA20_BLOCK, out += TERN_CHACHA20_BLOCK;
	}
	wipe(ks, sizeof(ks));
}

void tern_chacha20_setkey(struct tern_chacha20 *c, const uint8_t key[32])
{
	/* "expand 32-byte k" */
	c->state[0] = 0x61707865;
	c->state[1] = 0x3320646e;
	c->state[2] = 0x79622d32;
	c->state[3] = 0x6b206574;
	for (int i = 0; i < 8; i++)
		c->state[4 + i] = load32(key + 4 * i);
	c->used = TERN_CHACHA20_BLOCK;
}

void tern_chacha20_starts(struct tern_chacha20 *c, const uint8_t nonce[12], uint32_t counter)
{
	c->state[12] = counter;
	c->state[13] = load32(nonce);
	c->state[14] = load32(nonce + 4);
	c->state[15] = load32(nonce + 8);
	c->used = TERN_CHACHA20_BLOCK;
}

void tern_chacha20_update(struct tern_chacha20 *c, size_t len, const uint8_t *in, uint8_t *out)
{
	size_t n = TERN_CHACHA20_BLOCK - c->used;

	if (n > len)
		n = len;
	xor_bytes(out, in, c->keystream + c->used, n);
	c->used += n;
	in += n, out += n, len -= n;

	blocks(c, len, in, out);
}

void tern_chacha20_wipe(struct tern_chacha20 *c)
{
	wipe(c, sizeof(*c));
}
