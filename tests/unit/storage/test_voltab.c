/* storage/voltab: the on-disk volume table on a RAM-backed blkdev. What is
 * proved: volumes are created first-fit and deleted, space is accounted,
 * bad names and a full table are refused, every change writes both copies,
 * a damaged or torn copy is survived (and repaired by the next write),
 * two damaged copies or a newer format are refused, and a reload gives
 * back the same table. Its dirty bitmaps: test_voltab_bitmaps.c. */
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
#include "storage/crc32c.h"
#include "storage/voltab.h"
#include "tests/unit/storage/voltab_fixture.h"

/* --- tests ------------------------------------------------------------------- */

static void test_crc32c_matches_the_check_value(void **state)
{
	(void)state;
	assert_int_equal(crc32c_update(0, "123456789", 9), 0xE3069283u);
	/* running: in two pieces gives the same */
	assert_int_equal(crc32c_update(crc32c_update(0, "1234", 4), "56789", 5), 0xE3069283u);
}

static void test_names_follow_the_documented_rules(void **state)
{
	(void)state;
	assert_null(voltab_name_error("a"));
	assert_null(voltab_name_error("web-1.root_disk"));
	assert_null(voltab_name_error("0123456789012345678901234567890")); /* 31 */
	assert_non_null(voltab_name_error(""));
	assert_non_null(voltab_name_error("01234567890123456789012345678901")); /* 32 */
	assert_non_null(voltab_name_error("has space"));
	assert_non_null(voltab_name_error("slash/"));
	assert_non_null(voltab_name_error("caf\xc3\xa9"));
	assert_non_null(voltab_name_error("semi;colon"));
}

static void test_a_blank_disk_has_no_table(void **state)
{
	struct ramdisk *r = rd_new(64 * MIB, 512);
	struct voltab t = {0};

	(void)state;
	assert_int_equal(voltab_load(&t, &r->dev), -ENOENT);
	assert_false(t.loaded);
	assert_int_equal(t.load_rc, -ENOENT);
	assert_int_equal(t.info.used, -1);
	assert_string_equal(t.info.copy[0].why, "blank");
	voltab_close(&t);
	rd_free(r);
}

static void test_format_writes_an_empty_table_in_both_copies(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);

	(void)state;
	assert_memory_equal(copy_at(f->r, 0), VOLTAB_MAGIC, 8);
	assert_memory_equal(copy_at(f->r, 1), VOLTAB_MAGIC, 8);
	assert_int_equal(fx_reload(f), 0);
	assert_true(f->t.loaded);
	assert_int_equal(f->t.generation, 1);
	assert_int_equal(f->t.nvolumes, 0);
	assert_false(f->t.info.repair);
	assert_memory_equal(f->t.uuid, fx_uuid, 16);
	struct voltab_space s;
	voltab_space(&f->t, &s);
	assert_int_equal(s.data_bytes, 63 * MIB);
	assert_int_equal(s.free_bytes, 63 * MIB);
	assert_int_equal(s.largest_free, 63 * MIB);
	fx_free(f);
}

static void test_create_list_delete_and_reload_give_the_same_table(void **state)
{
	struct fixture *f = fx_new(1024 * MIB, 512);
	const struct voltab_volume *v;

	(void)state;
	assert_int_equal(voltab_create(&f->t, "root", 100 * MIB, 5000, &v), 0);
	assert_string_equal(v->name, "root");
	assert_int_equal(v->start_lba, MIB / 512);
	assert_int_equal(v->id, 1);
	assert_int_equal(v->created_ns, 5000);
	assert_int_equal(voltab_create(&f->t, "data", 200 * MIB, 6000, &v), 0);
	assert_int_equal(v->start_lba, 101 * MIB / 512);
	assert_int_equal(v->id, 2);
	assert_int_equal(voltab_create(&f->t, "swap", 8 * MIB, 7000, NULL), 0);
	assert_int_equal(voltab_delete(&f->t, "data", 8000), 0);
	assert_null(voltab_find(&f->t, "data"));
	assert_int_equal(f->t.generation, 5);

	struct voltab before = f->t;
	before.buf = NULL;
	assert_int_equal(fx_reload(f), 0);
	assert_int_equal(f->t.generation, 5);
	assert_int_equal(f->t.nvolumes, 2);
	assert_int_equal(f->t.next_id, 4);
	assert_int_equal(f->t.updated_ns, 8000);
	assert_memory_equal(f->t.vol, before.vol, sizeof(before.vol[0]) * 2);
	assert_string_equal(f->t.vol[0].name, "root");
	assert_string_equal(f->t.vol[1].name, "swap");
	assert_int_equal(f->t.vol[1].id, 3);
	assert_int_equal(f->t.vol[1].created_ns, 7000);
	fx_free(f);
}

