/* A clone's view over its base (vol_clone.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage/vol_clone.h"
#include "storage/voltab.h"

static void hold(struct vol_clone *c, uint64_t g)
{
	uint8_t bit = (uint8_t)(1u << (g % 8));

	if (c->map[g / 8] & bit)
		return;
	c->map[g / 8] |= bit;
	c->held++;
	uint64_t blk = g / 8 / c->real->block_size;
	c->map_dirty[blk / 8] |= (uint8_t)(1u << (blk % 8));
}

/* Runs of granules held alike: [lba, lba + count) of the view, read from
 * the clone's blocks or the base's. */
static int clone_read(struct blkdev *d, uint64_t lba, uint32_t count, void *buf)
{
	struct vol_clone *c = (struct vol_clone *)d;
	uint64_t gb = c->gran_blocks, end = lba + count;
	uint8_t *p = buf;

	if (lba > d->blocks || count > d->blocks - lba)
		return -EINVAL;
	while (lba < end) {
		bool held = vol_clone_holds(c, lba / gb);
		uint64_t run = (lba / gb + 1) * gb;
		while (run < end && vol_clone_holds(c, run / gb) == held)
			run += gb;
		if (run > end)
			run = end;
		int rc = blkdev_io_split(c->real, (held ? c->data_lba : c->base_lba) + lba,
					 run - lba, p, 0);
		if (rc)
			return rc;
		p += (run - lba) * d->block_size;
		lba = run;
	}
	return 0;
}

/* The first write to part of a granule: the base's granule with the new
 * blocks [from, to) of it laid over, written whole. */
static int copy_up(struct vol_clone *c, uint64_t g, uint64_t from, uint64_t to, const uint8_t *src)
{
	uint32_t bs = c->real->block_size;
	uint64_t first = g * c->gran_blocks;
	int rc = blkdev_io_split(c->real, c->base_lba + first, c->gran_blocks, c->bounce, 0);

	if (rc)
		return rc;
	memcpy(c->bounce + (from - first) * bs, src, (to - from) * bs);
	rc = blkdev_io_split(c->real, c->data_lba + first, c->gran_blocks, c->bounce, 1);
	if (!rc)
		c->copied_up++;
	return rc;
}

/* Granules are marked held once their data is written: a failed write
 * leaves the base's blocks where the clone held none. */
static int clone_write(struct blkdev *d, uint64_t lba, uint32_t count, const void *buf)
{
	struct vol_clone *c = (struct vol_clone *)d;
	uint64_t gb = c->gran_blocks, end = lba + count;
	uint64_t run = lba; /* start of the blocks still to write directly */
	const uint8_t *p = buf;
	uint32_t bs = d->block_size;
	int rc;

	if (lba > d->blocks || count > d->blocks - lba)
		return -EINVAL;
	for (uint64_t g = lba / gb; g * gb < end; g++) {
		uint64_t s = g * gb > lba ? g * gb : lba, e = (g + 1) * gb < end ? (g + 1) * gb : end;
		if (e - s == gb || vol_clone_holds(c, g))
			continue;
		if (s > run) {
			if ((rc = blkdev_io_split(c->real, c->data_lba + run, s - run,
						  (void *)(p + (run - lba) * bs), 1)))
				return rc;
			for (uint64_t k = run / gb; k * gb < s; k++)
				hold(c, k);
		}
		if ((rc = copy_up(c, g, s, e, p + (s - lba) * bs)))
			return rc;
		hold(c, g);
		run = e;
	}
	if (end > run) {
		if ((rc = blkdev_io_split(c->real, c->data_lba + run, end - run,
					  (void *)(p + (run - lba) * bs), 1)))
			return rc;
		for (uint64_t k = run / gb; k * gb < end; k++)
			hold(c, k);
	}
	return 0;
}

int vol_clone_sync(struct vol_clone *c)
{
	uint32_t bs = c->real->block_size, nblk = c->map_io_bytes / bs;
	int rc = blkdev_flush(c->real);
	bool wrote = false;

	if (rc)
		return rc;
	for (uint32_t b = 0; b < nblk;) {
		if (!(c->map_dirty[b / 8] >> (b % 8) & 1)) {
			b++;
			continue;
		}
		uint32_t e = b;
		while (e < nblk && (c->map_dirty[e / 8] >> (e % 8) & 1))
			e++;
		if ((rc = blkdev_io_split(c->real, c->map_lba + b, e - b, c->map + (uint64_t)b * bs,
					  1)))
			return rc;
		for (uint32_t k = b; k < e; k++)
			c->map_dirty[k / 8] &= (uint8_t)~(1u << (k % 8));
		wrote = true;
		b = e;
	}
	return wrote ? blkdev_flush(c->real) : 0;
}

static int clone_flush(struct blkdev *d)
{
	return vol_clone_sync((struct vol_clone *)d);
}

static void release(struct vol_clone *c)
{
	free(c->map);
	free(c->map_dirty);
	free(c->bounce);
	memset(c, 0, sizeof(*c));
}

static const struct blkdev_ops clone_ops = {
	.read = clone_read,
	.write = clone_write,
	.flush = clone_flush,
};

int vol_clone_open(struct vol_clone *c, struct blkdev *real, uint64_t base_lba,
		   uint64_t data_lba, uint64_t map_lba, uint64_t bytes)
{
	uint32_t bs = real->block_size;

	memset(c, 0, sizeof(*c));
	if (!bs || VOLTAB_CLONE_GRAN % bs || !bytes || bytes % VOLTAB_CLONE_GRAN)
		return -EINVAL;
	c->real = real;
	c->base_lba = base_lba;
	c->data_lba = data_lba;
	c->map_lba = map_lba;
	c->gran_blocks = VOLTAB_CLONE_GRAN / bs;
	c->granules = bytes / VOLTAB_CLONE_GRAN;
	c->map_io_bytes = (uint32_t)(((c->granules + 7) / 8 + bs - 1) / bs * bs);
	c->map = malloc(c->map_io_bytes);
	c->map_dirty = calloc(c->map_io_bytes / bs / 8 + 1, 1);
	c->bounce = malloc(VOLTAB_CLONE_GRAN);
	if (!c->map || !c->map_dirty || !c->bounce) {
		release(c);
		return -ENOMEM;
	}
	int rc = blkdev_io_split(real, map_lba, c->map_io_bytes / bs, c->map, 0);
	if (rc) {
		release(c);
		return rc;
	}
	/* Bits past the last granule are not the clone's: never believed. */
	for (uint64_t g = c->granules; g < (uint64_t)c->map_io_bytes * 8; g++)
		c->map[g / 8] &= (uint8_t)~(1u << (g % 8));
	for (uint64_t g = 0; g < c->granules; g++)
		c->held += vol_clone_holds(c, g);
	memcpy(c->dev.name, real->name, sizeof(c->dev.name));
	c->dev.block_size = bs;
	c->dev.blocks = bytes / bs;
	c->dev.max_blocks = real->max_blocks;
	c->dev.ops = &clone_ops;
	return 0;
}

int vol_clone_close(struct vol_clone *c)
{
	int rc = c->real ? vol_clone_sync(c) : 0;

	release(c);
	return rc;
}
