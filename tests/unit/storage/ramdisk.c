/* The storage tests' RAM disk (ramdisk.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/storage/ramdisk.h"

static void note(struct ramdisk *r, char c)
{
	size_t n = strlen(r->ops);

	if (n + 1 < sizeof(r->ops))
		r->ops[n] = c;
}

static int rd_read(struct blkdev *d, uint64_t lba, uint32_t count, void *buf)
{
	struct ramdisk *r = (struct ramdisk *)d;

	if (lba > d->blocks || count > d->blocks - lba)
		return -EINVAL;
	if (r->fail_reads)
		return -EIO;
	memcpy(buf, r->mem + lba * d->block_size, (size_t)count * d->block_size);
	return 0;
}

static int rd_write(struct blkdev *d, uint64_t lba, uint32_t count, const void *buf)
{
	struct ramdisk *r = (struct ramdisk *)d;

	if (lba > d->blocks || count > d->blocks - lba)
		return -EINVAL;
	if (r->writes < 64)
		r->write_blocks[r->writes] = count;
	if (++r->writes == r->fail_write_at)
		return -EIO;
	note(r, 'w');
	memcpy(r->mem + lba * d->block_size, buf, (size_t)count * d->block_size);
	return 0;
}

static int rd_flush(struct blkdev *d)
{
	struct ramdisk *r = (struct ramdisk *)d;

	r->flushes++;
	note(r, 'f');
	return 0;
}

static const struct blkdev_ops rd_ops = {.read = rd_read, .write = rd_write, .flush = rd_flush};

struct ramdisk *rd_new(uint64_t bytes, uint32_t bs, uint8_t fill)
{
	struct ramdisk *r = calloc(1, sizeof(*r));

	strcpy(r->dev.name, "ram0");
	r->dev.block_size = bs;
	r->dev.blocks = bytes / bs;
	r->dev.max_blocks = 64;
	r->dev.ops = &rd_ops;
	r->mem = malloc(bytes);
	memset(r->mem, fill, bytes);
	return r;
}

void rd_free(struct ramdisk *r)
{
	free(r->mem);
	free(r);
}

void rd_clear_ops(struct ramdisk *r)
{
	memset(r->ops, 0, sizeof(r->ops));
}
