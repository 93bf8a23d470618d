/* kernel/vdev: virtio-blk over a window of a block device, driven the way
 * Linux's virtio_blk drives it (port I/O, a split ring in guest memory,
 * header / data / status descriptors) over a fake VM whose RAM is a host
 * buffer and a RAM-backed disk (vblk_harness.h). A bad request must fail
 * alone (IOERR), a chain the device cannot answer must end in
 * DEVICE_NEEDS_RESET, and neither may touch anything outside the guest's
 * RAM or the disk's window. The dirty log and the device's state as a
 * migration moves it: test_virtio_blk_state.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/kernel/vblk_harness.h"

/* The disk's bytes for sector s of the window (512-byte blocks). */
static uint8_t *sector_of(uint64_t s)
{
	return disk.data + (WIN_START + s) * 512;
}

static bool needs_reset(struct vm *v)
{
	return in(v, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET;
}

/* ---- PCI identity, features, configuration ---------------------------------------- */

static void test_pci_function_is_a_modern_virtio_blk_at_its_slot(void **state)
{
	(void)state;
	assert_int_equal(cfg_in(&vm, DEV, 0, 4), 0x10421AF4);
	assert_int_equal(cfg_in(&vm, DEV, 0x0A, 2), 0x0100); /* mass storage, as QEMU's */
	assert_true(cfg_in(&vm, DEV, 0x08, 1) >= 1);	     /* non-transitional */
	assert_int_equal(cfg_in(&vm, DEV, 0x2C, 2), 0x1AF4);
	assert_int_equal(cfg_in(&vm, DEV, 0x10, 4), BAR | 1); /* I/O BAR0 */
	assert_int_equal(cfg_in(&vm, DEV, 0x14, 4), MSIX);    /* memory BAR1 */
	assert_int_equal(cfg_in(&vm, 1, 0, 4), 0xFFFFFFFF);   /* no virtio-net here */
	/* the slot is taken now; a second disk goes to 00:03.0 */
	struct vblk_disk k = window_of(&disk, false);
	assert_int_equal(vblk_init(&blk2, &vm, &vm.pci, DEV, &k), -EBUSY);
	assert_null(blk2.bounce);
	assert_int_equal(vblk_init(&blk2, &vm, &vm.pci, 3, &k), 0);
	assert_int_equal(cfg_in(&vm, 3, 0x10, 4), VBLK_IO_BASE(3) | 1);
	vblk_destroy(&blk2);
	assert_int_equal(cfg_in(&vm, 3, 0, 4), 0xFFFFFFFF);
}

static void test_capabilities_point_at_the_virtio_structures(void **state)
{
	/* type -> offset, length in BAR0 (virtio_pci.h) */
	static const uint32_t want[6][2] = {
		{0, 0}, {0x00, 0x38}, {0x44, 2}, {0x40, 1}, {0x60, 24}, {0, 0},
	};
	unsigned seen = 0, msix = 0;

	(void)state;
	for (unsigned p = cfg_in(&vm, DEV, 0x34, 1); p; p = cfg_in(&vm, DEV, p + 1, 1)) {
		unsigned id = cfg_in(&vm, DEV, p, 1);
		if (id == MSIX_CAP_ID) {
			msix = p;
			continue;
		}
		assert_int_equal(id, 0x09);
		unsigned type = cfg_in(&vm, DEV, p + 3, 1);
		assert_true(type >= 1 && type <= 5);
		seen |= 1u << type;
		if (type == 5)
			continue;
		assert_int_equal(cfg_in(&vm, DEV, p + 4, 1), 0); /* BAR0 */
		assert_int_equal(cfg_in(&vm, DEV, p + 8, 4), want[type][0]);
		assert_int_equal(cfg_in(&vm, DEV, p + 12, 4), want[type][1]);
		if (type == 2)
			assert_int_equal(cfg_in(&vm, DEV, p + 16, 4), 2); /* multiplier */
	}
	assert_int_equal(seen, 0x3E);
	assert_true(msix);
	assert_int_equal(cfg_in(&vm, DEV, msix + 2, 2) & 0x7FF, 1); /* 2 vectors */
}

static void test_features_offered_and_only_those_accepted(void **state)
{
	(void)state;
	out(&vm, 0x00, 4, 0);
	assert_int_equal(in(&vm, 0x04, 4), F_ALL);
	out(&vm, 0x00, 4, 1);
	assert_int_equal(in(&vm, 0x04, 4), 1); /* VERSION_1 */
	assert_int_equal(in(&vm, 0x12, 2), 1); /* one queue */
	out(&vm, 0x16, 2, 1);
	assert_int_equal(in(&vm, 0x18, 2), 0); /* queue 1 does not exist */
	/* what Linux 6.1 accepts of them; MQ or DISCARD were not offered */
	assert_int_equal(driver_up(&vm, F_ALL, 1), 0x0F);
	assert_int_equal(driver_up(&vm, F_ALL | (1u << 12), 1) & VIRTIO_STATUS_FEATURES_OK, 0);
	assert_int_equal(driver_up(&vm, F_ALL | (1u << 13), 1) & VIRTIO_STATUS_FEATURES_OK, 0);
	assert_int_equal(driver_up(&vm, F_ALL | F_RO, 1) & VIRTIO_STATUS_FEATURES_OK, 0);
	assert_int_equal(driver_up(&vm, F_ALL, 0) & VIRTIO_STATUS_FEATURES_OK, 0);
	assert_int_equal(driver_up(&vm, 0, 1), 0x0F); /* a driver may take none */
}

static void test_config_space_holds_capacity_seg_max_and_block_size(void **state)
{
	(void)state;
	uint64_t cap = in(&vm, 0x60, 4) | (uint64_t)in(&vm, 0x64, 4) << 32;
	assert_int_equal(cap, WIN_BLOCKS); /* 512-byte blocks: one sector each */
	assert_int_equal(in(&vm, 0x68, 4), VBLK_SIZE_MAX);
	assert_int_equal(in(&vm, 0x6C, 4), VBLK_SEG_MAX);
	assert_int_equal(in(&vm, 0x70, 4), 0); /* no geometry */
	assert_int_equal(in(&vm, 0x74, 4), 512);
	assert_int_equal(in(&vm, 0x74, 2), 512);
	assert_int_equal(in(&vm, 0x78, 4), 0); /* no topology, no writeback field */
	assert_int_equal(in(&vm, 0x7C, 4), 0);
	/* writes to it are ignored */
	out(&vm, 0x60, 4, 7);
	assert_int_equal(in(&vm, 0x60, 4), WIN_BLOCKS);
}

/* A register of the second disk's BAR0 (00:03.0). */
static uint32_t in3(unsigned off)
{
	uint32_t v = 0;
	assert_true(vpci_bar_in(&vm.pci, VBLK_IO_BASE(3) + off, 4, &v));
	return v;
}

static void test_4k_disk_shows_its_block_size_and_capacity_in_sectors(void **state)
{
	(void)state;
	ramdisk_make(&disk2, 4096, DISK_BLOCKS, 64);
	struct vblk_disk k = window_of(&disk2, true);
	assert_int_equal(vblk_init(&blk2, &vm, &vm.pci, 3, &k), 0);
	assert_int_equal(in3(0x60), WIN_BLOCKS * 8);
	assert_int_equal(in3(0x74), 4096);
	assert_int_equal(in3(0x04), F_ALL | F_RO); /* read-only: RO offered too */
}

static void test_windows_that_do_not_fit_the_device_are_refused(void **state)
{
	struct vblk_disk k = window_of(&disk, false);

	(void)state;
	k.start = DISK_BLOCKS - WIN_BLOCKS + 1;
	assert_int_equal(vblk_init(&blk2, &vm, &vm.pci, 3, &k), -EINVAL);
	k.start = UINT64_MAX - 1; /* start + blocks wraps */
	assert_int_equal(vblk_init(&blk2, &vm, &vm.pci, 3, &k), -EINVAL);
	k = window_of(&disk, false);
	k.blocks = 0;
	assert_int_equal(vblk_init(&blk2, &vm, &vm.pci, 3, &k), -EINVAL);
	k = window_of(&disk, false);
	k.dev = NULL;
	assert_int_equal(vblk_init(&blk2, &vm, &vm.pci, 3, &k), -EINVAL);
	k = window_of(&disk, false);
	disk.bd.block_size = 520;
	assert_int_equal(vblk_init(&blk2, &vm, &vm.pci, 3, &k), -EINVAL);
	disk.bd.block_size = 8192;
	assert_int_equal(vblk_init(&blk2, &vm, &vm.pci, 3, &k), -EINVAL);
	disk.bd.block_size = 512;
	assert_int_equal(vblk_init(&blk2, &vm, &vm.pci, 0, &k), -EINVAL);
	assert_int_equal(vblk_init(&blk2, &vm, &vm.pci, VPCI_DEVS, &k), -EINVAL);
	assert_int_equal(cfg_in(&vm, 3, 0, 4), 0xFFFFFFFF);
	/* the whole device is a window too */
	k.start = 0;
	k.blocks = DISK_BLOCKS;
	assert_int_equal(vblk_init(&blk2, &vm, &vm.pci, 3, &k), 0);
}

/* ---- requests --------------------------------------------------------------------- */

static void test_read_returns_the_windows_sectors_and_interrupts(void **state)
{
	struct seg d = {DATA, 4096};

	(void)state;
	msix_up(&vm);
	uint16_t head = blk_request(&vm, 0, T_IN, 10, &d, 1);
	assert_int_equal(status_of(&vm, 0), S_OK);
	assert_memory_equal(gpa(&vm, DATA), sector_of(10), 4096);
	assert_int_equal(used_idx(&vm), 1);
	assert_int_equal(used_id(&vm, 0), head);
	assert_int_equal(used_len(&vm, 0), 4096 + 1);
	assert_int_equal(disk.reads, 1);
	assert_int_equal(msi.n, 1);
	assert_int_equal(msi.data[0], 0x41); /* the request queue's vector */
	assert_int_equal(blk.stats.reads, 1);
	assert_int_equal(blk.stats.read_bytes, 4096);
	/* the last sector of the window is readable, 8 from there are not */
	blk_request(&vm, 1, T_IN, WIN_BLOCKS - 1, &d, 1);
	assert_int_equal(status_of(&vm, 1), S_IOERR);
	d.len = 512;
	blk_request(&vm, 2, T_IN, WIN_BLOCKS - 1, &d, 1);
	assert_int_equal(status_of(&vm, 2), S_OK);
	assert_memory_equal(gpa(&vm, DATA), sector_of(WIN_BLOCKS - 1), 512);
}

static void test_write_lands_in_the_window_and_reads_back(void **state)
{
	struct seg d = {DATA, 1024};
	uint8_t *before = malloc(DISK_BLOCKS * 512);

	(void)state;
	assert_int_equal(driver_up(&vm, F_ALL, 1), 0x0F);
	memcpy(before, disk.data, DISK_BLOCKS * 512);
	memset(gpa(&vm, DATA), 0xAB, 1024);
	blk_request(&vm, 0, T_OUT, 100, &d, 1);
	assert_int_equal(status_of(&vm, 0), S_OK);
	assert_int_equal(used_len(&vm, 0), 1);
	for (unsigned i = 0; i < 1024; i++)
		assert_int_equal(sector_of(100)[i], 0xAB);
	/* nothing else on the device changed */
	memcpy(before + (WIN_START + 100) * 512, sector_of(100), 1024);
	assert_memory_equal(before, disk.data, DISK_BLOCKS * 512);
	free(before);
	/* and it reads back */
	d.gpa = DATA + 0x10000;
	blk_request(&vm, 1, T_IN, 100, &d, 1);
	assert_int_equal(status_of(&vm, 1), S_OK);
	assert_memory_equal(gpa(&vm, DATA + 0x10000), gpa(&vm, DATA), 1024);
	assert_int_equal(blk.stats.writes, 1);
	assert_int_equal(blk.stats.write_bytes, 1024);
}

static void test_multi_segment_requests_scatter_and_gather(void **state)
{
	/* odd sizes, scattered, one sector split across two segments */
	const struct seg d[4] = {
		{DATA + 0x30000, 512},
		{DATA + 0x10100, 1280},
		{DATA + 0x50000, 256},
		{DATA + 0x7000, 2048},
	};
	uint8_t want[4096];

	(void)state;
	assert_int_equal(driver_up(&vm, F_ALL, 1), 0x0F);
	blk_request(&vm, 0, T_IN, 300, d, 4);
	assert_int_equal(status_of(&vm, 0), S_OK);
	assert_int_equal(used_len(&vm, 0), 4096 + 1);
	size_t off = 0;
	for (unsigned i = 0; i < 4; i++) {
		assert_memory_equal(gpa(&vm, d[i].gpa), sector_of(300) + off, d[i].len);
		off += d[i].len;
	}
	/* gathered the same way on a write */
	for (unsigned i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)(i * 7 + 3);
	off = 0;
	for (unsigned i = 0; i < 4; i++) {
		memcpy(gpa(&vm, d[i].gpa), want + off, d[i].len);
		off += d[i].len;
	}
	blk_request(&vm, 1, T_OUT, 500, d, 4);
	assert_int_equal(status_of(&vm, 1), S_OK);
	assert_memory_equal(sector_of(500), want, sizeof(want));
}

static void test_largest_request_goes_through_in_device_sized_calls(void **state)
{
	struct seg d[VBLK_SEG_MAX];

	(void)state;
	disk.bd.max_blocks = 24; /* fewer than the bounce buffer holds */
	assert_int_equal(driver_up(&vm, F_ALL, 1), 0x0F);
	for (unsigned i = 0; i < VBLK_SEG_MAX; i++)
		d[i] = (struct seg){DATA + 0x1000 * (uint64_t)i, 4096};
	blk_request(&vm, 0, T_IN, 8, d, VBLK_SEG_MAX);
	assert_int_equal(status_of(&vm, 0), S_OK);
	assert_memory_equal(gpa(&vm, DATA), sector_of(8), VBLK_SEG_MAX * 4096);
	assert_int_equal(disk.largest, 24);
	assert_int_equal(disk.reads, (VBLK_SEG_MAX * 8 + 23) / 24);
	assert_int_equal(disk.out_of_range, 0);
	/* the same through VBLK_BOUNCE-sized calls */
	disk.bd.max_blocks = 1024;
	disk.largest = 0;
	blk_request(&vm, 1, T_OUT, 1000, d, VBLK_SEG_MAX);
	assert_int_equal(status_of(&vm, 1), S_OK);
	assert_int_equal(disk.largest, VBLK_BOUNCE / 512);
	assert_memory_equal(sector_of(1000), gpa(&vm, DATA), VBLK_SEG_MAX * 4096);
}

static void test_flush_reaches_the_disk(void **state)
{
	(void)state;
	assert_int_equal(driver_up(&vm, F_ALL, 1), 0x0F);
	blk_request(&vm, 0, T_FLUSH, 0, NULL, 0);
	assert_int_equal(status_of(&vm, 0), S_OK);
	assert_int_equal(used_len(&vm, 0), 1);
	assert_int_equal(disk.flushes, 1);
	assert_int_equal(blk.stats.flushes, 1);
	/* a flush that carries data is misshapen */
	struct seg d = {DATA, 512};
	blk_request(&vm, 1, T_FLUSH, 0, &d, 1);
	assert_int_equal(status_of(&vm, 1), S_IOERR);
	assert_int_equal(disk.flushes, 1);
}

static void test_get_id_returns_the_serial(void **state)
{
	struct seg d = {DATA, VBLK_ID_BYTES};

	(void)state;
	assert_int_equal(driver_up(&vm, F_ALL, 1), 0x0F);
	memset(gpa(&vm, DATA), 0xEE, 64);
	blk_request(&vm, 0, T_GET_ID, 0, &d, 1);
	assert_int_equal(status_of(&vm, 0), S_OK);
	assert_int_equal(used_len(&vm, 0), VBLK_ID_BYTES + 1);
	assert_string_equal((char *)gpa(&vm, DATA), SERIAL); /* NUL-padded */
	assert_int_equal(gpa(&vm, DATA)[VBLK_ID_BYTES], 0xEE);
	/* a shorter buffer gets the start of it, a longer one no more than 20 */
	d.len = 4;
	memset(gpa(&vm, DATA), 0xEE, 64);
	blk_request(&vm, 1, T_GET_ID, 0, &d, 1);
	assert_int_equal(status_of(&vm, 1), S_OK);
	assert_memory_equal(gpa(&vm, DATA), "tern", 4);
	assert_int_equal(gpa(&vm, DATA)[4], 0xEE);
	d.len = 512;
	blk_request(&vm, 2, T_GET_ID, 0, &d, 1);
	assert_int_equal(used_len(&vm, 2), VBLK_ID_BYTES + 1);
	assert_int_equal(gpa(&vm, DATA)[VBLK_ID_BYTES], 0xEE);
}

static void test_requests_past_the_end_fail_and_move_nothing(void **state)
{
	struct seg d = {DATA, 4096};
	uint8_t *before = malloc(DISK_BLOCKS * 512);

	(void)state;
	assert_int_equal(driver_up(&vm, F_ALL, 1), 0x0F);
	memcpy(before, disk.data, DISK_BLOCKS * 512);
	memset(gpa(&vm, DATA), 0xCD, 4096);
	const uint64_t bad[] = {WIN_BLOCKS - 4, WIN_BLOCKS, WIN_BLOCKS + 1,
				UINT64_MAX - 3, UINT64_MAX, 1ull << 63};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		blk_request(&vm, 2 * i, T_IN, bad[i], &d, 1);
		assert_int_equal(status_of(&vm, 2 * i), S_IOERR);
		assert_int_equal(used_len(&vm, used_idx(&vm) - 1), 1); /* the status only */
		blk_request(&vm, 2 * i + 1, T_OUT, bad[i], &d, 1);
		assert_int_equal(status_of(&vm, 2 * i + 1), S_IOERR);
	}
	assert_int_equal(disk.reads + disk.writes, 0);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(gpa(&vm, DATA)[i], 0xCD);
	assert_memory_equal(before, disk.data, DISK_BLOCKS * 512);
	assert_int_equal(blk.stats.refused, 12);
	free(before);
	/* a zero-length read at the very end is harmless */
	blk_request(&vm, 20, T_IN, WIN_BLOCKS, NULL, 0);
	assert_int_equal(status_of(&vm, 20), S_OK);
}

