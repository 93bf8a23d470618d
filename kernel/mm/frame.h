/* Physical frame allocator: one bit per 4 KiB frame of RAM below the
 * highest usable address. Tern runs identity-mapped, so a frame's
 * physical address is also the pointer to it. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "kernel/boot_info.h"

#define FRAME_SIZE 4096ull
#define FRAME_LOW_RESERVED 0x100000ull /* below 1 MiB: firmware and real-mode use */

struct frame_stats {
	uint64_t ram_bytes;  /* every RAM region in the boot memory map */
	uint64_t free_bytes; /* frames the allocator can hand out now */
};

/* Bytes of bitmap needed to cover the usable regions of this map. */
size_t frame_bitmap_bytes(const struct mem_region *r, unsigned n);
/* Starts with every frame used, then frees the usable regions (above
 * FRAME_LOW_RESERVED). The bitmap storage is the caller's. */
void frame_init(const struct mem_region *r, unsigned n, uint64_t *bitmap, size_t bitmap_bytes);
/* Frees the regions of `type` (boot-services memory once Tern no longer
 * runs on the firmware's page tables). */
void frame_release_type(const struct mem_region *r, unsigned n, uint32_t type);
/* Marks [base, base+size) used, e.g. the image and boot modules. */
void frame_reserve(uint64_t base, uint64_t size);
/* `count` contiguous frames aligned to `align` frames (a power of two);
 * returns the physical address, or 0 when no such run is free. */
uint64_t frame_alloc(size_t count, size_t align);
void frame_free(uint64_t pa, size_t count);
void frame_get_stats(struct frame_stats *st);
