/* lwIP's heap as lwIP uses it: mem_malloc() and mem_free() of lwIP's mem.c
 * (MEM_LIBC_MALLOC, Tern's options) over net/lwip_heap.c and net/buddy.c. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lwip/mem.h"
#include "lwip/stats.h"
#include "net/lwip_heap.h"

/* A full-sized TCP segment's pbuf as tcp_write() asks for it (struct pbuf,
 * headers, one MSS): one 2 KiB block with lwIP's size in front. */
#define SEG_BYTES 1540
#define SEGS 1000

uint32_t tern_ms(void)
{
	return 0;
}

static int setup(void **state)
{
	(void)state;
	return lwip_heap_init();
}

static void test_heap_is_mem_size_and_lwip_stats_see_it(void **state)
{
	(void)state;
	assert_int_equal(lwip_heap_init(), 0); /* again: nothing changes */
	assert_int_equal(lwip_heap_use().size, MEM_SIZE);
	assert_int_equal(lwip_stats.mem.avail, MEM_SIZE);
	assert_int_equal(lwip_heap_use().used, 0);
}

/* What made lwIP's first-fit heap slow: a full send buffer's worth of
 * segments in use at once. */
static void test_a_send_buffer_of_segments_fits_and_all_comes_back(void **state)
{
	static void *p[SEGS];
	size_t peak;

	(void)state;
	for (int i = 0; i < SEGS; i++) {
		p[i] = mem_malloc(SEG_BYTES);
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % MEM_ALIGNMENT, 0);
		memset(p[i], i, SEG_BYTES);
	}
	assert_int_equal(lwip_stats.mem.used, (size_t)SEGS * SEG_BYTES);
	assert_int_equal(lwip_heap_use().used, (size_t)SEGS * 2048);
	/* Every other one, then the rest: the halves merge back. */
	for (int i = 0; i < SEGS; i += 2)
		mem_free(p[i]);
	for (int i = 1; i < SEGS; i += 2) {
		for (int k = 0; k < SEG_BYTES; k++)
			assert_int_equal(((uint8_t *)p[i])[k], (uint8_t)i);
		mem_free(p[i]);
	}
	assert_int_equal(lwip_stats.mem.used, 0);
	assert_int_equal(lwip_heap_use().used, 0);
	peak = lwip_heap_use().peak;
	assert_true(peak >= (size_t)SEGS * 2048);
	/* Whole again: the largest request that fits the block. */
	p[0] = mem_malloc(MEM_SIZE - MEM_ALIGNMENT);
	assert_non_null(p[0]);
	mem_free(p[0]);
}

static void test_exhaustion_is_null_counted_and_recovers(void **state)
{
	void *half, *rest;
	uint32_t err = lwip_stats.mem.err;

	(void)state;
	/* lwIP's size in front makes MEM_SIZE itself too big (and MEM_SIZE / 2
	 * a whole MEM_SIZE block). */
	assert_null(mem_malloc(MEM_SIZE));
	assert_int_equal(lwip_stats.mem.err, err + 1);
	half = mem_malloc(MEM_SIZE / 2 - MEM_ALIGNMENT);
	assert_non_null(half);
	rest = mem_malloc(MEM_SIZE / 2 - MEM_ALIGNMENT);
	assert_non_null(rest);
	assert_null(mem_malloc(1));
	assert_int_equal(lwip_stats.mem.err, err + 2);
	mem_free(rest);
	rest = mem_malloc(1);
	assert_non_null(rest);
	mem_free(rest);
	mem_free(half);
	assert_int_equal(lwip_stats.mem.used, 0);
	assert_int_equal(lwip_heap_use().used, 0);
}

static void test_calloc_zeroes_and_checks_overflow(void **state)
{
	uint8_t *p;

	(void)state;
	p = mem_malloc(256);
	memset(p, 0xa5, 256);
	mem_free(p);
	p = mem_calloc(16, 16);
	assert_non_null(p);
	for (int i = 0; i < 256; i++)
		assert_int_equal(p[i], 0);
	mem_free(p);
	assert_null(lwip_heap_calloc(SIZE_MAX / 2, 4));
	assert_int_equal(lwip_heap_use().used, 0);
}

/* In a child: lwIP's assertion traps (net/lwip_port.c), which is what the
 * kernel does with a free of anything but a block in use. */
static void assert_free_traps(void *p, int twice)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGILL, SIG_DFL); /* not cmocka's handler: die of it */
		lwip_heap_free(p);
		if (twice)
			lwip_heap_free(p);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGILL);
}

static void test_bad_and_double_frees_stop_on_an_assertion(void **state)
{
	uint8_t *p;
	int x;

	(void)state;
	p = lwip_heap_malloc(100);
	assert_non_null(p);
	assert_free_traps(p + 8, 0);
	assert_free_traps(&x, 0);
	assert_free_traps(p, 1);
	/* The parent's heap never saw those. */
	lwip_heap_free(p);
	assert_int_equal(lwip_heap_use().used, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heap_is_mem_size_and_lwip_stats_see_it),
		cmocka_unit_test(test_a_send_buffer_of_segments_fits_and_all_comes_back),
		cmocka_unit_test(test_exhaustion_is_null_counted_and_recovers),
		cmocka_unit_test(test_calloc_zeroes_and_checks_overflow),
		cmocka_unit_test(test_bad_and_double_frees_stop_on_an_assertion),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
