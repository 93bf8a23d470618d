/* kernel/vdev: the guest's PCI bus, the virtio PCI transport, split
 * virtqueues and virtio-net, driven the way a guest driver drives them
 * (port I/O, rings in guest memory) over a fake VM whose RAM is a host
 * buffer, and joined to a real vswitch (vnet_harness.h). Bad rings and
 * descriptors must end in DEVICE_NEEDS_RESET, never in an access outside
 * the guest's RAM. The device's migration state is test_virtio_net_state.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/kernel/vnet_harness.h"

/* ---- PCI ---------------------------------------------------------------------- */

static void test_pci_bus_has_host_bridge_and_virtio_net_and_nothing_else(void **state)
{
	(void)state;
	assert_int_equal(cfg_in(&vm, 0, 0, 4), 0x00081B36);
	assert_int_equal(cfg_in(&vm, 0, 0x0A, 2), 0x0600); /* host bridge */
	assert_int_equal(cfg_in(&vm, 1, 0, 4), 0x10411AF4);
	assert_int_equal(cfg_in(&vm, 1, 0x0A, 2), 0x0200); /* Ethernet */
	assert_true(cfg_in(&vm, 1, 0x08, 1) >= 1);	   /* revision: non-transitional */
	assert_int_equal(cfg_in(&vm, 2, 0, 4), 0xFFFFFFFF);
	assert_int_equal(cfg_in(&vm, 31, 0, 2), 0xFFFF);
	/* another bus, another function, or the enable bit clear: all-ones */
	vpci_out(&vm.pci, VPCI_ADDR_PORT, 4, 0x80010000u);
	assert_int_equal(vpci_in(&vm.pci, VPCI_DATA_PORT, 4), 0xFFFFFFFF);
	vpci_out(&vm.pci, VPCI_ADDR_PORT, 4, 0x80000900u);
	assert_int_equal(vpci_in(&vm.pci, VPCI_DATA_PORT, 4), 0xFFFFFFFF);
	vpci_out(&vm.pci, VPCI_ADDR_PORT, 4, 0x00000800u);
	assert_int_equal(vpci_in(&vm.pci, VPCI_DATA_PORT, 2), 0xFFFF);
	/* CONFIG_ADDRESS reads back without its reserved bits */
	vpci_out(&vm.pci, VPCI_ADDR_PORT, 4, 0xFFFFFFFFu);
	assert_int_equal(vpci_in(&vm.pci, VPCI_ADDR_PORT, 4), 0x80FFFFFC);
}

static void test_pci_ids_are_read_only_and_bar_sizing_returns_the_size_mask(void **state)
{
	(void)state;
	cfg_out(&vm, 1, 0, 4, 0x12345678);
	assert_int_equal(cfg_in(&vm, 1, 0, 4), 0x10411AF4);
	assert_int_equal(cfg_in(&vm, 1, 0x10, 4), BAR | 1); /* preassigned, I/O */
	cfg_out(&vm, 1, 0x10, 4, 0xFFFFFFFF);
	assert_int_equal(cfg_in(&vm, 1, 0x10, 4), 0xFF81); /* 128 bytes of I/O */
	cfg_out(&vm, 1, 0x18, 4, 0xFFFFFFFF);
	assert_int_equal(cfg_in(&vm, 1, 0x18, 4), 0); /* no BAR2 */
	/* moved, with I/O decoding off then on */
	cfg_out(&vm, 1, 0x10, 4, 0xD000);
	cfg_out(&vm, 1, 0x04, 2, 0);
	uint32_t val;
	assert_false(vpci_bar_in(&vm.pci, 0xD000, 4, &val));
	cfg_out(&vm, 1, 0x04, 2, VPCI_CMD_IO | VPCI_CMD_MASTER);
	assert_int_equal(cfg_in(&vm, 1, 0x04, 2), VPCI_CMD_IO | VPCI_CMD_MASTER);
	assert_true(vpci_bar_in(&vm.pci, 0xD000 + 0x12, 2, &val));
	assert_int_equal(val, 2); /* num_queues */
	assert_false(vpci_bar_in(&vm.pci, BAR + 0x12, 2, &val));
	/* an access running past the end of the BAR is not decoded */
	assert_false(vpci_bar_in(&vm.pci, 0xD000 + 0x7E, 4, &val));
}

