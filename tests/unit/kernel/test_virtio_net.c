/* kernel/vdev: the guest's PCI bus, the virtio PCI transport, split
 * virtqueues and virtio-net, driven the way a guest driver drives them
 * (port I/O, rings in guest memory) over a fake VM whose RAM is a host
 * buffer, and joined to a real vswitch. Bad rings and descriptors must end
 * in DEVICE_NEEDS_RESET, never in an access outside the guest's RAM. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernel/vm.h"
#include "kernel/vm_irq.h"
#include "net/vswitch.h"

#define RAM (4u << 20)
#define BAR VNET_IO_BASE
#define QSIZE 8
/* Where the test's "driver" keeps its rings and buffers. */
#define RX_DESC 0x10000
#define RX_AVAIL 0x11000
#define RX_USED 0x12000
#define TX_DESC 0x14000
#define TX_AVAIL 0x15000
#define TX_USED 0x16000
#define RX_BUF 0x20000
#define TX_BUF 0x40000
#define BUF_LEN 0x800

static struct vm vm, vm2;
static uint8_t *ram, *ram2;
static struct vswitch sw;
static int peer;
static struct {
	int frames;
	uint8_t last[2048];
	size_t len;
} wire;

/* ---- what the kernel provides: guest memory and the switch --------------- */

static uint8_t *ram_of(struct vm *v)
{
	return v == &vm2 ? ram2 : ram;
}

void *vm_gpa_ptr(struct vm *v, uint64_t gpa)
{
	return gpa < v->mem_bytes ? ram_of(v) + gpa : NULL;
}

int vm_gpa_read(struct vm *v, uint64_t gpa, void *buf, uint64_t len)
{
	if (gpa > v->mem_bytes || len > v->mem_bytes - gpa)
		return -EFAULT;
	memcpy(buf, ram_of(v) + gpa, len);
	return 0;
}

int vm_gpa_write(struct vm *v, uint64_t gpa, const void *buf, uint64_t len)
{
	if (gpa > v->mem_bytes || len > v->mem_bytes - gpa)
		return -EFAULT;
	memcpy(ram_of(v) + gpa, buf, len);
	for (uint64_t g = gpa >> 12; v->dev_dirty && len && g <= (gpa + len - 1) >> 12; g++)
		v->dev_dirty[g / 64] |= 1ull << (g % 64);
	return 0;
}

struct vswitch *net_vswitch(void)
{
	return &sw;
}

/* The interrupt glue: every MSI the device sends, in order. */
static struct {
	int n;
	struct vm *vm[16];
	uint64_t addr[16];
	uint32_t data[16];
} msi;

void vm_msi(struct vm *v, uint64_t addr, uint32_t data)
{
	if (msi.n < 16) {
		msi.vm[msi.n] = v;
		msi.addr[msi.n] = addr;
		msi.data[msi.n] = data;
	}
	msi.n++;
}

static int wire_tx(void *ctx, const uint8_t *frame, size_t len)
{
	(void)ctx;
	wire.frames++;
	wire.len = len;
	memcpy(wire.last, frame, len);
	return 0;
}

/* ---- the test's driver ------------------------------------------------------ */

static uint32_t cfg_in(struct vm *v, unsigned dev, unsigned off, unsigned size)
{
	vpci_out(&v->pci, VPCI_ADDR_PORT, 4, 0x80000000u | dev << 11 | (off & 0xFC));
	return vpci_in(&v->pci, VPCI_DATA_PORT + (off & 3), size);
}

static void cfg_out(struct vm *v, unsigned dev, unsigned off, unsigned size, uint32_t val)
{
	vpci_out(&v->pci, VPCI_ADDR_PORT, 4, 0x80000000u | dev << 11 | (off & 0xFC));
	vpci_out(&v->pci, VPCI_DATA_PORT + (off & 3), size, val);
}

static uint32_t in(struct vm *v, unsigned off, unsigned size)
{
	uint32_t val = 0;
	assert_true(vpci_bar_in(&v->pci, BAR + off, size, &val));
	return val;
}

static void out(struct vm *v, unsigned off, unsigned size, uint32_t val)
{
	assert_true(vpci_bar_out(&v->pci, BAR + off, size, val));
}

static void put16(struct vm *v, uint64_t gpa, uint16_t x)
{
	memcpy(ram_of(v) + gpa, &x, 2);
}

