/* kernel/vdev/virtio_blk as a migration sees it: reads mark the guest
 * pages they fill in the dirty log, the device's state moves to another VM
 * and carries on there, and a hostile or mismatched blob is refused with
 * nothing changed. Harness: vblk_harness.h. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/kernel/vblk_harness.h"

static void test_reads_mark_the_pages_they_fill_dirty(void **state)
{
	const struct seg d[2] = {{DATA + 0x5000 + 3584, 1024}, {DATA + 0x9000, 512}};

	(void)state;
	assert_int_equal(driver_up(&vm, F_ALL, 1), 0x0F);
	vm.dev_dirty = calloc(vm.npages / 64, 8);
	blk_request(&vm, 0, T_IN, 0, d, 2);
	assert_int_equal(status_of(&vm, 0), S_OK);
	for (uint64_t g = 0; g < vm.npages; g++) {
		/* the first segment straddles two pages */
		bool want = g == (DATA + 0x5000) / 4096 || g == (DATA + 0x6000) / 4096 ||
			    g == (DATA + 0x9000) / 4096 || g == STATUSES / 4096 ||
			    g == RQ_USED / 4096;
		assert_int_equal(!!(vm.dev_dirty[g / 64] & (1ull << (g % 64))), want);
	}
	/* a write only reads guest memory: just the status and used ring */
	memset(vm.dev_dirty, 0, vm.npages / 8);
	blk_request(&vm, 1, T_OUT, 0, d, 2);
	for (uint64_t g = 0; g < vm.npages; g++) {
		bool want = g == STATUSES / 4096 || g == RQ_USED / 4096;
		assert_int_equal(!!(vm.dev_dirty[g / 64] & (1ull << (g % 64))), want);
	}
}

/* ---- migration ------------------------------------------------------------------------ */

/* The destination: vm2 with a copy of the source's RAM, the same disk
 * (disk2, a copy of disk) and the bus state moved over. */
static void move_to_vm2(uint8_t *blob, int *n)
{
	uint8_t pblob[VPCI_STATE_MAX];

	*n = vblk_save(&blk, blob, VBLK_STATE_LEN);
	assert_int_equal(*n, VBLK_STATE_LEN);
	int pn = vpci_save(&vm.pci, pblob, sizeof(pblob));
	assert_true(pn > 0);
	ramdisk_make(&disk2, 512, DISK_BLOCKS, 256);
	memcpy(disk2.data, disk.data, DISK_BLOCKS * 512);
	make_vm(&vm2, &ram2, &blk2, &disk2);
	memcpy(ram2, ram, RAM);
	assert_int_equal(vpci_restore(&vm2.pci, pblob, (size_t)pn), 0);
}

static void test_device_state_moves_to_another_vm_and_carries_on(void **state)
{
	uint8_t blob[VBLK_STATE_LEN];
	struct seg d = {DATA, 512};
	const char *why = "";
	int n;

	(void)state;
	msix_up(&vm);
	blk_request(&vm, 0, T_IN, 0, &d, 1);
	blk_request(&vm, 1, T_FLUSH, 0, NULL, 0);
	move_to_vm2(blob, &n);
	assert_int_equal(vblk_restore(&blk2, blob, (size_t)n, &why), 0);
	assert_int_equal(in(&vm2, 0x14, 1), 0x0F);
	assert_int_equal(blk2.stats.reads, 1);
	assert_int_equal(blk2.stats.flushes, 1);
	/* the next request is the ring's third, and interrupts on vector 1 */
	msi.n = 0;
	memset(gpa(&vm2, DATA), 0, 512);
	uint16_t head = blk_request(&vm2, 2, T_IN, 7, &d, 1);
	assert_int_equal(status_of(&vm2, 2), S_OK);
	assert_int_equal(used_idx(&vm2), 3);
	assert_int_equal(used_id(&vm2, 2), head);
	assert_memory_equal(gpa(&vm2, DATA), disk2.data + (WIN_START + 7) * 512, 512);
	assert_int_equal(msi.n, 1);
	assert_int_equal(msi.data[0], 0x41);
	assert_int_equal(disk.reads, 1); /* the source's disk saw none of it */
}