static void test_unknown_types_are_unsupported_and_the_device_goes_on(void **state)
{
	struct seg d = {DATA, 512};
	/* GET_LIFETIME, DISCARD, WRITE_ZEROES, SECURE_ERASE, legacy SCSI, junk */
	const uint32_t types[] = {10, 11, 13, 14, 2, 0x80000000u};

	(void)state;
	assert_int_equal(driver_up(&vm, F_ALL, 1), 0x0F);
	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		blk_request(&vm, i, types[i], 0, &d, 1);
		assert_int_equal(status_of(&vm, i), S_UNSUPP);
	}
	assert_int_equal(blk.stats.unsupported, 6);
	assert_int_equal(disk.reads + disk.writes + disk.flushes, 0);
	blk_request(&vm, 10, T_IN, 0, &d, 1);
	assert_int_equal(status_of(&vm, 10), S_OK);
	assert_false(needs_reset(&vm));
}

static void test_read_only_disk_refuses_writes(void **state)
{
	struct seg d = {DATA, 512};

	(void)state;
	vblk_destroy(&blk);
	struct vblk_disk k = window_of(&disk, true);
	assert_int_equal(vblk_init(&blk, &vm, &vm.pci, DEV, &k), 0);
	assert_int_equal(driver_up(&vm, F_ALL | F_RO, 1), 0x0F);
	uint8_t keep[512];
	memcpy(keep, sector_of(0), 512);
	blk_request(&vm, 0, T_OUT, 0, &d, 1);
	assert_int_equal(status_of(&vm, 0), S_IOERR);
	assert_int_equal(disk.writes, 0);
	assert_memory_equal(keep, sector_of(0), 512);
	blk_request(&vm, 1, T_IN, 0, &d, 1);
	assert_int_equal(status_of(&vm, 1), S_OK);
}

