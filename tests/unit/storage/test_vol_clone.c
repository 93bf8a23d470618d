/* Clones: storage/voltab.c's bases and clones in the table, and
 * storage/vol_clone.c's view of a clone over its base, on a RAM disk
 * backed whole. What is proved: a base is read-only and hashed, a clone
 * names it, reserves its map after its blocks and finds that map zeroed;
 * both survive a reload, and a table that breaks the rules is not
 * believed; a base with clones cannot be deleted or made writable. The
 * view reads the base where the clone holds nothing, a write of part of a
 * granule merges the base's rest, a failed write holds nothing, and the
 * map reaches the disk only with a flush, after the data. */
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
#include "storage/vol_clone.h"
#include "storage/voltab.h"
#include "tests/unit/storage/ramdisk.h"

#define MIB (1ull << 20)
#define DISK_BYTES (16 * MIB)

static const uint8_t uuid[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1};
static const uint8_t sha[32] = {0xC0, 0xFF, 0xEE, 1, 2, 3};

struct fixture {
	struct ramdisk *rd;
	struct voltab t;
	const struct voltab_volume *base, *clone;
	uint64_t base_lba, clone_lba, map_lba;
};

/* A table with base "gold" (4 MiB, each 512-byte sector filled with its
 * number's low byte + 1) and its clone "web". */
static struct fixture *fx_new(uint32_t bs)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->rd = rd_new(DISK_BYTES, bs, 0);
	f->rd->dev.max_blocks = 16;
	assert_int_equal(voltab_format(&f->t, &f->rd->dev, uuid, 1000, 1), 0);
	assert_int_equal(voltab_create(&f->t, "gold", 4 * MIB, 2000, &f->base), 0);
	f->base_lba = f->base->start_lba;
	for (uint64_t s = 0; s < 4 * MIB / 512; s++)
		memset(f->rd->mem + f->base_lba * bs + s * 512, (int)(s & 0xFF) + 1, 512);
	assert_int_equal(voltab_set_base(&f->t, "gold", sha, 3000), 0);
	/* Stale bytes where the clone's map will be: the clone must not
	 * believe them. */
	memset(f->rd->mem + f->base_lba * bs + 8 * MIB, 0xFF, MIB);
	assert_int_equal(voltab_clone(&f->t, "gold", "web", 4000, &f->clone), 0);
	f->clone_lba = f->clone->start_lba;
	f->map_lba = f->clone_lba + 4 * MIB / bs;
	return f;
}

static void fx_free(struct fixture *f)
{
	voltab_close(&f->t);
	rd_free(f->rd);
	free(f);
}

static void open_view(struct fixture *f, struct vol_clone *c)
{
	assert_int_equal(vol_clone_open(c, &f->rd->dev, f->base_lba, f->clone_lba, f->map_lba,
					4 * MIB),
			 0);
}

static uint8_t base_byte(uint64_t off)
{
	return (uint8_t)(((off / 512) & 0xFF) + 1);
}

/* --- the table ----------------------------------------------------------------- */

static void test_a_clone_names_its_base_and_both_survive_a_reload(void **state)
{
	(void)state;
	struct fixture *f = fx_new(512);

	assert_int_equal(f->clone->parent_id, f->base->id);
	assert_int_equal(f->clone->size, 4 * MIB);
	assert_int_equal(f->clone->map_bytes, MIB);
	/* Placed after the base, its map after its blocks, and zeroed. */
	assert_int_equal(f->clone_lba, f->base_lba + 4 * MIB / 512);
	for (uint64_t i = 0; i < MIB; i++)
		if (f->rd->mem[f->map_lba * 512 + i])
			fail_msg("map byte %llu is not zero", (unsigned long long)i);
	assert_true(f->t.incompat & VOLTAB_INCOMPAT_CLONES);
	struct voltab_space sp;
	voltab_space(&f->t, &sp);
	assert_int_equal(sp.used_bytes, 9 * MIB);
	assert_int_equal(voltab_clones_of(&f->t, f->base->id), 1);

	assert_int_equal(voltab_load(&f->t, &f->rd->dev), 0);
	const struct voltab_volume *b = voltab_find(&f->t, "gold"), *c = voltab_find(&f->t, "web");
	assert_non_null(b);
	assert_non_null(c);
	assert_int_equal(b->flags, VOLTAB_VOL_READONLY | VOLTAB_VOL_HASHED);
	assert_memory_equal(b->sha256, sha, 32);
	assert_int_equal(c->parent_id, b->id);
	assert_int_equal(c->map_bytes, MIB);
	/* The next volume goes after the clone's map, not over it. */
	const struct voltab_volume *v;
	assert_int_equal(voltab_create(&f->t, "next", MIB, 5000, &v), 0);
	assert_int_equal(v->start_lba, f->map_lba + MIB / 512);
	fx_free(f);
}

