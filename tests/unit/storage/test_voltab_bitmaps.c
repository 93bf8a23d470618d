/* storage/voltab_bitmap: the volumes' named dirty bitmaps in the table.
 * What is proved: persistent bitmaps survive a reload and in-memory ones
 * do not, a bitmap found in use is inconsistent until cleared, damaged
 * bits or a torn write never load wrong marks, and arguments and limits
 * are checked. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "migrate/le.h"
#include "storage/voltab.h"
#include "tests/unit/storage/voltab_fixture.h"

static struct voltab_bitmap *bm(struct voltab *t, const char *vol, const char *name)
{
	const struct voltab_volume *v = voltab_find(t, vol);
	return v ? voltab_bitmap_find(t, v->id, name) : NULL;
}

static uint64_t vol_id(struct voltab *t, const char *vol)
{
	return voltab_find(t, vol)->id;
}

/* A fresh struct voltab loading the disk: what the next boot sees. */
static struct voltab *boot(struct fixture *f)
{
	struct voltab *t = calloc(1, sizeof(*t));
	assert_int_equal(voltab_load(t, &f->r->dev), 0);
	return t;
}

static void unboot(struct voltab *t)
{
	voltab_close(t);
	free(t);
}

static void test_persistent_bitmaps_survive_a_reload_and_the_others_do_not(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);

	(void)state;
	assert_int_equal(voltab_create(&f->t, "a", 16 * MIB, 1, NULL), 0);
	assert_int_equal(voltab_bitmap_add(&f->t, "a", "p", 64 << 10, true, false, 2, NULL), 0);
	assert_int_equal(voltab_bitmap_add(&f->t, "a", "m", 4096, false, false, 2, NULL), 0);
	assert_int_equal(le32_get(copy_at(f->r, 0) + 32), VOLTAB_INCOMPAT_BITMAPS);
	/* a guest writes: flagged in use, marked, released (the bits are written) */
	uint64_t id = vol_id(&f->t, "a");
	assert_int_equal(voltab_bitmaps_in_use(&f->t, id, true, 3), 0);
	voltab_bitmaps_mark(&f->t, id, 3 * MIB + 1, 512);
	voltab_bitmaps_mark(&f->t, id, 128 << 10, 64 << 10);
	assert_int_equal(voltab_bitmaps_in_use(&f->t, id, false, 4), 0);
	assert_int_equal(bitmap_count(&bm(&f->t, "a", "m")->map), 17);

	struct voltab *t = boot(f);
	assert_null(bm(t, "a", "m"));
	struct voltab_bitmap *p = bm(t, "a", "p");
	assert_non_null(p);
	assert_true(p->persistent);
	assert_false(p->inconsistent);
	assert_int_equal(bitmap_gran(&p->map), 64 << 10);
	assert_int_equal(bitmap_count(&p->map), 2);
	assert_true(bitmap_test(&p->map, 2));
	assert_true(bitmap_test(&p->map, 48));
	unboot(t);
	/* a reload of the same table (after a failed write) keeps the
	 * in-memory one */
	assert_int_equal(fx_reload(f), 0);
	assert_non_null(bm(&f->t, "a", "m"));
	assert_int_equal(bitmap_count(&bm(&f->t, "a", "m")->map), 17);
	fx_free(f);
}

static void test_a_bitmap_found_in_use_is_inconsistent_until_cleared(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 4096);

	(void)state;
	assert_int_equal(voltab_create(&f->t, "a", 8 * MIB, 1, NULL), 0);
	assert_int_equal(voltab_bitmap_add(&f->t, "a", "p", 64 << 10, true, false, 2, NULL), 0);
	uint64_t id = vol_id(&f->t, "a");
	assert_int_equal(voltab_bitmaps_in_use(&f->t, id, true, 3), 0);
	voltab_bitmaps_mark(&f->t, id, 0, 4096);
	/* Tern stops here, without the release: the next boot */
	struct voltab *t = boot(f);
	struct voltab_bitmap *p = bm(t, "a", "p");
	assert_true(p->inconsistent);
	/* a clean write later (a guest used and released the volume) keeps it so */
	assert_int_equal(voltab_bitmaps_in_use(t, id, true, 5), 0);
	assert_int_equal(voltab_bitmaps_in_use(t, id, false, 6), 0);
	unboot(t);
	t = boot(f);
	p = bm(t, "a", "p");
	assert_true(p->inconsistent);
	/* clear: empty, trusted again, and so on the disk */
	assert_int_equal(voltab_bitmap_clear(t, p, 7), 0);
	assert_false(p->inconsistent);
	assert_int_equal(bitmap_count(&p->map), 0);
	unboot(t);
	t = boot(f);
	assert_false(bm(t, "a", "p")->inconsistent);
	unboot(t);
	fx_free(f);
}

static void test_added_while_the_volume_is_written_is_flagged_in_use_at_once(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);

	(void)state;
	assert_int_equal(voltab_create(&f->t, "a", 8 * MIB, 1, NULL), 0);
	assert_int_equal(voltab_bitmap_add(&f->t, "a", "p", 64 << 10, true, true, 2, NULL), 0);
	struct voltab *t = boot(f);
	assert_true(bm(t, "a", "p")->inconsistent);
	unboot(t);
	fx_free(f);
}

