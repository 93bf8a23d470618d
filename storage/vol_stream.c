/* A byte stream onto a volume through one bounded buffer (vol_stream.h). */
#include <errno.h>
#include <string.h>

#include "storage/vol_stream.h"

int vol_stream_open(struct vol_stream *s, struct blkdev *dev, uint64_t start_lba, uint64_t bytes,
		    void *buf, uint32_t buf_bytes)
{
	uint32_t bs = dev->block_size;

	memset(s, 0, sizeof(*s));
	if (!buf || !buf_bytes || buf_bytes % bs || bytes % bs || start_lba > dev->blocks ||
	    bytes / bs > dev->blocks - start_lba)
		return -EINVAL;
	s->dev = dev;
	s->start_lba = start_lba;
	s->limit = bytes;
	s->buf = buf;
	s->buf_bytes = buf_bytes;
	return 0;
}

/* Writes the held bytes, rounded up to whole blocks (the caller zeroed
 * the tail), at the stream's position. */
static int write_out(struct vol_stream *s)
{
	uint32_t bs = s->dev->block_size;
	uint32_t blocks = (s->fill + bs - 1) / bs;

	if (!blocks)
		return 0;
	int rc = blkdev_write(s->dev, s->start_lba + s->written / bs, blocks, s->buf);
	if (rc)
		return s->error = rc;
	s->written += (uint64_t)blocks * bs;
	s->fill = 0;
	return 0;
}

int vol_stream_put(struct vol_stream *s, const void *data, size_t n)
{
	const uint8_t *p = data;

	if (s->error)
		return s->error;
	if (n > s->limit - s->taken)
		return -EFBIG;
	while (n) {
		uint32_t room = s->buf_bytes - s->fill;
		uint32_t now = n < room ? (uint32_t)n : room;
		memcpy(s->buf + s->fill, p, now);
		s->fill += now;
		s->taken += now;
		p += now;
		n -= now;
		/* Only a full buffer goes out here: every write but the last
		 * is buf_bytes long, so the device sees few, large commands. */
		if (s->fill == s->buf_bytes) {
			int rc = write_out(s);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int vol_stream_finish(struct vol_stream *s)
{
	uint32_t bs = s->dev->block_size;
	uint32_t pad = (bs - s->fill % bs) % bs;

	if (s->error)
		return s->error;
	/* Zeros, not what the block held: the device cannot write part of
	 * a block, and reading it first would buy nothing an image needs. */
	memset(s->buf + s->fill, 0, pad);
	s->fill += pad;
	int rc = write_out(s);
	if (rc)
		return rc;
	if ((rc = blkdev_flush(s->dev)))
		s->error = rc;
	return rc;
}
