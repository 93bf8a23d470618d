/* lwIP's heap block and the buddy allocator over it (see lwip_heap.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/debug.h"
#include "lwip/opt.h"
#include "lwip/stats.h"
#include "net/buddy.h"
#include "net/lwip_heap.h"

/* As lwIP's mem.c: the unit tests' options make it count instead. */
#ifndef LWIP_MEM_ILLEGAL_FREE
#define LWIP_MEM_ILLEGAL_FREE(msg) LWIP_ASSERT(msg, 0)
#endif

/* MEM_SIZE bytes of blocks exactly (one 4 MiB block, not 2 + 1 + ...): the
 * allocator's map and alignment come on top. */
#define LWIP_HEAP_BYTES BUDDY_BLOCK_BYTES((size_t)MEM_SIZE)

static struct buddy heap;

int lwip_heap_init(void)
{
	void *block;

	if (heap.size)
		return 0;
	block = malloc(LWIP_HEAP_BYTES);
	if (!block)
		return -ENOMEM;
	if (buddy_init(&heap, block, LWIP_HEAP_BYTES) < 0) {
		free(block);
		return -ENOMEM;
	}
	LWIP_ASSERT("lwIP's heap holds MEM_SIZE bytes", heap.size == MEM_SIZE);
#if MEM_STATS
	lwip_stats.mem.avail = heap.size;
#endif
	return 0;
}

void *lwip_heap_malloc(size_t size)
{
	if (!heap.size && lwip_heap_init() < 0)
		return NULL;
	return buddy_alloc(&heap, size);
}

void *lwip_heap_calloc(size_t n, size_t size)
{
	size_t bytes;
	void *p;

	if (__builtin_mul_overflow(n, size, &bytes))
		return NULL;
	p = lwip_heap_malloc(bytes);
	if (p)
		memset(p, 0, bytes);
	return p;
}

void lwip_heap_free(void *p)
{
	if (buddy_free(&heap, p) < 0) {
		MEM_STATS_INC(illegal);
		LWIP_MEM_ILLEGAL_FREE("lwip_heap_free: not a block in use");
	}
}

struct lwip_heap_use lwip_heap_use(void)
{
	return (struct lwip_heap_use){heap.used, heap.peak, heap.size};
}
