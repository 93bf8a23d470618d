/* A clone as its guest sees it: a struct blkdev whose block 0 is the
 * clone's first block. A granule (VOLTAB_CLONE_GRAN) the clone holds is
 * read from and written to the clone's own blocks; any other is read from
 * the base. The first write to a granule makes the clone hold it: the
 * base's copy is read and merged first when the write covers only part.
 *
 * The map of held granules is kept in memory and written to its extent
 * after the data (docs/storage.md, "Clones") by vol_clone_sync, which the
 * view's flush is: the data is flushed first, then the changed map blocks
 * written and flushed. So a map bit on the disk never points at data that
 * did not reach it, and what a guest flushed survives a power cut.
 *
 * Sees the disk only as a struct blkdev: host unit tests run it on a RAM
 * disk. Logs and prints nothing. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "drivers/blkdev.h"

struct vol_clone {
	struct blkdev dev; /* first: the view the guest's device is given */
	struct blkdev *real;
	uint64_t base_lba, data_lba, map_lba; /* on real */
	uint32_t gran_blocks;		      /* real's blocks per granule */
	uint64_t granules;
	uint8_t *map;	     /* a bit per granule, as on the disk; map_io_bytes long */
	uint32_t map_io_bytes; /* the map's bytes rounded up to real's blocks */
	uint8_t *map_dirty;  /* a bit per real block of the map changed since the last sync */
	uint8_t *bounce;     /* one granule, for a partial first write */
	uint64_t held;	     /* granules the clone holds */
	uint64_t copied_up;  /* first writes that had to read the base */
};

/* Opens the clone of `bytes` bytes (a multiple of VOLTAB_CLONE_GRAN and of
 * the block size) whose blocks start at data_lba, its map at map_lba,
 * over the base at base_lba; reads the map. 0, -EINVAL, -ENOMEM, or the
 * read's error. */
int vol_clone_open(struct vol_clone *c, struct blkdev *real, uint64_t base_lba,
		   uint64_t data_lba, uint64_t map_lba, uint64_t bytes);
/* Writes what the map gained (vol_clone_sync) and frees it: 0 or that
 * error (the memory is freed either way). */
int vol_clone_close(struct vol_clone *c);
/* Flushes the data, writes the changed map blocks, flushes again. */
int vol_clone_sync(struct vol_clone *c);
static inline bool vol_clone_holds(const struct vol_clone *c, uint64_t granule)
{
	return granule < c->granules && (c->map[granule / 8] >> (granule % 8) & 1);
}
