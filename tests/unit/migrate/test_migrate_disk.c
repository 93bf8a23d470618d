/* copy-storage: a guest's disk moves in the same stream as its memory
 * (DISK_DATA), converging with it: the source's blocks and pages end equal
 * on the destination while the guest writes both; a destination that
 * cannot take a disk, has no room for it, or is sent blocks off the disk
 * refuses, and a failed disk read keeps the guest on the source. A clone
 * (copy-storage inc) sends only the blocks that differ from its base, and
 * a destination without that base refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "migrate/auth.h"
#include "tests/unit/migrate/run.h"

#define DISK_BLOCKS 700 /* not a multiple of 64: the bitmap's last word is partial */

static void reset(void)
{
	src_disk_blocks = 0;
	dst_without_disk = false;
	src_disk_clone = false;
}

static void test_a_disk_moves_with_the_guest_while_it_writes_both(void **state)
{
	(void)state;
	src_disk_blocks = DISK_BLOCKS;
	struct run *t = run_new(NULL, KEY);
	reset();

	t->writes_per_poll = 8;
	run_to_end(t);
	assert_moved(t); /* memory and disk byte for byte, counts agree */
	/* Round 0 sends every block, zero ones as ZERO entries (the new
	 * volume is not zeroed); later rounds the blocks written meanwhile. */
	assert_int_equal(t->rows[0].blocks_sent + t->rows[0].blocks_zero, DISK_BLOCKS);
	assert_true(t->rows[0].blocks_zero > DISK_BLOCKS / 4);
	assert_true(t->nrows >= 2);
	assert_true(t->sum.blocks_sent + t->sum.blocks_zero > DISK_BLOCKS);
	assert_int_equal(t->sum.disk_blocks, DISK_BLOCKS);
	/* Read 16 blocks at a time, not a command per block. */
	assert_true(t->src.disk_reads < (t->sum.blocks_sent + t->sum.blocks_zero) / 4);
	assert_true(t->dst.syncs > 0);
	/* Flushed at the end of each live round, not in the stop-and-copy:
	 * the last flush is the destination's own, before the guest runs. */
	assert_int_equal(t->dst.flushes, t->nrows - 1);
	assert_int_equal(t->src.disk_starts, 1);
	assert_int_equal(t->src.disk_stops, 1);
	char line[256], cols[32];
	mig_stats_row(&t->rows[0], line, sizeof(line));
	snprintf(cols, sizeof(cols), "%12llu%12llu", (unsigned long long)t->rows[0].blocks_sent,
		 (unsigned long long)t->rows[0].blocks_zero);
	assert_non_null(strstr(line, cols)); /* its two block columns, at the end */
	assert_int_equal(strlen(strstr(line, cols)), 24);
	run_free(t);
}

static void test_the_disks_bitmaps_move_with_it(void **state)
{
	(void)state;
	src_disk_blocks = DISK_BLOCKS;
	struct run *t = run_new(NULL, KEY);
	reset();
	fake_src_add_bitmaps(&t->src);
	/* Made ahead of round 0 with the bits of then; the final bits come
	 * with the guest paused. */
	while (!t->dst.nbitmaps && t->polls < MAX_POLLS)
		run_poll(t);
	assert_int_equal(t->dst.nbitmaps, 2);
	assert_int_equal(t->dst.blocks_written, 0);
	t->src.bitmap_bits[0][1] = 0x80; /* written meanwhile */
	run_to_end(t);
	assert_moved(t); /* names, granularity, persistence and every bit */
	assert_int_equal(t->dst.bitmap_updates, 2);
	assert_int_equal(t->dst.bitmap_bits[0][1], 0x80);
	assert_int_equal(t->sum.bitmaps, 2);
	run_free(t);
}

