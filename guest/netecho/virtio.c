/* A modern virtio-pci driver (virtio 1.1, 4.1) for one virtio-net device,
 * polled: the virtio structures are found through the vendor capabilities
 * (4.1.4) in an I/O BAR (Tern) or a memory BAR below 4 GiB (QEMU), the
 * device is brought up as 3.1.1 says, and the two split queues (2.6) live
 * in this image's .bss. Nothing asks for an interrupt. */
#include "netecho.h"
#include "common/cpu.h"
#include "common/fmt.h"

#define VIRTIO_VENDOR 0x1AF4
#define VIRTIO_NET_MODERN 0x1041 /* 0x1040 + device type 1 (4.1.2.1) */

#define PCI_STATUS 0x06
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_CAP_PTR 0x34
#define PCI_CAP_ID_VNDR 0x09
#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR 3
#define CAP_DEVICE 4

/* Common configuration (4.1.4.3). */
#define DFSELECT 0x00
#define DF 0x04
#define GFSELECT 0x08
#define GF 0x0C
#define STATUS 0x14
#define QUEUE_SELECT 0x16
#define QUEUE_SIZE 0x18
#define QUEUE_ENABLE 0x1C
#define QUEUE_NOTIFY_OFF 0x1E
#define QUEUE_DESC 0x20
#define QUEUE_DRIVER 0x28
#define QUEUE_DEVICE 0x30

#define S_ACKNOWLEDGE 0x01
#define S_DRIVER 0x02
#define S_DRIVER_OK 0x04
#define S_FEATURES_OK 0x08
#define S_NEEDS_RESET 0x40
#define S_FAILED 0x80
#define F_MAC (1u << 5)	      /* VIRTIO_NET_F_MAC, low word */
#define F_VERSION_1 (1u << 0) /* VIRTIO_F_VERSION_1 = bit 32: high word */

#define DESC_F_WRITE 2
#define USED_F_NO_NOTIFY 1
#define RXQ 0
#define TXQ 1

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

struct avail {
	uint16_t flags, idx, ring[NE_QSIZE], used_event;
};

struct used {
	uint16_t flags, idx;
	struct {
		uint32_t id, len;
	} ring[NE_QSIZE];
	uint16_t avail_event;
};

/* 2.6: descriptors 16-byte aligned, available ring 2, used ring 4. */
struct queue {
	struct desc desc[NE_QSIZE] __attribute__((aligned(16)));
	struct avail avail __attribute__((aligned(4)));
	struct used used __attribute__((aligned(4)));
	uint16_t size;
	uint8_t buf[NE_QSIZE][NE_BUF_LEN] __attribute__((aligned(64)));
};

static struct queue queues[2] __attribute__((aligned(4096)));

static uint32_t rd(const struct ne_region *r, unsigned off, unsigned size)
{
	uint64_t a = r->addr + off;

	if (r->io)
		return size == 1   ? inb((uint16_t)a)
		       : size == 2 ? inw((uint16_t)a)
				   : inl((uint16_t)a);
	if (size == 1)
		return *(volatile uint8_t *)(uintptr_t)a;
	if (size == 2)
		return *(volatile uint16_t *)(uintptr_t)a;
	return *(volatile uint32_t *)(uintptr_t)a;
}

static void wr(const struct ne_region *r, unsigned off, unsigned size, uint32_t v)
{
	uint64_t a = r->addr + off;

	if (r->io) {
		if (size == 1)
			outb((uint16_t)a, (uint8_t)v);
		else if (size == 2)
			outw((uint16_t)a, (uint16_t)v);
		else
			outl((uint16_t)a, v);
	} else if (size == 1) {
		*(volatile uint8_t *)(uintptr_t)a = (uint8_t)v;
	} else if (size == 2) {
		*(volatile uint16_t *)(uintptr_t)a = (uint16_t)v;
	} else {
		*(volatile uint32_t *)(uintptr_t)a = v;
	}
}

static void wr64(const struct ne_region *r, unsigned off, uint64_t v)
{
	wr(r, off, 4, (uint32_t)v); /* 4.1.3.1: 64-bit fields as two 32-bit writes */
	wr(r, off + 4, 4, (uint32_t)(v >> 32));
}

static uint16_t volatile_read16(const uint16_t *p)
{
	return *(const volatile uint16_t *)p;
}