static void test_partial_sectors_and_4k_misalignment_are_refused(void **state)
{
	struct seg d = {DATA, 100};

	(void)state;
	assert_int_equal(driver_up(&vm, F_ALL, 1), 0x0F);
	blk_request(&vm, 0, T_IN, 0, &d, 1);
	assert_int_equal(status_of(&vm, 0), S_IOERR);
	blk_request(&vm, 1, T_OUT, 0, &d, 1);
	assert_int_equal(status_of(&vm, 1), S_IOERR);
	/* a 4096-byte disk takes whole 4096-byte blocks only */
	vblk_destroy(&blk);
	ramdisk_make(&disk2, 4096, DISK_BLOCKS, 64);
	struct vblk_disk k = window_of(&disk2, false);
	assert_int_equal(vblk_init(&blk, &vm, &vm.pci, DEV, &k), 0);
	assert_int_equal(driver_up(&vm, F_ALL, 1), 0x0F);
	d.len = 4096;
	blk_request(&vm, 2, T_IN, 4, &d, 1);
	assert_int_equal(status_of(&vm, 2), S_IOERR);
	d.len = 512;
	blk_request(&vm, 3, T_IN, 8, &d, 1);
	assert_int_equal(status_of(&vm, 3), S_IOERR);
	assert_int_equal(disk2.reads, 0);
	d.len = 8192;
	blk_request(&vm, 4, T_IN, 16, &d, 1);
	assert_int_equal(status_of(&vm, 4), S_OK);
	assert_memory_equal(gpa(&vm, DATA), disk2.data + (WIN_START + 2) * 4096, 8192);
}