static void test_damaged_bits_make_their_copy_invalid(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);

	(void)state;
	assert_int_equal(voltab_create(&f->t, "a", 8 * MIB, 1, NULL), 0);
	assert_int_equal(voltab_bitmap_add(&f->t, "a", "p", 64 << 10, true, false, 2, NULL), 0);
	/* the bits sit right after the checksummed 64 KiB */
	copy_at(f->r, 0)[VOLTAB_BITS_OFFSET] ^= 0x10;
	assert_int_equal(fx_reload(f), 0);
	assert_int_equal(f->t.info.used, 1);
	assert_true(f->t.info.repair);
	assert_non_null(strstr(f->t.info.copy[0].why, "bitmap p: bits checksum mismatch"));
	assert_int_equal(bitmap_count(&bm(&f->t, "a", "p")->map), 0);
	/* the next change rewrites copy 0 whole */
	assert_int_equal(voltab_bitmap_clear(&f->t, bm(&f->t, "a", "p"), 3), 0);
	assert_int_equal(fx_reload(f), 0);
	assert_false(f->t.info.repair);
	/* both damaged: no table */
	copy_at(f->r, 0)[VOLTAB_BITS_OFFSET] ^= 0x10;
	copy_at(f->r, 1)[VOLTAB_BITS_OFFSET] ^= 0x10;
	assert_int_equal(fx_reload(f), -EBADMSG);
	fx_free(f);
}

/* The bits follow the checksummed 64 KiB in one write: a write torn
 * between the two leaves a header whose bits checksum does not match, so
 * the copy is damaged and the other one, the old table, is loaded; the
 * marks memory had are kept over it. */
static void
test_a_write_torn_between_header_and_bits_loads_the_old_copy_and_keeps_the_marks(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);

	(void)state;
	assert_int_equal(voltab_create(&f->t, "a", 8 * MIB, 1, NULL), 0);
	assert_int_equal(voltab_bitmap_add(&f->t, "a", "p", 64 << 10, true, false, 2, NULL), 0);
	uint64_t id = vol_id(&f->t, "a");
	voltab_bitmaps_mark(&f->t, id, 0, 1);
	f->r->fail_write_at = f->r->writes + 1;
	f->r->torn_bytes = VOLTAB_COPY_BYTES; /* the header made it, the bits did not */
	assert_int_equal(voltab_bitmaps_in_use(&f->t, id, false, 3), -EIO);
	assert_true(f->t.loaded);
	assert_true(f->t.info.repair);
	assert_non_null(strstr(f->t.info.copy[f->t.info.used ^ 1].why, "bits checksum mismatch"));
	/* the disk holds the bitmap as added, empty; memory keeps the mark it
	 * had, and does not take the failed write for a crash */
	struct voltab_bitmap *p = bm(&f->t, "a", "p");
	assert_int_equal(bitmap_count(&p->map), 1);
	assert_false(p->inconsistent);
	/* the next write repairs the damaged copy */
	f->r->fail_write_at = 0;
	assert_int_equal(voltab_bitmaps_in_use(&f->t, id, false, 4), 0);
	struct voltab *t = boot(f);
	assert_false(t->info.repair);
	assert_int_equal(bitmap_count(&bm(t, "a", "p")->map), 1);
	unboot(t);
	fx_free(f);
}

static void test_a_directory_entry_for_a_missing_volume_is_not_believed(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);

	(void)state;
	assert_int_equal(voltab_create(&f->t, "a", 8 * MIB, 1, NULL), 0);
	assert_int_equal(voltab_bitmap_add(&f->t, "a", "p", 64 << 10, true, false, 2, NULL), 0);
	for (int c = 0; c < 2; c++) {
		le64_put(copy_at(f->r, c) + VOLTAB_BITMAP_DIR_OFFSET + 32, 99);
		reseal(f->r, c);
	}
	assert_int_equal(fx_reload(f), -EBADMSG);
	assert_non_null(strstr(f->t.info.copy[0].why, "no volume with id 99"));
	fx_free(f);
}

/* What a Tern that does not know a read-only feature does, shown with an
 * unknown bit next to BITMAPS: it lists, keeps its hands off the table. */
static void test_a_table_with_an_unknown_read_only_feature_keeps_its_bitmaps(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);

	(void)state;
	assert_int_equal(voltab_create(&f->t, "a", 8 * MIB, 1, NULL), 0);
	assert_int_equal(voltab_bitmap_add(&f->t, "a", "p", 64 << 10, true, false, 2, NULL), 0);
	for (int c = 0; c < 2; c++) {
		le32_put(copy_at(f->r, c) + 36, 1u << 7);
		reseal(f->r, c);
	}
	assert_int_equal(fx_reload(f), 0);
	assert_true(f->t.readonly);
	assert_non_null(bm(&f->t, "a", "p"));
	int writes = f->r->writes;
	assert_int_equal(voltab_bitmap_add(&f->t, "a", "q", 64 << 10, true, false, 2, NULL),
			 -EROFS);
	assert_int_equal(voltab_bitmap_add(&f->t, "a", "m", 64 << 10, false, false, 2, NULL), 0);
	assert_int_equal(voltab_bitmap_clear(&f->t, bm(&f->t, "a", "p"), 2), -EROFS);
	/* a guest on it: not flaggable, so not trusted */
	assert_int_equal(voltab_bitmaps_in_use(&f->t, vol_id(&f->t, "a"), true, 3), -EROFS);
	assert_true(bm(&f->t, "a", "p")->inconsistent);
	assert_int_equal(f->r->writes, writes);
	fx_free(f);
}

