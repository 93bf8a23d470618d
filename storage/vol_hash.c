/* A volume's SHA-256, one buffer at a time (vol_hash.h). */
#include <errno.h>
#include <string.h>

#include "storage/vol_hash.h"

int vol_hash_start(struct vol_hash *h, struct blkdev *dev, uint64_t start_lba, uint64_t bytes,
		   void *buf, uint32_t buf_bytes)
{
	uint32_t bs = dev->block_size;

	memset(h, 0, sizeof(*h));
	if (!buf || !buf_bytes || buf_bytes % bs || start_lba > dev->blocks ||
	    (bytes + bs - 1) / bs > dev->blocks - start_lba)
		return -EINVAL;
	h->dev = dev;
	h->start_lba = start_lba;
	h->bytes = bytes;
	h->buf = buf;
	h->buf_bytes = buf_bytes;
	mbedtls_sha256_init(&h->sha);
	mbedtls_sha256_starts_ret(&h->sha, 0);
	return 0;
}

int vol_hash_step(struct vol_hash *h)
{
	uint32_t bs = h->dev->block_size;
	uint64_t left = h->bytes - h->done;

	if (!left)
		return 0;
	uint32_t n = left < h->buf_bytes ? (uint32_t)left : h->buf_bytes;
	/* done is a multiple of buf_bytes, hence of the block size, until
	 * the last step. */
	int rc = blkdev_read(h->dev, h->start_lba + h->done / bs, (n + bs - 1) / bs, h->buf);
	if (rc)
		return rc;
	if (!h->read_only)
		mbedtls_sha256_update_ret(&h->sha, h->buf, n);
	h->done += n;
	return h->done < h->bytes;
}

void vol_hash_finish(struct vol_hash *h, uint8_t out[32])
{
	mbedtls_sha256_finish_ret(&h->sha, out);
	mbedtls_sha256_free(&h->sha);
}

void vol_hash_abort(struct vol_hash *h)
{
	mbedtls_sha256_free(&h->sha);
}
