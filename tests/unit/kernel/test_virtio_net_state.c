/* kernel/vdev: virtio-net's and the PCI bus's state as a migration moves
 * it (vnet_save/vnet_restore, vpci_save/vpci_restore), with the dirty log
 * of what the device writes; hostile blobs are refused and change nothing.
 * Same harness as test_virtio_net.c (vnet_harness.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/kernel/vnet_harness.h"

/* ---- migration ----------------------------------------------------------------- */

static void test_device_writes_are_logged_as_dirty_pages(void **state)
{
	uint8_t f[128];

	(void)state;
	assert_int_equal(driver_up(&vm, 1u << 5, 1), 0x0F);
	post_rx(&vm, 2);
	vm.dev_dirty = calloc(vm.npages / 64, 8);
	vswitch_input(&sw, peer, f, frame_to_guest(f, 1));
	for (uint64_t g = 0; g < vm.npages; g++) {
		bool want = g == RX_BUF / 4096 || g == RX_USED / 4096;
		assert_int_equal(!!(vm.dev_dirty[g / 64] & (1ull << (g % 64))), want);
	}
}

static void test_device_state_moves_to_another_vm_and_carries_on(void **state)
{
	uint8_t f[128], blob[VNET_STATE_LEN + 16], pblob[VPCI_STATE_MAX];
	const char *why = "";

	(void)state;
	assert_int_equal(driver_up(&vm, 1u << 5, 1), 0x0F);
	post_rx(&vm, 4);
	cfg_out(&vm, 1, 0x10, 4, 0xC000); /* the guest's own BAR value */
	vswitch_input(&sw, peer, f, frame_to_guest(f, 1));
	send_frame(&vm, 0, f, arp_from_guest(f));
	int n = vnet_save(&vm.net, blob, sizeof(blob));
	assert_int_equal(n, VNET_STATE_LEN);
	int pn = vpci_save(&vm.pci, pblob, sizeof(pblob));
	assert_true(pn > 0);

	vnet_destroy(&vm.net); /* the source lets go: its port leaves the switch */
	make_vm(&vm2, &ram2, "g1-in");
	memcpy(ram2, ram, RAM); /* what the page rounds carried */
	assert_int_equal(vpci_restore(&vm2.pci, pblob, (size_t)pn), 0);
	assert_int_equal(vnet_restore(&vm2.net, blob, (size_t)n, &why), 0);
	assert_int_equal(in(&vm2, 0x14, 1), 0x0F);
	assert_int_equal(vm2.net.stats.rx_frames, 1);
	/* the next frame goes into the second buffer, the next transmit
	 * comes back as the second used entry */
	vswitch_input(&sw, peer, f, frame_to_guest(f, 2));
	assert_int_equal(get16(&vm2, RX_USED + 2), 2);
	assert_int_equal(get32(&vm2, RX_USED + 4 + 8), 1);
	wire.frames = 0;
	send_frame(&vm2, 1, f, arp_from_guest(f));
	assert_int_equal(wire.frames, 1);
	assert_int_equal(get16(&vm2, TX_USED + 2), 2);

	/* a blob this host could not have produced is refused */
	blob[0] ^= 0xFF;
	assert_int_equal(vnet_restore(&vm2.net, blob, (size_t)n, &why), -EINVAL);
	blob[0] ^= 0xFF;
	assert_int_equal(vnet_restore(&vm2.net, blob, (size_t)n - 1, &why), -EINVAL);
	uint64_t bad = RAM - 8; /* an enabled queue's ring outside RAM */
	memcpy(blob + 32, &bad, 8);
	assert_int_equal(vnet_restore(&vm2.net, blob, (size_t)n, &why), -EINVAL);
}

/* Frames that arrive during a migration's final pause wait in the device
 * and travel in its state: the destination gives them to the guest when it
 * runs there, in order. The source keeps its own queue, for the guest it
 * resumes if the migration fails. A blob too small for all carries the
 * oldest and counts the rest as dropped. */
