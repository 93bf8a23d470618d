/* The map, not a header in the block, says where blocks start, which are
 * free and their order: a block's buddy is known to be free and whole by
 * one byte, a bad pointer is refused before anything is touched, and an
 * overrun of the block before cannot change what free() believes. Free
 * blocks hold their list links (doubly linked: a buddy leaves its list in
 * O(1) when it merges). */
#include <errno.h>
#include <string.h>

#include "net/buddy.h"

#define MAP_HEAD 0x80 /* a block starts at this unit */
#define MAP_FREE 0x40
#define MAP_ORDER 0x3f

static uint8_t *unit_addr(const struct buddy *b, size_t i)
{
	return b->base + (i << BUDDY_MIN_SHIFT);
}

static size_t unit_of(const struct buddy *b, const void *p)
{
	return (size_t)((const uint8_t *)p - b->base) >> BUDDY_MIN_SHIFT;
}

static void push(struct buddy *b, size_t i, unsigned o)
{
	struct buddy_free *n = (struct buddy_free *)unit_addr(b, i);

	n->prev = NULL;
	n->next = b->free[o];
	if (n->next)
		n->next->prev = n;
	b->free[o] = n;
	b->nonempty |= 1u << o;
	b->map[i] = MAP_HEAD | MAP_FREE | o;
}

static void unlink_free(struct buddy *b, size_t i, unsigned o)
{
	struct buddy_free *n = (struct buddy_free *)unit_addr(b, i);

	if (n->prev)
		n->prev->next = n->next;
	else
		b->free[o] = n->next;
	if (n->next)
		n->next->prev = n->prev;
	if (!b->free[o])
		b->nonempty &= ~(1u << o);
	b->map[i] = 0;
}

static unsigned order_for(size_t size)
{
	if (size <= BUDDY_MIN)
		return 0;
	return (unsigned)(64 - __builtin_clzll((unsigned long long)size - 1)) - BUDDY_MIN_SHIFT;
}

int buddy_init(struct buddy *b, void *mem, size_t len)
{
	uintptr_t start = ((uintptr_t)mem + BUDDY_ALIGN - 1) & ~(uintptr_t)(BUDDY_ALIGN - 1);
	size_t skip = start - (uintptr_t)mem;

	memset(b, 0, sizeof(*b));
	if (len < skip || (len - skip) / (BUDDY_MIN + 1) == 0)
		return -EINVAL;
	b->units = (len - skip) / (BUDDY_MIN + 1);
	b->size = b->units << BUDDY_MIN_SHIFT;
	b->base = (uint8_t *)start;
	b->map = b->base + b->size;
	memset(b->map, 0, b->units);
	/* Largest first (at most BUDDY_ORDERS - 1): each block is aligned to
	 * its size within the area, so its buddy is at its offset XOR its
	 * size, and every aligned range that fits below the end lies within
	 * one of these blocks. */
	for (size_t i = 0; i < b->units;) {
		unsigned o = BUDDY_ORDERS - 1;

		if (i && (unsigned)__builtin_ctzll(i) < o)
			o = (unsigned)__builtin_ctzll(i);
		while (((size_t)1 << o) > b->units - i)
			o--;
		push(b, i, o);
		i += (size_t)1 << o;
	}
	return 0;
}

void *buddy_alloc(struct buddy *b, size_t size)
{
	unsigned want = order_for(size), o;
	uint32_t fits;
	size_t i;

	if (want >= BUDDY_ORDERS)
		return NULL;
	fits = b->nonempty & ~((1u << want) - 1);
	if (!fits)
		return NULL;
	/* The smallest free block that fits, halved until it is the size asked
	 * for; each upper half goes on its list. */
	o = (unsigned)__builtin_ctz(fits);
	i = unit_of(b, b->free[o]);
	unlink_free(b, i, o);
	while (o > want) {
		o--;
		push(b, i + ((size_t)1 << o), o);
	}
	b->map[i] = MAP_HEAD | want;
	b->used += (size_t)BUDDY_MIN << want;
	if (b->used > b->peak)
		b->peak = b->used;
	return unit_addr(b, i);
}

int buddy_free(struct buddy *b, void *p)
{
	uintptr_t off = (uintptr_t)p - (uintptr_t)b->base;
	size_t i;
	unsigned o;

	/* Below the base, off wraps to a value past the end. */
	if (off >= b->size || off & (BUDDY_MIN - 1))
		return -EINVAL;
	i = off >> BUDDY_MIN_SHIFT;
	if ((b->map[i] & (MAP_HEAD | MAP_FREE)) != MAP_HEAD)
		return -EINVAL;
	o = b->map[i] & MAP_ORDER;
	b->used -= (size_t)BUDDY_MIN << o;
	b->map[i] = 0;
	/* The buddy merges only if it is a free block of this very order (a
	 * head, free, same order). One that would reach past the end of the
	 * area does not exist: this block is whole, as init carved it. */
	while (o + 1 < BUDDY_ORDERS) {
		size_t j = i ^ ((size_t)1 << o);

		if (j + ((size_t)1 << o) > b->units || b->map[j] != (MAP_HEAD | MAP_FREE | o))
			break;
		unlink_free(b, j, o);
		i &= ~((size_t)1 << o);
		o++;
	}
	push(b, i, o);
	return 0;
}
