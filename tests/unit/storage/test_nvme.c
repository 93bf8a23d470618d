/* drivers/nvme.c against a fake controller (fake_nvme.h). What is proved:
 * bring-up refuses what it cannot drive and leaves the controller off;
 * data goes through PRPs (a list past two pages) and comes back the same;
 * transfers are split at max_blocks; out-of-range requests never reach
 * the device; a failed command is -EIO; a command that never completes,
 * or a fatal controller status, is -ETIMEDOUT and resets the controller,
 * after which I/O works again; a reset that fails takes the disk offline.
 *
 * The driver keeps its instances (it is probed once per boot), so the
 * tests after the successful probe run in order on one device. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drivers/nvme.h"
#include "drivers/nvme_regs.h"
#include "drivers/pci.h"
#include "tests/unit/storage/fake_nvme.h"

#define BLOCKS 8192 /* 4 MiB of 512-byte blocks */

static struct blkdev *dev;

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed);
}

static void test_no_controller_is_not_an_error(void **state)
{
	int err = 99;

	(void)state;
	fake_nvme_reset(BLOCKS, 9);
	pci_ndevs = 0;
	assert_null(nvme_probe(0, &err));
	assert_int_equal(err, 0);
}

static void test_a_namespace_with_metadata_is_refused_and_the_controller_left_off(void **state)
{
	int err;

	(void)state;
	fake_nvme_reset(BLOCKS, 9);
	fake.ms = 8;
	assert_null(nvme_probe(0, &err));
	assert_int_equal(err, -ENOTSUP);
	assert_false(fake.enabled);
}

static void test_an_odd_block_size_is_refused(void **state)
{
	int err;

	(void)state;
	fake_nvme_reset(BLOCKS, 10); /* 1024-byte blocks */
	assert_null(nvme_probe(0, &err));
	assert_int_equal(err, -ENOTSUP);
}

static void test_a_controller_that_never_gets_ready_fails_within_cap_to(void **state)
{
	int err;

	(void)state;
	fake_nvme_reset(BLOCKS, 9);
	fake.never_ready = true;
	uint64_t t0 = fake_clock_ns;
	assert_null(nvme_probe(0, &err));
	assert_int_equal(err, -ETIMEDOUT);
	/* CAP.TO is 2 (1 s): the wait is bounded by it, not by luck */
	assert_true(fake_clock_ns - t0 >= 1000000000ull);
	assert_true(fake_clock_ns - t0 < 1200000000ull);
}

static void test_probe_identifies_namespace_1(void **state)
{
	int err;

	(void)state;
	fake_nvme_reset(BLOCKS, 9);
	dev = nvme_probe(0, &err);
	assert_non_null(dev);
	assert_int_equal(err, 0);
	assert_string_equal(dev->name, "nvme0n1");
	assert_int_equal(dev->block_size, 512);
	assert_int_equal(dev->blocks, BLOCKS);
	assert_int_equal(dev->max_blocks, (128 << 10) / 512);
	assert_int_equal(fake.enables, 1);
	assert_true(fake.sq[1].live && fake.cq[1].live);
	char desc[128];
	nvme_describe(dev, desc, sizeof(desc));
	assert_string_equal(desc, "Tern fake NVMe, serial FAKE0001, fw 1.0, 00:03.0");
	/* probing again gives the same device, not a second bring-up */
	assert_ptr_equal(nvme_probe(0, &err), dev);
	assert_int_equal(fake.enables, 1);
}

static void test_data_round_trips_through_a_prp_list_from_an_unaligned_buffer(void **state)
{
	size_t n = 64 << 10;
	uint8_t *mem = malloc(n + 4096 + 8), *out = malloc(n + 4);

	(void)state;
	uint8_t *buf = mem + 4096 + 4; /* dword aligned, not page aligned */
	fill(buf, n, 7);
	assert_int_equal(blkdev_write(dev, 100, (uint32_t)(n / 512), buf), 0);
	assert_memory_equal(fake.disk + 100 * 512, buf, n);
	assert_int_equal(fake.prp_lists, 1);
	assert_int_equal(fake.max_prp_entries, 16); /* part of a page in PRP1, 16 pages listed */
	memset(out, 0, n + 4);
	assert_int_equal(blkdev_read(dev, 100, (uint32_t)(n / 512), out + 4), 0);
	assert_memory_equal(out + 4, buf, n);
	assert_int_equal(dev->counters.reads, 1);
	assert_int_equal(dev->counters.writes, 1);
	assert_int_equal(dev->counters.read_blocks, n / 512);
	free(mem);
	free(out);
}

