/* See delta_cache.h. */
#include "migrate/delta_cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "migrate/format.h"

static uint64_t pow2_floor(uint64_t x)
{
	return x ? 1ull << (63 - __builtin_clzll(x)) : 0;
}

static void *alloc_pages(const struct mig_host *h, size_t bytes)
{
	return h && h->alloc_big ? h->alloc_big(h->ctx, bytes) : malloc(bytes);
}

static void free_pages(const struct mig_host *h, void *p, size_t bytes)
{
	if (h && h->alloc_big)
		h->free_big(h->ctx, p, bytes);
	else
		free(p);
}

int mig_delta_cache_init(struct mig_delta_cache *c, uint64_t bytes, uint64_t npages,
			 const struct mig_host *h)
{
	uint64_t slots = pow2_floor(bytes / MIG_PAGE_SIZE);
	uint64_t least = (uint64_t)MIG_MIN_DELTA_CACHE_MIB << 20 >> MIG_PAGE_SHIFT;

	memset(c, 0, sizeof(*c));
	/* More slots than the guest has pages would stay empty. */
	while (slots > 1 && slots / 2 >= npages)
		slots /= 2;
	if (least > slots)
		least = slots; /* a small guest: all of it is less than the floor */
	for (int shrunk = 0; slots && slots >= least; slots /= 2, shrunk = 1) {
		c->pages = alloc_pages(h, slots * MIG_PAGE_SIZE);
		c->tags = c->pages ? calloc(slots, sizeof(uint64_t)) : NULL;
		if (c->tags) {
			c->slots = slots;
			c->host = h;
			return shrunk;
		}
		if (c->pages)
			free_pages(h, c->pages, slots * MIG_PAGE_SIZE);
		c->pages = NULL;
	}
	return -ENOMEM;
}

void mig_delta_cache_fini(struct mig_delta_cache *c)
{
	if (c->pages)
		free_pages(c->host, c->pages, c->slots * MIG_PAGE_SIZE);
	free(c->tags);
	memset(c, 0, sizeof(*c));
}

uint64_t mig_delta_cache_bytes(const struct mig_delta_cache *c)
{
	return c->slots * MIG_PAGE_SIZE;
}

const uint8_t *mig_delta_cache_get(const struct mig_delta_cache *c, uint64_t gfn)
{
	uint64_t i = gfn & (c->slots - 1);

	return c->slots && c->tags[i] == gfn + 1 ? c->pages + i * MIG_PAGE_SIZE : NULL;
}

void mig_delta_cache_put(struct mig_delta_cache *c, uint64_t gfn, const void *page)
{
	uint64_t i = gfn & (c->slots - 1);

	memcpy(c->pages + i * MIG_PAGE_SIZE, page, MIG_PAGE_SIZE);
	c->tags[i] = gfn + 1;
}

void mig_delta_cache_drop(struct mig_delta_cache *c, uint64_t gfn)
{
	uint64_t i = gfn & (c->slots - 1);

	if (c->slots && c->tags[i] == gfn + 1)
		c->tags[i] = 0;
}