static void test_frames_waiting_in_the_final_pause_move_with_the_guest(void **state)
{
	uint8_t f[128], pblob[VPCI_STATE_MAX];
	static uint8_t blob[VNET_STATE_LEN + 3 * (2 + 100)], small[VNET_STATE_LEN + 2 * (2 + 100) + 1];
	const char *why = "";

	(void)state;
	assert_int_equal(driver_up(&vm, 1u << 5, 1), 0x0F);
	post_rx(&vm, 4);
	vm.state = VM_PAUSED;
	for (uint8_t i = 1; i <= 3; i++)
		vswitch_input(&sw, peer, f, frame_to_guest(f, i));
	assert_int_equal(vm.net.pend_count, 3);
	int n = vnet_save(&vm.net, blob, sizeof(blob));
	assert_int_equal(n, sizeof(blob));
	assert_int_equal(vnet_save(&vm.net, small, sizeof(small)), sizeof(small) - 1);
	int pn = vpci_save(&vm.pci, pblob, sizeof(pblob));
	assert_true(pn > 0);

	/* the migration failed: the guest runs here again and gets them */
	vm.state = VM_RUNNING;
	assert_true(vnet_poll(&vm.net));
	assert_int_equal(vm.net.stats.rx_frames, 3);

	vnet_destroy(&vm.net);
	make_vm(&vm2, &ram2, "g1-in");
	memcpy(ram2, ram, RAM);
	memset(ram2 + RX_BUF, 0, 4 * BUF_LEN);
	put16(&vm2, RX_USED + 2, 0); /* as the source's RAM was at the pause */
	vm2.state = VM_PAUSED;
	assert_int_equal(vpci_restore(&vm2.pci, pblob, (size_t)pn), 0);
	assert_int_equal(vnet_restore(&vm2.net, small, sizeof(small) - 1, &why), 0);
	assert_int_equal(vm2.net.pend_count, 2);
	assert_int_equal(vm2.net.stats.rx_drops, 1); /* the third did not fit */
	assert_int_equal(vnet_restore(&vm2.net, blob, (size_t)n, &why), 0);
	assert_int_equal(vm2.net.pend_count, 3);
	/* what waited here before the state came is dropped: the two above */
	assert_int_equal(vm2.net.stats.rx_drops, 2);
	assert_false(vnet_poll(&vm2.net)); /* not while it is not running */
	vm2.state = VM_RUNNING;
	assert_true(vnet_poll(&vm2.net));
	assert_int_equal(get16(&vm2, RX_USED + 2), 3);
	for (unsigned i = 0; i < 3; i++) {
		frame_to_guest(f, (uint8_t)(i + 1));
		assert_memory_equal(ram2 + RX_BUF + BUF_LEN * i + VNET_HDR_LEN, f, 100);
	}
	assert_int_equal(vm2.net.stats.rx_frames, 3);
}

/* Carried frames that do not add up are refused with the rest of the
 * blob, changing nothing; a version 1 blob (no frames) is still taken. */