static void test_disk_failure_fails_the_request_only(void **state)
{
	struct seg d = {DATA, 512};

	(void)state;
	assert_int_equal(driver_up(&vm, F_ALL, 1), 0x0F);
	disk.fail = true;
	blk_request(&vm, 0, T_IN, 0, &d, 1);
	assert_int_equal(status_of(&vm, 0), S_IOERR);
	blk_request(&vm, 1, T_OUT, 0, &d, 1);
	assert_int_equal(status_of(&vm, 1), S_IOERR);
	blk_request(&vm, 2, T_FLUSH, 0, NULL, 0);
	assert_int_equal(status_of(&vm, 2), S_IOERR);
	assert_int_equal(blk.stats.errors, 3);
	disk.fail = false;
	blk_request(&vm, 3, T_IN, 0, &d, 1);
	assert_int_equal(status_of(&vm, 3), S_OK);
	assert_false(needs_reset(&vm));
}

static void test_batch_is_served_in_order_with_one_interrupt(void **state)
{
	struct seg d[3] = {{DATA, 512}, {DATA + 0x1000, 512}, {DATA + 0x2000, 512}};

	(void)state;
	msix_up(&vm);
	memset(gpa(&vm, DATA + 0x1000), 0x11, 512);
	blk_prepare(&vm, 0, T_IN, 5, &d[0], 1);
	blk_prepare(&vm, 1, T_OUT, 6, &d[1], 1);
	blk_prepare(&vm, 2, T_IN, 6, &d[2], 1); /* sees the write before it */
	blk_prepare(&vm, 3, T_FLUSH, 0, NULL, 0);
	notify(&vm);
	assert_int_equal(used_idx(&vm), 4);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(status_of(&vm, i), S_OK);
	assert_memory_equal(gpa(&vm, DATA + 0x2000), gpa(&vm, DATA + 0x1000), 512);
	assert_int_equal(msi.n, 1);
}

