/* net/buddy against a model: every byte of the area owned by at most one
 * block, blocks aligned to their size, a request refused only when no
 * aligned free range of its block size is left, everything back (and whole
 * again) after freeing all, and bad pointers refused without harm. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net/buddy.h"

#define MAX_LIVE 4096

struct live {
	uint8_t *p;
	size_t size, block;
	uint8_t fill;
};

struct model {
	struct buddy b;
	void *mem;
	uint8_t *owner; /* per BUDDY_MIN unit: 1 while an allocation holds it */
	struct live live[MAX_LIVE];
	int n;
	size_t used;
};

static uint32_t rng = 1;

static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static size_t block_for(size_t size)
{
	size_t block = BUDDY_MIN;

	while (block < size)
		block <<= 1;
	return block;
}

/* len bytes of memory at an odd address, so init must align the start. */
static void model_init(struct model *m, size_t len)
{
	memset(m, 0, sizeof(*m));
	m->mem = malloc(len + 1);
	assert_non_null(m->mem);
	assert_int_equal(buddy_init(&m->b, (uint8_t *)m->mem + 1, len), 0);
	assert_true(m->b.base >= (uint8_t *)m->mem + 1);
	assert_true(m->b.map + m->b.units <= (uint8_t *)m->mem + 1 + len);
	m->owner = calloc(m->b.units, 1);
	assert_non_null(m->owner);
}

static void model_fini(struct model *m)
{
	free(m->owner);
	free(m->mem);
}

/* Is there an aligned range of this block size, all free, in the area? */
static int model_has_room(const struct model *m, size_t block)
{
	size_t units = block / BUDDY_MIN;

	if (block > ((size_t)BUDDY_MIN << (BUDDY_ORDERS - 1)))
		return 0;
	for (size_t i = 0; i + units <= m->b.units; i += units) {
		size_t k = 0;

		while (k < units && !m->owner[i + k])
			k++;
		if (k == units)
			return 1;
	}
	return 0;
}

static void model_alloc(struct model *m, size_t size)
{
	uint8_t *p = buddy_alloc(&m->b, size);
	size_t block = block_for(size), first;
	struct live *l;

	if (!p) {
		assert_false(model_has_room(m, block));
		return;
	}
	assert_int_equal((uintptr_t)p % BUDDY_ALIGN, 0);
	assert_true(p >= m->b.base && p + block <= m->b.base + m->b.size);
	assert_int_equal((size_t)(p - m->b.base) % block, 0);
	first = (size_t)(p - m->b.base) / BUDDY_MIN;
	for (size_t k = 0; k < block / BUDDY_MIN; k++) {
		assert_int_equal(m->owner[first + k], 0);
		m->owner[first + k] = 1;
	}
	assert_true(m->n < MAX_LIVE);
	l = &m->live[m->n++];
	*l = (struct live){p, size, block, (uint8_t)next_rand()};
	/* The whole request is usable; checked again when it is freed. */
	memset(p, l->fill, size);
	m->used += block;
	assert_int_equal(m->b.used, m->used);
	assert_true(m->b.peak >= m->b.used);
}

static void model_free(struct model *m, int idx)
{
	struct live l = m->live[idx];
	size_t first = (size_t)(l.p - m->b.base) / BUDDY_MIN;

	for (size_t k = 0; k < l.size; k++)
		if (l.p[k] != l.fill)
			fail_msg("block %p: byte %zu overwritten", (void *)l.p, k);
	assert_int_equal(buddy_free(&m->b, l.p), 0);
	for (size_t k = 0; k < l.block / BUDDY_MIN; k++)
		m->owner[first + k] = 0;
	m->live[idx] = m->live[--m->n];
	m->used -= l.block;
	assert_int_equal(m->b.used, m->used);
}

static void model_free_all(struct model *m)
{
	while (m->n)
		model_free(m, (int)(next_rand() % (uint32_t)m->n));
	assert_int_equal(m->b.used, 0);
}