static void test_carried_frames_that_do_not_add_up_are_refused(void **state)
{
	uint8_t f[128];
	static uint8_t good[VNET_STATE_LEN + 2 * (2 + 100)], bad[sizeof(good) + 1];
	static struct vdev_vnet before;
	const char *why = "";
	uint16_t len;
	uint32_t v;

	(void)state;
	assert_int_equal(driver_up(&vm, 1u << 5, 1), 0x0F);
	vm.state = VM_PAUSED;
	vswitch_input(&sw, peer, f, frame_to_guest(f, 1));
	vswitch_input(&sw, peer, f, frame_to_guest(f, 2));
	assert_int_equal(vnet_save(&vm.net, good, sizeof(good)), sizeof(good));
	vnet_destroy(&vm.net);
	make_vm(&vm2, &ram2, "dst");
	memcpy(ram2, ram, RAM);
	memcpy(&before, &vm2.net, sizeof(before));

	/* more carried than were waiting */
	memcpy(bad, good, sizeof(good));
	v = 3, memcpy(bad + VNET_STATE_LEN - 4, &v, 4);
	assert_int_equal(vnet_restore(&vm2.net, bad, sizeof(good), &why), -EINVAL);
	/* a frame longer than the blob, shorter than a header, longer than a frame */
	const uint16_t lens[] = {103, 13, VNET_FRAME_MAX + 1};
	for (unsigned i = 0; i < 3; i++) {
		memcpy(bad, good, sizeof(good));
		len = lens[i], memcpy(bad + VNET_STATE_LEN + 2 + 100, &len, 2);
		assert_int_equal(vnet_restore(&vm2.net, bad, sizeof(good), &why), -EINVAL);
	}
	/* a byte after the last frame, or one missing */
	memcpy(bad, good, sizeof(good));
	assert_int_equal(vnet_restore(&vm2.net, bad, sizeof(good) + 1, &why), -EINVAL);
	assert_int_equal(vnet_restore(&vm2.net, bad, sizeof(good) - 1, &why), -EINVAL);
	assert_memory_equal(&vm2.net, &before, sizeof(before));

	/* version 1: the fixed part without the carried count */
	memcpy(bad, good, VNET_STATE_LEN - 4);
	v = 1, memcpy(bad + VIRTIO_PCI_STATE_LEN, &v, 4);
	assert_int_equal(vnet_restore(&vm2.net, bad, VNET_STATE_LEN - 4 + 1, &why), -EINVAL);
	assert_int_equal(vnet_restore(&vm2.net, bad, VNET_STATE_LEN - 4, &why), 0);
	assert_int_equal(vm2.net.pend_count, 0);
	assert_int_equal(vm2.net.stats.rx_drops, 2); /* version 1 carried none */
}

static void test_pci_restore_keeps_this_hosts_read_only_bits(void **state)
{
	uint8_t b[VPCI_STATE_MAX];

	(void)state;
	int n = vpci_save(&vm.pci, b, sizeof(b));
	assert_true(n > 0);
	/* a blob whose IDs differ: only writable bits are taken */
	b[12 + 4 + 260 + 0] = 0x34; /* device 1, vendor ID low byte */
	b[12 + 4 + 260 + 4] = 0x00; /* command: I/O off */
	make_vm(&vm2, &ram2, "g2");
	assert_int_equal(vpci_restore(&vm2.pci, b, (size_t)n), 0);
	assert_int_equal(cfg_in(&vm2, 1, 0, 2), 0x1AF4);
	assert_int_equal(cfg_in(&vm2, 1, 4, 2), 0);
	assert_int_equal(vpci_restore(&vm2.pci, b, (size_t)n - 1), -EINVAL);
}

/* Issue 9 item 11: hostile device blobs. Each one is refused with a
 * negative errno and the destination's device is exactly as before. */
static void put_at(uint8_t *b, size_t off, uint64_t v, unsigned size)
{
	memcpy(b + off, &v, size);
}

#define Q(i, field) (32 + 34 * (i) + (field)) /* queue_blob fields: see virtio_pci.c */
#define QF_DESC 0
#define QF_USED 16
#define QF_SIZE 24
#define QF_ENABLE 26
#define QF_LAST 28
#define QF_USED_IDX 30
#define QF_VECTOR 32
#define BLOB_MSIX_CONFIG 28
#define BLOB_MSIX (32 + 34 * VIRTIO_PCI_QUEUES_MAX) /* u16 control, u16 count, u32 pending */
#define BLOB_ENTRY(v, f) (BLOB_MSIX + 8 + 16 * (v) + (f))

