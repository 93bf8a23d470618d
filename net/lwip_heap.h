/* lwIP's heap: one block of MEM_SIZE bytes taken from Tern's heap once,
 * managed by a buddy allocator (net/buddy.c). lwIP reaches it as a C
 * library's malloc (net/lwipopts.h: MEM_LIBC_MALLOC, mem_clib_malloc and
 * friends), so this header is included by every lwIP file: it needs only
 * <stddef.h>. */
#pragma once
#include <stddef.h>

/* Take the block: 0, or -ENOMEM. net_init() calls it before lwip_init() to
 * say when there is no memory; otherwise the first allocation does (lwIP's
 * unit tests on the host). Later calls return 0. */
int lwip_heap_init(void);

/* mem_clib_malloc, mem_clib_calloc, mem_clib_free. An allocation that does
 * not fit is NULL (lwIP copes); freeing anything but a block in use is a
 * broken invariant of lwIP's: LWIP_MEM_ILLEGAL_FREE, an assertion, as
 * lwIP's own allocator does. */
void *lwip_heap_malloc(size_t size);
void *lwip_heap_calloc(size_t n, size_t size);
void lwip_heap_free(void *p);

/* What `net show` prints: bytes of the block in allocated blocks now and at
 * most, and the block's size. lwip_stats.mem counts the bytes lwIP asked
 * for, which a block rounds up to a power of two. */
struct lwip_heap_use {
	size_t used, peak, size;
};
struct lwip_heap_use lwip_heap_use(void);