static void test_a_bitmap_the_destination_cannot_make_fails_before_end(void **state)
{
	/* END may have left before the ERROR comes back: over a transport
	 * that authenticates the destination (TLS) the source believes it. */
	struct mig_send_params p = {.authenticated = true};

	(void)state;
	src_disk_blocks = DISK_BLOCKS;
	struct run *t = run_new(&p, KEY);
	reset();
	fake_src_add_bitmaps(&t->src);
	t->dst.bitmap_ret = -ENOSPC;
	t->dst.why_text = "no room for its 8 bytes in this host's volume table";
	run_to_end(t);
	assert_stayed(t, -EIO); /* ERROR GUEST, as for a device state refused */
	assert_non_null(strstr(t->sum_reason, "disk bitmap backup state refused: no room"));
	assert_int_equal(t->dst.starts, 0);
	assert_never_on_both(t);
	run_free(t);
}

static void test_malformed_bitmaps_are_refused(void **state)
{
	static uint8_t buf[4096];
	uint8_t bits[8] = {0};
	struct mig_stream_out o;
	struct mig_disk_bitmap b = {.granularity = 65536, .nbits = 44, .bits = bits}, got;
	const uint64_t disk = 44 * 65536 - 4096; /* the last granule partial */

	(void)state;
	snprintf(b.name, sizeof(b.name), "backup");
	const struct {
		uint32_t gran;
		uint64_t nbits;
		uint8_t last;
		int want;
	} cases[] = {
		{65536, 44, 0x08, 0},	     /* bit 43, the last */
		{65536, 44, 0x10, -EBADMSG}, /* bit 44: past the disk */
		{65536, 43, 0x00, -EBADMSG}, /* too few bits for the disk */
		{65536 + 4096, 44, 0, -EBADMSG},
		{2048, 44, 0, -EBADMSG},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		b.granularity = cases[i].gran;
		b.nbits = cases[i].nbits;
		memset(bits, 0, sizeof(bits));
		bits[5] = cases[i].last;
		mig_stream_out_init(&o, buf, sizeof(buf));
		assert_int_equal(mig_record_put_bitmap(&o, &b), 0);
		struct mig_stream_rec r = {.type = MIG_REC_DISK_BITMAP,
					   .len = (uint32_t)(MIG_BITMAP_HDR_LEN + (b.nbits + 7) / 8),
					   .payload = mig_stream_out_data(&o) + MIG_REC_HDR_LEN};
		assert_int_equal(mig_record_get_bitmap(&r, disk, &got), cases[i].want);
		if (!cases[i].want) {
			assert_string_equal(got.name, "backup");
			assert_int_equal(got.nbits, 44);
			assert_int_equal(got.bits[5], 0x08);
			/* One byte short or long. */
			r.len--;
			assert_int_equal(mig_record_get_bitmap(&r, disk, &got), -EBADMSG);
			r.len += 2;
			assert_int_equal(mig_record_get_bitmap(&r, disk, &got), -EBADMSG);
		}
	}
}

static void test_an_offline_move_sends_the_disk_once(void **state)
{
	struct mig_send_params p = {.offline = true};

	(void)state;
	src_disk_blocks = DISK_BLOCKS;
	struct run *t = run_new(&p, KEY);
	reset();
	run_to_end(t);
	assert_moved(t);
	assert_int_equal(t->sum.blocks_sent + t->sum.blocks_zero, DISK_BLOCKS);
	assert_int_equal(t->src.disk_starts, 0);
	run_free(t);
}

static void test_a_destination_without_disks_is_refused_before_anything_is_sent(void **state)
{
	(void)state;
	src_disk_blocks = DISK_BLOCKS;
	dst_without_disk = true;
	struct run *t = run_new(NULL, KEY);
	reset();
	run_to_end(t);
	assert_stayed(t, -EOPNOTSUPP);
	assert_non_null(strstr(t->sum_reason, "cannot take a disk"));
	assert_int_equal(t->dst.creates, 0);
	assert_int_equal(t->src.disk_reads, 0);
	run_free(t);
}

