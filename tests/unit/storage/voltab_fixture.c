/* The volume table's test disk and fixture (voltab_fixture.h). Only the
 * metadata area is backed by memory: the table never touches the data
 * area, so a "large" disk costs 1 MiB. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "migrate/le.h"
#include "storage/crc32c.h"
#include "tests/unit/storage/voltab_fixture.h"

static int rd_read(struct blkdev *d, uint64_t lba, uint32_t count, void *buf)
{
	struct ramdisk *r = (struct ramdisk *)d;
	uint64_t off = lba * d->block_size, len = (uint64_t)count * d->block_size;

	if (lba > d->blocks || count > d->blocks - lba)
		return -EINVAL;
	if (r->fail_reads)
		return -EIO;
	assert_true(off + len <= r->mem_bytes); /* the table stays in the metadata area */
	memcpy(buf, r->mem + off, len);
	return 0;
}

static int rd_write(struct blkdev *d, uint64_t lba, uint32_t count, const void *buf)
{
	struct ramdisk *r = (struct ramdisk *)d;
	uint64_t off = lba * d->block_size, len = (uint64_t)count * d->block_size;

	if (lba > d->blocks || count > d->blocks - lba)
		return -EINVAL;
	assert_true(off + len <= r->mem_bytes);
	if (r->writes < 64)
		r->write_lba[r->writes] = lba;
	if (++r->writes == r->fail_write_at) {
		memcpy(r->mem + off, buf, r->torn_bytes < len ? r->torn_bytes : len);
		return -EIO;
	}
	memcpy(r->mem + off, buf, len);
	return 0;
}

static int rd_flush(struct blkdev *d)
{
	((struct ramdisk *)d)->flushes++;
	return 0;
}

static const struct blkdev_ops rd_ops = {.read = rd_read, .write = rd_write, .flush = rd_flush};

struct ramdisk *rd_new(uint64_t bytes, uint32_t bs)
{
	struct ramdisk *r = calloc(1, sizeof(*r));

	strcpy(r->dev.name, "ram0");
	r->dev.block_size = bs;
	r->dev.blocks = bytes / bs;
	r->dev.max_blocks = 256;
	r->dev.ops = &rd_ops;
	r->mem_bytes = VOLTAB_DATA_OFFSET;
	r->mem = calloc(1, r->mem_bytes);
	return r;
}

void rd_free(struct ramdisk *r)
{
	free(r->mem);
	free(r);
}

uint8_t *copy_at(struct ramdisk *r, int c)
{
	return r->mem + (c ? VOLTAB_COPY1_OFFSET : VOLTAB_COPY0_OFFSET);
}

void reseal(struct ramdisk *r, int c)
{
	uint8_t *b = copy_at(r, c);
	le32_put(b + 20, 0);
	le32_put(b + 20, crc32c_update(0, b, VOLTAB_COPY_BYTES));
}

const uint8_t fx_uuid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

struct fixture *fx_new(uint64_t bytes, uint32_t bs)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->r = rd_new(bytes, bs);
	assert_int_equal(voltab_format(&f->t, &f->r->dev, fx_uuid, 1000, 1), 0);
	return f;
}

void fx_free(struct fixture *f)
{
	voltab_close(&f->t);
	rd_free(f->r);
	free(f);
}

int fx_reload(struct fixture *f)
{
	return voltab_load(&f->t, &f->r->dev);
}
