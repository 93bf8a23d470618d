/* A byte stream written onto a volume from its first block on: what
 * `disk import` turns an HTTP body into. Bytes arrive in pieces of any
 * size; the stream gathers them in the caller's bounded buffer and writes
 * it out, whole blocks at a time, each time it fills, so memory stays at
 * one buffer whatever the image's size. The last, partial block is padded
 * with zeros; blocks past the stream's end are never written.
 *
 * Sees the disk only as a struct blkdev (host unit tests run it on a RAM
 * disk); logs and prints nothing. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "drivers/blkdev.h"

struct vol_stream {
	struct blkdev *dev;
	uint64_t start_lba; /* the volume's first block */
	uint64_t limit;	    /* the volume's size: no byte goes past it */
	uint8_t *buf;
	uint32_t buf_bytes; /* a positive multiple of the block size */
	uint32_t fill;	    /* bytes waiting in buf */
	uint64_t taken;	    /* bytes accepted by vol_stream_put */
	uint64_t written;   /* bytes on the disk (counting finish's zero padding) */
	int error;	    /* the first device error: the stream is dead after it */
};

/* 0, or -EINVAL for a buffer that is not a positive multiple of the
 * block size or a range that does not fit the device. */
int vol_stream_open(struct vol_stream *s, struct blkdev *dev, uint64_t start_lba, uint64_t bytes,
		    void *buf, uint32_t buf_bytes);
/* Takes n more bytes. 0; -EFBIG when they would go past the volume (none
 * of them is taken); the device's error when a buffer write failed (then
 * every later call returns it too). */
int vol_stream_put(struct vol_stream *s, const void *data, size_t n);
/* Writes what is held (the last block padded with zeros) and flushes the
 * device, so the stream is on stable storage when it returns 0. */
int vol_stream_finish(struct vol_stream *s);