static void test_hostile_device_blobs_are_refused_and_change_nothing(void **state)
{
	uint8_t good[VNET_STATE_LEN], bad[VNET_STATE_LEN], pgood[VPCI_STATE_MAX],
		pbad[VPCI_STATE_MAX];
	static struct vdev_vnet before_net;
	static struct vpci before_pci;
	static uint8_t before_cfg[VPCI_CFG_SIZE];
	const char *why = "";
	uint8_t f[128];
	static const struct {
		const char *what;
		size_t off;
		uint64_t val;
		unsigned size;
	} cases[] = {
		{"unknown status bit", 4, 0x0F | 0x20, 1},
		{"unknown ISR bit", 5, 0x04, 1},
		{"features not offered", 16, (1ull << 32) | (1ull << 5) | (1ull << 0), 8},
		{"enable not 0/1", Q(0, QF_ENABLE), 2, 2},
		{"absurd queue size", Q(0, QF_SIZE), 0x8000, 2},
		{"size not a power of two", Q(0, QF_SIZE), 7, 2},
		{"avail index ahead of used", Q(0, QF_LAST), 200, 2},
		{"used index ahead", Q(0, QF_USED_IDX), 5, 2},
		{"ring outside RAM", Q(0, QF_DESC), RAM - 16, 8},
		{"ring far outside RAM", Q(1, QF_USED), 0xFFFFFFFFFFFFFFF0ull, 8},
		{"misaligned ring", Q(1, QF_DESC), TX_DESC + 8, 8},
		{"enabled queue on a reset device", 4, 0, 1},
		{"frames pending beyond the queue", VIRTIO_PCI_STATE_LEN + 4, VNET_PENDING + 1, 4},
		{"unknown version", VIRTIO_PCI_STATE_LEN, 9, 4},
		{"configuration vector past the table", BLOB_MSIX_CONFIG, 3, 2},
		{"queue vector past the table", Q(1, QF_VECTOR), 5, 2},
		{"padding that is not zero", BLOB_MSIX_CONFIG + 2, 1, 2},
		{"another MSI-X table size", BLOB_MSIX, 3, 2},
		{"another MSI-X vector count", BLOB_MSIX + 2, 4, 2},
		{"MSI-X pending bit past the table", BLOB_MSIX + 4, 1u << 3, 4},
		{"MSI-X vector control reserved bit", BLOB_ENTRY(1, 12), 3, 4},
		{"MSI-X address bits 1:0", BLOB_ENTRY(0, 0), 0xFEE00001, 4},
	};

	(void)state;
	assert_int_equal(driver_up(&vm, 1u << 5, 1), 0x0F);
	post_rx(&vm, 2);
	vswitch_input(&sw, peer, f, frame_to_guest(f, 1));
	assert_int_equal(vnet_save(&vm.net, good, sizeof(good)), VNET_STATE_LEN);
	int pn = vpci_save(&vm.pci, pgood, sizeof(pgood));
	assert_true(pn > 0);

	/* the destination's device, in the state a fresh VM has */
	make_vm(&vm2, &ram2, "dst");
	memcpy(ram2, ram, RAM);
	memcpy(&before_net, &vm2.net, sizeof(before_net));
	memcpy(&before_pci, &vm2.pci, sizeof(before_pci));
	memcpy(before_cfg, vm2.net.vp.pci.cfg, VPCI_CFG_SIZE);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(bad, good, sizeof(bad));
		put_at(bad, cases[i].off, cases[i].val, cases[i].size);
		print_message("%s\n", cases[i].what);
		assert_int_equal(vnet_restore(&vm2.net, bad, sizeof(bad), &why), -EINVAL);
		assert_memory_equal(&vm2.net, &before_net, sizeof(before_net));
	}
	assert_int_equal(vnet_restore(&vm2.net, good, sizeof(good) - 1, &why), -EINVAL);
	assert_memory_equal(&vm2.net, &before_net, sizeof(before_net));

	/* the PCI bus: reserved CONFIG_ADDRESS bits, a device record out of
	 * order, a wrong device set, a wrong version */
	static const size_t poff[] = {4, 12, 8, 0};
	static const uint32_t pval[] = {0x80000003u, 7, 0x1, 2};
	for (unsigned i = 0; i < 4; i++) {
		memcpy(pbad, pgood, (size_t)pn);
		put_at(pbad, poff[i], pval[i], 4);
		if (i == 1) /* the second record (device 1) claims to be device 7 */
			put_at(pbad, 12 + 4 + VPCI_CFG_SIZE, 7, 4);
		assert_int_equal(vpci_restore(&vm2.pci, pbad, (size_t)pn), -EINVAL);
		assert_int_equal(vm2.pci.addr, before_pci.addr);
		assert_memory_equal(vm2.net.vp.pci.cfg, before_cfg, VPCI_CFG_SIZE);
		assert_memory_equal(vm2.pci.host.cfg, before_pci.host.cfg, VPCI_CFG_SIZE);
	}
	/* and the good blobs are taken */
	assert_int_equal(vpci_restore(&vm2.pci, pgood, (size_t)pn), 0);
	assert_int_equal(vnet_restore(&vm2.net, good, sizeof(good), &why), 0);
	assert_int_equal(in(&vm2, 0x14, 1), 0x0F);
}

