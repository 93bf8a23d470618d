/* The volume table's test disk (test_voltab, test_voltab_bitmaps): only
 * the metadata area is backed by memory, writes are recorded and can fail
 * or tear on demand; and a formatted disk with its loaded table. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/voltab.h"

#define MIB (1ull << 20)

struct ramdisk {
	struct blkdev dev;
	uint8_t *mem;
	size_t mem_bytes;
	int writes;		/* write commands seen */
	int fail_write_at;	/* 1-based write that fails (0: none) */
	size_t torn_bytes;	/* ... after writing only this many bytes of it */
	uint64_t write_lba[64]; /* the start of each write, in order */
	int flushes;
	bool fail_reads;
};

/* A disk of `bytes` in blocks of bs; its metadata area zeroed. */
struct ramdisk *rd_new(uint64_t bytes, uint32_t bs);
void rd_free(struct ramdisk *r);
/* Copy c (0 or 1) of the table in the disk's memory. */
uint8_t *copy_at(struct ramdisk *r, int c);
/* Rewrites a copy's checksum after a test edited it on purpose. */
void reseal(struct ramdisk *r, int c);

extern const uint8_t fx_uuid[16];

/* A formatted disk and its loaded table. */
struct fixture {
	struct ramdisk *r;
	struct voltab t;
};

struct fixture *fx_new(uint64_t bytes, uint32_t bs);
void fx_free(struct fixture *f);
/* voltab_load of the fixture's disk again. */
int fx_reload(struct fixture *f);