static void test_a_base_with_clones_stays_and_stays_read_only(void **state)
{
	(void)state;
	struct fixture *f = fx_new(512);
	const struct voltab_volume *v;

	assert_int_equal(voltab_delete(&f->t, "gold", 6000), -EBUSY);
	assert_int_equal(voltab_set_base(&f->t, "gold", NULL, 6000), -EBUSY);
	/* Not a base: a plain volume, or a clone. */
	assert_int_equal(voltab_create(&f->t, "plain", MIB, 6000, &v), 0);
	assert_int_equal(voltab_clone(&f->t, "plain", "c2", 6000, &v), -EPERM);
	assert_int_equal(voltab_clone(&f->t, "web", "c2", 6000, &v), -EPERM);
	assert_int_equal(voltab_set_base(&f->t, "web", sha, 6000), -EINVAL);
	assert_int_equal(voltab_clone(&f->t, "nothing", "c2", 6000, &v), -ENOENT);
	assert_int_equal(voltab_clone(&f->t, "gold", "web", 6000, &v), -EEXIST);
	/* Too big for what is left: nothing written. */
	assert_int_equal(voltab_clone(&f->t, "gold", "c3", 6000, &v), 0);
	assert_int_equal(voltab_clone(&f->t, "gold", "c4", 6000, &v), -ENOSPC);
	assert_null(voltab_find(&f->t, "c4"));
	/* Clones gone, the base may go back to writable, and the feature
	 * bit goes with the last clone and hash. */
	assert_int_equal(voltab_delete(&f->t, "web", 7000), 0);
	assert_int_equal(voltab_delete(&f->t, "c3", 7000), 0);
	assert_int_equal(voltab_set_base(&f->t, "gold", NULL, 7000), 0);
	assert_int_equal(voltab_load(&f->t, &f->rd->dev), 0);
	assert_false(f->t.incompat & VOLTAB_INCOMPAT_CLONES);
	assert_int_equal(voltab_find(&f->t, "gold")->flags, 0);
	fx_free(f);
}

/* Edits copy c's entry i with edit(), reseals it. */
static void edit_entry(struct fixture *f, int c, unsigned i, void (*edit)(uint8_t *hdr, uint8_t *e))
{
	uint8_t *b = f->rd->mem + (c ? VOLTAB_COPY1_OFFSET : VOLTAB_COPY0_OFFSET);
	edit(b, b + VOLTAB_HEADER_BYTES + i * VOLTAB_ENTRY_BYTES);
	le32_put(b + 20, 0);
	le32_put(b + 20, crc32c_update(0, b, VOLTAB_COPY_BYTES));
}

static void drop_feature(uint8_t *hdr, uint8_t *e)
{
	(void)e;
	le32_put(hdr + 32, le32_get(hdr + 32) & ~VOLTAB_INCOMPAT_CLONES);
}

static void wrong_map(uint8_t *hdr, uint8_t *e)
{
	(void)hdr;
	le64_put(e + 112, 0);
}

static void unhash_base(uint8_t *hdr, uint8_t *e)
{
	(void)hdr;
	le32_put(e + 56, VOLTAB_VOL_READONLY);
}