static void test_first_fit_reuses_the_gap_a_delete_leaves(void **state)
{
	struct fixture *f = fx_new(1024 * MIB, 4096);
	const struct voltab_volume *v;
	struct voltab_space s;

	(void)state;
	assert_int_equal(voltab_create(&f->t, "a", 100 * MIB, 1, NULL), 0);
	assert_int_equal(voltab_create(&f->t, "b", 100 * MIB, 1, NULL), 0);
	assert_int_equal(voltab_create(&f->t, "c", 100 * MIB, 1, NULL), 0);
	assert_int_equal(voltab_delete(&f->t, "b", 2), 0);
	voltab_space(&f->t, &s);
	assert_int_equal(s.used_bytes, 200 * MIB);
	assert_int_equal(s.free_bytes, 1023 * MIB - 200 * MIB);
	assert_int_equal(s.largest_free, 1023 * MIB - 300 * MIB);
	/* too big for the hole: goes after c */
	assert_int_equal(voltab_create(&f->t, "big", 150 * MIB, 1, &v), 0);
	assert_int_equal(v->start_lba, 301 * MIB / 4096);
	/* fits the hole exactly: first fit puts it there */
	assert_int_equal(voltab_create(&f->t, "mid", 100 * MIB, 1, &v), 0);
	assert_int_equal(v->start_lba, 101 * MIB / 4096);
	/* entries stay sorted by start */
	for (unsigned i = 1; i < f->t.nvolumes; i++)
		assert_true(f->t.vol[i - 1].start_lba < f->t.vol[i].start_lba);
	voltab_space(&f->t, &s);
	assert_int_equal(s.used_bytes, 450 * MIB);
	assert_int_equal(s.free_bytes + s.used_bytes, s.data_bytes);
	fx_free(f);
}

static void test_space_runs_out_exactly_at_the_end(void **state)
{
	/* 64 MiB plus half a MiB: the half is never used */
	struct fixture *f = fx_new(64 * MIB + MIB / 2, 512);
	struct voltab_space s;

	(void)state;
	assert_int_equal(voltab_create(&f->t, "too-big", 64 * MIB, 1, NULL), -ENOSPC);
	assert_int_equal(voltab_create(&f->t, "all", 63 * MIB, 1, NULL), 0);
	voltab_space(&f->t, &s);
	assert_int_equal(s.free_bytes, 0);
	assert_int_equal(s.largest_free, 0);
	assert_int_equal(voltab_create(&f->t, "one-more", MIB, 1, NULL), -ENOSPC);
	assert_int_equal(f->t.nvolumes, 1);
	fx_free(f);
}

static void test_bad_requests_are_refused_and_change_nothing(void **state)
{
	struct fixture *f = fx_new(256 * MIB, 512);
	uint64_t gen = f->t.generation;
	int writes = f->r->writes;

	(void)state;
	assert_int_equal(voltab_create(&f->t, "bad name", MIB, 1, NULL), -EINVAL);
	assert_int_equal(voltab_create(&f->t, "", MIB, 1, NULL), -EINVAL);
	assert_int_equal(voltab_create(&f->t, "x", 0, 1, NULL), -EINVAL);
	assert_int_equal(voltab_create(&f->t, "x", MIB + 512, 1, NULL), -EINVAL);
	assert_int_equal(voltab_create(&f->t, "x", ~0ull << 20, 1, NULL), -ENOSPC);
	assert_int_equal(voltab_delete(&f->t, "nosuch", 1), -ENOENT);
	assert_int_equal(voltab_create(&f->t, "x", MIB, 1, NULL), 0);
	assert_int_equal(voltab_create(&f->t, "x", MIB, 1, NULL), -EEXIST);
	assert_int_equal(f->t.generation, gen + 1);
	assert_int_equal(f->r->writes, writes + 2);
	fx_free(f);
}