/* A guest that queues more than a budget cannot hold the main loop: one
 * notification serves a budget's worth (one interrupt), vblk_poll serves
 * the rest a budget at a time, then has nothing to do. */
static void test_a_notification_serves_one_budget_and_poll_the_rest(void **state)
{
	const unsigned per = VBLK_BUDGET_BYTES / VBLK_SIZE_MAX; /* 64 KiB reads in a budget */
	const unsigned total = 2 * per + 3;
	struct seg d = {DATA, VBLK_SIZE_MAX};

	(void)state;
	msix_up(&vm);
	for (unsigned i = 0; i < total; i++)
		blk_prepare(&vm, i, T_IN, 128 * (i % 8), &d, 1);
	notify(&vm);
	assert_int_equal(used_idx(&vm), per);
	assert_int_equal(msi.n, 1);
	assert_int_equal(status_of(&vm, per - 1), S_OK);
	assert_int_equal(status_of(&vm, per), 0xFF); /* untouched until served */
	assert_true(vblk_poll(&blk));
	assert_int_equal(used_idx(&vm), 2 * per);
	assert_int_equal(msi.n, 2);
	assert_true(vblk_poll(&blk));
	assert_int_equal(used_idx(&vm), total);
	assert_int_equal(msi.n, 3);
	for (unsigned i = 0; i < total; i++)
		assert_int_equal(status_of(&vm, i), S_OK);
	assert_false(vblk_poll(&blk));
	assert_int_equal(msi.n, 3);
	assert_int_equal(blk.stats.reads, total);
	assert_false(needs_reset(&vm));
}