static void test_pci_capabilities_list_the_virtio_structures_in_bar0(void **state)
{
	unsigned types = 0, ptr;

	(void)state;
	assert_true(cfg_in(&vm, 1, 0x06, 2) & VPCI_STATUS_CAP_LIST);
	for (ptr = cfg_in(&vm, 1, 0x34, 1); ptr; ptr = cfg_in(&vm, 1, ptr + 1, 1)) {
		assert_int_equal(ptr % 4, 0);
		if (cfg_in(&vm, 1, ptr, 1) == MSIX_CAP_ID) {
			types |= 1u << 16;
			continue;
		}
		assert_int_equal(cfg_in(&vm, 1, ptr, 1), 0x09);
		unsigned type = cfg_in(&vm, 1, ptr + 3, 1);
		assert_int_equal(cfg_in(&vm, 1, ptr + 4, 1), 0); /* BAR0 */
		uint32_t off = cfg_in(&vm, 1, ptr + 8, 4), len = cfg_in(&vm, 1, ptr + 12, 4);
		assert_true(off + len <= VIRTIO_PCI_BAR_SIZE);
		if (type == 2)
			assert_int_equal(cfg_in(&vm, 1, ptr + 16, 4), VIRTIO_PCI_NOTIFY_MULT);
		types |= 1u << type;
	}
	assert_int_equal(types, 0x1003E); /* common, notify, ISR, device, PCI cfg; MSI-X */
}

/* ---- virtio: features, status, queues ------------------------------------------ */

static void test_device_offers_version_1_and_mac_and_shows_the_vms_mac(void **state)
{
	(void)state;
	out(&vm, 0x00, 4, 0);
	assert_int_equal(in(&vm, 0x04, 4), 1u << 5);
	out(&vm, 0x00, 4, 1);
	assert_int_equal(in(&vm, 0x04, 4), 1);
	for (int i = 0; i < 6; i++)
		assert_int_equal(in(&vm, VIRTIO_PCI_DEVCFG + i, 1), guest_mac[i]);
	assert_int_equal(in(&vm, 0x12, 2), 2);
	out(&vm, 0x16, 2, 5);
	assert_int_equal(in(&vm, 0x18, 2), 0); /* no such queue */
	out(&vm, 0x16, 2, 0);
	assert_int_equal(in(&vm, 0x18, 2), VQ_SIZE_MAX);
	assert_int_equal(in(&vm, 0x10, 2), 0xFFFF); /* no MSI-X */
}