static void test_the_table_holds_256_volumes_and_no_more(void **state)
{
	struct fixture *f = fx_new(512 * MIB, 512);
	char name[16];

	(void)state;
	for (int i = 0; i < VOLTAB_MAX_VOLUMES; i++) {
		snprintf(name, sizeof(name), "v%d", i);
		assert_int_equal(voltab_create(&f->t, name, MIB, 1, NULL), 0);
	}
	assert_int_equal(voltab_create(&f->t, "one-more", MIB, 1, NULL), -EMFILE);
	assert_int_equal(fx_reload(f), 0);
	assert_int_equal(f->t.nvolumes, VOLTAB_MAX_VOLUMES);
	assert_non_null(voltab_find(&f->t, "v255"));
	fx_free(f);
}

static void test_every_change_writes_and_flushes_both_copies(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);

	(void)state;
	f->r->writes = 0;
	f->r->flushes = 0;
	assert_int_equal(voltab_create(&f->t, "a", MIB, 1, NULL), 0);
	assert_int_equal(f->r->writes, 2);
	assert_int_equal(f->r->flushes, 2);
	uint64_t lbas[2] = {f->r->write_lba[0], f->r->write_lba[1]};
	assert_true(
		(lbas[0] == VOLTAB_COPY0_OFFSET / 512 && lbas[1] == VOLTAB_COPY1_OFFSET / 512) ||
		(lbas[1] == VOLTAB_COPY0_OFFSET / 512 && lbas[0] == VOLTAB_COPY1_OFFSET / 512));
	/* same generation in both, each with its own index */
	assert_int_equal(le64_get(copy_at(f->r, 0) + 24), 2);
	assert_int_equal(le64_get(copy_at(f->r, 1) + 24), 2);
	assert_int_equal(le32_get(copy_at(f->r, 0) + 44), 0);
	assert_int_equal(le32_get(copy_at(f->r, 1) + 44), 1);
	fx_free(f);
}

static void test_a_corrupt_primary_loads_the_secondary_and_the_next_write_repairs_it(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);

	(void)state;
	assert_int_equal(voltab_create(&f->t, "keep", 4 * MIB, 1, NULL), 0);
	copy_at(f->r, 0)[VOLTAB_HEADER_BYTES + 3] ^= 0x40; /* one bit of an entry's name */
	assert_int_equal(fx_reload(f), 0);
	assert_int_equal(f->t.info.used, 1);
	assert_true(f->t.info.repair);
	assert_int_equal(f->t.info.copy[0].rc, -EBADMSG);
	assert_non_null(strstr(f->t.info.copy[0].why, "checksum mismatch"));
	assert_non_null(voltab_find(&f->t, "keep"));
	/* the damaged copy is written first, the good one last */
	f->r->writes = 0;
	assert_int_equal(voltab_create(&f->t, "new", MIB, 1, NULL), 0);
	assert_int_equal(f->r->write_lba[0], VOLTAB_COPY0_OFFSET / 512);
	assert_int_equal(fx_reload(f), 0);
	assert_false(f->t.info.repair);
	assert_int_equal(f->t.info.copy[0].rc, 0);
	assert_int_equal(f->t.info.copy[0].generation, f->t.info.copy[1].generation);
	assert_non_null(voltab_find(&f->t, "keep"));
	assert_non_null(voltab_find(&f->t, "new"));
	fx_free(f);
}