static void test_a_table_that_breaks_the_clone_rules_is_not_believed(void **state)
{
	(void)state;
	void (*edits[])(uint8_t *, uint8_t *) = {drop_feature, wrong_map, unhash_base};
	const char *why[] = {"without the CLONES feature", "map size", "not a base of its size"};
	/* Entry 0 is the base, entry 1 the clone (sorted by start). */
	unsigned entry[] = {1, 1, 0};

	for (unsigned k = 0; k < 3; k++) {
		struct fixture *f = fx_new(512);
		for (int c = 0; c < 2; c++)
			edit_entry(f, c, entry[k], edits[k]);
		assert_int_equal(voltab_load(&f->t, &f->rd->dev), -EBADMSG);
		assert_non_null(strstr(f->t.info.copy[0].why, why[k]));
		fx_free(f);
	}
}

/* --- the view ------------------------------------------------------------------ */

static void test_a_new_clone_reads_as_its_base(void **state)
{
	(void)state;
	struct fixture *f = fx_new(512);
	struct vol_clone c;
	uint8_t *buf = malloc(4 * MIB);

	open_view(f, &c);
	assert_int_equal(c.dev.blocks, 4 * MIB / 512);
	assert_int_equal(c.held, 0);
	assert_int_equal(blkdev_io_split(&c.dev, 0, 4 * MIB / 512, buf, 0), 0);
	assert_memory_equal(buf, f->rd->mem + f->base_lba * 512, 4 * MIB);
	assert_int_equal(blkdev_read(&c.dev, 8191, 2, buf), -EINVAL);
	assert_int_equal(vol_clone_close(&c), 0);
	free(buf);
	fx_free(f);
}

static void test_writes_go_to_the_clone_and_a_partial_one_merges_the_base(void **state)
{
	(void)state;
	struct fixture *f = fx_new(512);
	struct vol_clone c;
	uint8_t w[3 * 4096], r[5 * 4096];

	open_view(f, &c);
	/* Sectors 9..32: the end of granule 1 (sectors 9-15), granules 2
	 * and 3 whole, and sector 32, the start of granule 4. */
	memset(w, 0x77, sizeof(w));
	assert_int_equal(blkdev_write(&c.dev, 9, 24, w), 0);
	assert_int_equal(c.held, 4);
	assert_int_equal(c.copied_up, 2); /* granules 1 and 4 */
	assert_true(vol_clone_holds(&c, 1) && vol_clone_holds(&c, 4));
	assert_false(vol_clone_holds(&c, 0) || vol_clone_holds(&c, 5));
	/* Granules 0..4 read back: base, base + new, new, new, new + base. */
	assert_int_equal(blkdev_read(&c.dev, 0, 40, r), 0);
	for (uint64_t off = 0; off < sizeof(r); off++) {
		uint8_t want = off >= 9 * 512 && off < 33 * 512 ? 0x77 : base_byte(off);
		if (r[off] != want)
			fail_msg("byte %llu: %02x, not %02x", (unsigned long long)off, r[off], want);
	}
	/* The base is untouched. */
	for (uint64_t off = 0; off < sizeof(r); off++)
		assert_int_equal(f->rd->mem[f->base_lba * 512 + off], base_byte(off));
	/* A second write to a held granule's part copies nothing up. */
	assert_int_equal(blkdev_write(&c.dev, 33, 1, w), 0);
	assert_int_equal(c.copied_up, 2);
	assert_int_equal(vol_clone_close(&c), 0);
	fx_free(f);
}