static void test_no_room_for_the_disk_is_refused_with_the_destinations_reason(void **state)
{
	(void)state;
	src_disk_blocks = DISK_BLOCKS;
	struct run *t = run_new(NULL, KEY);
	reset();
	t->dst.disk_ret = -ENOSPC;
	t->dst.why_text = "disk vol-web1: no room for 2 MiB on this host (largest free: 1 MiB)";
	run_to_end(t);
	assert_stayed(t, -ENOSPC);
	assert_non_null(strstr(t->sum_reason, "refused: disk vol-web1: no room"));
	run_free(t);
}

static void test_a_disk_read_that_fails_keeps_the_guest_on_the_source(void **state)
{
	(void)state;
	src_disk_blocks = DISK_BLOCKS;
	struct run *t = run_new(NULL, KEY);
	reset();
	t->src.disk_read_fail = 300;
	run_to_end(t);
	assert_stayed(t, -EIO);
	assert_non_null(strstr(t->sum_reason, "of disk vol-web1 failed (-5)"));
	assert_int_equal(t->dst.destroys, 1); /* the partly received disk went with it */
	run_free(t);
}

static void raw_blocks(struct raw *w, uint64_t block, const void *data)
{
	struct mig_batch b;

	assert_int_equal(mig_record_blocks_begin(&w->out, &b, MIG_REC_DISK_DATA), 0);
	mig_record_batch_add(&b, block, data);
	mig_record_batch_commit(&w->out, &b);
}

static void expect_error(struct raw *w, uint32_t code, const char *text)
{
	struct mig_stream_rec rec;
	struct mig_text t;

	assert_int_equal(raw_answer(w, &rec), MIG_REC_ERROR);
	assert_int_equal(mig_record_get_text(&rec, &t), 0);
	assert_int_equal(t.code, code);
	assert_non_null(strstr(t.text, text));
	assert_true(w->t->rret < 0);
	assert_false(w->t->dst.created);
	assert_int_equal(w->t->dst.destroys, 1);
}

static void test_a_block_past_the_disk_is_refused(void **state)
{
	uint8_t blk[MIG_DISK_BLOCK];

	(void)state;
	src_disk_blocks = DISK_BLOCKS;
	struct raw *w = raw_new_caps(MIG_CAP_DISK);
	reset();
	raw_auth_and_config(w);
	memset(blk, 3, sizeof(blk));
	raw_blocks(w, DISK_BLOCKS - 1, blk); /* the last block: fine */
	raw_blocks(w, DISK_BLOCKS, blk);
	raw_flush(w);
	expect_error(w, MIG_CODE_PROTOCOL, "malformed DISK_DATA");
	assert_int_equal(w->t->dst.blocks_written, 1);
	raw_free(w);
}

static void test_disk_data_for_a_guest_without_a_disk_is_refused(void **state)
{
	(void)state;
	struct raw *w = raw_new_caps(MIG_CAP_DISK);
	raw_auth_and_config(w);
	raw_blocks(w, 0, NULL);
	raw_flush(w);
	expect_error(w, MIG_CODE_PROTOCOL, "without a disk");
	raw_free(w);
}

static void test_a_disk_config_without_the_capability_is_refused(void **state)
{
	struct mig_stream_rec rec;
	struct mig_text t;
	uint8_t proof[32];

	(void)state;
	src_disk_blocks = DISK_BLOCKS;
	struct raw *w = raw_new_caps(0); /* the source did not offer DISK */
	reset();
	mig_auth_proof(MIG_AUTH_SOURCE, (const uint8_t *)KEY, strlen(KEY), w->ns, w->nd, proof);
	mig_stream_out_put(&w->out, MIG_REC_AUTH, proof, 32);
	mig_record_put_config(&w->out, &w->t->src.cfg);
	raw_flush(w);
	assert_int_equal(raw_answer(w, &rec), MIG_REC_REFUSE);
	assert_int_equal(mig_record_get_text(&rec, &t), 0);
	assert_int_equal(t.code, MIG_CODE_UNSUPPORTED);
	assert_int_equal(w->t->dst.creates, 0);
	raw_free(w);
}

