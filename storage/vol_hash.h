/* The SHA-256 of a volume's first bytes, read through the blkdev a chunk
 * at a time, so a caller on the main loop can spread a large volume over
 * many passes (`disk sha256`). Reads whole blocks; a length that ends
 * inside a block hashes only the bytes asked for.
 *
 * Sees the disk only as a struct blkdev and hashes with mbedTLS's
 * SHA-256 (the kernel's, or the host's libmbedcrypto in unit tests);
 * logs and prints nothing. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "drivers/blkdev.h"
#include "mbedtls/sha256.h"

struct vol_hash {
	struct blkdev *dev;
	uint64_t start_lba;
	uint64_t bytes; /* to hash */
	uint64_t done;	/* hashed so far */
	uint8_t *buf;
	uint32_t buf_bytes; /* a positive multiple of the block size */
	bool read_only;	    /* read, do not hash (`disk read`: the disk's own speed) */
	mbedtls_sha256_context sha;
};

/* 0, or -EINVAL for a buffer that is not a positive multiple of the block
 * size or a range past the device's end. */
int vol_hash_start(struct vol_hash *h, struct blkdev *dev, uint64_t start_lba, uint64_t bytes,
		   void *buf, uint32_t buf_bytes);
/* Reads and hashes the next buffer's worth. 1 while bytes remain, 0 once
 * all are hashed (then vol_hash_finish), or the device's error (then
 * vol_hash_abort). */
int vol_hash_step(struct vol_hash *h);
/* The digest; releases the context. */
void vol_hash_finish(struct vol_hash *h, uint8_t out[32]);
void vol_hash_abort(struct vol_hash *h);
