/* RFC 1071's sum 64 bits at a time (2(C), parallel summation): a carry out
 * of bit 63 goes back in at once (the end-around carry), and the 64-bit sum
 * folds to 16 bits at the end because 2^16 = 1 modulo 0xffff. That is also
 * why the result does not depend on where the data starts: lwIP's version
 * aligns to 16 bits and swaps its result back when the data starts at an
 * odd address; this one loads 8 bytes from any address, which x86-64 does
 * at full speed unless the load crosses a cache line. */
#include <stddef.h>

#include "net/inet_sum.h"

static inline uint64_t add_1c(uint64_t a, uint64_t b)
{
	uint64_t s;

	/* gcc makes this add + adc $0: s + 1 cannot overflow again. */
	return __builtin_add_overflow(a, b, &s) ? s + 1 : s;
}

/* The kernel builds with -ffreestanding, where a plain memcpy() is a call. */
static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

uint16_t inet_sum(const void *data, int len)
{
	const uint8_t *p = data;
	size_t n = len > 0 ? (size_t)len : 0;
	/* Two sums with no dependency between them, for a CPU that can add
	 * twice per cycle; an emulator runs the same number of instructions. */
	uint64_t a = 0, b = 0;

	for (; n >= 64; n -= 64, p += 64) {
		a = add_1c(a, load64(p));
		b = add_1c(b, load64(p + 8));
		a = add_1c(a, load64(p + 16));
		b = add_1c(b, load64(p + 24));
		a = add_1c(a, load64(p + 32));
		b = add_1c(b, load64(p + 40));
		a = add_1c(a, load64(p + 48));
		b = add_1c(b, load64(p + 56));
	}
	for (; n >= 8; n -= 8, p += 8)
		a = add_1c(a, load64(p));
	/* What is left starts at an even offset, so its 16-bit words line up
	 * with the ones above; an odd last byte is the first of a word whose
	 * second is 0 (RFC 1071 4.1). */
	if (n & 4) {
		uint32_t v;

		__builtin_memcpy(&v, p, 4);
		a = add_1c(a, v);
		p += 4;
	}
	if (n & 2) {
		uint16_t v;

		__builtin_memcpy(&v, p, 2);
		a = add_1c(a, v);
		p += 2;
	}
	if (n & 1) {
		uint16_t v = 0;

		__builtin_memcpy(&v, p, 1);
		a = add_1c(a, v);
	}
	a = add_1c(a, b);
	/* 64 -> 33 -> 32 bits, then 32 -> 17 -> 16; no step makes a non-zero
	 * sum 0, so the result is 0 only for all-zero data, as lwIP's. */
	a = (a & 0xffffffffu) + (a >> 32);
	a = (a & 0xffffffffu) + (a >> 32);
	a = (a & 0xffff) + (a >> 16);
	a = (a & 0xffff) + (a >> 16);
	return (uint16_t)a;
}
