/* The guest's PCI host and configuration space (see pci.h). */
#include <errno.h>
#include <string.h>
#include "kernel/vdev/pci.h"

#define ADDR_ENABLE 0x80000000u
#define ADDR_MASK 0x80FFFFFCu /* bits 30:24 and 1:0 are reserved, read as 0 */
#define CLASS_HOST_BRIDGE 0x060000
#define STATE_VERSION 1

/* A generic host bridge (the ID QEMU gives its own, "gpex"): an OS finds
 * bus 0 through it and looks for no chipset registers behind it. */
#define HOST_VENDOR 0x1B36
#define HOST_DEVICE 0x0008

uint32_t vpci_cfg_get(const struct vpci_func *f, unsigned off, unsigned size)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < size && off + i < VPCI_CFG_SIZE; i++)
		v |= (uint32_t)f->cfg[off + i] << (8 * i);
	return v;
}

void vpci_cfg_put(struct vpci_func *f, unsigned off, unsigned size, uint32_t val)
{
	for (unsigned i = 0; i < size && off + i < VPCI_CFG_SIZE; i++)
		f->cfg[off + i] = (uint8_t)(val >> (8 * i));
}

void vpci_cfg_writable(struct vpci_func *f, unsigned off, unsigned size)
{
	for (unsigned i = 0; i < size && off + i < VPCI_CFG_SIZE; i++)
		f->wmask[off + i] = 0xFF;
}

static void put_wmask(struct vpci_func *f, unsigned off, unsigned size, uint32_t mask)
{
	for (unsigned i = 0; i < size && off + i < VPCI_CFG_SIZE; i++)
		f->wmask[off + i] = (uint8_t)(mask >> (8 * i));
}

void vpci_func_init(struct vpci_func *f, uint16_t vendor, uint16_t device, uint32_t class_code,
		    uint8_t revision, const struct vpci_ops *ops, void *ctx)
{
	memset(f, 0, sizeof(*f));
	vpci_cfg_put(f, VPCI_VENDOR_ID, 2, vendor);
	vpci_cfg_put(f, VPCI_DEVICE_ID, 2, device);
	vpci_cfg_put(f, VPCI_REVISION, 1, revision);
	vpci_cfg_put(f, VPCI_CLASS_PROG, 3, class_code);
	/* Header type 0, single function (bit 7 clear): no other function
	 * of this device is looked for. */
	vpci_cfg_put(f, VPCI_HEADER_TYPE, 1, 0);
	put_wmask(f, VPCI_COMMAND, 2,
		  VPCI_CMD_IO | VPCI_CMD_MEMORY | VPCI_CMD_MASTER | VPCI_CMD_INTX_DISABLE);
	vpci_cfg_writable(f, VPCI_INT_LINE, 1);
	f->ops = ops;
	f->ctx = ctx;
}

void vpci_func_bar_io(struct vpci_func *f, int bar, uint32_t size, uint16_t base)
{
	unsigned off = VPCI_BAR0 + 4 * bar;

	f->bar_size[bar] = size;
	vpci_cfg_put(f, off, 4, (base & ~(size - 1)) | VPCI_BAR_IO);
	/* Bits below the size are hardwired 0, bit 0 says I/O: writing all
	 * ones reads back ~(size - 1) | 1. The upper 16 bits stay 0 (a 64 KiB
	 * I/O space, as on x86), which OSes size correctly (PCI 3.0 6.2.5.1). */
	put_wmask(f, off, 4, 0xFFFFu & ~(size - 1));
}

void vpci_func_bar_mem(struct vpci_func *f, int bar, uint32_t size, uint32_t base)
{
	unsigned off = VPCI_BAR0 + 4 * bar;

	f->bar_size[bar] = size;
	f->bar_mem |= (uint8_t)(1u << bar);
	/* Bits 3:0 read 0: memory space, type 00 (anywhere in 32-bit space),
	 * not prefetchable; the address bits below the size are hardwired 0,
	 * so writing all-ones reads back ~(size - 1) (PCI 3.0 6.2.5.1). */
	vpci_cfg_put(f, off, 4, base & ~(size - 1));
	put_wmask(f, off, 4, ~(size - 1));
}

unsigned vpci_func_add_cap(struct vpci_func *f, uint8_t id, unsigned len)
{
	unsigned off = f->cap_end ? (f->cap_end + 3) & ~3u : VPCI_CAP_START;

	/* Each capability starts dword-aligned; the last one links to it. */
	f->cfg[f->cap_last ? f->cap_last + 1 : VPCI_CAP_PTR] = (uint8_t)off;
	f->cfg[off] = id;
	f->cfg[off + 1] = 0;
	f->cap_last = off;
	f->cap_end = off + len;
	vpci_cfg_put(f, VPCI_STATUS, 2, vpci_cfg_get(f, VPCI_STATUS, 2) | VPCI_STATUS_CAP_LIST);
	return off;
}

