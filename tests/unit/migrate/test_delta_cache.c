/* The source's page cache: what was put is what is got, one page per slot,
 * sized to the guest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "migrate/delta_cache.h"
#include "migrate/format.h"

static void page_of(uint8_t *p, uint64_t gfn)
{
	memset(p, (int)(gfn * 7 + 1), MIG_PAGE_SIZE);
}

static void test_cache_is_sized_to_the_guest(void **state)
{
	struct mig_delta_cache c;

	(void)state;
	/* 64 MiB asked, a guest of 1000 pages: 1024 slots. */
	assert_int_equal(mig_delta_cache_init(&c, 64ull << 20, 1000, NULL), 0);
	assert_int_equal(c.slots, 1024);
	assert_int_equal(mig_delta_cache_bytes(&c), 4ull << 20);
	mig_delta_cache_fini(&c);
	/* 3 MiB asked of a big guest: rounded down to 2 MiB. */
	assert_int_equal(mig_delta_cache_init(&c, 3ull << 20, 1 << 20, NULL), 0);
	assert_int_equal(mig_delta_cache_bytes(&c), 2ull << 20);
	mig_delta_cache_fini(&c);
	/* A guest of 8 pages needs 8 slots, below the 1 MiB floor. */
	assert_int_equal(mig_delta_cache_init(&c, 64ull << 20, 8, NULL), 0);
	assert_int_equal(c.slots, 8);
	mig_delta_cache_fini(&c);
}

static void test_put_get_drop_and_eviction(void **state)
{
	struct mig_delta_cache c;
	uint8_t p[MIG_PAGE_SIZE];

	(void)state;
	assert_int_equal(mig_delta_cache_init(&c, 1ull << 20, 1 << 20, NULL), 0);
	assert_int_equal(c.slots, 256);
	assert_null(mig_delta_cache_get(&c, 0));
	for (uint64_t g = 0; g < 256; g++) {
		page_of(p, g);
		mig_delta_cache_put(&c, g, p);
	}
	for (uint64_t g = 0; g < 256; g++) {
		page_of(p, g);
		assert_non_null(mig_delta_cache_get(&c, g));
		assert_memory_equal(mig_delta_cache_get(&c, g), p, MIG_PAGE_SIZE);
	}
	/* gfn 256 takes gfn 0's slot. */
	page_of(p, 256);
	mig_delta_cache_put(&c, 256, p);
	assert_null(mig_delta_cache_get(&c, 0));
	assert_memory_equal(mig_delta_cache_get(&c, 256), p, MIG_PAGE_SIZE);
	/* Dropping a gfn that is not there leaves its slot's page alone. */
	mig_delta_cache_drop(&c, 0);
	assert_non_null(mig_delta_cache_get(&c, 256));
	mig_delta_cache_drop(&c, 256);
	assert_null(mig_delta_cache_get(&c, 256));
	assert_non_null(mig_delta_cache_get(&c, 1));
	mig_delta_cache_fini(&c);
}

/* A host with alloc_big: the pages come from it (the kernel's frames, not
 * its heap), a run it cannot give makes the cache shrink, and fini gives
 * back exactly what was taken. */
struct big {
	size_t limit, taken, freed, calls;
};

static void *big_alloc(void *ctx, size_t bytes)
{
	struct big *b = ctx;

	b->calls++;
	if (bytes > b->limit)
		return NULL;
	b->taken += bytes;
	return malloc(bytes);
}

static void big_free(void *ctx, void *p, size_t bytes)
{
	struct big *b = ctx;

	b->freed += bytes;
	free(p);
}

static void test_pages_come_from_the_hosts_big_allocator(void **state)
{
	struct big b = {.limit = 2u << 20};
	struct mig_host h = {.alloc_big = big_alloc, .free_big = big_free, .ctx = &b};
	struct mig_delta_cache c;

	(void)state;
	/* 8 MiB asked, 2 MiB available in one run: 8 and 4 refused, 2 taken. */
	assert_int_equal(mig_delta_cache_init(&c, 8ull << 20, 1 << 20, &h), 1);
	assert_int_equal(b.calls, 3);
	assert_int_equal(mig_delta_cache_bytes(&c), 2u << 20);
	assert_int_equal(b.taken, 2u << 20);
	mig_delta_cache_fini(&c);
	assert_int_equal(b.freed, 2u << 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_is_sized_to_the_guest),
		cmocka_unit_test(test_put_get_drop_and_eviction),
		cmocka_unit_test(test_pages_come_from_the_hosts_big_allocator),
	};
	return cmocka_run_group_tests_name("migrate/delta cache", tests, NULL, NULL);
}