/* g's GUEST_CONFIG, put into an output of its own (config_buf) and seen
 * as the record the destination reads. */
static uint8_t config_buf[MIG_REC_HDR_LEN + MIG_CONFIG_MAX_LEN + 64];

static struct mig_stream_rec config_record(const struct fake_src *g)
{
	struct mig_stream_out o;

	mig_stream_out_init(&o, config_buf, sizeof(config_buf));
	assert_int_equal(mig_record_put_config(&o, &g->cfg), 0);
	return (struct mig_stream_rec){.type = MIG_REC_GUEST_CONFIG,
				       .len = mig_record_config_len(&g->cfg),
				       .payload = mig_stream_out_data(&o) + MIG_REC_HDR_LEN};
}

/* GUEST_CONFIG's disk section: round trip, and each malformed form. */
static void test_the_disk_section_round_trips_and_malformed_ones_are_refused(void **state)
{
	struct fake_src g;
	struct mig_guest_config c;

	(void)state;
	fake_src_init(&g, 16, 1, 2);
	fake_src_add_disk(&g, 256);
	const struct {
		uint64_t bytes;
		const char *name;
		int want;
	} cases[] = {
		{256 * MIG_DISK_BLOCK, "vol-web1", 0},
		{256 * MIG_DISK_BLOCK + 512, "vol-web1", -EBADMSG},
		{MIG_MAX_DISK_BYTES + MIG_DISK_BLOCK, "vol-web1", -E2BIG},
		{256 * MIG_DISK_BLOCK, "bad name", -EBADMSG},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		g.cfg.disk_bytes = cases[i].bytes;
		snprintf(g.cfg.disk_volume, sizeof(g.cfg.disk_volume), "%s", cases[i].name);
		struct mig_stream_rec r = config_record(&g);
		assert_int_equal(r.len, MIG_CONFIG_FIXED_LEN + 2 * MIG_DEVICE_ENTRY_LEN + 48 +
						MIG_CONFIG_DISK_LEN);
		assert_int_equal(mig_record_get_config(&r, &c), cases[i].want);
		if (!cases[i].want) {
			assert_true(c.has_disk);
			assert_string_equal(c.disk_volume, "vol-web1");
			assert_int_equal(c.disk_bytes, 256 * MIG_DISK_BLOCK);
			/* Without the flag the section is extra bytes. */
			uint8_t *flags = (uint8_t *)r.payload + 22;
			flags[0] &= (uint8_t)~MIG_CONFIG_DISK;
			assert_int_equal(mig_record_get_config(&r, &c), -EBADMSG);
		}
	}
	fake_src_fini(&g);
}

static void test_inc_sends_only_what_differs_from_the_base(void **state)
{
	(void)state;
	src_disk_blocks = DISK_BLOCKS;
	src_disk_clone = true;
	struct run *t = run_new(NULL, KEY);
	reset();

	t->writes_per_poll = 8;
	run_to_end(t);
	/* The destination's clone starts as its base: equal at the end. */
	assert_moved(t);
	assert_true(t->dst.cfg.disk_has_base);
	assert_string_equal(t->dst.cfg.disk_base_name, "base-web1");
	assert_int_equal(t->dst.cfg.disk_base_sha256[31], 0xAB);
	assert_int_equal(t->src.disk_held_reads, 1);
	/* Round 0: the blocks the clone held when it began, and those the
	 * guest wrote before round 0 reached them, nothing else. */
	uint64_t r0 = t->rows[0].blocks_sent + t->rows[0].blocks_zero;
	assert_true(r0 >= t->src.disk_held_at_start);
	assert_true(r0 < DISK_BLOCKS / 3);
	assert_true(t->rows[0].blocks_zero >= 1); /* block 3, zeroed on the clone */
	uint64_t held = 0;
	for (uint64_t b = 0; b < DISK_BLOCKS; b++)
		held += t->src.disk_held[b / 64] >> (b % 64) & 1;
	assert_true(t->sum.blocks_sent + t->sum.blocks_zero >= held);
	run_free(t);
}

