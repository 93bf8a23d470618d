/* A RAM disk backed whole, for the storage tests that move data
 * (test_vol_stream, test_vol_clone): every write and flush recorded, a
 * write or every read failing on demand. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "drivers/blkdev.h"

struct ramdisk {
	struct blkdev dev; /* first: the ops get &dev */
	uint8_t *mem;
	int writes, flushes;
	uint32_t write_blocks[64]; /* each write's length, in order */
	int fail_write_at;	   /* 1-based write that fails (0: none) */
	bool fail_reads;
	char ops[256]; /* "w" per write done, "f" per flush, in order */
};

/* A disk of `bytes` in blocks of bs, every byte `fill`; 64 blocks a command. */
struct ramdisk *rd_new(uint64_t bytes, uint32_t bs, uint8_t fill);
void rd_free(struct ramdisk *r);
void rd_clear_ops(struct ramdisk *r);