static void test_the_map_reaches_the_disk_only_with_a_flush_after_the_data(void **state)
{
	(void)state;
	struct fixture *f = fx_new(512);
	struct vol_clone c, after_crash;
	uint8_t w[4096], r[4096];

	open_view(f, &c);
	memset(w, 0x42, sizeof(w));
	rd_clear_ops(f->rd);
	assert_int_equal(blkdev_write(&c.dev, 800 * 8, 8, w), 0);
	assert_string_equal(f->rd->ops, "w"); /* the data only */
	/* Power cut now: the map on the disk says nothing of granule 800,
	 * so it reads as the base (the write was never flushed). */
	open_view(f, &after_crash);
	assert_false(vol_clone_holds(&after_crash, 800));
	assert_int_equal(blkdev_read(&after_crash.dev, 800 * 8, 8, r), 0);
	assert_int_equal(r[0], base_byte(800 * 4096));
	assert_int_equal(vol_clone_close(&after_crash), 0);
	/* The guest's flush: data flushed, the map's one block written,
	 * flushed again. */
	rd_clear_ops(f->rd);
	assert_int_equal(blkdev_flush(&c.dev), 0);
	assert_string_equal(f->rd->ops, "fwf");
	rd_clear_ops(f->rd);
	assert_int_equal(blkdev_flush(&c.dev), 0);
	assert_string_equal(f->rd->ops, "f"); /* nothing more to write */
	assert_int_equal(vol_clone_close(&c), 0);
	open_view(f, &c);
	assert_true(vol_clone_holds(&c, 800));
	assert_int_equal(c.held, 1);
	assert_int_equal(blkdev_read(&c.dev, 800 * 8, 8, r), 0);
	assert_memory_equal(r, w, sizeof(w));
	assert_int_equal(vol_clone_close(&c), 0);
	fx_free(f);
}

static void test_a_failed_write_holds_nothing(void **state)
{
	(void)state;
	struct fixture *f = fx_new(512);
	struct vol_clone c;
	uint8_t w[4096], r[4096];

	open_view(f, &c);
	memset(w, 0x13, sizeof(w));
	f->rd->fail_write_at = f->rd->writes + 1;
	assert_int_equal(blkdev_write(&c.dev, 16, 8, w), -EIO);
	assert_false(vol_clone_holds(&c, 2));
	/* The copy-up of a partial write fails too, holding nothing. */
	f->rd->fail_write_at = f->rd->writes + 1;
	assert_int_equal(blkdev_write(&c.dev, 25, 1, w), -EIO);
	assert_false(vol_clone_holds(&c, 3));
	assert_int_equal(c.held, 0);
	assert_int_equal(blkdev_read(&c.dev, 16, 8, r), 0);
	assert_int_equal(r[0], base_byte(16 * 512));
	assert_int_equal(vol_clone_close(&c), 0);
	fx_free(f);
}

static void test_a_clone_on_4096_byte_blocks(void **state)
{
	(void)state;
	struct fixture *f = fx_new(4096);
	struct vol_clone c;
	uint8_t w[8192], r[8192];

	open_view(f, &c);
	assert_int_equal(c.gran_blocks, 1);
	memset(w, 0x99, sizeof(w));
	assert_int_equal(blkdev_write(&c.dev, 1000, 2, w), 0);
	assert_int_equal(c.copied_up, 0);
	assert_int_equal(vol_clone_close(&c), 0);
	open_view(f, &c);
	assert_int_equal(c.held, 2);
	assert_int_equal(blkdev_read(&c.dev, 999, 2, r), 0);
	assert_int_equal(r[0], base_byte(999 * 4096));
	assert_int_equal(r[4096], 0x99);
	assert_int_equal(vol_clone_close(&c), 0);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_clone_names_its_base_and_both_survive_a_reload),
		cmocka_unit_test(test_a_base_with_clones_stays_and_stays_read_only),
		cmocka_unit_test(test_a_table_that_breaks_the_clone_rules_is_not_believed),
		cmocka_unit_test(test_a_new_clone_reads_as_its_base),
		cmocka_unit_test(test_writes_go_to_the_clone_and_a_partial_one_merges_the_base),
		cmocka_unit_test(test_the_map_reaches_the_disk_only_with_a_flush_after_the_data),
		cmocka_unit_test(test_a_failed_write_holds_nothing),
		cmocka_unit_test(test_a_clone_on_4096_byte_blocks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