static void test_inc_to_a_host_without_the_base_is_refused(void **state)
{
	(void)state;
	src_disk_blocks = DISK_BLOCKS;
	src_disk_clone = true;
	struct run *t = run_new(NULL, KEY);
	reset();
	t->dst.disk_ret = -ENOENT;
	t->dst.why_text = "disk vol-web1: its base base-web1 is not on this host";
	run_to_end(t);
	assert_stayed(t, -ENOENT);
	assert_non_null(strstr(t->sum_reason, "refused: disk vol-web1: its base base-web1 is not"));
	assert_int_equal(t->src.disk_reads, 0);
	run_free(t);
}

static void test_the_base_section_round_trips_and_needs_the_disk_section(void **state)
{
	struct fake_src g;
	struct mig_guest_config c;

	(void)state;
	fake_src_init(&g, 16, 1, 2);
	fake_src_add_disk(&g, 256);
	fake_src_make_clone(&g);
	struct mig_stream_rec r = config_record(&g);
	assert_int_equal(r.len, MIG_CONFIG_FIXED_LEN + 2 * MIG_DEVICE_ENTRY_LEN + 48 +
					MIG_CONFIG_DISK_LEN + MIG_CONFIG_BASE_LEN);
	assert_int_equal(mig_record_get_config(&r, &c), 0);
	assert_true(c.disk_has_base);
	assert_string_equal(c.disk_base_name, "base-web1");
	assert_memory_equal(c.disk_base_sha256, g.cfg.disk_base_sha256, 32);
	uint8_t *flags = (uint8_t *)r.payload + 22;
	/* Without the flag the base section is extra bytes ... */
	flags[0] &= (uint8_t)~MIG_CONFIG_DISK_BASE;
	assert_int_equal(mig_record_get_config(&r, &c), -EBADMSG);
	/* ... and a base without a disk is no config at all. */
	flags[0] = (uint8_t)((flags[0] | MIG_CONFIG_DISK_BASE) & ~MIG_CONFIG_DISK);
	assert_int_equal(mig_record_get_config(&r, &c), -EBADMSG);
	/* A base name that is no name. */
	flags[0] |= MIG_CONFIG_DISK;
	uint8_t *name = (uint8_t *)r.payload + r.len - MIG_CONFIG_BASE_LEN;
	name[0] = ' ';
	assert_int_equal(mig_record_get_config(&r, &c), -EBADMSG);
	fake_src_fini(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_disk_moves_with_the_guest_while_it_writes_both),
		cmocka_unit_test(test_inc_sends_only_what_differs_from_the_base),
		cmocka_unit_test(test_inc_to_a_host_without_the_base_is_refused),
		cmocka_unit_test(test_the_base_section_round_trips_and_needs_the_disk_section),
		cmocka_unit_test(test_the_disks_bitmaps_move_with_it),
		cmocka_unit_test(test_a_bitmap_the_destination_cannot_make_fails_before_end),
		cmocka_unit_test(test_malformed_bitmaps_are_refused),
		cmocka_unit_test(test_an_offline_move_sends_the_disk_once),
		cmocka_unit_test(test_a_destination_without_disks_is_refused_before_anything_is_sent),
		cmocka_unit_test(test_no_room_for_the_disk_is_refused_with_the_destinations_reason),
		cmocka_unit_test(test_a_disk_read_that_fails_keeps_the_guest_on_the_source),
		cmocka_unit_test(test_a_block_past_the_disk_is_refused),
		cmocka_unit_test(test_disk_data_for_a_guest_without_a_disk_is_refused),
		cmocka_unit_test(test_a_disk_config_without_the_capability_is_refused),
		cmocka_unit_test(test_the_disk_section_round_trips_and_malformed_ones_are_refused),
	};
	return cmocka_run_group_tests_name("migrate/disk", tests, NULL, NULL);
}
