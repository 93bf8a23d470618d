/* The frame allocator over a synthetic firmware memory map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "kernel/mm/frame.h"

#define MiB (1ull << 20)

/* A map shaped like OVMF's: low RAM with a hole, a loader region, ACPI,
 * boot-services memory, MMIO far above RAM. */
static const struct mem_region map[] = {
	{0x0, 0xA0000, MEM_USABLE, 0},
	{0x100000, 15 * MiB, MEM_USABLE, 0},
	{16 * MiB, 2 * MiB, MEM_LOADER, 0},
	{18 * MiB, 4 * MiB, MEM_RECLAIMABLE, 0},
	{22 * MiB, 40 * MiB, MEM_USABLE, 0},
	{62 * MiB, 1 * MiB, MEM_ACPI, 0},
	{63 * MiB, 1 * MiB, MEM_NVS, 0},
	{0xFEC00000, 0x1000, MEM_MMIO, 0},
	{0xFFC00000, 4 * MiB, MEM_RESERVED, 0},
};
#define N (sizeof(map) / sizeof(map[0]))

static uint64_t *bitmap;

static int setup(void **state)
{
	(void)state;
	size_t bytes = frame_bitmap_bytes(map, N);
	bitmap = malloc(bytes);
	frame_init(map, N, bitmap, bytes);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(bitmap);
	return 0;
}

static void test_bitmap_covers_ram_not_mmio(void **state)
{
	(void)state;
	/* 62 MiB of usable top, one bit per frame. */
	assert_int_equal(frame_bitmap_bytes(map, N), 62 * MiB / FRAME_SIZE / 8);
}

static void test_stats_count_ram_types_only(void **state)
{
	(void)state;
	struct frame_stats st;
	frame_get_stats(&st);
	assert_int_equal(st.ram_bytes, 0xA0000 + 15 * MiB + 2 * MiB + 4 * MiB + 40 * MiB + 2 * MiB);
	/* Usable above 1 MiB only: 15 + 40 MiB (the bitmap lives in malloc here). */
	assert_int_equal(st.free_bytes, 55 * MiB);
}

static void test_never_hands_out_low_memory_or_reserved_regions(void **state)
{
	(void)state;
	uint64_t pa;
	while ((pa = frame_alloc(1, 1))) {
		assert_true(pa >= FRAME_LOW_RESERVED);
		assert_false(pa >= 16 * MiB && pa < 22 * MiB); /* loader, boot services */
		assert_true(pa < 62 * MiB);
	}
	struct frame_stats st;
	frame_get_stats(&st);
	assert_int_equal(st.free_bytes, 0);
}

static void test_reclaimed_boot_memory_becomes_free(void **state)
{
	(void)state;
	struct frame_stats before, after;
	frame_get_stats(&before);
	frame_release_type(map, N, MEM_RECLAIMABLE);
	frame_get_stats(&after);
	assert_int_equal(after.free_bytes - before.free_bytes, 4 * MiB);
}

static void test_contiguous_aligned_allocation_and_free(void **state)
{
	(void)state;
	uint64_t a = frame_alloc(512, 512); /* 2 MiB, 2 MiB aligned */
	assert_int_not_equal(a, 0);
	assert_int_equal(a % (2 * MiB), 0);
	uint64_t b = frame_alloc(512, 512);
	assert_int_not_equal(b, 0);
	assert_true(b >= a + 2 * MiB || b + 2 * MiB <= a);
	struct frame_stats st1, st2;
	frame_get_stats(&st1);
	frame_free(a, 512);
	frame_get_stats(&st2);
	assert_int_equal(st2.free_bytes - st1.free_bytes, 2 * MiB);
	/* The freed run is found again (next-fit wraps around). */
	uint64_t c = frame_alloc(512, 512);
	assert_int_not_equal(c, 0);
}

static void test_impossible_requests_fail_cleanly(void **state)
{
	(void)state;
	assert_int_equal(frame_alloc(0, 1), 0);
	assert_int_equal(frame_alloc(1, 3), 0);            /* alignment not a power of two */
	assert_int_equal(frame_alloc(41 * MiB / FRAME_SIZE, 1), 0); /* no 41 MiB run exists */
	assert_int_not_equal(frame_alloc(40 * MiB / FRAME_SIZE, 1), 0); /* the 40 MiB one does */
}

static void test_reserve_removes_frames_once(void **state)
{
	(void)state;
	struct frame_stats a, b;
	frame_get_stats(&a);
	frame_reserve(2 * MiB + 100, 5000); /* touches two frames */
	frame_reserve(2 * MiB, 8192);       /* the same two again */
	frame_get_stats(&b);
	assert_int_equal(a.free_bytes - b.free_bytes, 2 * FRAME_SIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bitmap_covers_ram_not_mmio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats_count_ram_types_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_never_hands_out_low_memory_or_reserved_regions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reclaimed_boot_memory_becomes_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contiguous_aligned_allocation_and_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_impossible_requests_fail_cleanly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserve_removes_frames_once, setup, teardown),
	};
	return cmocka_run_group_tests_name("frame allocator", tests, NULL, NULL);
}
