/* The harness of the virtio-blk tests (vblk_harness.h): the fake VM's RAM
 * and interrupt glue the kernel would provide, a RAM-backed block device,
 * and a test "driver" that speaks port I/O and rings in guest memory. */
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

#include "tests/unit/kernel/vblk_harness.h"

struct vm vm, vm2;
uint8_t *ram, *ram2;
struct vdev_vblk blk, blk2;
struct ramdisk disk, disk2;
struct vblk_msi msi;
static unsigned cursor; /* the next descriptor blk_prepare takes */

/* ---- what the kernel provides: guest memory and MSIs ---------------------- */

static uint8_t *ram_of(struct vm *v)
{
	return v == &vm2 ? ram2 : ram;
}

void *vm_gpa_ptr(struct vm *v, uint64_t addr)
{
	return addr < v->mem_bytes ? ram_of(v) + addr : NULL;
}

int vm_gpa_read(struct vm *v, uint64_t addr, void *buf, uint64_t len)
{
	if (addr > v->mem_bytes || len > v->mem_bytes - addr)
		return -EFAULT;
	memcpy(buf, ram_of(v) + addr, len);
	return 0;
}

/* As kernel/vm.c: a device write marks its pages in dev_dirty. */
int vm_gpa_write(struct vm *v, uint64_t addr, const void *buf, uint64_t len)
{
	if (addr > v->mem_bytes || len > v->mem_bytes - addr)
		return -EFAULT;
	memcpy(ram_of(v) + addr, buf, len);
	for (uint64_t g = addr >> 12; v->dev_dirty && len && g <= (addr + len - 1) >> 12; g++)
		v->dev_dirty[g / 64] |= 1ull << (g % 64);
	return 0;
}

void vm_msi(struct vm *v, uint64_t addr, uint32_t data)
{
	(void)v;
	if (msi.n < 16) {
		msi.addr[msi.n] = addr;
		msi.data[msi.n] = data;
	}
	msi.n++;
}

/* ---- the RAM disk ------------------------------------------------------------ */

static int rd_check(struct ramdisk *r, uint64_t lba, uint32_t count)
{
	if (r->fail)
		return -EIO;
	if (lba > r->bd.blocks || count > r->bd.blocks - lba || !count ||
	    count > r->bd.max_blocks) {
		r->out_of_range++;
		return -EINVAL;
	}
	if (count > r->largest)
		r->largest = count;
	return 0;
}

static int rd_read(struct blkdev *d, uint64_t lba, uint32_t count, void *buf)
{
	struct ramdisk *r = d->priv;

	r->reads++;
	int rc = rd_check(r, lba, count);
	if (!rc)
		memcpy(buf, r->data + lba * d->block_size, (size_t)count * d->block_size);
	return rc;
}

static int rd_write(struct blkdev *d, uint64_t lba, uint32_t count, const void *buf)
{
	struct ramdisk *r = d->priv;

	r->writes++;
	int rc = rd_check(r, lba, count);
	if (!rc)
		memcpy(r->data + lba * d->block_size, buf, (size_t)count * d->block_size);
	return rc;
}

static int rd_flush(struct blkdev *d)
{
	struct ramdisk *r = d->priv;

	r->flushes++;
	return r->fail ? -EIO : 0;
}

static const struct blkdev_ops rd_ops = {.read = rd_read, .write = rd_write, .flush = rd_flush};

void ramdisk_make(struct ramdisk *r, uint32_t block_size, uint64_t blocks, uint32_t max_blocks)
{
	memset(r, 0, sizeof(*r));
	r->data = malloc(block_size * blocks);
	assert_non_null(r->data);
	for (uint64_t i = 0; i < block_size * blocks / 4; i++) {
		uint32_t x = (uint32_t)(i * 2654435761u) ^ 0x5A5A5A5A;
		memcpy(r->data + 4 * i, &x, 4);
	}
	strcpy(r->bd.name, "ram0");
	r->bd.block_size = block_size;
	r->bd.blocks = blocks;
	r->bd.max_blocks = max_blocks;
	r->bd.ops = &rd_ops;
	r->bd.priv = r;
}

void ramdisk_free(struct ramdisk *r)
{
	free(r->data);
	r->data = NULL;
}

struct vblk_disk window_of(struct ramdisk *r, bool read_only)
{
	struct vblk_disk k = {.dev = &r->bd, .start = WIN_START, .blocks = WIN_BLOCKS};

	k.read_only = read_only;
	memcpy(k.serial, SERIAL, sizeof(SERIAL));
	return k;
}

void make_vm(struct vm *v, uint8_t **mem, struct vdev_vblk *d, struct ramdisk *r)
{
	memset(v, 0, sizeof(*v));
	*mem = calloc(1, RAM);
	assert_non_null(*mem);
	v->used = true;
	strcpy(v->name, v == &vm2 ? "g1-in" : "g1");
	v->mem_bytes = RAM;
	v->npages = RAM / 4096;
	v->state = VM_RUNNING;
	vpci_init(&v->pci);
	if (r) {
		struct vblk_disk k = window_of(r, false);
		assert_int_equal(vblk_init(d, v, &v->pci, DEV, &k), 0);
	}
}

int setup(void **state)
{
	(void)state;
	memset(&msi, 0, sizeof(msi));
	cursor = 0;
	ramdisk_make(&disk, 512, DISK_BLOCKS, 256);
	make_vm(&vm, &ram, &blk, &disk);
	return 0;
}

