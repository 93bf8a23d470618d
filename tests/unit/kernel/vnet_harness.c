/* The harness of the virtio-net tests (vnet_harness.h): the fake VM's RAM
 * and the switch the kernel would provide, and a test "driver" that speaks
 * port I/O and rings in guest memory. */
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

#include "tests/unit/kernel/vnet_harness.h"

struct vm vm, vm2;
uint8_t *ram, *ram2;
struct vswitch sw;
int peer;
struct vnet_wire wire;

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
struct vnet_msi msi;

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

uint32_t cfg_in(struct vm *v, unsigned dev, unsigned off, unsigned size)
{
	vpci_out(&v->pci, VPCI_ADDR_PORT, 4, 0x80000000u | dev << 11 | (off & 0xFC));
	return vpci_in(&v->pci, VPCI_DATA_PORT + (off & 3), size);
}

void cfg_out(struct vm *v, unsigned dev, unsigned off, unsigned size, uint32_t val)
{
	vpci_out(&v->pci, VPCI_ADDR_PORT, 4, 0x80000000u | dev << 11 | (off & 0xFC));
	vpci_out(&v->pci, VPCI_DATA_PORT + (off & 3), size, val);
}

uint32_t in(struct vm *v, unsigned off, unsigned size)
{
	uint32_t val = 0;
	assert_true(vpci_bar_in(&v->pci, BAR + off, size, &val));
	return val;
}

void out(struct vm *v, unsigned off, unsigned size, uint32_t val)
{
	assert_true(vpci_bar_out(&v->pci, BAR + off, size, val));
}

void put16(struct vm *v, uint64_t gpa, uint16_t x)
{
	memcpy(ram_of(v) + gpa, &x, 2);
}

uint16_t get16(struct vm *v, uint64_t gpa)
{
	uint16_t x;
	memcpy(&x, ram_of(v) + gpa, 2);
	return x;
}

uint32_t get32(struct vm *v, uint64_t gpa)
{
	uint32_t x;
	memcpy(&x, ram_of(v) + gpa, 4);
	return x;
}

void desc(struct vm *v, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
		 uint16_t flags, uint16_t next)
{
	uint8_t *d = ram_of(v) + table + 16 * i;
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

/* Makes chain head available on the ring at avail. */
void offer(struct vm *v, uint64_t avail, uint16_t head)
{
	uint16_t idx = get16(v, avail + 2);
	put16(v, avail + 4 + 2 * (idx % QSIZE), head);
	put16(v, avail + 2, idx + 1);
}

void queue(struct vm *v, unsigned q, uint64_t d, uint64_t a, uint64_t u)
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
uint8_t driver_up(struct vm *v, uint32_t lo, uint32_t hi)
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

void post_rx(struct vm *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		desc(v, RX_DESC, i, RX_BUF + BUF_LEN * i, BUF_LEN, VIRTQ_DESC_F_WRITE, 0);
		offer(v, RX_AVAIL, (uint16_t)i);
	}
}

/* A frame from the guest: header + frame in tx buffer slot, notified. */
void send_frame(struct vm *v, unsigned slot, const uint8_t *frame, size_t len)
{
	uint8_t *b = ram_of(v) + TX_BUF + BUF_LEN * slot;
	memset(b, 0, VNET_HDR_LEN);
	memcpy(b + VNET_HDR_LEN, frame, len);
	desc(v, TX_DESC, slot, TX_BUF + BUF_LEN * slot, (uint32_t)(VNET_HDR_LEN + len), 0, 0);
	offer(v, TX_AVAIL, (uint16_t)slot);
	out(v, VIRTIO_PCI_NOTIFY + 2, 2, 1);
}

const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0xaa, 0x00, 0x01};
const uint8_t peer_mac[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x99};

/* An ARP request from the guest (sender 10.99.0.51) to everyone. */
size_t arp_from_guest(uint8_t *f)
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

size_t frame_to_guest(uint8_t *f, uint8_t tag)
{
	memset(f, tag, 100);
	memcpy(f, guest_mac, 6);
	memcpy(f + 6, peer_mac, 6);
	f[12] = 0x08, f[13] = 0x00;
	return 100;
}

void make_vm(struct vm *v, uint8_t **mem, const char *name)
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

int setup(void **state)
{
	(void)state;
	vswitch_init(&sw);
	memset(&wire, 0, sizeof(wire));
	memset(&msi, 0, sizeof(msi));
	peer = vswitch_port_add(&sw, VSWITCH_PORT_UPLINK, "wire", wire_tx, NULL);
	make_vm(&vm, &ram, "g1");
	return 0;
}

int teardown(void **state)
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

/* ---- MSI-X and the memory BAR -------------------------------------------------- */


uint64_t mem_in(struct vm *v, uint64_t gpa, unsigned size)
{
	uint64_t val = 0xDEAD;
	assert_true(vpci_mem_access(&v->pci, gpa, size, false, &val));
	return val;
}

void mem_out(struct vm *v, uint64_t gpa, unsigned size, uint64_t val)
{
	assert_true(vpci_mem_access(&v->pci, gpa, size, true, &val));
}

bool mem_decoded(struct vm *v, uint64_t gpa, unsigned size)
{
	uint64_t val = 0;
	return vpci_mem_access(&v->pci, gpa, size, false, &val);
}

unsigned msix_cap_of(struct vm *v)
{
	for (unsigned p = cfg_in(v, 1, 0x34, 1); p; p = cfg_in(v, 1, p + 1, 1))
		if (cfg_in(v, 1, p, 1) == MSIX_CAP_ID)
			return p;
	fail_msg("no MSI-X capability");
	return 0;
}

void msix_control(struct vm *v, uint16_t ctl)
{
	cfg_out(v, 1, msix_cap_of(v) + 2, 2, ctl);
}

/* Vector vec of the table sends data to the LAPIC page, unmasked or not. */
void program(struct vm *v, unsigned vec, uint32_t data, bool masked)
{
	mem_out(v, MSIX + ENTRY(vec, 0), 4, 0xFEE00000u | vec << 12);
	mem_out(v, MSIX + ENTRY(vec, 4), 4, 0);
	mem_out(v, MSIX + ENTRY(vec, 8), 4, data);
	mem_out(v, MSIX + ENTRY(vec, 12), 4, masked);
}

/* As Linux's virtio_pci does with one vector per queue: configuration on
 * vector 0, receive on 1, transmit on 2, MSI-X enabled, entries unmasked. */
void msix_up(struct vm *v)
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