static void test_one_and_two_page_transfers_need_no_list(void **state)
{
	uint8_t *buf = aligned_alloc(4096, 8192);

	(void)state;
	unsigned lists = fake.prp_lists;
	fill(buf, 8192, 3);
	assert_int_equal(blkdev_write(dev, 0, 8, buf), 0);		 /* one page */
	assert_int_equal(blkdev_write(dev, 8, 16, buf), 0);		 /* two pages */
	assert_int_equal(blkdev_write(dev, 30, 1, buf + 4096 - 256), 0); /* crosses a page */
	assert_int_equal(fake.prp_lists, lists);
	assert_memory_equal(fake.disk + 8 * 512, buf, 8192);
	assert_memory_equal(fake.disk + 30 * 512, buf + 4096 - 256, 512);
	free(buf);
}

static void test_transfers_are_split_at_max_blocks(void **state)
{
	size_t n = 300 * 512;
	uint8_t *buf = malloc(n), *out = malloc(n);

	(void)state;
	fill(buf, n, 11);
	unsigned before = fake.io_commands;
	assert_int_equal(blkdev_write(dev, 1000, 300, buf), 0); /* 256 + 44 */
	assert_int_equal(fake.io_commands - before, 2);
	assert_int_equal(fake.last_nlb, 44);
	uint32_t max = dev->max_blocks;
	dev->max_blocks = 8;
	before = fake.io_commands;
	assert_int_equal(blkdev_read(dev, 1000, 300, out), 0);
	assert_int_equal(fake.io_commands - before, 38); /* 37 of 8, one of 4 */
	dev->max_blocks = max;
	assert_memory_equal(out, buf, n);
	free(buf);
	free(out);
}

static void test_write_zeroes_moves_no_data_and_falls_back_without_it(void **state)
{
	size_t n = 3000 * 512;
	uint8_t *buf = malloc(n), *out = malloc(n);
	static const uint8_t zeros[4096];

	(void)state;
	fill(buf, n, 5);
	assert_int_equal(blkdev_write(dev, 2000, 3000, buf), 0);
	unsigned before = fake.io_commands, wz = fake.write_zeroes;
	uint64_t writes = dev->counters.writes;
	/* 2998 blocks, far past max_blocks: one command, no data. */
	assert_int_equal(blkdev_write_zeroes(dev, 2001, 2998, zeros, 8), 0);
	assert_int_equal(fake.write_zeroes - wz, 1);
	assert_int_equal(fake.io_commands - before, 1);
	assert_int_equal(dev->counters.writes - writes, 1);
	assert_int_equal(blkdev_read(dev, 2000, 3000, out), 0);
	assert_memory_equal(out, buf, 512); /* the block before is untouched */
	assert_memory_equal(out + 2999 * 512, buf + 2999 * 512, 512); /* and the one after */
	for (size_t i = 512; i < 2999 * 512; i++)
		if (out[i])
			fail_msg("byte %zu is not zero", i);
	assert_int_equal(dev->ops->write_zeroes(dev, dev->blocks - 1, 2), -EINVAL);
	/* A device without it: the buffer of zeros is written instead. */
	struct blkdev_ops plain = *dev->ops;
	struct blkdev d2 = *dev;
	plain.write_zeroes = NULL;
	d2.ops = &plain;
	assert_int_equal(blkdev_write(dev, 2000, 16, buf), 0);
	before = fake.io_commands;
	wz = fake.write_zeroes;
	assert_int_equal(blkdev_write_zeroes(&d2, 2000, 16, zeros, 8), 0);
	assert_int_equal(fake.io_commands - before, 2); /* two writes of 8 */
	assert_int_equal(fake.write_zeroes, wz);
	assert_int_equal(blkdev_read(dev, 2000, 16, out), 0);
	for (size_t i = 0; i < 16 * 512; i++)
		assert_int_equal(out[i], 0);
	free(buf);
	free(out);
}

static void test_out_of_range_requests_never_reach_the_device(void **state)
{
	uint8_t buf[1024] = {0};

	(void)state;
	unsigned before = fake.io_commands;
	assert_int_equal(blkdev_read(dev, BLOCKS, 1, buf), -EINVAL);
	assert_int_equal(blkdev_read(dev, BLOCKS - 1, 2, buf), -EINVAL);
	assert_int_equal(blkdev_write(dev, ~0ull, 1, buf), -EINVAL);
	assert_int_equal(blkdev_read(dev, 0, 1, buf + 1), -EINVAL); /* not dword aligned */
	assert_int_equal(blkdev_read(dev, BLOCKS - 2, 2, buf), 0);
	assert_int_equal(fake.io_commands - before, 1);
}

