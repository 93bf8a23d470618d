#include <errno.h>
#include <stdint.h>
#include "kernel/mm/frame.h"
#include "kernel/mm/heap.h"

static uint8_t *heap_base, *heap_brk, *heap_end;

int heap_init(size_t bytes)
{
	uint64_t pa = frame_alloc(bytes / FRAME_SIZE, 512); /* 2 MiB aligned */
	if (!pa)
		return -ENOMEM;
	heap_base = heap_brk = (uint8_t *)pa;
	heap_end = heap_base + bytes;
	return 0;
}

void heap_stats(uint64_t *size, uint64_t *used)
{
	*size = heap_end - heap_base;
	*used = heap_brk - heap_base;
}

void *sbrk(ptrdiff_t incr);
void *sbrk(ptrdiff_t incr)
{
	if (!heap_base || incr > heap_end - heap_brk || incr < heap_base - heap_brk) {
		errno = ENOMEM;
		return (void *)-1; /* malloc returns NULL; callers handle -ENOMEM */
	}
	uint8_t *old = heap_brk;
	heap_brk += incr;
	return old;
}
