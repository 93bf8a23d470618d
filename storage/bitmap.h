/* A dirty block bitmap: one bit per granule of a volume, set when any byte
 * of the granule is written. Pure memory, no console and no disk: the
 * volume table stores persistent ones (voltab.h), the `disk bitmap`
 * command shows them, and storage migration (later) reads and sets bits
 * through the same calls. The bit layout is the on-disk one
 * (docs/storage.md, "Bitmap bits"): bit i is bit i % 8 of byte i / 8 and
 * covers volume bytes [i * granularity, (i + 1) * granularity). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define BITMAP_GRAN_MIN (4u << 10)
#define BITMAP_GRAN_MAX (16u << 20)
#define BITMAP_GRAN_DEFAULT (64u << 10) /* QEMU's block-dirty-bitmap-add default */

struct bitmap {
	uint64_t vol_bytes;  /* the volume's size: the last granule may be partial */
	uint32_t gran_shift; /* granularity = 1 << gran_shift */
	uint64_t nbits;	     /* ceil(vol_bytes / granularity) */
	uint8_t *bits;	     /* bitmap_bytes() bytes, owned */
};

/* Whether gran is a power of two in [max(BITMAP_GRAN_MIN, block), BITMAP_GRAN_MAX]. */
bool bitmap_gran_ok(uint64_t gran, uint32_t block_size);
/* Bytes the bits take: ceil(nbits / 8) for a volume of vol_bytes. */
uint64_t bitmap_bytes_for(uint64_t vol_bytes, uint32_t gran);
/* An empty bitmap. 0, -EINVAL (granularity not a power of two, or
 * vol_bytes 0), -ENOMEM. */
int bitmap_init(struct bitmap *b, uint64_t vol_bytes, uint32_t gran);
void bitmap_free(struct bitmap *b);
static inline uint32_t bitmap_gran(const struct bitmap *b)
{
	return 1u << b->gran_shift;
}
static inline uint64_t bitmap_bytes(const struct bitmap *b)
{
	return (b->nbits + 7) / 8;
}

/* Marks every granule that bytes [off, off + len) touch, partial ones
 * included; the part past the volume's end is ignored. No allocation: it
 * runs on the guests' write path. */
void bitmap_mark(struct bitmap *b, uint64_t off, uint64_t len);
bool bitmap_test(const struct bitmap *b, uint64_t granule);
void bitmap_set_bit(struct bitmap *b, uint64_t granule);
void bitmap_clear(struct bitmap *b);
/* Granules set. */
uint64_t bitmap_count(const struct bitmap *b);

/* The next run of set granules at or after granule *from, as volume bytes
 * (the last run ends at the volume's end, not the granule's): true with
 * *off and *len, and *from moved past the run; false when none is left. */
bool bitmap_next_run(const struct bitmap *b, uint64_t *from, uint64_t *off, uint64_t *len);