/* The request that crosses the budget is finished (every call makes
 * progress, whatever the request's size); the next one waits. */
static void test_the_request_crossing_the_budget_is_finished_and_the_next_waits(void **state)
{
	enum { SEGS = 12 }; /* 768 KiB: over half a budget */
	struct seg d[SEGS];

	(void)state;
	assert_int_equal(driver_up(&vm, F_ALL, 1), 0x0F);
	for (unsigned i = 0; i < SEGS; i++)
		d[i] = (struct seg){DATA + (uint64_t)VBLK_SIZE_MAX * i, VBLK_SIZE_MAX};
	for (unsigned i = 0; i < 3; i++)
		blk_prepare(&vm, i, i == 1 ? T_OUT : T_IN, 0, d, SEGS);
	notify(&vm);
	assert_int_equal(used_idx(&vm), 2);
	assert_int_equal(status_of(&vm, 1), S_OK);
	assert_true(vblk_poll(&blk));
	assert_int_equal(used_idx(&vm), 3);
	assert_int_equal(status_of(&vm, 2), S_OK);
	assert_false(vblk_poll(&blk));
}

/* Flushes move no data but can be slow: they count against the budget's
 * request limit. */
static void test_requests_without_data_are_bounded_by_count(void **state)
{
	const unsigned total = VBLK_BUDGET_REQS + 10;

	(void)state;
	assert_int_equal(driver_up(&vm, F_ALL, 1), 0x0F);
	for (unsigned i = 0; i < total; i++)
		blk_prepare(&vm, i, T_FLUSH, 0, NULL, 0);
	notify(&vm);
	assert_int_equal(used_idx(&vm), VBLK_BUDGET_REQS);
	assert_int_equal(disk.flushes, VBLK_BUDGET_REQS);
	assert_true(vblk_poll(&blk));
	assert_int_equal(used_idx(&vm), total);
	assert_int_equal(disk.flushes, total);
}

/* The main loop polls every guest's disk: a device the driver has not set
 * up, or one that needs a reset, is left alone. */