static void test_a_failed_command_is_eio_and_counted(void **state)
{
	uint8_t buf[512] = {0};

	(void)state;
	fake.status_io = 0x2 << 8 | 0x80; /* media error: write fault */
	assert_int_equal(blkdev_write(dev, 5, 1, buf), -EIO);
	assert_int_equal(dev->counters.errors, 1);
	assert_int_equal(dev->counters.resets, 0);
	assert_int_equal(blkdev_write(dev, 5, 1, buf), 0);
}

static void test_a_command_that_never_completes_resets_the_controller(void **state)
{
	uint8_t buf[512] = {0}, out[512];

	(void)state;
	unsigned enables = fake.enables;
	uint64_t t0 = fake_clock_ns;
	fake.swallow_io = true;
	assert_int_equal(blkdev_read(dev, 7, 1, buf), -ETIMEDOUT);
	assert_true(fake_clock_ns - t0 >= 5000000000ull);
	assert_int_equal(dev->counters.timeouts, 1);
	assert_int_equal(dev->counters.resets, 1);
	assert_int_equal(fake.enables, enables + 1); /* disabled, enabled, queues again */
	assert_true(fake.sq[1].live && fake.cq[1].live);
	/* and the disk works again */
	fill(buf, 512, 5);
	assert_int_equal(blkdev_write(dev, 7, 1, buf), 0);
	assert_int_equal(blkdev_read(dev, 7, 1, out), 0);
	assert_memory_equal(out, buf, 512);
	assert_int_equal(blkdev_flush(dev), 0);
}

static void test_a_fatal_controller_status_resets_it_too(void **state)
{
	uint8_t buf[512] = {0};

	(void)state;
	unsigned enables = fake.enables;
	uint64_t t0 = fake_clock_ns;
	fake.fatal_io = true;
	assert_int_equal(blkdev_read(dev, 9, 1, buf), -ETIMEDOUT);
	assert_true(fake_clock_ns - t0 < 1000000000ull); /* seen in CSTS, not waited out */
	assert_int_equal(dev->counters.resets, 2);
	assert_int_equal(fake.enables, enables + 1);
	assert_int_equal(blkdev_read(dev, 9, 1, buf), 0);
}

static void test_many_commands_wrap_the_queues_and_the_phase(void **state)
{
	uint8_t buf[512] = {0};

	(void)state;
	for (int i = 0; i < 300; i++) {
		fill(buf, 512, (unsigned)i);
		assert_int_equal(blkdev_write(dev, (uint64_t)i, 1, buf), 0);
	}
	for (int i = 0; i < 300; i++) {
		uint8_t want[512];
		fill(want, 512, (unsigned)i);
		assert_int_equal(blkdev_read(dev, (uint64_t)i, 1, buf), 0);
		assert_memory_equal(buf, want, 512);
	}
}

static void test_a_reset_that_fails_takes_the_disk_offline(void **state)
{
	uint8_t buf[512] = {0};
	char desc[128];

	(void)state;
	fake.swallow_io = true;
	fake.never_ready = true;
	assert_int_equal(blkdev_read(dev, 1, 1, buf), -ETIMEDOUT);
	unsigned before = fake.io_commands;
	assert_int_equal(blkdev_read(dev, 1, 1, buf), -ENODEV);
	assert_int_equal(blkdev_write(dev, 1, 1, buf), -ENODEV);
	assert_int_equal(blkdev_flush(dev), -ENODEV);
	assert_int_equal(fake.io_commands, before);
	nvme_describe(dev, desc, sizeof(desc));
	assert_non_null(strstr(desc, ", offline"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_controller_is_not_an_error),
		cmocka_unit_test(
			test_a_namespace_with_metadata_is_refused_and_the_controller_left_off),
		cmocka_unit_test(test_an_odd_block_size_is_refused),
		cmocka_unit_test(test_a_controller_that_never_gets_ready_fails_within_cap_to),
		cmocka_unit_test(test_probe_identifies_namespace_1),
		cmocka_unit_test(test_data_round_trips_through_a_prp_list_from_an_unaligned_buffer),
		cmocka_unit_test(test_one_and_two_page_transfers_need_no_list),
		cmocka_unit_test(test_transfers_are_split_at_max_blocks),
		cmocka_unit_test(test_write_zeroes_moves_no_data_and_falls_back_without_it),
		cmocka_unit_test(test_out_of_range_requests_never_reach_the_device),
		cmocka_unit_test(test_a_failed_command_is_eio_and_counted),
		cmocka_unit_test(test_a_command_that_never_completes_resets_the_controller),
		cmocka_unit_test(test_a_fatal_controller_status_resets_it_too),
		cmocka_unit_test(test_many_commands_wrap_the_queues_and_the_phase),
		cmocka_unit_test(test_a_reset_that_fails_takes_the_disk_offline),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	fake_nvme_free();
	return rc;
}