/* 1 byte .. 64 KiB, evenly spread over the powers of two. */
static size_t random_size(void)
{
	unsigned shift = next_rand() % 17;

	return 1 + next_rand() % ((size_t)1 << shift);
}

static void random_run(struct model *m, int steps, int alloc_pct)
{
	for (int s = 0; s < steps; s++) {
		if (m->n && (int)(next_rand() % 100) >= alloc_pct)
			model_free(m, (int)(next_rand() % (uint32_t)m->n));
		else if (m->n < MAX_LIVE)
			model_alloc(m, random_size());
	}
}

/* The largest blocks init carved: each allocatable once, nothing more. */
static void assert_whole_again(struct model *m, const size_t *tops, int ntops)
{
	void *p[8];

	for (int i = 0; i < ntops; i++) {
		p[i] = buddy_alloc(&m->b, tops[i]);
		assert_non_null(p[i]);
	}
	assert_null(buddy_alloc(&m->b, 1));
	for (int i = 0; i < ntops; i++)
		assert_int_equal(buddy_free(&m->b, p[i]), 0);
	assert_int_equal(m->b.used, 0);
}

static void test_random_use_keeps_blocks_apart_and_fails_only_when_full(void **state)
{
	/* A power of two, and one that is not: 3 x 256 KiB + 32 KiB + 64 B. */
	static const size_t areas[] = {1024 * 1024, 3 * 256 * 1024 + 32 * 1024 + 64};
	static const size_t tops[][5] = {{1024 * 1024},
					 {256 * 1024, 256 * 1024, 256 * 1024, 32 * 1024, 64}};
	static const int ntops[] = {1, 5};
	struct model *m = malloc(sizeof(*m));

	(void)state;
	assert_non_null(m);
	for (int a = 0; a < 2; a++) {
		rng = 12345 + (uint32_t)a;
		model_init(m, BUDDY_BLOCK_BYTES(areas[a]));
		assert_int_equal(m->b.size, areas[a]);
		/* Mostly allocating until the area is full, then churn around
		 * full, then mostly freeing. */
		random_run(m, 20000, 80);
		random_run(m, 20000, 50);
		random_run(m, 5000, 20);
		model_free_all(m);
		assert_whole_again(m, tops[a], ntops[a]);
		assert_true(m->b.peak > areas[a] / 2);
		model_fini(m);
	}
	free(m);
}

static void test_exhaustion_returns_null_and_recovers(void **state)
{
	static const size_t area = 64 * 1024;
	const size_t top[] = {area};
	struct model *m = malloc(sizeof(*m));
	int count = 0;

	(void)state;
	assert_non_null(m);
	model_init(m, BUDDY_BLOCK_BYTES(area));
	while (m->n < MAX_LIVE && buddy_alloc(&m->b, 1) != NULL)
		count++;
	assert_int_equal(count, area / BUDDY_MIN);
	/* The model did not see those: give them back by address. */
	for (size_t off = 0; off < area; off += BUDDY_MIN)
		assert_int_equal(buddy_free(&m->b, m->b.base + off), 0);
	assert_whole_again(m, top, 1);
	/* Full again with the largest block; one smallest block freed and
	 * asked for again is found. */
	model_alloc(m, area / 2);
	model_alloc(m, area / 4);
	model_alloc(m, area / 8);
	while (m->n < MAX_LIVE && m->b.used < area)
		model_alloc(m, BUDDY_MIN);
	assert_null(buddy_alloc(&m->b, 1));
	model_free(m, m->n - 1);
	model_alloc(m, 1);
	assert_null(buddy_alloc(&m->b, 1));
	model_free_all(m);
	assert_whole_again(m, top, 1);
	model_fini(m);
	free(m);
}

