/* Pages sent again go as deltas: whole migrations with the delta cache on,
 * off, small, refused by the destination or short of memory, each still
 * byte for byte; and a scripted source's PAGE_DELTA records, refused or
 * applied by the destination. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "tests/unit/migrate/run.h"

/* Linked with --wrap=malloc (mk/migrate.mk). While set, an allocation the
 * size of a delta cache of at least this much fails: a whole number of
 * MiB, which no other buffer of a migration is. */
static size_t cache_allocs_fail_from;
void *__real_malloc(size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_malloc(size_t size)
{
	if (cache_allocs_fail_from && size >= cache_allocs_fail_from && size % (1 << 20) == 0)
		return NULL;
	return __real_malloc(size);
}

static struct run *delta_run(const struct mig_send_params *p)
{
	struct run *t = run_new(p, KEY);

	/* Every page holds data, so every page rewritten (not zeroed) is in
	 * the cache; the writer changes one byte per write. */
	fill_all_pages(t);
	t->writes_per_poll = 16;
	run_to_end(t);
	assert_moved(t);
	assert_true(t->nrows >= 2);
	return t;
}

static void test_rewritten_pages_go_as_deltas_and_arrive_byte_for_byte(void **state)
{
	struct run *t = delta_run(NULL);
	char text[1024];

	(void)state;
	assert_int_equal(t->sum.delta, MIG_DELTA_ON);
	assert_int_equal(t->sum.delta_cache_bytes, (uint64_t)NPAGES * MIG_PAGE_SIZE);
	assert_int_equal(t->rows[0].pages_delta, 0); /* round 0 sends each page whole */
	assert_true(t->sum.pages_delta > 0);
	assert_true(t->sum.pages_delta <= t->sum.pages_sent);
	/* A one-byte change costs a few bytes instead of 4096. */
	assert_true(t->sum.delta_saved > t->sum.pages_delta * (MIG_PAGE_SIZE - 64));
	assert_int_equal(t->isum.pages_delta, t->sum.pages_delta);
	mig_stats_summary(&t->sum, text, sizeof(text));
	assert_non_null(strstr(text, "\ndelta pages:  "));
	assert_non_null(strstr(text, " (cache 4 MiB, "));
	run_free(t);
}

static void test_delta_off_sends_whole_pages(void **state)
{
	struct mig_send_params p = {.delta_off = true};
	struct run *t = delta_run(&p);
	char text[1024];

	(void)state;
	assert_int_equal(t->sum.delta, MIG_DELTA_OFF);
	assert_int_equal(t->sum.pages_delta, 0);
	assert_int_equal(t->sum.delta_saved, 0);
	assert_int_equal(t->isum.pages_delta, 0);
	assert_int_equal(t->dst.pages_patched, 0);
	mig_stats_summary(&t->sum, text, sizeof(text));
	assert_null(strstr(text, "delta pages:"));
	run_free(t);
}

/* An older destination (no DELTA in its HELLO) is never sent a PAGE_DELTA. */
static void test_destination_without_deltas_gets_whole_pages(void **state)
{
	char text[1024];

	(void)state;
	dst_without_deltas = true;
	struct run *t = delta_run(NULL);
	dst_without_deltas = false;
	assert_int_equal(t->sum.delta, MIG_DELTA_PEER);
	assert_int_equal(t->sum.pages_delta, 0);
	assert_int_equal(t->dst.pages_patched, 0);
	mig_stats_summary(&t->sum, text, sizeof(text));
	assert_non_null(strstr(text, "\ndelta pages:  0 (off: the destination does not take "
				     "deltas)\n"));
	run_free(t);
}

/* A small cache holds few of the pages: fewer deltas, still byte for byte. */
static void test_small_cache_still_moves_memory_byte_for_byte(void **state)
{
	struct mig_send_params p = {.delta_cache_mib = 1};
	struct run *t;

	(void)state;
	t = run_new(&p, KEY); /* 4 MiB of guest, a 1 MiB cache */
	fill_all_pages(t);
	t->writes_per_poll = 16;
	run_to_end(t);
	assert_moved(t);
	assert_int_equal(t->sum.delta_cache_bytes, 1u << 20);
	assert_true(t->sum.pages_delta > 0);
	run_free(t);
}

/* Short of memory, a smaller cache; without any, whole pages: the
 * migration itself never fails for its cache. */
static void test_no_memory_for_the_cache_means_whole_pages(void **state)
{
	char text[1024];
	struct run *t;

	(void)state;
	cache_allocs_fail_from = 2 << 20;
	t = delta_run(NULL);
	assert_int_equal(t->sum.delta, MIG_DELTA_ON);
	assert_int_equal(t->sum.delta_cache_bytes, 1 << 20); /* not 4 MiB */
	assert_true(t->sum.pages_delta > 0);
	run_free(t);
	cache_allocs_fail_from = 1 << 20;
	t = delta_run(NULL);
	cache_allocs_fail_from = 0;
	assert_int_equal(t->sum.delta, MIG_DELTA_NO_MEMORY);
	assert_int_equal(t->sum.pages_delta, 0);
	assert_int_equal(t->dst.pages_patched, 0);
	mig_stats_summary(&t->sum, text, sizeof(text));
	assert_non_null(strstr(text, "\ndelta pages:  0 (off: no memory for the cache)\n"));
	run_free(t);
}

/* A hostile or broken source's PAGE_DELTA: refused with ERROR PROTOCOL,
 * nothing applied, the guest destroyed and never started. */
static void test_destination_refuses_bad_deltas(void **state)
{
	static const uint8_t page[MIG_PAGE_SIZE] = {1, 2, 3};
	static const struct {
		uint64_t caps;
		int setup; /* 0: page 5 and 7 sent in round 0; 1: ... then page 5 ZERO in round 1 */
		uint32_t round;
		uint64_t gfn;
		const char *enc;
		uint32_t len;
		int err;
		const char *why;
	} cases[] = {
		{0, 0, 1, 5, "\x00\x01\x09", 3, -EPROTO,
		 "PAGE_DELTA, but the DELTA capability was not agreed"},
		{MIG_CAP_DELTA, 0, 0, 5, "\x00\x01\x09", 3, -EPROTO, "PAGE_DELTA in round 0"},
		{MIG_CAP_DELTA, 0, 1, 6, "\x00\x01\x09", 3, -EPROTO,
		 "PAGE_DELTA in round 1 for page 6, which holds no data"},
		{MIG_CAP_DELTA, 1, 1, 5, "\x00\x01\x09", 3, -EPROTO,
		 "PAGE_DELTA in round 1 for page 5, which holds no data"},
		{MIG_CAP_DELTA, 0, 1, 5, "\x80", 1, -EBADMSG,
		 "PAGE_DELTA in round 1: malformed delta of page 5"},
		{MIG_CAP_DELTA, 0, 1, 5, "\xff\x1f\x02\x01\x02", 5, -EBADMSG,
		 "PAGE_DELTA in round 1: malformed delta of page 5"},
		{MIG_CAP_DELTA, 0, 1, NPAGES, "\x00\x01\x09", 3, -EBADMSG,
		 "malformed PAGE_DELTA in round 1"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct raw *w = raw_new_caps(cases[i].caps);
		struct mig_stream_rec rec;
		struct mig_text text;

		raw_auth_and_config(w);
		if (cases[i].round > 0) {
			raw_page_data(w, 5, page);
			raw_page_data(w, 7, page);
			raw_eor(w, 0, 2);
		}
		if (cases[i].setup == 1)
			raw_page_data(w, 5, NULL);
		raw_delta(w, cases[i].gfn, cases[i].enc, cases[i].len);
		raw_flush(w);
		assert_int_equal(raw_answer(w, &rec), MIG_REC_ERROR);
		assert_int_equal(mig_record_get_text(&rec, &text), 0);
		assert_int_equal(text.code, MIG_CODE_PROTOCOL);
		assert_string_equal(mig_recv_reason(w->t->r), cases[i].why);
		assert_int_equal(w->t->rret, cases[i].err);
		assert_int_equal(w->t->dst.pages_patched, 0);
		assert_int_equal(w->t->dst.destroys, 1);
		assert_int_equal(w->t->dst.starts, 0);
		raw_free(w);
	}
}

/* ...and a good one is applied to the page it has. */
static void test_destination_applies_a_delta_to_the_page_it_holds(void **state)
{
	struct raw *w = raw_new_caps(MIG_CAP_DELTA);
	uint8_t page[MIG_PAGE_SIZE], want[MIG_PAGE_SIZE];
	struct mig_stream_rec rec;

	(void)state;
	memset(page, 0x33, sizeof(page));
	raw_auth_and_config(w);
	raw_page_data(w, 5, page);
	raw_page_data(w, 7, page);
	raw_eor(w, 0, 2);
	raw_delta(w, 5, "\x64\x02\xaa\xbb\x99\x1f\x01\x01", 8);
	raw_eor(w, 1, 2);
	raw_flush(w);
	assert_int_equal(raw_answer(w, &rec), 0); /* no complaint */
	assert_true(w->t->rret > 0);
	memcpy(want, page, sizeof(want));
	want[100] = 0xaa, want[101] = 0xbb, want[4095] = 0x01;
	assert_memory_equal(w->t->dst.mem + 5 * MIG_PAGE_SIZE, want, MIG_PAGE_SIZE);
	want[0] = 0x09;
	memcpy(want + 1, page + 1, MIG_PAGE_SIZE - 1);
	assert_memory_equal(w->t->dst.mem + 7 * MIG_PAGE_SIZE, want, MIG_PAGE_SIZE);
	assert_int_equal(w->t->dst.pages_patched, 2);
	raw_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rewritten_pages_go_as_deltas_and_arrive_byte_for_byte),
		cmocka_unit_test(test_delta_off_sends_whole_pages),
		cmocka_unit_test(test_destination_without_deltas_gets_whole_pages),
		cmocka_unit_test(test_small_cache_still_moves_memory_byte_for_byte),
		cmocka_unit_test(test_no_memory_for_the_cache_means_whole_pages),
		cmocka_unit_test(test_destination_refuses_bad_deltas),
		cmocka_unit_test(test_destination_applies_a_delta_to_the_page_it_holds),
	};
	return cmocka_run_group_tests_name("migrate/deltas end to end", tests, NULL, NULL);
}