static void test_the_last_persistent_bitmap_gone_clears_the_feature_bit(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);

	(void)state;
	assert_int_equal(voltab_create(&f->t, "a", 8 * MIB, 1, NULL), 0);
	assert_int_equal(voltab_create(&f->t, "b", 8 * MIB, 1, NULL), 0);
	assert_int_equal(voltab_bitmap_add(&f->t, "a", "p", 64 << 10, true, false, 2, NULL), 0);
	assert_int_equal(voltab_bitmap_add(&f->t, "b", "p", 4096, true, false, 2, NULL), 0);
	assert_int_equal(voltab_bitmap_remove(&f->t, bm(&f->t, "a", "p"), 3), 0);
	assert_int_equal(le32_get(copy_at(f->r, 1) + 32), VOLTAB_INCOMPAT_BITMAPS);
	/* deleting a volume takes its bitmaps */
	assert_int_equal(voltab_delete(&f->t, "b", 4), 0);
	assert_int_equal(f->t.nbitmaps, 0);
	assert_int_equal(le32_get(copy_at(f->r, 0) + 32), 0);
	assert_int_equal(le32_get(copy_at(f->r, 1) + 32), 0);
	assert_int_equal(fx_reload(f), 0);
	assert_int_equal(f->t.nbitmaps, 0);
	fx_free(f);
}

static void test_bitmap_arguments_and_limits_are_checked(void **state)
{
	struct fixture *f = fx_new(64ull << 30, 512); /* only the metadata is backed */
	uint64_t need = 0;

	(void)state;
	assert_int_equal(voltab_create(&f->t, "a", 8 * MIB, 1, NULL), 0);
	assert_int_equal(voltab_create(&f->t, "big", 16ull << 30, 1, NULL), 0);
	assert_int_equal(voltab_bitmap_add(&f->t, "x", "p", 65536, true, false, 2, NULL), -ENOENT);
	assert_int_equal(voltab_bitmap_add(&f->t, "a", "p/", 65536, true, false, 2, NULL), -EINVAL);
	assert_int_equal(voltab_bitmap_add(&f->t, "a", "p", 3 << 10, true, false, 2, NULL),
			 -EINVAL);
	assert_int_equal(voltab_bitmap_add(&f->t, "a", "p", 65536, true, false, 2, NULL), 0);
	assert_int_equal(voltab_bitmap_add(&f->t, "a", "p", 65536, false, false, 2, NULL), -EEXIST);
	/* 16 GiB at 4 KiB: 512 KiB of bits, more than the room */
	assert_int_equal(voltab_bitmap_add(&f->t, "big", "fine", 4096, true, false, 2, &need),
			 -ENOSPC);
	assert_int_equal(need, 512 << 10);
	/* in memory only, it fits */
	assert_int_equal(voltab_bitmap_add(&f->t, "big", "fine", 4096, false, false, 2, NULL), 0);
	assert_int_equal(voltab_bitmap_add(&f->t, "big", "p", 64 << 10, true, false, 2, NULL), 0);
	char name[8];
	for (unsigned i = f->t.nbitmaps; i < VOLTAB_MAX_BITMAPS; i++) {
		snprintf(name, sizeof(name), "n%u", i);
		assert_int_equal(voltab_bitmap_add(&f->t, "a", name, 65536, false, false, 2, NULL),
				 0);
	}
	assert_int_equal(voltab_bitmap_add(&f->t, "a", "one-more", 65536, false, false, 2, NULL),
			 -EMFILE);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_persistent_bitmaps_survive_a_reload_and_the_others_do_not),
		cmocka_unit_test(test_a_bitmap_found_in_use_is_inconsistent_until_cleared),
		cmocka_unit_test(test_added_while_the_volume_is_written_is_flagged_in_use_at_once),
		cmocka_unit_test(test_damaged_bits_make_their_copy_invalid),
		cmocka_unit_test(
			test_a_write_torn_between_header_and_bits_loads_the_old_copy_and_keeps_the_marks),
		cmocka_unit_test(test_a_directory_entry_for_a_missing_volume_is_not_believed),
		cmocka_unit_test(test_a_table_with_an_unknown_read_only_feature_keeps_its_bitmaps),
		cmocka_unit_test(test_the_last_persistent_bitmap_gone_clears_the_feature_bit),
		cmocka_unit_test(test_bitmap_arguments_and_limits_are_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