static void test_sizes_round_up_to_a_power_of_two_and_too_big_is_null(void **state)
{
	static const size_t area = 256 * 1024;
	struct model *m = malloc(sizeof(*m));
	uint8_t *p;

	(void)state;
	assert_non_null(m);
	model_init(m, BUDDY_BLOCK_BYTES(area));
	p = buddy_alloc(&m->b, 0);
	assert_non_null(p);
	assert_int_equal(m->b.used, BUDDY_MIN);
	assert_int_equal(buddy_free(&m->b, p), 0);
	for (size_t size = 1; size <= area; size = size * 3 / 2 + 1) {
		model_alloc(m, size);
		assert_int_equal(m->b.used, block_for(size));
		model_free(m, 0);
	}
	assert_null(buddy_alloc(&m->b, area + 1));
	assert_null(buddy_alloc(&m->b, SIZE_MAX));
	assert_null(buddy_alloc(&m->b, (size_t)BUDDY_MIN << BUDDY_ORDERS));
	assert_int_equal(m->b.used, 0);
	model_fini(m);
	free(m);
}

static void test_bad_pointers_and_double_frees_are_refused_without_harm(void **state)
{
	static const size_t area = 64 * 1024;
	const size_t top[] = {area};
	struct model *m = malloc(sizeof(*m));
	uint8_t *a, *b, *c;
	size_t used;

	(void)state;
	assert_non_null(m);
	model_init(m, BUDDY_BLOCK_BYTES(area));
	a = buddy_alloc(&m->b, 100);
	b = buddy_alloc(&m->b, 100);
	c = buddy_alloc(&m->b, 1000);
	assert_true(a && b && c);
	used = m->b.used;
	/* Outside the area, not on a unit, inside a block, the map. */
	assert_int_equal(buddy_free(&m->b, m->b.base - BUDDY_MIN), -EINVAL);
	assert_int_equal(buddy_free(&m->b, m->b.base + area), -EINVAL);
	assert_int_equal(buddy_free(&m->b, m->b.map), -EINVAL);
	assert_int_equal(buddy_free(&m->b, NULL), -EINVAL);
	assert_int_equal(buddy_free(&m->b, a + 1), -EINVAL);
	assert_int_equal(buddy_free(&m->b, a + BUDDY_MIN), -EINVAL);
	assert_int_equal(buddy_free(&m->b, c + 512), -EINVAL);
	assert_int_equal(m->b.used, used);
	/* Twice: while still free, and once merged into a larger free block. */
	assert_int_equal(buddy_free(&m->b, b), 0);
	assert_int_equal(buddy_free(&m->b, b), -EINVAL);
	assert_int_equal(buddy_free(&m->b, a), 0);
	assert_int_equal(buddy_free(&m->b, b), -EINVAL);
	assert_int_equal(buddy_free(&m->b, a), -EINVAL);
	assert_int_equal(buddy_free(&m->b, c), 0);
	assert_int_equal(buddy_free(&m->b, c), -EINVAL);
	assert_int_equal(m->b.used, 0);
	assert_whole_again(m, top, 1);
	model_fini(m);
	free(m);
}

static void test_init_needs_room_for_one_block(void **state)
{
	uint8_t mem[BUDDY_MIN * 2 + BUDDY_ALIGN];
	struct buddy b;

	(void)state;
	assert_int_equal(buddy_init(&b, mem, 0), -EINVAL);
	assert_int_equal(buddy_init(&b, mem, BUDDY_MIN), -EINVAL);
	assert_int_equal(buddy_init(&b, mem, sizeof(mem)), 0);
	assert_true(b.units >= 1);
	assert_non_null(buddy_alloc(&b, BUDDY_MIN));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_use_keeps_blocks_apart_and_fails_only_when_full),
		cmocka_unit_test(test_exhaustion_returns_null_and_recovers),
		cmocka_unit_test(test_sizes_round_up_to_a_power_of_two_and_too_big_is_null),
		cmocka_unit_test(test_bad_pointers_and_double_frees_are_refused_without_harm),
		cmocka_unit_test(test_init_needs_room_for_one_block),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