static void test_a_blanked_primary_is_recovered_from_the_secondary(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 4096);

	(void)state;
	assert_int_equal(voltab_create(&f->t, "keep", 4 * MIB, 1, NULL), 0);
	memset(copy_at(f->r, 0), 0, VOLTAB_COPY_BYTES);
	assert_int_equal(fx_reload(f), 0);
	assert_int_equal(f->t.info.used, 1);
	assert_true(f->t.info.repair);
	assert_int_equal(f->t.info.copy[0].rc, -ENOENT);
	assert_non_null(voltab_find(&f->t, "keep"));
	fx_free(f);
}

/* A write torn while the first copy was going out: the other copy still
 * has the old table, which wins; the operator's change is not there. */
static void test_a_torn_write_of_the_first_copy_keeps_the_old_table(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);

	(void)state;
	assert_int_equal(voltab_create(&f->t, "old", MIB, 1, NULL), 0);
	f->r->writes = 0;
	f->r->fail_write_at = 1;
	f->r->torn_bytes = 256; /* the new header, the old entries */
	assert_int_equal(voltab_create(&f->t, "lost", MIB, 1, NULL), -EIO);
	assert_null(voltab_find(&f->t, "lost")); /* read back: the old table */
	assert_int_equal(f->t.generation, 2);
	f->r->fail_write_at = 0;
	assert_int_equal(fx_reload(f), 0);
	assert_true(f->t.info.repair);
	assert_non_null(voltab_find(&f->t, "old"));
	assert_null(voltab_find(&f->t, "lost"));
	assert_int_equal(f->t.generation, 2);
	fx_free(f);
}

/* Torn while the second copy was going out: the first has the new table. */
static void test_a_torn_write_of_the_second_copy_keeps_the_new_table(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);

	(void)state;
	f->r->writes = 0;
	f->r->fail_write_at = 2;
	f->r->torn_bytes = 256;
	assert_int_equal(voltab_create(&f->t, "made", MIB, 1, NULL), -EIO);
	/* read back at once: memory says what the next boot will find */
	assert_true(f->t.loaded);
	assert_non_null(voltab_find(&f->t, "made"));
	assert_true(f->t.info.repair);
	f->r->fail_write_at = 0;
	assert_int_equal(fx_reload(f), 0);
	assert_true(f->t.info.repair);
	assert_non_null(voltab_find(&f->t, "made"));
	assert_int_equal(f->t.generation, 2);
	/* and a write after that repairs the torn one */
	assert_int_equal(voltab_create(&f->t, "next", MIB, 1, NULL), 0);
	assert_int_equal(fx_reload(f), 0);
	assert_false(f->t.info.repair);
	assert_int_equal(f->t.generation, 3);
	fx_free(f);
}

static void test_a_stale_copy_loses_to_the_newer_one(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);
	uint8_t old[VOLTAB_COPY_BYTES];

	(void)state;
	memcpy(old, copy_at(f->r, 1), sizeof(old));
	assert_int_equal(voltab_create(&f->t, "new", MIB, 1, NULL), 0);
	memcpy(copy_at(f->r, 1), old, sizeof(old)); /* copy 1 back to generation 1 */
	assert_int_equal(fx_reload(f), 0);
	assert_int_equal(f->t.info.used, 0);
	assert_true(f->t.info.repair);
	assert_int_equal(f->t.info.copy[1].generation, 1);
	assert_non_null(voltab_find(&f->t, "new"));
	fx_free(f);
}

static void test_two_damaged_copies_are_an_error_and_nothing_is_written(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);

	(void)state;
	copy_at(f->r, 0)[100] ^= 1;
	copy_at(f->r, 1)[200] ^= 1;
	f->r->writes = 0;
	assert_int_equal(fx_reload(f), -EBADMSG);
	assert_false(f->t.loaded);
	assert_int_equal(f->t.info.used, -1);
	assert_non_null(strstr(f->t.info.copy[0].why, "checksum"));
	assert_non_null(strstr(f->t.info.copy[1].why, "checksum"));
	assert_int_equal(voltab_create(&f->t, "x", MIB, 1, NULL), -ENODEV);
	assert_int_equal(voltab_delete(&f->t, "x", 1), -ENODEV);
	assert_int_equal(f->r->writes, 0);
	fx_free(f);
}

