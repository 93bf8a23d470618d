/* The source's copies of the pages it sent, the bases of their deltas
 * (delta.h). Direct-mapped by gfn: one slot per gfn modulo the slot count,
 * so neighbouring pages never evict each other and a lookup is one
 * compare. Sized once, at the start of a migration; nothing is allocated
 * afterwards. */
#pragma once
#include <stdint.h>

#include "migrate/migrate.h"

/* Below this a cache holds too little of a working set to be worth it. */
#define MIG_MIN_DELTA_CACHE_MIB 1u

struct mig_delta_cache {
	uint8_t *pages; /* slots × MIG_PAGE_SIZE */
	uint64_t *tags; /* gfn + 1 of the page in each slot; 0: empty */
	uint64_t slots; /* a power of two */
	const struct mig_host *host; /* pages from its alloc_big, if it has one */
};

/* At most bytes (rounded down to a power of two pages, and no more than
 * the guest's npages need); if memory is short, half as much, and so on
 * down to MIG_MIN_DELTA_CACHE_MIB. 0, 1 when memory was short and the
 * cache is smaller than that, -ENOMEM when not even the least fits. The
 * pages come from host's alloc_big when it has one (h may be NULL). */
int mig_delta_cache_init(struct mig_delta_cache *c, uint64_t bytes, uint64_t npages,
			 const struct mig_host *h);
void mig_delta_cache_fini(struct mig_delta_cache *c);
uint64_t mig_delta_cache_bytes(const struct mig_delta_cache *c);
/* The copy of gfn last put, or NULL. */
const uint8_t *mig_delta_cache_get(const struct mig_delta_cache *c, uint64_t gfn);
/* Keep page (MIG_PAGE_SIZE bytes) as gfn's copy, evicting its slot's. */
void mig_delta_cache_put(struct mig_delta_cache *c, uint64_t gfn, const void *page);
/* Forget gfn's copy, if it is there. */
void mig_delta_cache_drop(struct mig_delta_cache *c, uint64_t gfn);