static bool fail(char *err, size_t err_size, const char *what)
{
	fmt_snprintf(err, err_size, "error: %s", what);
	return false;
}

/* The first capability of each type whose structure lies inside a BAR the
 * driver can reach (4.1.4.1: use the first one it understands). */
static void find_structures(struct ne_virtio *v)
{
	const struct ne_pci *p = &v->pci;
	unsigned ptr = ne_pci_read(p, PCI_CAP_PTR, 1) & 0xFC;

	for (unsigned n = 0; ptr && n < 48; n++) {
		unsigned id = ne_pci_read(p, ptr, 1), next = ne_pci_read(p, ptr + 1, 1);
		unsigned type = ne_pci_read(p, ptr + 3, 1), bar = ne_pci_read(p, ptr + 4, 1);
		uint32_t off = ne_pci_read(p, ptr + 8, 4), len = ne_pci_read(p, ptr + 12, 4);
		struct ne_region *r = type == CAP_COMMON   ? &v->common
				      : type == CAP_NOTIFY ? &v->notify
				      : type == CAP_ISR	   ? &v->isr
				      : type == CAP_DEVICE ? &v->device
							   : 0;

		if (id == PCI_CAP_ID_VNDR && r && !r->addr && bar < 6) {
			bool io;
			uint32_t size;
			uint64_t base = ne_pci_bar(p, (int)bar, &io, &size);
			if (base && off + (uint64_t)len <= size) {
				*r = (struct ne_region){base + off, io};
				if (type == CAP_NOTIFY)
					v->notify_mult = ne_pci_read(p, ptr + 16, 4);
			}
		}
		ptr = next & 0xFC;
	}
}

static bool setup_queue(struct ne_virtio *v, unsigned q)
{
	struct queue *Q = &queues[q];
	const struct ne_region *c = &v->common;

	wr(c, QUEUE_SELECT, 2, q);
	uint16_t max = (uint16_t)rd(c, QUEUE_SIZE, 2);
	if (!max)
		return false;
	Q->size = max < NE_QSIZE ? max : NE_QSIZE; /* both powers of two */
	memset(Q->desc, 0, sizeof(Q->desc));
	memset(&Q->avail, 0, sizeof(Q->avail));
	memset(&Q->used, 0, sizeof(Q->used));
	wr(c, QUEUE_SIZE, 2, Q->size);
	wr64(c, QUEUE_DESC, (uintptr_t)Q->desc);
	wr64(c, QUEUE_DRIVER, (uintptr_t)&Q->avail);
	wr64(c, QUEUE_DEVICE, (uintptr_t)&Q->used);
	v->notify_addr[q] = v->notify.addr + (uint64_t)rd(c, QUEUE_NOTIFY_OFF, 2) * v->notify_mult;
	wr(c, QUEUE_ENABLE, 2, 1);
	return true;
}

static void notify(const struct ne_virtio *v, unsigned q)
{
	struct ne_region r = {v->notify_addr[q], v->notify.io};
	wr(&r, 0, 2, q); /* 4.1.4.4: the queue's index, at its notify address */
}

/* Gives receive buffer id back to the device. */
static void rx_post(uint16_t id)
{
	struct queue *Q = &queues[RXQ];

	Q->desc[id] = (struct desc){(uintptr_t)Q->buf[id], NE_BUF_LEN, DESC_F_WRITE, 0};
	Q->avail.ring[Q->avail.idx % Q->size] = id;
	compiler_barrier(); /* 2.6.13.3: the entry before the index that publishes it */
	Q->avail.idx++;
}