uint16_t vpci_bar_base(const struct vpci_func *f, int bar)
{
	if (!f->bar_size[bar] || (f->bar_mem & (1u << bar)) ||
	    !(vpci_cfg_get(f, VPCI_COMMAND, 2) & VPCI_CMD_IO))
		return 0;
	return (uint16_t)(vpci_cfg_get(f, VPCI_BAR0 + 4 * bar, 4) & ~(f->bar_size[bar] - 1));
}

uint32_t vpci_bar_mem_base(const struct vpci_func *f, int bar)
{
	if (!f->bar_size[bar] || !(f->bar_mem & (1u << bar)) ||
	    !(vpci_cfg_get(f, VPCI_COMMAND, 2) & VPCI_CMD_MEMORY))
		return 0;
	return vpci_cfg_get(f, VPCI_BAR0 + 4 * bar, 4) & ~(f->bar_size[bar] - 1);
}

void vpci_cfg_guest_write(struct vpci_func *f, unsigned off, unsigned size, uint32_t val)
{
	for (unsigned i = 0; i < size && off + i < VPCI_CFG_SIZE; i++) {
		uint8_t m = f->wmask[off + i];
		f->cfg[off + i] = (f->cfg[off + i] & ~m) | ((uint8_t)(val >> (8 * i)) & m);
	}
}

void vpci_init(struct vpci *p)
{
	memset(p, 0, sizeof(*p));
	vpci_func_init(&p->host, HOST_VENDOR, HOST_DEVICE, CLASS_HOST_BRIDGE, 0, NULL, NULL);
	p->dev[0] = &p->host;
}

int vpci_attach(struct vpci *p, unsigned devnum, struct vpci_func *f)
{
	if (devnum == 0 || devnum >= VPCI_DEVS)
		return -EINVAL;
	if (p->dev[devnum])
		return -EBUSY;
	p->dev[devnum] = f;
	return 0;
}

void vpci_detach(struct vpci *p, unsigned devnum)
{
	if (devnum && devnum < VPCI_DEVS)
		p->dev[devnum] = NULL;
}

bool vpci_handles(uint16_t port)
{
	return port >= VPCI_ADDR_PORT && port < VPCI_DATA_PORT + 4;
}

/* The function CONFIG_ADDRESS selects, or NULL: disabled, another bus, a
 * function other than 0, or an empty slot (all of which read all-ones). */
static struct vpci_func *selected(struct vpci *p)
{
	uint32_t a = p->addr;
	unsigned bus = (a >> 16) & 0xFF, dev = (a >> 11) & 0x1F, fn = (a >> 8) & 7;

	if (!(a & ADDR_ENABLE) || bus || fn || dev >= VPCI_DEVS)
		return NULL;
	return p->dev[dev];
}

static uint32_t ones(unsigned size)
{
	return size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
}

uint32_t vpci_in(struct vpci *p, uint16_t port, unsigned size)
{
	if (port < VPCI_DATA_PORT) {
		/* Only a dword access at 0xCF8 is CONFIG_ADDRESS (3.2.2.3.2);
		 * bytes there are other chipset registers Tern does not have. */
		return port == VPCI_ADDR_PORT && size == 4 ? p->addr : ones(size);
	}
	struct vpci_func *f = selected(p);
	unsigned off = (p->addr & 0xFC) + (port - VPCI_DATA_PORT);
	uint32_t v;

	if (!f)
		return ones(size);
	if (off >= VPCI_CAP_START && f->ops && f->ops->cfg_read &&
	    f->ops->cfg_read(f->ctx, off, size, &v))
		return v & ones(size);
	return vpci_cfg_get(f, off, size);
}

void vpci_out(struct vpci *p, uint16_t port, unsigned size, uint32_t val)
{
	if (port < VPCI_DATA_PORT) {
		if (port == VPCI_ADDR_PORT && size == 4)
			p->addr = val & ADDR_MASK;
		return;
	}
	struct vpci_func *f = selected(p);
	unsigned off = (p->addr & 0xFC) + (port - VPCI_DATA_PORT);

	if (!f)
		return;
	if (off >= VPCI_CAP_START && f->ops && f->ops->cfg_write &&
	    f->ops->cfg_write(f->ctx, off, size, val))
		return;
	vpci_cfg_guest_write(f, off, size, val);
}

/* The function and BAR decoding [port, port + size), entirely inside one
 * BAR; false if none. */
