/* Dirty block bitmaps in memory (bitmap.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage/bitmap.h"

static int log2_exact(uint64_t v)
{
	if (!v || (v & (v - 1)))
		return -1;
	return __builtin_ctzll(v);
}

bool bitmap_gran_ok(uint64_t gran, uint32_t block_size)
{
	uint64_t min = block_size > BITMAP_GRAN_MIN ? block_size : BITMAP_GRAN_MIN;

	return log2_exact(gran) >= 0 && gran >= min && gran <= BITMAP_GRAN_MAX;
}

uint64_t bitmap_bytes_for(uint64_t vol_bytes, uint32_t gran)
{
	uint64_t nbits = (vol_bytes + gran - 1) / gran;
	return (nbits + 7) / 8;
}

int bitmap_init(struct bitmap *b, uint64_t vol_bytes, uint32_t gran)
{
	int shift = log2_exact(gran);

	memset(b, 0, sizeof(*b));
	if (shift < 0 || !vol_bytes)
		return -EINVAL;
	b->vol_bytes = vol_bytes;
	b->gran_shift = (uint32_t)shift;
	b->nbits = (vol_bytes + gran - 1) >> shift;
	b->bits = calloc(1, bitmap_bytes(b));
	return b->bits ? 0 : -ENOMEM;
}

void bitmap_free(struct bitmap *b)
{
	free(b->bits);
	memset(b, 0, sizeof(*b));
}

void bitmap_set_bit(struct bitmap *b, uint64_t g)
{
	if (g < b->nbits)
		b->bits[g >> 3] |= (uint8_t)(1u << (g & 7));
}

bool bitmap_test(const struct bitmap *b, uint64_t g)
{
	return g < b->nbits && (b->bits[g >> 3] >> (g & 7)) & 1;
}

void bitmap_mark(struct bitmap *b, uint64_t off, uint64_t len)
{
	if (!len || off >= b->vol_bytes)
		return;
	if (len > b->vol_bytes - off)
		len = b->vol_bytes - off;
	uint64_t g = off >> b->gran_shift, last = (off + len - 1) >> b->gran_shift;
	/* Bit by bit up to a byte boundary, whole bytes, then the tail: a
	 * large write costs a memset, not one step per granule. */
	for (; g <= last && (g & 7); g++)
		bitmap_set_bit(b, g);
	if (g + 8 <= last + 1) {
		uint64_t nbytes = (last + 1 - g) >> 3;
		memset(b->bits + (g >> 3), 0xff, nbytes);
		g += nbytes << 3;
	}
	for (; g <= last; g++)
		bitmap_set_bit(b, g);
}

void bitmap_clear(struct bitmap *b)
{
	memset(b->bits, 0, bitmap_bytes(b));
}

uint64_t bitmap_count(const struct bitmap *b)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < bitmap_bytes(b); i++)
		n += (uint64_t)__builtin_popcount(b->bits[i]);
	return n;
}

bool bitmap_next_run(const struct bitmap *b, uint64_t *from, uint64_t *off, uint64_t *len)
{
	uint64_t g = *from;

	/* Whole zero bytes are skipped at once. */
	while (g < b->nbits && !bitmap_test(b, g)) {
		if (!(g & 7) && !b->bits[g >> 3])
			g += 8;
		else
			g++;
	}
	if (g >= b->nbits) {
		*from = b->nbits;
		return false;
	}
	uint64_t end = g;
	while (end < b->nbits && bitmap_test(b, end)) {
		if (!(end & 7) && b->bits[end >> 3] == 0xff && end + 8 <= b->nbits)
			end += 8;
		else
			end++;
	}
	*from = end;
	*off = g << b->gran_shift;
	uint64_t stop = end << b->gran_shift;
	*len = (stop > b->vol_bytes ? b->vol_bytes : stop) - *off;
	return true;
}