bool ne_virtio_up(struct ne_virtio *v, char *err, size_t err_size)
{
	const struct ne_region *c = &v->common;
	bool mac_given = v->mac[0] | v->mac[1] | v->mac[2] | v->mac[3] | v->mac[4] | v->mac[5];

	if (!ne_pci_find(VIRTIO_VENDOR, VIRTIO_NET_MODERN, &v->pci))
		return fail(err, err_size, "no virtio-net device (1af4:1041) on PCI bus 0");
	if (!(ne_pci_read(&v->pci, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST))
		return fail(err, err_size, "virtio-net has no capability list");
	find_structures(v);
	if (!v->common.addr || !v->notify.addr || !v->device.addr)
		return fail(err, err_size, "virtio-net: no usable common/notify/device structure");

	/* 3.1.1: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK, queues,
	 * DRIVER_OK. */
	wr(c, STATUS, 1, 0);
	while (rd(c, STATUS, 1))
		cpu_relax();
	wr(c, STATUS, 1, S_ACKNOWLEDGE);
	wr(c, STATUS, 1, S_ACKNOWLEDGE | S_DRIVER);
	wr(c, DFSELECT, 4, 0);
	uint32_t lo = rd(c, DF, 4);
	wr(c, DFSELECT, 4, 1);
	uint32_t hi = rd(c, DF, 4);
	if (!(hi & F_VERSION_1))
		return fail(err, err_size, "virtio-net does not offer VIRTIO_F_VERSION_1");
	if (!(lo & F_MAC) && !mac_given)
		return fail(err, err_size, "virtio-net has no MAC (VIRTIO_NET_F_MAC): pass mac=");
	wr(c, GFSELECT, 4, 0);
	wr(c, GF, 4, lo & F_MAC);
	wr(c, GFSELECT, 4, 1);
	wr(c, GF, 4, F_VERSION_1);
	wr(c, STATUS, 1, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK);
	if (!(rd(c, STATUS, 1) & S_FEATURES_OK))
		return fail(err, err_size, "virtio-net refused the features (FEATURES_OK clear)");
	if (!setup_queue(v, RXQ) || !setup_queue(v, TXQ))
		return fail(err, err_size, "virtio-net: a queue does not exist");
	if (!mac_given)
		for (unsigned i = 0; i < 6; i++)
			v->mac[i] = (uint8_t)rd(&v->device, i, 1);
	for (uint16_t i = 0; i < queues[RXQ].size; i++)
		rx_post(i);
	wr(c, STATUS, 1, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	if (ne_virtio_broken(v))
		return fail(err, err_size, "virtio-net needs a reset after DRIVER_OK");
	if (!(volatile_read16(&queues[RXQ].used.flags) & USED_F_NO_NOTIFY))
		notify(v, RXQ);
	return true;
}

uint64_t ne_virtio_rx_buffers(unsigned *count)
{
	*count = queues[RXQ].size;
	return (uintptr_t)queues[RXQ].buf;
}

bool ne_virtio_broken(const struct ne_virtio *v)
{
	return rd(&v->common, STATUS, 1) & (S_NEEDS_RESET | S_FAILED);
}

unsigned ne_virtio_rx(struct ne_virtio *v, void (*fn)(const uint8_t *frame, size_t len))
{
	struct queue *Q = &queues[RXQ];
	unsigned n = 0;

	while (v->rx_last_used != volatile_read16(&Q->used.idx)) {
		compiler_barrier(); /* the index before the entry it publishes */
		uint32_t id = Q->used.ring[v->rx_last_used % Q->size].id;
		uint32_t len = Q->used.ring[v->rx_last_used % Q->size].len;
		v->rx_last_used++;
		if (id >= Q->size)
			continue; /* not ours: nothing to give back */
		if (len > NE_HDR_LEN && len <= NE_BUF_LEN)
			fn(Q->buf[id] + NE_HDR_LEN, len - NE_HDR_LEN);
		rx_post((uint16_t)id);
		n++;
	}
	if (n && !(volatile_read16(&Q->used.flags) & USED_F_NO_NOTIFY))
		notify(v, RXQ);
	return n;
}

bool ne_virtio_tx(struct ne_virtio *v, const uint8_t *frame, size_t len)
{
	struct queue *Q = &queues[TXQ];

	v->tx_last_used = volatile_read16(&Q->used.idx);
	if ((uint16_t)(Q->avail.idx - v->tx_last_used) >= Q->size || len > NE_FRAME_MAX)
		return false;
	/* Buffers come back in order, so the slot of the oldest one in
	 * flight is never the one reused here. */
	uint16_t slot = Q->avail.idx % Q->size;
	memset(Q->buf[slot], 0, NE_HDR_LEN); /* no offloads: an all-zero header */
	memcpy(Q->buf[slot] + NE_HDR_LEN, frame, len);
	Q->desc[slot] = (struct desc){(uintptr_t)Q->buf[slot], (uint32_t)(NE_HDR_LEN + len), 0, 0};
	Q->avail.ring[slot] = slot;
	compiler_barrier();
	Q->avail.idx++;
	notify(v, TXQ);
	return true;
}