static void test_a_newer_format_version_is_refused_with_its_reason(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);

	(void)state;
	le32_put(copy_at(f->r, 0) + 8, 2);
	reseal(f->r, 0);
	/* even though copy 1 is a valid version-1 table: a newer Tern was
	 * here, and this one must not undo what it wrote */
	assert_int_equal(fx_reload(f), -EPROTONOSUPPORT);
	assert_string_equal(f->t.info.copy[0].why,
			    "written by a newer Tern (format version 2, this Tern reads 1)");
	assert_int_equal(f->t.info.copy[1].rc, 0);
	assert_false(f->t.loaded);
	fx_free(f);
}

static void test_an_unknown_incompatible_feature_is_refused(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);

	(void)state;
	for (int c = 0; c < 2; c++) {
		le32_put(copy_at(f->r, c) + 32, 1u << 3);
		reseal(f->r, c);
	}
	assert_int_equal(fx_reload(f), -EPROTONOSUPPORT);
	assert_non_null(strstr(f->t.info.copy[0].why, "incompatible features 0x8"));
	fx_free(f);
}

static void test_an_unknown_read_only_feature_loads_read_only(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);

	(void)state;
	assert_int_equal(voltab_create(&f->t, "a", MIB, 1, NULL), 0);
	for (int c = 0; c < 2; c++) {
		le32_put(copy_at(f->r, c) + 36, 1u << 0);
		reseal(f->r, c);
	}
	assert_int_equal(fx_reload(f), 0);
	assert_true(f->t.readonly);
	assert_int_equal(voltab_create(&f->t, "b", MIB, 1, NULL), -EROFS);
	assert_int_equal(voltab_delete(&f->t, "a", 1), -EROFS);
	fx_free(f);
}

/* A copy whose checksum matches but whose entries do not make sense (a
 * bug, or a hostile image) is not believed. */
static void test_overlapping_extents_make_a_copy_invalid(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);

	(void)state;
	assert_int_equal(voltab_create(&f->t, "a", 4 * MIB, 1, NULL), 0);
	assert_int_equal(voltab_create(&f->t, "b", 4 * MIB, 1, NULL), 0);
	for (int c = 0; c < 2; c++) {
		uint8_t *e = copy_at(f->r, c) + VOLTAB_HEADER_BYTES + VOLTAB_ENTRY_BYTES;
		le64_put(e + 48, le64_get(e + 48) - MIB / 512); /* b starts inside a */
		reseal(f->r, c);
	}
	assert_int_equal(fx_reload(f), -EBADMSG);
	assert_non_null(strstr(f->t.info.copy[0].why, "overlaps"));
	fx_free(f);
}

static void test_a_volume_past_the_end_of_a_smaller_disk_is_refused(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);

	(void)state;
	assert_int_equal(voltab_create(&f->t, "end", 32 * MIB, 1, NULL), 0);
	f->r->dev.blocks = 16 * MIB / 512; /* the namespace shrank */
	assert_int_equal(fx_reload(f), -EBADMSG);
	assert_non_null(strstr(f->t.info.copy[1].why, "disk's end"));
	fx_free(f);
}

static void test_a_table_for_another_block_size_is_refused(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);

	(void)state;
	f->r->dev.block_size = 4096;
	f->r->dev.blocks = 64 * MIB / 4096;
	assert_int_equal(fx_reload(f), -EBADMSG);
	assert_non_null(strstr(f->t.info.copy[0].why, "512-byte blocks"));
	fx_free(f);
}

static void test_format_after_damage_starts_above_the_old_generation(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);

	(void)state;
	assert_int_equal(voltab_create(&f->t, "a", MIB, 1, NULL), 0);
	assert_int_equal(voltab_create(&f->t, "b", MIB, 1, NULL), 0);
	assert_int_equal(voltab_create(&f->t, "c", MIB, 1, NULL), 0);
	copy_at(f->r, 0)[7] = 'x';
	assert_int_equal(fx_reload(f), 0);
	uint64_t seen = f->t.info.max_generation;
	assert_int_equal(voltab_format(&f->t, &f->r->dev, fx_uuid, 2, seen + 1), 0);
	assert_int_equal(fx_reload(f), 0);
	assert_int_equal(f->t.generation, seen + 1);
	assert_int_equal(f->t.nvolumes, 0);
	fx_free(f);
}