int teardown(void **state)
{
	(void)state;
	vblk_destroy(&blk);
	vblk_destroy(&blk2);
	free(vm.dev_dirty);
	free(ram);
	free(ram2);
	ram = ram2 = NULL;
	ramdisk_free(&disk);
	ramdisk_free(&disk2);
	memset(&vm, 0, sizeof(vm));
	memset(&vm2, 0, sizeof(vm2));
	memset(&blk2, 0, sizeof(blk2));
	return 0;
}

/* ---- the test's driver ---------------------------------------------------------- */

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

void mem_out(struct vm *v, uint64_t addr, unsigned size, uint64_t val)
{
	assert_true(vpci_mem_access(&v->pci, addr, size, true, &val));
}

uint8_t *gpa(struct vm *v, uint64_t addr)
{
	return ram_of(v) + addr;
}

uint16_t get16(struct vm *v, uint64_t addr)
{
	uint16_t x;
	memcpy(&x, ram_of(v) + addr, 2);
	return x;
}

uint32_t get32(struct vm *v, uint64_t addr)
{
	uint32_t x;
	memcpy(&x, ram_of(v) + addr, 4);
	return x;
}

static void put16(struct vm *v, uint64_t addr, uint16_t x)
{
	memcpy(ram_of(v) + addr, &x, 2);
}

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
	out(v, 0x16, 2, 0);
	out(v, 0x18, 2, QSIZE);
	out(v, 0x20, 4, RQ_DESC);
	out(v, 0x24, 4, 0);
	out(v, 0x28, 4, RQ_AVAIL);
	out(v, 0x2C, 4, 0);
	out(v, 0x30, 4, RQ_USED);
	out(v, 0x34, 4, 0);
	out(v, 0x1C, 2, 1);
	out(v, 0x14, 1, 0x0F);
	return (uint8_t)in(v, 0x14, 1);
}

static unsigned msix_cap(struct vm *v)
{
	for (unsigned p = cfg_in(v, DEV, 0x34, 1); p; p = cfg_in(v, DEV, p + 1, 1))
		if (cfg_in(v, DEV, p, 1) == MSIX_CAP_ID)
			return p;
	fail_msg("no MSI-X capability");
	return 0;
}

void msix_up(struct vm *v)
{
	uint32_t lo = in(v, 0x04, 4);

	out(v, 0x00, 4, 1);
	assert_int_equal(driver_up(v, lo, in(v, 0x04, 4)), 0x0F);
	for (unsigned vec = 0; vec < 2; vec++) {
		mem_out(v, MSIX + MSIX_ENTRY_SIZE * vec, 4, 0xFEE00000u);
		mem_out(v, MSIX + MSIX_ENTRY_SIZE * vec + 4, 4, 0);
		mem_out(v, MSIX + MSIX_ENTRY_SIZE * vec + 8, 4, 0x40 + vec);
		mem_out(v, MSIX + MSIX_ENTRY_SIZE * vec + 12, 4, 0);
	}
	cfg_out(v, DEV, msix_cap(v) + 2, 2, MSIX_CTRL_ENABLE);
	out(v, 0x10, 2, 0);
	out(v, 0x16, 2, 0);
	out(v, 0x1A, 2, 1);
}

void desc(struct vm *v, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = ram_of(v) + RQ_DESC + 16 * i;
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

void offer(struct vm *v, uint16_t head)
{
	uint16_t idx = get16(v, RQ_AVAIL + 2);
	put16(v, RQ_AVAIL + 4 + 2 * (idx % QSIZE), head);
	put16(v, RQ_AVAIL + 2, idx + 1);
}

void notify(struct vm *v)
{
	out(v, VIRTIO_PCI_NOTIFY, 2, 0);
}

uint16_t take_desc(void)
{
	uint16_t i = (uint16_t)(cursor % QSIZE);
	cursor++;
	return i;
}

uint16_t blk_prepare(struct vm *v, unsigned slot, uint32_t type, uint64_t sector,
		     const struct seg *data, unsigned n)
{
	uint8_t *h = ram_of(v) + HDRS + 16 * slot;
	uint16_t dw = type == 1 ? 0 : VIRTQ_DESC_F_WRITE; /* OUT's data is read */
	uint16_t head = take_desc(), i = head;

	memset(h, 0, 16);
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
	ram_of(v)[STATUSES + slot] = 0xFF;
	desc(v, i, HDRS + 16 * slot, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(cursor % QSIZE));
	for (unsigned s = 0; s < n; s++) {
		i = take_desc();
		desc(v, i, data[s].gpa, data[s].len, dw | VIRTQ_DESC_F_NEXT,
		     (uint16_t)(cursor % QSIZE));
	}
	desc(v, take_desc(), STATUSES + slot, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(v, head);
	return head;
}

uint16_t blk_request(struct vm *v, unsigned slot, uint32_t type, uint64_t sector,
		     const struct seg *data, unsigned n)
{
	uint16_t head = blk_prepare(v, slot, type, sector, data, n);
	notify(v);
	return head;
}

uint8_t status_of(struct vm *v, unsigned slot)
{
	return ram_of(v)[STATUSES + slot];
}

uint16_t used_idx(struct vm *v)
{
	return get16(v, RQ_USED + 2);
}

uint32_t used_id(struct vm *v, unsigned i)
{
	return get32(v, RQ_USED + 4 + 8 * (i % QSIZE));
}

uint32_t used_len(struct vm *v, unsigned i)
{
	return get32(v, RQ_USED + 8 + 8 * (i % QSIZE));
}