static void test_poll_leaves_a_device_that_is_not_live_alone(void **state)
{
	struct seg d = {DATA, 512};

	(void)state;
	assert_false(vblk_poll(&blk)); /* reset state: no queue */
	assert_int_equal(driver_up(&vm, F_ALL, 1), 0x0F);
	assert_false(vblk_poll(&blk)); /* live, nothing available */
	blk_prepare(&vm, 0, T_IN, 0, &d, 1);
	out(&vm, 0x14, 1, 0); /* the driver resets the device */
	assert_false(vblk_poll(&blk));
	assert_int_equal(disk.reads, 0);
	assert_int_equal(status_of(&vm, 0), 0xFF);
}

static void test_notifications_before_driver_ok_are_ignored(void **state)
{
	struct seg d = {DATA, 512};

	(void)state;
	assert_int_equal(driver_up(&vm, F_ALL, 1), 0x0F);
	out(&vm, 0x14, 1, 0x0B); /* DRIVER_OK cleared (not a reset) */
	blk_request(&vm, 0, T_IN, 0, &d, 1);
	assert_int_equal(used_idx(&vm), 0);
	assert_int_equal(disk.reads, 0);
	out(&vm, 0x14, 1, 0x0F);
	notify(&vm);
	assert_int_equal(used_idx(&vm), 1);
	assert_int_equal(status_of(&vm, 0), S_OK);
}

/* ---- hostile drivers ------------------------------------------------------------------ */

static void test_misshapen_requests_fail_alone(void **state)
{
	struct seg d = {DATA, 512};

	(void)state;
	assert_int_equal(driver_up(&vm, F_ALL, 1), 0x0F);

	/* a header of 8 bytes */
	uint16_t h = take_desc();
	desc(&vm, h, HDRS, 8, VIRTQ_DESC_F_NEXT, take_desc());
	desc(&vm, h + 1, STATUSES, 1, VIRTQ_DESC_F_WRITE, 0);
	gpa(&vm, STATUSES)[0] = 0xFF;
	offer(&vm, h);
	notify(&vm);
	assert_int_equal(status_of(&vm, 0), S_IOERR);

	/* a read with data the device is to read, a write with data it is
	 * to write */
	h = take_desc();
	memset(gpa(&vm, HDRS + 16), 0, 16);
	desc(&vm, h, HDRS + 16, 16, VIRTQ_DESC_F_NEXT, take_desc());
	desc(&vm, h + 1, DATA, 512, VIRTQ_DESC_F_NEXT, take_desc());
	desc(&vm, h + 2, STATUSES + 1, 1, VIRTQ_DESC_F_WRITE, 0);
	gpa(&vm, STATUSES)[1] = 0xFF;
	offer(&vm, h);
	notify(&vm);
	assert_int_equal(status_of(&vm, 1), S_IOERR);
	h = take_desc();
	uint32_t t = T_OUT;
	memcpy(gpa(&vm, HDRS + 32), &t, 4);
	desc(&vm, h, HDRS + 32, 16, VIRTQ_DESC_F_NEXT, take_desc());
	desc(&vm, h + 1, DATA, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, take_desc());
	desc(&vm, h + 2, STATUSES + 2, 1, VIRTQ_DESC_F_WRITE, 0);
	gpa(&vm, STATUSES)[2] = 0xFF;
	offer(&vm, h);
	notify(&vm);
	assert_int_equal(status_of(&vm, 2), S_IOERR);

	/* more data segments than seg_max */
	struct seg many[VBLK_SEG_MAX + 1];
	for (unsigned i = 0; i <= VBLK_SEG_MAX; i++)
		many[i] = (struct seg){DATA + 512 * (uint64_t)i, 512};
	blk_request(&vm, 3, T_IN, 0, many, VBLK_SEG_MAX + 1);
	assert_int_equal(status_of(&vm, 3), S_IOERR);

	/* more data than VBLK_DATA_MAX, in buffers that overlap in RAM */
	struct seg huge[3] = {{DATA, 3u << 20}, {DATA, 3u << 20}, {DATA, 3u << 20}};
	memset(gpa(&vm, DATA), 0x77, 512);
	blk_request(&vm, 4, T_IN, 0, huge, 3);
	assert_int_equal(status_of(&vm, 4), S_IOERR);
	assert_int_equal(gpa(&vm, DATA)[0], 0x77);
	blk_request(&vm, 5, T_OUT, 0, huge, 3);
	assert_int_equal(status_of(&vm, 5), S_IOERR);

	assert_int_equal(disk.reads + disk.writes, 0);
	assert_int_equal(blk.stats.refused, 6);
	assert_false(needs_reset(&vm));
	assert_int_equal(used_idx(&vm), 6);
	blk_request(&vm, 6, T_IN, 0, &d, 1);
	assert_int_equal(status_of(&vm, 6), S_OK);
}

