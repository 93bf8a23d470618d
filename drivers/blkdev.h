/* The interface every block device driver implements (NVMe now), and all
 * that storage/ and the guests' virtio-blk disks know of a disk.
 *
 * Calls are synchronous and bounded in time: a polled driver returns once
 * the device completed the command or its timeout passed (-ETIMEDOUT, the
 * device then needs a reset, which the driver tries itself). Buffers are
 * host memory (Tern runs identity-mapped: a pointer is a physical address),
 * at least 4-byte aligned, count * block_size bytes long; a driver that
 * needs more alignment or contiguity bounces. LBAs and counts are in the
 * device's blocks; a range past `blocks` is -EINVAL, never a device
 * command. */
#pragma once
#include <errno.h>
#include <stdint.h>

#define BLKDEV_NAME_MAX 16

/* What `disk` commands show; the driver keeps them. */
struct blkdev_counters {
	uint64_t reads, writes, flushes; /* commands completed */
	uint64_t read_blocks, written_blocks;
	uint64_t errors;   /* commands the device failed (status != success) */
	uint64_t timeouts; /* commands it did not complete in time */
	uint64_t resets;   /* controller resets done to recover */
};

struct blkdev;

struct blkdev_ops {
	/* 0, or a negative errno: -EINVAL (range), -EIO (the device said
	 * so), -ETIMEDOUT, -ENODEV (the device is gone or failed to reset). */
	int (*read)(struct blkdev *d, uint64_t lba, uint32_t count, void *buf);
	int (*write)(struct blkdev *d, uint64_t lba, uint32_t count, const void *buf);
	/* Everything written before is on stable storage once it returns. */
	int (*flush)(struct blkdev *d);
	/* Optional: count blocks of zeros from lba, with no data moved;
	 * -EOPNOTSUPP when this device cannot (blkdev_write_zeroes then
	 * writes a buffer of zeros). */
	int (*write_zeroes)(struct blkdev *d, uint64_t lba, uint32_t count);
};

struct blkdev {
	char name[BLKDEV_NAME_MAX]; /* "nvme0n1": driver, controller, namespace */
	uint32_t block_size;	    /* bytes: 512 or 4096 */
	uint64_t blocks;	    /* capacity in blocks */
	uint32_t max_blocks;	    /* the most one read or write may carry */
	const struct blkdev_ops *ops;
	struct blkdev_counters counters;
	void *priv; /* the driver's own state */
};

static inline int blkdev_read(struct blkdev *d, uint64_t lba, uint32_t count, void *buf)
{
	return d->ops->read(d, lba, count, buf);
}

static inline int blkdev_write(struct blkdev *d, uint64_t lba, uint32_t count, const void *buf)
{
	return d->ops->write(d, lba, count, buf);
}

/* count blocks of any size, as commands of at most max_blocks each. */
static inline int blkdev_io_split(struct blkdev *d, uint64_t lba, uint64_t count, void *buf,
				  int write)
{
	uint32_t step = d->max_blocks ? d->max_blocks : 0xFFFFFFFFu;
	uint8_t *p = (uint8_t *)buf;

	while (count) {
		uint32_t n = count < step ? (uint32_t)count : step;
		int rc = write ? blkdev_write(d, lba, n, p) : blkdev_read(d, lba, n, p);
		if (rc)
			return rc;
		lba += n;
		p += (uint64_t)n * d->block_size;
		count -= n;
	}
	return 0;
}

/* count blocks of zeros from lba: the device's Write Zeroes, or, without
 * one, writes of `zeros` (zero_blocks blocks of zeros, at least one). */
static inline int blkdev_write_zeroes(struct blkdev *d, uint64_t lba, uint64_t count,
				      const void *zeros, uint32_t zero_blocks)
{
	int rc = -EOPNOTSUPP;

	if (d->ops->write_zeroes && count <= 0xFFFFFFFFu)
		rc = d->ops->write_zeroes(d, lba, (uint32_t)count);
	if (rc != -EOPNOTSUPP)
		return rc;
	while (count) {
		uint32_t n = count < zero_blocks ? (uint32_t)count : zero_blocks;
		if ((rc = blkdev_io_split(d, lba, n, (void *)zeros, 1)))
			return rc;
		lba += n;
		count -= n;
	}
	return 0;
}

static inline int blkdev_flush(struct blkdev *d)
{
	return d->ops->flush(d);
}
