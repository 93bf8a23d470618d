/* A binary buddy allocator over one block the caller gives it (Knuth, TAOCP
 * vol. 1, 2.5): blocks of 32 bytes times a power of two, a free list per
 * size, a freed block merged with its buddy while that is free too. Every
 * operation costs at most one step per size, however many blocks are in
 * use, and nothing is taken from outside the block. lwIP's heap
 * (net/lwip_heap.c) is its user. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define BUDDY_MIN_SHIFT 5
#define BUDDY_MIN (1u << BUDDY_MIN_SHIFT) /* the smallest block: room for two links */
/* Orders 0..BUDDY_ORDERS-1: 32 bytes up to 2 GiB. */
#define BUDDY_ORDERS 27
/* Every block starts at this alignment, or better. */
#define BUDDY_ALIGN 16

/* The block to give buddy_init() for area bytes of blocks (area a multiple
 * of BUDDY_MIN): the blocks, one map byte per BUDDY_MIN bytes of them, and
 * room to align the start. */
#define BUDDY_BLOCK_BYTES(area) ((area) + (area) / BUDDY_MIN + BUDDY_ALIGN - 1)

struct buddy_free {
	struct buddy_free *next, *prev;
};

struct buddy {
	uint8_t *base;	   /* the first block */
	uint8_t *map;	   /* per BUDDY_MIN bytes: does a block start here, is it free, its order */
	size_t units;	   /* BUDDY_MIN-byte units in the area */
	size_t size;	   /* bytes in the area: units * BUDDY_MIN */
	size_t used;	   /* bytes in allocated blocks */
	size_t peak;	   /* the most used has been */
	uint32_t nonempty; /* bit o: free[o] holds a block */
	struct buddy_free *free[BUDDY_ORDERS];
};

/* Take len bytes at mem: blocks from the (aligned) start, the map after
 * them; an area that is not a power of two is several largest blocks.
 * 0, or -EINVAL when there is not room for one block. */
int buddy_init(struct buddy *b, void *mem, size_t len);

/* A block of at least size bytes, BUDDY_ALIGN-aligned; NULL when no free
 * block is large enough. */
void *buddy_alloc(struct buddy *b, size_t size);

/* Give back a block buddy_alloc() returned. -EINVAL, and nothing changes,
 * for anything else: a pointer outside the area or inside a block, or a
 * block already free. */
int buddy_free(struct buddy *b, void *p);