static void test_chains_the_device_cannot_answer_need_reset_and_touch_nothing(void **state)
{
	(void)state;
	for (unsigned kind = 0; kind < 6; kind++) {
		uint8_t *before = malloc(DISK_BLOCKS * 512);
		memcpy(before, disk.data, DISK_BLOCKS * 512);
		msi.n = 0;
		msix_up(&vm);
		uint16_t h = take_desc(), n1 = take_desc(), n2 = take_desc();
		memset(gpa(&vm, HDRS), 0, 16); /* T_IN, sector 0 */
		desc(&vm, h, HDRS, 16, VIRTQ_DESC_F_NEXT, n1);
		switch (kind) {
		case 0: /* the status descriptor is not writable */
			desc(&vm, n1, STATUSES, 1, 0, 0);
			break;
		case 1: /* a data buffer running past the end of RAM */
			desc(&vm, n1, RAM - 512, 1024, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, n2);
			desc(&vm, n2, STATUSES, 1, VIRTQ_DESC_F_WRITE, 0);
			break;
		case 2: /* one whose address wraps */
			desc(&vm, n1, UINT64_MAX - 255, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT,
			     n2);
			desc(&vm, n2, STATUSES, 1, VIRTQ_DESC_F_WRITE, 0);
			break;
		case 3: /* a loop */
			desc(&vm, n1, DATA, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, n1);
			break;
		case 4: /* indirect, never offered */
			desc(&vm, n1, DATA, 512, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, n2);
			desc(&vm, n2, STATUSES, 1, VIRTQ_DESC_F_WRITE, 0);
			break;
		case 5: /* next past the table */
			desc(&vm, n1, DATA, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, QSIZE);
			break;
		}
		gpa(&vm, STATUSES)[0] = 0xFF;
		memset(gpa(&vm, DATA), 0x33, 512);
		uint16_t before_used = used_idx(&vm);
		offer(&vm, h);
		notify(&vm);
		assert_true(needs_reset(&vm));
		assert_int_equal(used_idx(&vm), before_used); /* nothing returned */
		assert_int_equal(status_of(&vm, 0), 0xFF);
		assert_int_equal(gpa(&vm, DATA)[0], 0x33);
		assert_int_equal(disk.reads + disk.writes, 0);
		assert_memory_equal(before, disk.data, DISK_BLOCKS * 512);
		assert_int_equal(msi.n, 1); /* the configuration vector */
		assert_int_equal(msi.data[0], 0x40);
		/* the queue stays stopped until the driver resets the device */
		notify(&vm);
		assert_int_equal(used_idx(&vm), before_used);
		free(before);
		memset(gpa(&vm, RQ_AVAIL), 0, 0x2000); /* a fresh ring for the next round */
	}
	/* and after a reset it works again */
	struct seg d = {DATA, 512};
	assert_int_equal(driver_up(&vm, F_ALL, 1), 0x0F);
	blk_request(&vm, 1, T_IN, 0, &d, 1);
	assert_int_equal(status_of(&vm, 1), S_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_pci_function_is_a_modern_virtio_blk_at_its_slot),
		T(test_capabilities_point_at_the_virtio_structures),
		T(test_features_offered_and_only_those_accepted),
		T(test_config_space_holds_capacity_seg_max_and_block_size),
		T(test_4k_disk_shows_its_block_size_and_capacity_in_sectors),
		T(test_windows_that_do_not_fit_the_device_are_refused),
		T(test_read_returns_the_windows_sectors_and_interrupts),
		T(test_write_lands_in_the_window_and_reads_back),
		T(test_multi_segment_requests_scatter_and_gather),
		T(test_largest_request_goes_through_in_device_sized_calls),
		T(test_flush_reaches_the_disk),
		T(test_get_id_returns_the_serial),
		T(test_requests_past_the_end_fail_and_move_nothing),
		T(test_unknown_types_are_unsupported_and_the_device_goes_on),
		T(test_read_only_disk_refuses_writes),
		T(test_partial_sectors_and_4k_misalignment_are_refused),
		T(test_disk_failure_fails_the_request_only),
		T(test_batch_is_served_in_order_with_one_interrupt),
		T(test_a_notification_serves_one_budget_and_poll_the_rest),
		T(test_the_request_crossing_the_budget_is_finished_and_the_next_waits),
		T(test_requests_without_data_are_bounded_by_count),
		T(test_poll_leaves_a_device_that_is_not_live_alone),
		T(test_notifications_before_driver_ok_are_ignored),
		T(test_misshapen_requests_fail_alone),
		T(test_chains_the_device_cannot_answer_need_reset_and_touch_nothing),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
