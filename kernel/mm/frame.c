#include <stdbool.h>
#include <string.h>
#include "kernel/mm/frame.h"

static uint64_t *bitmap;  /* bit set = frame used */
static uint64_t nframes;  /* frames the bitmap covers, from address 0 */
static uint64_t nfree;
static uint64_t ram_bytes;
static uint64_t search_hint; /* next-fit: where the last allocation ended */

static inline bool used(uint64_t f) { return bitmap[f / 64] >> (f % 64) & 1; }
static inline void set_used(uint64_t f) { bitmap[f / 64] |= 1ull << (f % 64); }
static inline void set_free(uint64_t f) { bitmap[f / 64] &= ~(1ull << (f % 64)); }

static uint64_t usable_top(const struct mem_region *r, unsigned n)
{
	uint64_t top = 0;
	for (unsigned i = 0; i < n; i++)
		if (r[i].type == MEM_USABLE || r[i].type == MEM_LOADER || r[i].type == MEM_FIRMWARE)
			if (r[i].base + r[i].size > top)
				top = r[i].base + r[i].size;
	return top;
}

size_t frame_bitmap_bytes(const struct mem_region *r, unsigned n)
{
	uint64_t frames = (usable_top(r, n) + FRAME_SIZE - 1) / FRAME_SIZE;
	return (frames + 63) / 64 * 8;
}

static void mark_range(uint64_t base, uint64_t size, bool make_free)
{
	/* Free only whole frames inside the range; reserve every frame it touches. */
	uint64_t first = make_free ? (base + FRAME_SIZE - 1) / FRAME_SIZE : base / FRAME_SIZE;
	uint64_t end = make_free ? (base + size) / FRAME_SIZE : (base + size + FRAME_SIZE - 1) / FRAME_SIZE;

	if (make_free && first < FRAME_LOW_RESERVED / FRAME_SIZE)
		first = FRAME_LOW_RESERVED / FRAME_SIZE;
	if (end > nframes)
		end = nframes;
	for (uint64_t f = first; f < end; f++) {
		if (make_free && used(f)) {
			set_free(f);
			nfree++;
		} else if (!make_free && !used(f)) {
			set_used(f);
			nfree--;
		}
	}
}

void frame_init(const struct mem_region *r, unsigned n, uint64_t *bm, size_t bm_bytes)
{
	bitmap = bm;
	nframes = bm_bytes * 8;
	if (nframes > usable_top(r, n) / FRAME_SIZE)
		nframes = usable_top(r, n) / FRAME_SIZE;
	memset(bitmap, 0xff, bm_bytes);
	nfree = 0;
	ram_bytes = 0;
	search_hint = 0;
	for (unsigned i = 0; i < n; i++) {
		if (mem_type_is_ram(r[i].type))
			ram_bytes += r[i].size;
		if (r[i].type == MEM_USABLE)
			mark_range(r[i].base, r[i].size, true);
	}
	/* The bitmap may live in usable RAM: never hand it out. */
	frame_reserve((uint64_t)(uintptr_t)bm, bm_bytes);
}

void frame_release_type(const struct mem_region *r, unsigned n, uint32_t type)
{
	for (unsigned i = 0; i < n; i++)
		if (r[i].type == type)
			mark_range(r[i].base, r[i].size, true);
}

void frame_reserve(uint64_t base, uint64_t size)
{
	mark_range(base, size, false);
}

uint64_t frame_alloc(size_t count, size_t align)
{
	if (!count || !align || (align & (align - 1)) || count > nfree)
		return 0;
	/* Two passes of next-fit: from the hint to the end, then from 0. */
	for (int pass = 0; pass < 2; pass++) {
		uint64_t f = pass ? 0 : search_hint;
		uint64_t limit = pass ? search_hint + count : nframes;
		if (limit > nframes)
			limit = nframes;
		for (;;) {
			f = (f + align - 1) & ~(uint64_t)(align - 1);
			if (f + count > limit)
				break;
			if (!(f % 64) && bitmap[f / 64] == ~0ull) {
				f += 64; /* skip a fully used word */
				continue;
			}
			uint64_t run = 0;
			while (run < count && !used(f + run))
				run++;
			if (run == count) {
				for (uint64_t i = 0; i < count; i++)
					set_used(f + i);
				nfree -= count;
				search_hint = f + count;
				return f * FRAME_SIZE;
			}
			f += run + 1;
		}
	}
	return 0;
}

void frame_free(uint64_t pa, size_t count)
{
	uint64_t f = pa / FRAME_SIZE;
	for (size_t i = 0; i < count && f + i < nframes; i++) {
		if (used(f + i)) {
			set_free(f + i);
			nfree++;
		}
	}
}

void frame_get_stats(struct frame_stats *st)
{
	st->ram_bytes = ram_bytes;
	st->free_bytes = nfree * FRAME_SIZE;
}