static void test_a_read_error_on_both_copies_is_reported(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);

	(void)state;
	f->r->fail_reads = true;
	assert_int_equal(fx_reload(f), -EIO);
	assert_non_null(strstr(f->t.info.copy[0].why, "read failed"));
	assert_false(f->t.loaded);
	fx_free(f);
}

static void test_a_failed_write_and_a_failed_read_back_leave_no_table_loaded(void **state)
{
	struct fixture *f = fx_new(64 * MIB, 512);

	(void)state;
	f->r->writes = 0;
	f->r->fail_write_at = 1;
	f->r->fail_reads = true;
	assert_int_equal(voltab_create(&f->t, "x", MIB, 1, NULL), -EIO);
	assert_false(f->t.loaded);
	assert_int_equal(f->t.load_rc, -EIO);
	assert_int_equal(voltab_create(&f->t, "x", MIB, 1, NULL), -ENODEV);
	fx_free(f);
}

static void test_a_disk_under_2_mib_gets_no_table(void **state)
{
	struct ramdisk *r = rd_new(2 * MIB - 512, 512);
	struct voltab t = {0};

	(void)state;
	assert_int_equal(voltab_format(&t, &r->dev, fx_uuid, 1, 1), -ENOSPC);
	assert_false(t.loaded);
	assert_int_equal(t.load_rc, -ENOSPC);
	assert_int_equal(r->writes, 0);
	voltab_close(&t);
	rd_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_matches_the_check_value),
		cmocka_unit_test(test_names_follow_the_documented_rules),
		cmocka_unit_test(test_a_blank_disk_has_no_table),
		cmocka_unit_test(test_format_writes_an_empty_table_in_both_copies),
		cmocka_unit_test(test_create_list_delete_and_reload_give_the_same_table),
		cmocka_unit_test(test_first_fit_reuses_the_gap_a_delete_leaves),
		cmocka_unit_test(test_space_runs_out_exactly_at_the_end),
		cmocka_unit_test(test_bad_requests_are_refused_and_change_nothing),
		cmocka_unit_test(test_the_table_holds_256_volumes_and_no_more),
		cmocka_unit_test(test_every_change_writes_and_flushes_both_copies),
		cmocka_unit_test(test_a_corrupt_primary_loads_the_secondary_and_the_next_write_repairs_it),
		cmocka_unit_test(test_a_blanked_primary_is_recovered_from_the_secondary),
		cmocka_unit_test(test_a_torn_write_of_the_first_copy_keeps_the_old_table),
		cmocka_unit_test(test_a_torn_write_of_the_second_copy_keeps_the_new_table),
		cmocka_unit_test(test_a_stale_copy_loses_to_the_newer_one),
		cmocka_unit_test(test_two_damaged_copies_are_an_error_and_nothing_is_written),
		cmocka_unit_test(test_a_newer_format_version_is_refused_with_its_reason),
		cmocka_unit_test(test_an_unknown_incompatible_feature_is_refused),
		cmocka_unit_test(test_an_unknown_read_only_feature_loads_read_only),
		cmocka_unit_test(test_overlapping_extents_make_a_copy_invalid),
		cmocka_unit_test(test_a_volume_past_the_end_of_a_smaller_disk_is_refused),
		cmocka_unit_test(test_a_table_for_another_block_size_is_refused),
		cmocka_unit_test(test_format_after_damage_starts_above_the_old_generation),
		cmocka_unit_test(test_a_read_error_on_both_copies_is_reported),
		cmocka_unit_test(test_a_failed_write_and_a_failed_read_back_leave_no_table_loaded),
		cmocka_unit_test(test_a_disk_under_2_mib_gets_no_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