static uint16_t get16(struct vm *v, uint64_t gpa)
{
	uint16_t x;
	memcpy(&x, ram_of(v) + gpa, 2);
	return x;
}

static uint32_t get32(struct vm *v, uint64_t gpa)
{
	uint32_t x;
	memcpy(&x, ram_of(v) + gpa, 4);
	return x;
}

static void desc(struct vm *v, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next)
{
	uint8_t *d = ram_of(v) + table + 16 * i;
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

/* Makes chain head available on the ring at avail. */
static void offer(struct vm *v, uint64_t avail, uint16_t head)
{
	uint16_t idx = get16(v, avail + 2);
	put16(v, avail + 4 + 2 * (idx % QSIZE), head);
	put16(v, avail + 2, idx + 1);
}

static void queue(struct vm *v, unsigned q, uint64_t d, uint64_t a, uint64_t u)
{
	out(v, 0x16, 2, q);
	out(v, 0x18, 2, QSIZE);
	out(v, 0x20, 4, (uint32_t)d);
	out(v, 0x24, 4, 0);
	out(v, 0x28, 4, (uint32_t)a);
	out(v, 0x2C, 4, 0);
	out(v, 0x30, 4, (uint32_t)u);
	out(v, 0x34, 4, 0);
	out(v, 0x1C, 2, 1);
}

/* virtio 1.1 3.1.1 with the given driver features; returns the status. */
static uint8_t driver_up(struct vm *v, uint32_t lo, uint32_t hi)
{
	out(v, 0x14, 1, 0);
	out(v, 0x14, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	out(v, 0x08, 4, 0);
	out(v, 0x0C, 4, lo);
	out(v, 0x08, 4, 1);
	out(v, 0x0C, 4, hi);
	out(v, 0x14, 1,
	    VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	if (!(in(v, 0x14, 1) & VIRTIO_STATUS_FEATURES_OK))
		return (uint8_t)in(v, 0x14, 1);
	queue(v, 0, RX_DESC, RX_AVAIL, RX_USED);
	queue(v, 1, TX_DESC, TX_AVAIL, TX_USED);
	out(v, 0x14, 1, 0x0F);
	return (uint8_t)in(v, 0x14, 1);
}

static void post_rx(struct vm *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		desc(v, RX_DESC, i, RX_BUF + BUF_LEN * i, BUF_LEN, VIRTQ_DESC_F_WRITE, 0);
		offer(v, RX_AVAIL, (uint16_t)i);
	}
}

/* A frame from the guest: header + frame in tx buffer slot, notified. */
static void send_frame(struct vm *v, unsigned slot, const uint8_t *frame, size_t len)
{
	uint8_t *b = ram_of(v) + TX_BUF + BUF_LEN * slot;
	memset(b, 0, VNET_HDR_LEN);
	memcpy(b + VNET_HDR_LEN, frame, len);
	desc(v, TX_DESC, slot, TX_BUF + BUF_LEN * slot, (uint32_t)(VNET_HDR_LEN + len), 0, 0);
	offer(v, TX_AVAIL, (uint16_t)slot);
	out(v, VIRTIO_PCI_NOTIFY + 2, 2, 1);
}

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0xaa, 0x00, 0x01};
static const uint8_t peer_mac[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x99};

/* An ARP request from the guest (sender 10.99.0.51) to everyone. */
static size_t arp_from_guest(uint8_t *f)
{
	memset(f, 0, 60);
	memset(f, 0xff, 6);
	memcpy(f + 6, guest_mac, 6);
	f[12] = 0x08, f[13] = 0x06;
	f[14] = 0, f[15] = 1, f[16] = 0x08, f[17] = 0, f[18] = 6, f[19] = 4, f[20] = 0, f[21] = 1;
	memcpy(f + 22, guest_mac, 6);
	f[28] = 10, f[29] = 99, f[30] = 0, f[31] = 51;
	f[38] = 10, f[39] = 99, f[40] = 0, f[41] = 1;
	return 60;
}

static size_t frame_to_guest(uint8_t *f, uint8_t tag)
{
	memset(f, tag, 100);
	memcpy(f, guest_mac, 6);
	memcpy(f + 6, peer_mac, 6);
	f[12] = 0x08, f[13] = 0x00;
	return 100;
}

static void make_vm(struct vm *v, uint8_t **mem, const char *name)
{
	memset(v, 0, sizeof(*v));
	*mem = calloc(1, RAM);
	assert_non_null(*mem);
	v->used = true;
	strcpy(v->name, name);
	v->mem_bytes = RAM;
	v->npages = RAM / 4096;
	v->state = VM_RUNNING;
	memcpy(v->mac, guest_mac, 6);
	vpci_init(&v->pci);
	assert_int_equal(vnet_init(&v->net, v, &v->pci), 0);
}

static int setup(void **state)
{
	(void)state;
	vswitch_init(&sw);
	memset(&wire, 0, sizeof(wire));
	memset(&msi, 0, sizeof(msi));
	peer = vswitch_port_add(&sw, VSWITCH_PORT_UPLINK, "wire", wire_tx, NULL);
	make_vm(&vm, &ram, "g1");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vnet_destroy(&vm.net);
	vnet_destroy(&vm2.net);
	free(vm.dev_dirty);
	vm.dev_dirty = NULL;
	free(ram);
	free(ram2);
	ram = ram2 = NULL;
	memset(&vm2, 0, sizeof(vm2));
	return 0;
}

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

#define MSIX VNET_MSIX_BASE
#define ENTRY(v, f) (VIRTIO_PCI_MSIX_TABLE + MSIX_ENTRY_SIZE * (v) + (f))

static uint64_t mem_in(struct vm *v, uint64_t gpa, unsigned size)
{
	uint64_t val = 0xDEAD;
	assert_true(vpci_mem_access(&v->pci, gpa, size, false, &val));
	return val;
}

static void mem_out(struct vm *v, uint64_t gpa, unsigned size, uint64_t val)
{
	assert_true(vpci_mem_access(&v->pci, gpa, size, true, &val));
}

static bool mem_decoded(struct vm *v, uint64_t gpa, unsigned size)
{
	uint64_t val = 0;
	return vpci_mem_access(&v->pci, gpa, size, false, &val);
}

static unsigned msix_cap_of(struct vm *v)
{
	for (unsigned p = cfg_in(v, 1, 0x34, 1); p; p = cfg_in(v, 1, p + 1, 1))
		if (cfg_in(v, 1, p, 1) == MSIX_CAP_ID)
			return p;
	fail_msg("no MSI-X capability");
	return 0;
}

static void msix_control(struct vm *v, uint16_t ctl)
{
	cfg_out(v, 1, msix_cap_of(v) + 2, 2, ctl);
}

/* Vector vec of the table sends data to the LAPIC page, unmasked or not. */
static void program(struct vm *v, unsigned vec, uint32_t data, bool masked)
{
	mem_out(v, MSIX + ENTRY(vec, 0), 4, 0xFEE00000u | vec << 12);
	mem_out(v, MSIX + ENTRY(vec, 4), 4, 0);
	mem_out(v, MSIX + ENTRY(vec, 8), 4, data);
	mem_out(v, MSIX + ENTRY(vec, 12), 4, masked);
}

/* As Linux's virtio_pci does with one vector per queue: configuration on
 * vector 0, receive on 1, transmit on 2, MSI-X enabled, entries unmasked. */
static void msix_up(struct vm *v)
{
	assert_int_equal(driver_up(v, 1u << 5, 1), 0x0F);
	msix_control(v, MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL);
	for (unsigned i = 0; i < 3; i++)
		program(v, i, 0x40 + i, false);
	out(v, 0x10, 2, 0);
	assert_int_equal(in(v, 0x10, 2), 0);
	for (unsigned q = 0; q < 2; q++) {
		out(v, 0x16, 2, q);
		out(v, 0x1A, 2, q + 1);
		assert_int_equal(in(v, 0x1A, 2), q + 1);
	}
	msix_control(v, MSIX_CTRL_ENABLE);
}

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
		T(test_device_writes_are_logged_as_dirty_pages),
		T(test_device_state_moves_to_another_vm_and_carries_on),
		T(test_frames_waiting_in_the_final_pause_move_with_the_guest),
		T(test_carried_frames_that_do_not_add_up_are_refused),
		T(test_pci_restore_keeps_this_hosts_read_only_bits),
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
		T(test_msix_state_moves_with_the_device),
		T(test_hostile_device_blobs_are_refused_and_change_nothing),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