static bool decoded(struct vpci *p, uint16_t port, unsigned size, struct vpci_func **fp, int *bar,
		    uint32_t *off)
{
	for (unsigned d = 1; d < VPCI_DEVS; d++) {
		struct vpci_func *f = p->dev[d];
		if (!f || !f->ops)
			continue;
		for (int b = 0; b < VPCI_BARS; b++) {
			uint16_t base = vpci_bar_base(f, b);
			if (!base || port < base || port - base + size > f->bar_size[b])
				continue;
			*fp = f, *bar = b, *off = port - base;
			return true;
		}
	}
	return false;
}

bool vpci_bar_in(struct vpci *p, uint16_t port, unsigned size, uint32_t *val)
{
	struct vpci_func *f;
	uint32_t off;
	int bar;

	if (!decoded(p, port, size, &f, &bar, &off))
		return false;
	*val = f->ops->io_read(f->ctx, bar, off, size) & ones(size);
	return true;
}

bool vpci_bar_out(struct vpci *p, uint16_t port, unsigned size, uint32_t val)
{
	struct vpci_func *f;
	uint32_t off;
	int bar;

	if (!decoded(p, port, size, &f, &bar, &off))
		return false;
	f->ops->io_write(f->ctx, bar, off, size, val & ones(size));
	return true;
}

/* ---- migration ----------------------------------------------------------
 * Blob: u32 version, u32 CONFIG_ADDRESS, u32 bitmap of the devices present,
 * then per present device (in order) u32 device number and its 256-byte
 * image. Little-endian, as the image itself. */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t present(const struct vpci *p)
{
	uint32_t m = 0;

	for (unsigned d = 0; d < VPCI_DEVS; d++)
		if (p->dev[d])
			m |= 1u << d;
	return m;
}

int vpci_save(const struct vpci *p, void *buf, size_t cap)
{
	uint8_t *b = buf;
	uint32_t m = present(p);
	size_t len = 12 + (size_t)__builtin_popcount(m) * (4 + VPCI_CFG_SIZE);

	if (cap < len)
		return -ENOSPC;
	put32(b, STATE_VERSION);
	put32(b + 4, p->addr);
	put32(b + 8, m);
	b += 12;
	for (unsigned d = 0; d < VPCI_DEVS; d++) {
		if (!p->dev[d])
			continue;
		put32(b, d);
		memcpy(b + 4, p->dev[d]->cfg, VPCI_CFG_SIZE);
		b += 4 + VPCI_CFG_SIZE;
	}
	return (int)len;
}

int vpci_restore(struct vpci *p, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	uint32_t m = present(p);

	if (len != 12 + (size_t)__builtin_popcount(m) * (4 + VPCI_CFG_SIZE) ||
	    get32(b) != STATE_VERSION || get32(b + 8) != m || (get32(b + 4) & ~ADDR_MASK))
		return -EINVAL;
	/* Check every device record before taking any: a refused blob
	 * changes nothing. */
	for (unsigned d = 0, i = 0; d < VPCI_DEVS; d++)
		if (p->dev[d] && get32(b + 12 + (i++) * (4 + VPCI_CFG_SIZE)) != d)
			return -EINVAL;
	p->addr = get32(b + 4);
	b += 12;
	for (unsigned d = 0; d < VPCI_DEVS; d++) {
		struct vpci_func *f = p->dev[d];
		if (!f)
			continue;
		/* IDs and the capability layout are this host's own: only
		 * what the guest could have written comes from the stream. */
		for (unsigned i = 0; i < VPCI_CFG_SIZE; i++)
			f->cfg[i] = (f->cfg[i] & ~f->wmask[i]) | (b[4 + i] & f->wmask[i]);
		b += 4 + VPCI_CFG_SIZE;
	}
	return 0;
}

bool vpci_mem_access(struct vpci *p, uint64_t gpa, unsigned size, bool write, uint64_t *val)
{
	if (size != 1 && size != 2 && size != 4 && size != 8)
		return false;
	uint64_t mask = size == 8 ? ~0ull : (1ull << (8 * size)) - 1;

	for (unsigned d = 1; d < VPCI_DEVS; d++) {
		struct vpci_func *f = p->dev[d];
		if (!f || !f->ops || !f->ops->mem_read || !f->ops->mem_write)
			continue;
		for (int b = 0; b < VPCI_BARS; b++) {
			uint64_t base = vpci_bar_mem_base(f, b);
			/* An access must lie wholly inside one BAR; one that
			 * runs past its end is not decoded (64-bit sums:
			 * gpa comes from the guest). */
			if (!base || gpa < base || gpa - base + size > f->bar_size[b])
				continue;
			uint32_t off = (uint32_t)(gpa - base);
			if (write)
				f->ops->mem_write(f->ctx, b, off, size, *val & mask);
			else
				*val = f->ops->mem_read(f->ctx, b, off, size) & mask;
			return true;
		}
	}
	return false;
}