static void test_msix_state_moves_with_the_device(void **state)
{
	uint8_t f[128], blob[VNET_STATE_LEN], pblob[VPCI_STATE_MAX];
	const char *why = "";

	(void)state;
	msix_up(&vm);
	post_rx(&vm, 4);
	cfg_out(&vm, 1, 0x14, 4, 0xE0200000); /* the guest moved BAR1 */
	mem_out(&vm, 0xE0200000 + ENTRY(1, 12), 4, MSIX_ENTRY_MASKED);
	vswitch_input(&sw, peer, f, frame_to_guest(f, 1));
	assert_int_equal(msi.n, 0);
	assert_int_equal(vnet_save(&vm.net, blob, sizeof(blob)), VNET_STATE_LEN);
	int pn = vpci_save(&vm.pci, pblob, sizeof(pblob));
	assert_true(pn > 0);

	make_vm(&vm2, &ram2, "g1-in");
	memcpy(ram2, ram, RAM);
	assert_int_equal(vpci_restore(&vm2.pci, pblob, (size_t)pn), 0);
	assert_int_equal(vnet_restore(&vm2.net, blob, sizeof(blob), &why), 0);
	/* the BAR where the guest left it, the table, the pending bit, the
	 * vectors and Message Control */
	assert_int_equal(cfg_in(&vm2, 1, 0x14, 4), 0xE0200000);
	assert_int_equal(cfg_in(&vm2, 1, msix_cap_of(&vm2) + 2, 2), MSIX_CTRL_ENABLE | 2);
	assert_int_equal(mem_in(&vm2, 0xE0200000 + ENTRY(2, 8), 4), 0x42);
	assert_int_equal(mem_in(&vm2, 0xE0200000 + VIRTIO_PCI_MSIX_PBA, 4), 1u << 1);
	assert_int_equal(in(&vm2, 0x10, 2), 0);
	out(&vm2, 0x16, 2, 1);
	assert_int_equal(in(&vm2, 0x1A, 2), 2);
	/* unmasked on the destination, the pending message goes from there */
	mem_out(&vm2, 0xE0200000 + ENTRY(1, 12), 4, 0);
	assert_int_equal(msi.n, 1);
	assert_ptr_equal(msi.vm[0], &vm2);
	assert_int_equal(msi.data[0], 0x41);
	send_frame(&vm2, 0, f, arp_from_guest(f));
	assert_int_equal(msi.n, 2);
	assert_int_equal(msi.data[1], 0x42);

	/* a vector pending although MSI-X is on and it is unmasked would
	 * have been sent: no source sends that */
	uint8_t bad[VNET_STATE_LEN];
	memcpy(bad, blob, sizeof(bad));
	put_at(bad, BLOB_MSIX + 4, 1u << 2, 4);
	static struct vdev_vnet before;
	memcpy(&before, &vm2.net, sizeof(before));
	assert_int_equal(vnet_restore(&vm2.net, bad, sizeof(bad), &why), -EINVAL);
	assert_memory_equal(&vm2.net, &before, sizeof(before));
	assert_int_equal(mem_in(&vm2, 0xE0200000 + VIRTIO_PCI_MSIX_PBA, 4), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_device_writes_are_logged_as_dirty_pages),
		T(test_device_state_moves_to_another_vm_and_carries_on),
		T(test_frames_waiting_in_the_final_pause_move_with_the_guest),
		T(test_carried_frames_that_do_not_add_up_are_refused),
		T(test_pci_restore_keeps_this_hosts_read_only_bits),
		T(test_msix_state_moves_with_the_device),
		T(test_hostile_device_blobs_are_refused_and_change_nothing),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