static void test_hostile_or_mismatched_blobs_are_refused_and_change_nothing(void **state)
{
	uint8_t blob[VBLK_STATE_LEN], bad[VBLK_STATE_LEN];
	const size_t dev = VIRTIO_PCI_STATE_LEN; /* where the disk's part starts */
	const char *why = "";
	int n;

	(void)state;
	assert_int_equal(driver_up(&vm, F_ALL, 1), 0x0F);
	blk_request(&vm, 0, T_FLUSH, 0, NULL, 0);
	move_to_vm2(blob, &n);
	assert_int_equal(in(&vm2, 0x14, 1), 0);

	/* lengths */
	assert_int_equal(vblk_restore(&blk2, blob, (size_t)n - 1, &why), -EINVAL);
	assert_int_equal(vblk_restore(&blk2, blob, 0, &why), -EINVAL);
	/* each field of the disk's part */
	static const struct {
		size_t off;
		uint8_t x;
		const char *why;
	} flips[] = {
		{0, 0x01, "malformed disk state"},			   /* version */
		{4, 0x02, "the disk here has another size or block size"}, /* blk_size */
		{8, 0x01, "the disk here has another size or block size"}, /* capacity */
		{16, 0x01, "the disk here differs in being read-only"},
		{16, 0x10, "malformed disk state"}, /* an unknown flag */
		{20, 0x01, "the disk here takes another number of segments"},
		{24, 'X', "the disk here has another serial"},
		{44, 0x01, "malformed disk state"}, /* padding */
	};
	for (unsigned i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		memcpy(bad, blob, sizeof(bad));
		bad[dev + flips[i].off] ^= flips[i].x;
		why = "";
		assert_int_equal(vblk_restore(&blk2, bad, (size_t)n, &why), -EINVAL);
		assert_string_equal(why, flips[i].why);
		assert_int_equal(in(&vm2, 0x14, 1), 0);
	}
	/* the transport's part: another version, an enabled ring outside RAM */
	memcpy(bad, blob, sizeof(bad));
	bad[0] ^= 0xFF;
	assert_int_equal(vblk_restore(&blk2, bad, (size_t)n, &why), -EINVAL);
	memcpy(bad, blob, sizeof(bad));
	uint64_t out_of_ram = RAM - 8;
	memcpy(bad + 32, &out_of_ram, 8); /* queue 0's descriptor table */
	assert_int_equal(vblk_restore(&blk2, bad, (size_t)n, &why), -EINVAL);
	/* taken-but-not-returned chains on a device that is fine */
	memcpy(bad, blob, sizeof(bad));
	bad[32 + 28] += 1; /* queue 0's last_avail */
	assert_int_equal(vblk_restore(&blk2, bad, (size_t)n, &why), -EINVAL);
	assert_int_equal(in(&vm2, 0x14, 1), 0);
	assert_int_equal(blk2.stats.flushes, 0);

	/* a destination disk of another size refuses even a good blob */
	vblk_destroy(&blk2);
	struct vblk_disk k = window_of(&disk2, false);
	k.blocks--;
	assert_int_equal(vblk_init(&blk2, &vm2, &vm2.pci, DEV, &k), 0);
	assert_int_equal(vblk_restore(&blk2, blob, (size_t)n, &why), -EINVAL);
	vblk_destroy(&blk2);
	k = window_of(&disk2, true);
	assert_int_equal(vblk_init(&blk2, &vm2, &vm2.pci, DEV, &k), 0);
	assert_int_equal(vblk_restore(&blk2, blob, (size_t)n, &why), -EINVAL);
	vblk_destroy(&blk2);
	k = window_of(&disk2, false);
	assert_int_equal(vblk_init(&blk2, &vm2, &vm2.pci, DEV, &k), 0);
	assert_int_equal(vblk_restore(&blk2, blob, (size_t)n, &why), 0);
	assert_int_equal(in(&vm2, 0x14, 1), 0x0F);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_reads_mark_the_pages_they_fill_dirty),
		T(test_device_state_moves_to_another_vm_and_carries_on),
		T(test_hostile_or_mismatched_blobs_are_refused_and_change_nothing),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