static void test_features_ok_needs_version_1_and_nothing_unoffered(void **state)
{
	(void)state;
	assert_false(driver_up(&vm, 1u << 5, 0) & VIRTIO_STATUS_FEATURES_OK);
	assert_false(driver_up(&vm, 1u << 6, 1) & VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(driver_up(&vm, 1u << 5, 1), 0x0F);
	/* features cannot change after FEATURES_OK */
	out(&vm, 0x08, 4, 0);
	out(&vm, 0x0C, 4, 0);
	assert_int_equal(in(&vm, 0x0C, 4), 1u << 5);
	/* reset: status reads 0, queues disabled again */
	out(&vm, 0x14, 1, 0);
	assert_int_equal(in(&vm, 0x14, 1), 0);
	assert_int_equal(in(&vm, 0x1C, 2), 0);
}

static void test_guest_frame_goes_to_the_switch_and_its_ip_is_learned(void **state)
{
	uint8_t f[64];

	(void)state;
	assert_int_equal(driver_up(&vm, 1u << 5, 1), 0x0F);
	assert_int_equal(get16(&vm, RX_USED), VIRTQ_USED_F_NO_NOTIFY);
	size_t len = arp_from_guest(f);
	send_frame(&vm, 0, f, len);
	assert_int_equal(wire.frames, 1);
	assert_int_equal(wire.len, len);
	assert_memory_equal(wire.last, f, len);
	assert_int_equal(get16(&vm, TX_USED + 2), 1); /* the buffer came back */
	assert_int_equal(get32(&vm, TX_USED + 4), 0);
	assert_int_equal(vswitch_fdb_lookup(&sw, guest_mac), vm.net.port);
	const uint8_t *ip = (const uint8_t *)&vm.ip;
	assert_true(ip[0] == 10 && ip[1] == 99 && ip[2] == 0 && ip[3] == 51);
	assert_int_equal(vm.net.stats.tx_frames, 1);
	assert_true(in(&vm, VIRTIO_PCI_ISR, 1) & 1);
	assert_int_equal(in(&vm, VIRTIO_PCI_ISR, 1), 0); /* read clears it */
}

static void test_frame_for_guest_lands_in_a_receive_buffer_with_a_header(void **state)
{
	uint8_t f[128];

	(void)state;
	assert_int_equal(driver_up(&vm, 1u << 5, 1), 0x0F);
	post_rx(&vm, 2);
	size_t len = frame_to_guest(f, 0x5a);
	vswitch_input(&sw, peer, f, len);
	assert_int_equal(get16(&vm, RX_USED + 2), 1);
	assert_int_equal(get32(&vm, RX_USED + 4), 0);
	assert_int_equal(get32(&vm, RX_USED + 8), VNET_HDR_LEN + len);
	const uint8_t *b = ram + RX_BUF;
	assert_int_equal(b[1], 0);  /* GSO none */
	assert_int_equal(b[10], 1); /* num_buffers */
	assert_memory_equal(b + VNET_HDR_LEN, f, len);
	assert_int_equal(vm.net.stats.rx_frames, 1);
}

static void test_frames_wait_for_buffers_and_overflow_is_counted(void **state)
{
	uint8_t f[128];

	(void)state;
	assert_int_equal(driver_up(&vm, 1u << 5, 1), 0x0F);
	for (int i = 0; i < VNET_PENDING + 3; i++) {
		size_t len = frame_to_guest(f, (uint8_t)i);
		vswitch_input(&sw, peer, f, len);
	}
	assert_int_equal(vm.net.pend_count, VNET_PENDING);
	assert_int_equal(vm.net.stats.rx_drops, 3);
	assert_int_equal(sw.ports[vm.net.port].stats.tx_drops, 3);
	post_rx(&vm, 4);
	assert_true(vnet_poll(&vm.net));
	assert_int_equal(get16(&vm, RX_USED + 2), 4);
	assert_int_equal(ram[RX_BUF + BUF_LEN * 3 + VNET_HDR_LEN + 20], 3); /* in order */
	assert_int_equal(vm.net.pend_count, VNET_PENDING - 4);
	assert_false(vnet_poll(&vm.net)); /* no buffer left */
}

static void test_paused_vm_is_never_written(void **state)
{
	uint8_t f[128];

	(void)state;
	assert_int_equal(driver_up(&vm, 1u << 5, 1), 0x0F);
	post_rx(&vm, 2);
	vm.state = VM_PAUSED;
	vswitch_input(&sw, peer, f, frame_to_guest(f, 1));
	assert_false(vnet_poll(&vm.net));
	assert_int_equal(get16(&vm, RX_USED + 2), 0);
	vm.state = VM_RUNNING;
	assert_true(vnet_poll(&vm.net));
	assert_int_equal(get16(&vm, RX_USED + 2), 1);
}

static void test_short_receive_buffer_comes_back_empty(void **state)
{
	uint8_t f[128];

	(void)state;
	assert_int_equal(driver_up(&vm, 1u << 5, 1), 0x0F);
	desc(&vm, RX_DESC, 0, RX_BUF, 40, VIRTQ_DESC_F_WRITE, 0);
	offer(&vm, RX_AVAIL, 0);
	vswitch_input(&sw, peer, f, frame_to_guest(f, 1));
	assert_int_equal(get16(&vm, RX_USED + 2), 1);
	assert_int_equal(get32(&vm, RX_USED + 8), 0);
	assert_int_equal(vm.net.stats.rx_short, 1);
	assert_false(in(&vm, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
}

/* ---- MSI-X and the memory BAR -------------------------------------------------- */

static void test_memory_bar_is_sized_decoded_and_moved(void **state)
{
	(void)state;
	/* preassigned as firmware leaves it: 0xE0000000 + 4 KiB * device */
	assert_int_equal(cfg_in(&vm, 1, 0x14, 4), 0xE0001000);
	assert_true(cfg_in(&vm, 1, 0x04, 2) & VPCI_CMD_MEMORY);
	/* sizing (PCI 3.0 6.2.5.1): 4 KiB, 32-bit, not prefetchable */
	cfg_out(&vm, 1, 0x04, 2, VPCI_CMD_IO);
	cfg_out(&vm, 1, 0x14, 4, 0xFFFFFFFF);
	assert_int_equal(cfg_in(&vm, 1, 0x14, 4), 0xFFFFF000);
	cfg_out(&vm, 1, 0x14, 4, 0xE0001000);
	/* Memory Space off: nothing decodes, the I/O BAR still does */
	assert_false(mem_decoded(&vm, MSIX, 4));
	uint32_t io;
	assert_true(vpci_bar_in(&vm.pci, BAR + 0x12, 2, &io));
	cfg_out(&vm, 1, 0x04, 2, VPCI_CMD_IO | VPCI_CMD_MEMORY);
	assert_int_equal(mem_in(&vm, MSIX + ENTRY(0, 12), 4), MSIX_ENTRY_MASKED);
	assert_int_equal(mem_in(&vm, MSIX + 0xFFC, 4), 0); /* the rest of the page */
	assert_false(mem_decoded(&vm, MSIX + 0xFFE, 4));   /* runs past the end */
	assert_false(mem_decoded(&vm, MSIX - 4, 4));
	assert_false(mem_decoded(&vm, MSIX + 0x1000, 4));
	assert_false(mem_decoded(&vm, MSIX, 3)); /* no such access size */
	/* moved by the guest: the old place is empty, the new one decodes */
	cfg_out(&vm, 1, 0x14, 4, 0xE0100000);
	assert_false(mem_decoded(&vm, MSIX, 4));
	assert_int_equal(mem_in(&vm, 0xE0100000 + ENTRY(1, 12), 4), MSIX_ENTRY_MASKED);
	/* base 0: unassigned, not decoded at 0 */
	cfg_out(&vm, 1, 0x14, 4, 0);
	assert_false(mem_decoded(&vm, ENTRY(0, 12), 4));
	/* the I/O BAR never decodes memory, nor the memory BAR ports */
	assert_int_equal(vpci_bar_base(&vm.net.vp.pci, 1), 0);
	assert_false(mem_decoded(&vm, BAR, 4));
}

static void test_msix_capability_points_into_the_memory_bar(void **state)
{
	(void)state;
	unsigned c = msix_cap_of(&vm);
	assert_int_equal(cfg_in(&vm, 1, c + 2, 2), 2); /* table size N-1: 3 vectors */
	assert_int_equal(cfg_in(&vm, 1, c + 4, 4), VIRTIO_PCI_MSIX_TABLE | 1);
	assert_int_equal(cfg_in(&vm, 1, c + 8, 4), VIRTIO_PCI_MSIX_PBA | 1);
	/* only Function Mask and MSI-X Enable are writable */
	cfg_out(&vm, 1, c + 2, 2, 0xFFFF);
	assert_int_equal(cfg_in(&vm, 1, c + 2, 2), 0xC002);
	cfg_out(&vm, 1, c, 4, 0);
	assert_int_equal(cfg_in(&vm, 1, c, 1), MSIX_CAP_ID);
	assert_int_equal(cfg_in(&vm, 1, c + 2, 2), 2);
	cfg_out(&vm, 1, c + 4, 4, 0x12345678);
	assert_int_equal(cfg_in(&vm, 1, c + 4, 4), 1);
	/* a byte write to the upper half of Message Control works too */
	cfg_out(&vm, 1, c + 3, 1, 0x80);
	assert_int_equal(cfg_in(&vm, 1, c + 2, 2), 0x8002);
}

static void test_msix_table_entries_read_back_with_reserved_bits_zero(void **state)
{
	(void)state;
	for (unsigned v = 0; v < 3; v++)
		assert_int_equal(mem_in(&vm, MSIX + ENTRY(v, 12), 4), MSIX_ENTRY_MASKED);
	mem_out(&vm, MSIX + ENTRY(1, 0), 4, 0xFEE01003);
	mem_out(&vm, MSIX + ENTRY(1, 4), 4, 0x12);
	mem_out(&vm, MSIX + ENTRY(1, 8), 4, 0x4041);
	mem_out(&vm, MSIX + ENTRY(1, 12), 4, 0xFFFFFFFE);
	assert_int_equal(mem_in(&vm, MSIX + ENTRY(1, 0), 4), 0xFEE01000);
	assert_int_equal(mem_in(&vm, MSIX + ENTRY(1, 4), 4), 0x12);
	assert_int_equal(mem_in(&vm, MSIX + ENTRY(1, 8), 4), 0x4041);
	assert_int_equal(mem_in(&vm, MSIX + ENTRY(1, 12), 4), 0);
	/* 64-bit accesses: address and upper address in one */
	mem_out(&vm, MSIX + ENTRY(2, 0), 8, 0x00000001FEE02000ull);
	assert_int_equal(mem_in(&vm, MSIX + ENTRY(2, 0), 8), 0x00000001FEE02000ull);
	assert_int_equal(mem_in(&vm, MSIX + ENTRY(2, 4), 4), 1);
	/* sub-dword or misaligned: reads 0, writes ignored */
	assert_int_equal(mem_in(&vm, MSIX + ENTRY(1, 8), 2), 0);
	mem_out(&vm, MSIX + ENTRY(1, 8), 1, 0xFF);
	mem_out(&vm, MSIX + ENTRY(1, 4), 8, 0);
	assert_int_equal(mem_in(&vm, MSIX + ENTRY(1, 8), 4), 0x4041);
	assert_int_equal(mem_in(&vm, MSIX + ENTRY(1, 4), 4), 0x12);
	/* the PBA is read-only */
	mem_out(&vm, MSIX + VIRTIO_PCI_MSIX_PBA, 4, 0xFFFFFFFF);
	assert_int_equal(mem_in(&vm, MSIX + VIRTIO_PCI_MSIX_PBA, 8), 0);
	assert_int_equal(msi.n, 0);
}

static void test_msix_disabled_sends_nothing_and_sets_the_isr(void **state)
{
	uint8_t f[128];

	(void)state;
	assert_int_equal(driver_up(&vm, 1u << 5, 1), 0x0F);
	for (unsigned i = 0; i < 3; i++)
		program(&vm, i, 0x40 + i, false);
	out(&vm, 0x16, 2, 0);
	out(&vm, 0x1A, 2, 1);
	post_rx(&vm, 2);
	vswitch_input(&sw, peer, f, frame_to_guest(f, 1));
	assert_int_equal(get16(&vm, RX_USED + 2), 1);
	assert_int_equal(msi.n, 0);
	assert_int_equal(mem_in(&vm, MSIX + VIRTIO_PCI_MSIX_PBA, 4), 0);
	assert_int_equal(in(&vm, VIRTIO_PCI_ISR, 1), 1);
}

static void test_used_buffers_interrupt_through_their_queues_vector(void **state)
{
	uint8_t f[128];

	(void)state;
	msix_up(&vm);
	post_rx(&vm, 4);
	vswitch_input(&sw, peer, f, frame_to_guest(f, 1));
	assert_int_equal(msi.n, 1);
	assert_ptr_equal(msi.vm[0], &vm);
	assert_int_equal(msi.addr[0], 0xFEE01000);
	assert_int_equal(msi.data[0], 0x41);
	send_frame(&vm, 0, f, arp_from_guest(f));
	assert_int_equal(msi.n, 2);
	assert_int_equal(msi.data[1], 0x42);
	/* with MSI-X on, the ISR's queue bit is not used (4.1.4.5.1) */
	assert_int_equal(in(&vm, VIRTIO_PCI_ISR, 1), 0);
}

static void test_no_interrupt_flag_and_no_vector_silence_a_queue(void **state)
{
	uint8_t f[128];

	(void)state;
	msix_up(&vm);
	post_rx(&vm, 4);
	put16(&vm, RX_AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT);
	vswitch_input(&sw, peer, f, frame_to_guest(f, 1));
	assert_int_equal(get16(&vm, RX_USED + 2), 1); /* the buffer came back */
	assert_int_equal(msi.n, 0);		      /* unannounced */
	put16(&vm, RX_AVAIL, 0);
	vswitch_input(&sw, peer, f, frame_to_guest(f, 2));
	assert_int_equal(msi.n, 1);
	/* a queue whose vector is NO_VECTOR does not interrupt either */
	out(&vm, 0x16, 2, 1);
	out(&vm, 0x1A, 2, VIRTIO_PCI_NO_VECTOR);
	send_frame(&vm, 0, f, arp_from_guest(f));
	assert_int_equal(get16(&vm, TX_USED + 2), 1);
	assert_int_equal(msi.n, 1);
	assert_int_equal(mem_in(&vm, MSIX + VIRTIO_PCI_MSIX_PBA, 4), 0);
}

static void test_masked_vector_is_pending_until_unmasked(void **state)
{
	uint8_t f[128];

	(void)state;
	msix_up(&vm);
	post_rx(&vm, 4);
	mem_out(&vm, MSIX + ENTRY(1, 12), 4, MSIX_ENTRY_MASKED);
	vswitch_input(&sw, peer, f, frame_to_guest(f, 1));
	vswitch_input(&sw, peer, f, frame_to_guest(f, 2));
	assert_int_equal(get16(&vm, RX_USED + 2), 2);
	assert_int_equal(msi.n, 0);
	assert_int_equal(mem_in(&vm, MSIX + VIRTIO_PCI_MSIX_PBA, 4), 1u << 1);
	/* the guest reprograms the entry while masked: the new message goes */
	mem_out(&vm, MSIX + ENTRY(1, 8), 4, 0x55);
	mem_out(&vm, MSIX + ENTRY(1, 12), 4, 0);
	assert_int_equal(msi.n, 1); /* one message for what was pending */
	assert_int_equal(msi.data[0], 0x55);
	assert_int_equal(mem_in(&vm, MSIX + VIRTIO_PCI_MSIX_PBA, 4), 0);
	mem_out(&vm, MSIX + ENTRY(1, 12), 4, 0); /* unmasking again sends nothing */
	assert_int_equal(msi.n, 1);
}

static void test_function_mask_holds_every_vector_until_cleared(void **state)
{
	uint8_t f[128];

	(void)state;
	msix_up(&vm);
	post_rx(&vm, 4);
	msix_control(&vm, MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL);
	vswitch_input(&sw, peer, f, frame_to_guest(f, 1));
	send_frame(&vm, 0, f, arp_from_guest(f));
	assert_int_equal(msi.n, 0);
	assert_int_equal(mem_in(&vm, MSIX + VIRTIO_PCI_MSIX_PBA, 4), 0x6);
	/* unmasking one entry does not beat the Function Mask */
	mem_out(&vm, MSIX + ENTRY(1, 12), 4, 0);
	assert_int_equal(msi.n, 0);
	msix_control(&vm, MSIX_CTRL_ENABLE);
	assert_int_equal(msi.n, 2);
	assert_int_equal(msi.data[0], 0x41);
	assert_int_equal(msi.data[1], 0x42);
	assert_int_equal(mem_in(&vm, MSIX + VIRTIO_PCI_MSIX_PBA, 4), 0);
	/* disabled, nothing is sent nor kept */
	msix_control(&vm, 0);
	vswitch_input(&sw, peer, f, frame_to_guest(f, 2));
	assert_int_equal(msi.n, 2);
	assert_int_equal(mem_in(&vm, MSIX + VIRTIO_PCI_MSIX_PBA, 4), 0);
}

static void test_vectors_past_the_table_read_back_no_vector(void **state)
{
	(void)state;
	assert_int_equal(in(&vm, 0x10, 2), VIRTIO_PCI_NO_VECTOR);
	out(&vm, 0x10, 2, 2);
	assert_int_equal(in(&vm, 0x10, 2), 2);
	out(&vm, 0x10, 2, 3); /* 3 vectors: 0..2 */
	assert_int_equal(in(&vm, 0x10, 2), VIRTIO_PCI_NO_VECTOR);
	out(&vm, 0x16, 2, 1);
	assert_int_equal(in(&vm, 0x1A, 2), VIRTIO_PCI_NO_VECTOR);
	out(&vm, 0x1A, 2, 0);
	assert_int_equal(in(&vm, 0x1A, 2), 0);
	out(&vm, 0x1A, 2, 0x7FFF);
	assert_int_equal(in(&vm, 0x1A, 2), VIRTIO_PCI_NO_VECTOR);
	out(&vm, 0x1A, 2, 2);
	out(&vm, 0x16, 2, 7); /* no such queue: its fields read 0, writes are ignored */
	out(&vm, 0x1A, 2, 1);
	assert_int_equal(in(&vm, 0x1A, 2), 0);
	out(&vm, 0x16, 2, 1);
	assert_int_equal(in(&vm, 0x1A, 2), 2);
	/* a device reset forgets the vectors, not the MSI-X table */
	program(&vm, 0, 0x77, false);
	out(&vm, 0x14, 1, 0);
	assert_int_equal(in(&vm, 0x1A, 2), VIRTIO_PCI_NO_VECTOR);
	assert_int_equal(in(&vm, 0x10, 2), VIRTIO_PCI_NO_VECTOR);
	assert_int_equal(mem_in(&vm, MSIX + ENTRY(0, 8), 4), 0x77);
}

static void test_needs_reset_fires_the_configuration_vector(void **state)
{
	(void)state;
	msix_up(&vm);
	desc(&vm, TX_DESC, 0, RAM - 8, 64, 0, 0);
	offer(&vm, TX_AVAIL, 0);
	out(&vm, VIRTIO_PCI_NOTIFY + 2, 2, 1);
	assert_true(in(&vm, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(msi.n, 1);
	assert_int_equal(msi.data[0], 0x40);
	assert_true(in(&vm, VIRTIO_PCI_ISR, 1) & 2);
}

static void test_a_batch_of_waiting_frames_interrupts_once(void **state)
{
	uint8_t f[128];

	(void)state;
	msix_up(&vm);
	for (int i = 0; i < 5; i++)
		vswitch_input(&sw, peer, f, frame_to_guest(f, (uint8_t)i));
	assert_int_equal(msi.n, 0); /* no buffer yet */
	post_rx(&vm, 4);
	assert_true(vnet_poll(&vm.net));
	assert_int_equal(get16(&vm, RX_USED + 2), 4);
	assert_int_equal(msi.n, 1);
}

/* ---- what a broken driver gets: DEVICE_NEEDS_RESET, and nothing else --- */

static void expect_needs_reset(void)
{
	assert_true(in(&vm, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(in(&vm, VIRTIO_PCI_ISR, 1) & 2);
	assert_int_equal(wire.frames, 0);
	assert_int_equal(get16(&vm, TX_USED + 2), 0); /* nothing came back */
}

/* A device reset and brought up again over cleared transmit rings, one bad
 * transmit chain made available by bad(), the queue notified. */
static void bad_transmit(void (*bad)(void))
{
	out(&vm, 0x14, 1, 0);
	memset(ram + TX_DESC, 0, TX_BUF - TX_DESC);
	assert_int_equal(driver_up(&vm, 1u << 5, 1), 0x0F);
	bad();
	out(&vm, VIRTIO_PCI_NOTIFY + 2, 2, 1);
	expect_needs_reset();
}

static void buffer_past_the_end_of_ram(void)
{
	desc(&vm, TX_DESC, 0, RAM - 8, 64, 0, 0);
	offer(&vm, TX_AVAIL, 0);
}

static void buffer_address_that_wraps(void)
{
	desc(&vm, TX_DESC, 0, 0xFFFFFFFFFFFFF000ull, 0x2000, 0, 0);
	offer(&vm, TX_AVAIL, 0);
}

static void chain_that_loops(void)
{
	desc(&vm, TX_DESC, 0, TX_BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(&vm, TX_DESC, 1, TX_BUF, 16, VIRTQ_DESC_F_NEXT, 0);
	offer(&vm, TX_AVAIL, 0);
}

static void head_past_the_table(void)
{
	offer(&vm, TX_AVAIL, QSIZE);
}

static void avail_index_more_than_a_ring_ahead(void)
{
	put16(&vm, TX_AVAIL + 2, QSIZE + 1);
}

static void indirect_descriptor(void)
{
	desc(&vm, TX_DESC, 0, TX_BUF, 64, VIRTQ_DESC_F_INDIRECT, 0);
	offer(&vm, TX_AVAIL, 0);
}

static void writable_transmit_buffer(void)
{
	desc(&vm, TX_DESC, 0, TX_BUF, 64, VIRTQ_DESC_F_WRITE, 0);
	offer(&vm, TX_AVAIL, 0);
}

static void test_every_kind_of_bad_chain_needs_reset_and_touches_nothing(void **state)
{
	void (*const cases[])(void) = {
		buffer_past_the_end_of_ram, buffer_address_that_wraps,		chain_that_loops,
		head_past_the_table,	    avail_index_more_than_a_ring_ahead, indirect_descriptor,
		writable_transmit_buffer,
	};

	(void)state;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		bad_transmit(cases[i]);
	/* the queues stop: more notifications do nothing */
	out(&vm, VIRTIO_PCI_NOTIFY + 2, 2, 1);
	assert_true(in(&vm, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(get16(&vm, TX_USED + 2), 0);
}

static void test_rings_outside_ram_or_misaligned_are_refused_at_enable(void **state)
{
	(void)state;
	out(&vm, 0x14, 1, 0);
	out(&vm, 0x16, 2, 0);
	out(&vm, 0x18, 2, QSIZE);
	out(&vm, 0x20, 4, RAM - 16); /* the table runs past the end */
	out(&vm, 0x28, 4, RX_AVAIL);
	out(&vm, 0x30, 4, RX_USED);
	out(&vm, 0x1C, 2, 1);
	assert_int_equal(in(&vm, 0x1C, 2), 0);
	assert_true(in(&vm, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);

	out(&vm, 0x14, 1, 0);
	out(&vm, 0x16, 2, 1);
	out(&vm, 0x18, 2, 6); /* not a power of two */
	out(&vm, 0x20, 4, TX_DESC);
	out(&vm, 0x28, 4, TX_AVAIL);
	out(&vm, 0x30, 4, TX_USED);
	out(&vm, 0x1C, 2, 1);
	assert_true(in(&vm, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);

	out(&vm, 0x14, 1, 0);
	out(&vm, 0x16, 2, 1);
	out(&vm, 0x18, 2, QSIZE);
	out(&vm, 0x20, 4, TX_DESC + 8); /* descriptors need 16-byte alignment */
	out(&vm, 0x28, 4, TX_AVAIL);
	out(&vm, 0x30, 4, TX_USED);
	out(&vm, 0x1C, 2, 1);
	assert_true(in(&vm, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
}

/* virtio 1.1 4.1.4.8 with an offset whose end wraps in 32 bits: the
 * window must refuse it (read 0, write ignored), not read 4 GiB past the
 * device's buffer (the old check added offset + length in u32). */
static void test_pci_cfg_window_refuses_offsets_that_wrap(void **state)
{
	static const uint32_t wrap[][2] = {
		{0xFFFFFFFC, 4}, {0xFFFFFFFE, 2}, {0xFFFFFFFF, 1}, {0x80, 4}, {0x7E, 4}};
	const unsigned cap = 0x84; /* the fifth capability: PCI_CFG */

	(void)state;
	assert_int_equal(cfg_in(&vm, 1, cap + 3, 1), 5);
	/* a good access through the window: device_feature_select reads 0 */
	cfg_out(&vm, 1, cap + 8, 4, 0);
	cfg_out(&vm, 1, cap + 12, 4, 4);
	out(&vm, 0, 4, 0);
	assert_int_equal(cfg_in(&vm, 1, cap + 16, 4), 0);
	for (unsigned i = 0; i < sizeof(wrap) / sizeof(wrap[0]); i++) {
		cfg_out(&vm, 1, cap + 8, 4, wrap[i][0]);
		cfg_out(&vm, 1, cap + 12, 4, wrap[i][1]);
		assert_int_equal(cfg_in(&vm, 1, cap + 16, wrap[i][1]), 0);
		cfg_out(&vm, 1, cap + 16, wrap[i][1], 0xFFFFFFFF);
	}
	assert_int_equal(in(&vm, 0x14, 1), 0); /* nothing was written either */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_pci_bus_has_host_bridge_and_virtio_net_and_nothing_else),
		T(test_pci_ids_are_read_only_and_bar_sizing_returns_the_size_mask),
		T(test_pci_capabilities_list_the_virtio_structures_in_bar0),
		T(test_device_offers_version_1_and_mac_and_shows_the_vms_mac),
		T(test_features_ok_needs_version_1_and_nothing_unoffered),
		T(test_guest_frame_goes_to_the_switch_and_its_ip_is_learned),
		T(test_frame_for_guest_lands_in_a_receive_buffer_with_a_header),
		T(test_frames_wait_for_buffers_and_overflow_is_counted),
		T(test_paused_vm_is_never_written),
		T(test_short_receive_buffer_comes_back_empty),
		T(test_every_kind_of_bad_chain_needs_reset_and_touches_nothing),
		T(test_rings_outside_ram_or_misaligned_are_refused_at_enable),
		T(test_pci_cfg_window_refuses_offsets_that_wrap),
		T(test_memory_bar_is_sized_decoded_and_moved),
		T(test_msix_capability_points_into_the_memory_bar),
		T(test_msix_table_entries_read_back_with_reserved_bits_zero),
		T(test_msix_disabled_sends_nothing_and_sets_the_isr),
		T(test_used_buffers_interrupt_through_their_queues_vector),
		T(test_no_interrupt_flag_and_no_vector_silence_a_queue),
		T(test_masked_vector_is_pending_until_unmasked),
		T(test_function_mask_holds_every_vector_until_cleared),
		T(test_vectors_past_the_table_read_back_no_vector),
		T(test_needs_reset_fires_the_configuration_vector),
		T(test_a_batch_of_waiting_frames_interrupts_once),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
