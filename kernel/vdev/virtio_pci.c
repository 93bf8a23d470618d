/* The modern virtio PCI transport: one I/O BAR and MSI-X (see virtio_pci.h). */
#include <errno.h>
#include <string.h>
#include "kernel/log.h"
#include "kernel/vdev/virtio_pci.h"
#include "kernel/vm.h"

/* Capability types (4.1.4). */
#define PCI_CAP_ID_VNDR 0x09
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG 5
#define CAP_LEN 16	   /* struct virtio_pci_cap */
#define NOTIFY_CAP_LEN 20  /* + le32 notify_off_multiplier */
#define PCI_CFG_CAP_LEN 20 /* + u8 pci_cfg_data[4] */
#define CAP_BAR 4
#define CAP_OFFSET 8
#define CAP_LENGTH 12
#define CAP_EXTRA 16

/* Common configuration fields (4.1.4.3). */
#define DFSELECT 0x00
#define DF 0x04
#define GFSELECT 0x08
#define GF 0x0C
#define MSIX_CONFIG 0x10
#define NUM_QUEUES 0x12
#define DEVICE_STATUS 0x14
#define CONFIG_GENERATION 0x15
#define QUEUE_SELECT 0x16
#define QUEUE_SIZE 0x18
#define QUEUE_MSIX 0x1A
#define QUEUE_ENABLE 0x1C
#define QUEUE_NOTIFY_OFF 0x1E
#define QUEUE_DESC 0x20
#define QUEUE_DRIVER 0x28
#define QUEUE_DEVICE 0x30

#define NO_VECTOR VIRTIO_PCI_NO_VECTOR
#define ISR_QUEUE 0x1
#define ISR_CONFIG 0x2
#define STATE_VERSION 2 /* 2: vectors and MSI-X */

static uint32_t bar_read(void *ctx, int bar, uint32_t off, unsigned size);
static void bar_write(void *ctx, int bar, uint32_t off, unsigned size, uint32_t val);
static bool cfg_read(void *ctx, unsigned off, unsigned size, uint32_t *val);
static bool cfg_write(void *ctx, unsigned off, unsigned size, uint32_t val);

static uint64_t mem_read(void *ctx, int bar, uint32_t off, unsigned size);
static void mem_write(void *ctx, int bar, uint32_t off, unsigned size, uint64_t val);

static const struct vpci_ops transport_ops = {
	.io_read = bar_read,
	.io_write = bar_write,
	.mem_read = mem_read,
	.mem_write = mem_write,
	.cfg_read = cfg_read,
	.cfg_write = cfg_write,
};

static void add_cap(struct virtio_pci *t, uint8_t type, unsigned len, uint32_t off, uint32_t length,
		    uint32_t extra)
{
	unsigned c = vpci_func_add_cap(&t->pci, PCI_CAP_ID_VNDR, len);

	vpci_cfg_put(&t->pci, c + 2, 1, len); /* cap_len */
	vpci_cfg_put(&t->pci, c + 3, 1, type);
	vpci_cfg_put(&t->pci, c + CAP_BAR, 1, 0);
	vpci_cfg_put(&t->pci, c + CAP_OFFSET, 4, off);
	vpci_cfg_put(&t->pci, c + CAP_LENGTH, 4, length);
	if (len > CAP_EXTRA)
		vpci_cfg_put(&t->pci, c + CAP_EXTRA, 4, extra);
	if (type == VIRTIO_PCI_CAP_PCI_CFG) {
		/* 4.1.4.8: the driver picks bar, offset and length of the
		 * access it then makes through pci_cfg_data. */
		t->cfg_cap = c;
		vpci_cfg_writable(&t->pci, c + CAP_BAR, 1);
		vpci_cfg_writable(&t->pci, c + CAP_OFFSET, 4);
		vpci_cfg_writable(&t->pci, c + CAP_LENGTH, 4);
	}
}

static void reset_queues(struct virtio_pci *t)
{
	memset(t->vq, 0, sizeof(t->vq));
	for (unsigned q = 0; q < t->ops->num_queues; q++)
		t->vq[q].size = VQ_SIZE_MAX; /* 4.1.4.3.2: reads the maximum after reset */
	/* No vector until the driver assigns one; the MSI-X table is the
	 * PCI function's and survives a virtio reset. */
	t->msix_config = NO_VECTOR;
	for (unsigned q = 0; q < VIRTIO_PCI_QUEUES_MAX; q++)
		t->queue_vector[q] = NO_VECTOR;
}

static void device_reset(struct virtio_pci *t)
{
	t->dfselect = t->gfselect = 0;
	t->guest_features = 0;
	t->status = t->isr = 0;
	t->queue_select = 0;
	reset_queues(t);
	t->ops->reset(t->ctx);
}

void virtio_pci_init(struct virtio_pci *t, struct vm *vm, const struct virtio_dev_ops *ops,
		     void *ctx, uint16_t io_base, uint32_t mem_base)
{
	memset(t, 0, sizeof(*t));
	t->vm = vm;
	t->ops = ops;
	t->ctx = ctx;
	/* 4.1.2.1: a non-transitional device has ID 0x1040 + type and
	 * revision 1 or higher; the subsystem IDs are free (QEMU's ones). */
	vpci_func_init(&t->pci, VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_BASE + ops->type,
		       ops->class_code, 1, &transport_ops, t);
	vpci_cfg_put(&t->pci, VPCI_SUBSYS_VENDOR, 2, VIRTIO_PCI_VENDOR);
	vpci_cfg_put(&t->pci, VPCI_SUBSYS_ID, 2, 0x1100);
	vpci_func_bar_io(&t->pci, 0, VIRTIO_PCI_BAR_SIZE, io_base);
	vpci_func_bar_mem(&t->pci, VIRTIO_PCI_MSIX_BAR, VIRTIO_PCI_MSIX_BAR_SIZE, mem_base);
	vpci_cfg_put(&t->pci, VPCI_COMMAND, 2, VPCI_CMD_IO | VPCI_CMD_MEMORY);
	add_cap(t, VIRTIO_PCI_CAP_COMMON_CFG, CAP_LEN, VIRTIO_PCI_COMMON, VIRTIO_PCI_COMMON_LEN, 0);
	add_cap(t, VIRTIO_PCI_CAP_NOTIFY_CFG, NOTIFY_CAP_LEN, VIRTIO_PCI_NOTIFY,
		VIRTIO_PCI_NOTIFY_MULT * ops->num_queues, VIRTIO_PCI_NOTIFY_MULT);
	add_cap(t, VIRTIO_PCI_CAP_ISR_CFG, CAP_LEN, VIRTIO_PCI_ISR, 1, 0);
	add_cap(t, VIRTIO_PCI_CAP_DEVICE_CFG, CAP_LEN, VIRTIO_PCI_DEVCFG, ops->config_len, 0);
	add_cap(t, VIRTIO_PCI_CAP_PCI_CFG, PCI_CFG_CAP_LEN, 0, 0, 0);
	msix_init(&t->msix, vm, &t->pci, 1u + ops->num_queues, VIRTIO_PCI_MSIX_BAR,
		  VIRTIO_PCI_MSIX_TABLE, VIRTIO_PCI_MSIX_PBA);
	reset_queues(t);
}

bool virtio_pci_live(const struct virtio_pci *t)
{
	uint8_t want = VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_FEATURES_OK;
	uint8_t bad = VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED;

	return (t->status & want) == want && !(t->status & bad);
}

void virtio_pci_fail(struct virtio_pci *t, const char *why)
{
	if (t->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	t->status |= VIRTIO_STATUS_NEEDS_RESET;
	log_guest(t->vm, LOG_WARN, "virtio device %u needs a reset: %s", t->ops->type, why);
	virtio_pci_config_changed(t); /* 2.1.2: the driver learns of it by a config change */
}

void virtio_pci_config_changed(struct virtio_pci *t)
{
	/* 4.1.4.5.1: the ISR bit before the notification */
	t->isr |= ISR_CONFIG;
	if (msix_enabled(&t->msix) && t->msix_config != NO_VECTOR)
		msix_notify(&t->msix, t->msix_config);
}

void virtio_pci_used(struct virtio_pci *t, uint16_t queue)
{
	const struct virtq *q = queue < t->ops->num_queues ? &t->vq[queue] : NULL;
	uint16_t flags = 0;

	if (!q || !q->enabled)
		return;
	/* 2.6.10.1: the used index is written before the driver's flags are
	 * read; a full barrier, because the driver does the mirror image
	 * (clears NO_INTERRUPT, then reads the used index) and a store-load
	 * reordering on either side would lose the interrupt. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vm_gpa_read(t->vm, q->avail, &flags, 2); /* in RAM: vq_check said so */
	if (flags & VIRTQ_AVAIL_F_NO_INTERRUPT)
		return;
	/* 4.1.4.5.1: the queue bit is for a driver without MSI-X. */
	if (!msix_enabled(&t->msix))
		t->isr |= ISR_QUEUE;
	else if (t->queue_vector[queue] != NO_VECTOR)
		msix_notify(&t->msix, t->queue_vector[queue]);
}

/* ---- common configuration ------------------------------------------------ */

static struct virtq *selected_queue(struct virtio_pci *t)
{
	return t->queue_select < t->ops->num_queues ? &t->vq[t->queue_select] : NULL;
}

static void put(uint8_t *b, unsigned off, unsigned size, uint64_t v)
{
	for (unsigned i = 0; i < size; i++)
		b[off + i] = (uint8_t)(v >> (8 * i));
}

/* The common configuration as the driver reads it now. */
static void common_image(struct virtio_pci *t, uint8_t *b)
{
	const struct virtq *q = selected_queue(t);

	memset(b, 0, VIRTIO_PCI_COMMON_LEN);
	put(b, DFSELECT, 4, t->dfselect);
	put(b, DF, 4, t->dfselect < 2 ? t->ops->features >> (32 * t->dfselect) : 0);
	put(b, GFSELECT, 4, t->gfselect);
	put(b, GF, 4, t->gfselect < 2 ? t->guest_features >> (32 * t->gfselect) : 0);
	put(b, MSIX_CONFIG, 2, t->msix_config);
	put(b, NUM_QUEUES, 2, t->ops->num_queues);
	put(b, DEVICE_STATUS, 1, t->status);
	put(b, CONFIG_GENERATION, 1, 0); /* the configuration never changes */
	put(b, QUEUE_SELECT, 2, t->queue_select);
	if (!q)
		return; /* 4.1.4.3.2: queue_size 0 for a queue that does not exist */
	put(b, QUEUE_SIZE, 2, q->size);
	put(b, QUEUE_MSIX, 2, t->queue_vector[t->queue_select]);
	put(b, QUEUE_ENABLE, 2, q->enabled);
	put(b, QUEUE_NOTIFY_OFF, 2, t->queue_select);
	put(b, QUEUE_DESC, 8, q->desc);
	put(b, QUEUE_DRIVER, 8, q->avail);
	put(b, QUEUE_DEVICE, 8, q->used);
}

/* 3.1.1 step 5: FEATURES_OK holds only for a subset of what was offered,
 * and a modern device insists on VIRTIO_F_VERSION_1 (6.1). */
static bool features_acceptable(const struct virtio_pci *t)
{
	return !(t->guest_features & ~t->ops->features) && (t->guest_features & VIRTIO_F_VERSION_1);
}

static void write_status(struct virtio_pci *t, uint8_t val)
{
	if (!val) {
		device_reset(t); /* 4.1.4.3.2: reads 0 once the reset is done */
		return;
	}
	val &= ~VIRTIO_STATUS_NEEDS_RESET; /* the device's bit, not the driver's */
	if ((val & VIRTIO_STATUS_FEATURES_OK) && !(t->status & VIRTIO_STATUS_FEATURES_OK) &&
	    !features_acceptable(t))
		val &= ~VIRTIO_STATUS_FEATURES_OK; /* 2.2.2: the driver re-reads and sees it clear
						    */
	bool was_ok = virtio_pci_live(t);
	t->status = val | (t->status & VIRTIO_STATUS_NEEDS_RESET);
	if (!was_ok && virtio_pci_live(t))
		t->ops->driver_ok(t->ctx);
}

static void write_queue_addr(struct virtq *q, unsigned off, uint32_t val)
{
	uint64_t *a = off < QUEUE_DRIVER ? &q->desc : off < QUEUE_DEVICE ? &q->avail : &q->used;
	unsigned shift = off % 8 ? 32 : 0;

	*a = (*a & ~(0xFFFFFFFFull << shift)) | (uint64_t)val << shift;
}

static void enable_queue(struct virtio_pci *t, struct virtq *q)
{
	const char *why;

	if (vq_check(t->vm, q, &why)) {
		virtio_pci_fail(t, why);
		return;
	}
	q->enabled = true;
	q->last_avail = q->used_idx = 0;
}

/* 4.1.5.1.2: a vector the table does not have reads back NO_VECTOR, which
 * is how the driver learns the mapping failed. */
static uint16_t vector_or_none(const struct virtio_pci *t, uint32_t val)
{
	return val < t->msix.nvec ? (uint16_t)val : NO_VECTOR;
}

/* Fields are written at their own width (4.1.3.1), 64-bit ones as two
 * 32-bit halves; anything else is ignored, as are queue registers once the
 * queue is enabled (4.1.4.3.2) and feature writes after FEATURES_OK. */
static void common_write(struct virtio_pci *t, uint32_t off, unsigned size, uint32_t val)
{
	struct virtq *q = selected_queue(t);

	switch (off) {
	case DFSELECT:
		if (size == 4)
			t->dfselect = val;
		return;
	case GFSELECT:
		if (size == 4)
			t->gfselect = val;
		return;
	case GF:
		if (size == 4 && t->gfselect < 2 && !(t->status & VIRTIO_STATUS_FEATURES_OK)) {
			unsigned shift = 32 * t->gfselect;
			t->guest_features = (t->guest_features & ~(0xFFFFFFFFull << shift)) |
					    (uint64_t)val << shift;
		}
		return;
	case DEVICE_STATUS:
		if (size == 1)
			write_status(t, (uint8_t)val);
		return;
	case QUEUE_SELECT:
		if (size == 2)
			t->queue_select = (uint16_t)val;
		return;
	case MSIX_CONFIG:
		if (size == 2)
			t->msix_config = vector_or_none(t, val);
		return;
	case QUEUE_MSIX:
		/* Taken also on an enabled queue: Linux re-points vectors
		 * (to NO_VECTOR when it frees them) at any time, as QEMU
		 * lets it. */
		if (size == 2 && q)
			t->queue_vector[t->queue_select] = vector_or_none(t, val);
		return;
	}
	if (!q || q->enabled)
		return;
	if (off == QUEUE_SIZE && size == 2)
		q->size = (uint16_t)val; /* checked when the queue is enabled */
	else if (off == QUEUE_ENABLE && size == 2 && val == 1)
		enable_queue(t, q);
	else if (off >= QUEUE_DESC && off < VIRTIO_PCI_COMMON_LEN && off % 4 == 0 && size == 4)
		write_queue_addr(q, off, val);
}

/* ---- the BAR ------------------------------------------------------------- */

static uint32_t extract(const uint8_t *b, unsigned off, unsigned size)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)b[off + i] << (8 * i);
	return v;
}

/* Whether [off, off + size) lies inside [start, start + len). In 64 bits:
 * off comes from the guest (the PCI_CFG window's cap.offset is any u32),
 * and off + size must not wrap to a small number. */
static bool within(uint64_t off, uint64_t size, uint64_t start, uint64_t len)
{
	return off >= start && off + size <= start + len;
}

static uint32_t bar_read(void *ctx, int bar, uint32_t off, unsigned size)
{
	struct virtio_pci *t = ctx;
	uint8_t b[VIRTIO_PCI_COMMON_LEN > VIRTIO_PCI_DEVCFG_MAX ? VIRTIO_PCI_COMMON_LEN
								: VIRTIO_PCI_DEVCFG_MAX];

	(void)bar;
	if (size > 4)
		return 0;
	if (within(off, size, VIRTIO_PCI_COMMON, VIRTIO_PCI_COMMON_LEN)) {
		common_image(t, b);
		return extract(b, off - VIRTIO_PCI_COMMON, size);
	}
	if (off == VIRTIO_PCI_ISR) {
		uint8_t isr = t->isr;
		t->isr = 0; /* 4.1.4.5: reading clears it */
		return isr;
	}
	if (within(off, size, VIRTIO_PCI_DEVCFG, VIRTIO_PCI_DEVCFG_MAX)) {
		memset(b, 0, VIRTIO_PCI_DEVCFG_MAX);
		t->ops->config(t->ctx, b);
		return extract(b, off - VIRTIO_PCI_DEVCFG, size);
	}
	return 0;
}

static void bar_write(void *ctx, int bar, uint32_t off, unsigned size, uint32_t val)
{
	struct virtio_pci *t = ctx;

	(void)bar;
	if (size > 4)
		return;
	if (within(off, size, VIRTIO_PCI_COMMON, VIRTIO_PCI_COMMON_LEN)) {
		common_write(t, off - VIRTIO_PCI_COMMON, size, val);
		return;
	}
	uint64_t qlen = (uint64_t)VIRTIO_PCI_NOTIFY_MULT * t->ops->num_queues;
	if (within(off, size, VIRTIO_PCI_NOTIFY, qlen) && size == 2) {
		/* 4.1.4.4: the address says which queue; the value (its
		 * index, without NOTIFICATION_DATA) adds nothing. */
		uint16_t q = (off - VIRTIO_PCI_NOTIFY) / VIRTIO_PCI_NOTIFY_MULT;
		if (q < VIRTIO_PCI_QUEUES_MAX && virtio_pci_live(t) && t->vq[q].enabled)
			t->ops->notify(t->ctx, q);
	}
	/* The ISR and the device configuration are read-only. */
}

/* BAR1: the MSI-X table and pending bits; the rest of the page reads 0. */
static uint64_t mem_read(void *ctx, int bar, uint32_t off, unsigned size)
{
	struct virtio_pci *t = ctx;
	uint64_t v = 0;

	if (bar == VIRTIO_PCI_MSIX_BAR)
		msix_bar_read(&t->msix, off, size, &v);
	return v;
}

static void mem_write(void *ctx, int bar, uint32_t off, unsigned size, uint64_t val)
{
	struct virtio_pci *t = ctx;

	if (bar == VIRTIO_PCI_MSIX_BAR)
		msix_bar_write(&t->msix, off, size, val);
}

/* 4.1.4.8: pci_cfg_data is a window onto the BAR that cap.bar, cap.offset
 * and cap.length select; length 1, 2 or 4, offset aligned to it. */
static bool window(struct virtio_pci *t, unsigned off, uint32_t *where, unsigned *len)
{
	unsigned c = t->cfg_cap;

	if (off < c + CAP_EXTRA || off >= c + CAP_EXTRA + 4)
		return false;
	*where = vpci_cfg_get(&t->pci, c + CAP_OFFSET, 4);
	*len = vpci_cfg_get(&t->pci, c + CAP_LENGTH, 4);
	return true;
}

/* The access the window describes, checked in 64 bits: cap.offset is a
 * u32 the guest writes, and where + len must not wrap (0xFFFFFFFC + 4 is 0
 * in 32 bits and would pass). */
static bool window_ok(struct virtio_pci *t, unsigned off, uint32_t where, unsigned len)
{
	return off == t->cfg_cap + CAP_EXTRA &&
	       vpci_cfg_get(&t->pci, t->cfg_cap + CAP_BAR, 1) == 0 &&
	       (len == 1 || len == 2 || len == 4) && where % len == 0 &&
	       within(where, len, 0, VIRTIO_PCI_BAR_SIZE);
}

static bool cfg_read(void *ctx, unsigned off, unsigned size, uint32_t *val)
{
	struct virtio_pci *t = ctx;
	uint32_t where;
	unsigned len;

	if (!window(t, off, &where, &len))
		return false;
	(void)size;
	*val = window_ok(t, off, where, len) ? bar_read(t, 0, where, len) : 0;
	return true;
}

static bool cfg_write(void *ctx, unsigned off, unsigned size, uint32_t val)
{
	struct virtio_pci *t = ctx;
	uint32_t where;
	unsigned len;

	if (msix_cfg_write(&t->msix, off, size, val))
		return true;
	if (!window(t, off, &where, &len))
		return false;
	if (window_ok(t, off, where, len) && size >= len)
		bar_write(t, 0, where, len, val);
	return true;
}

/* ---- migration -----------------------------------------------------------
 * Blob (docs/migration-stream.md): the transport's registers, each queue's
 * state and vector, then the MSI-X state as msix_save() writes it for
 * VIRTIO_PCI_VECTORS vectors (entries past this device's table are zero). */

struct queue_blob {
	uint64_t desc, avail, used;
	uint16_t size, enabled, last_avail, used_idx, vector;
} __attribute__((packed));

struct transport_blob {
	uint32_t version;
	uint8_t status, isr;
	uint16_t queue_select;
	uint32_t dfselect, gfselect;
	uint64_t guest_features;
	uint32_t num_queues;
	uint16_t msix_config, pad;
	struct queue_blob q[VIRTIO_PCI_QUEUES_MAX];
	uint8_t msix[MSIX_STATE_LEN(VIRTIO_PCI_VECTORS)];
} __attribute__((packed));

_Static_assert(sizeof(struct transport_blob) == VIRTIO_PCI_STATE_LEN, "blob size");

int virtio_pci_save(const struct virtio_pci *t, void *buf, size_t cap)
{
	struct transport_blob b;

	if (cap < sizeof(b))
		return -ENOSPC;
	memset(&b, 0, sizeof(b));
	b.version = STATE_VERSION;
	b.status = t->status;
	b.isr = t->isr;
	b.queue_select = t->queue_select;
	b.dfselect = t->dfselect;
	b.gfselect = t->gfselect;
	b.guest_features = t->guest_features;
	b.num_queues = t->ops->num_queues;
	b.msix_config = t->msix_config;
	for (unsigned i = 0; i < VIRTIO_PCI_QUEUES_MAX; i++) {
		const struct virtq *q = &t->vq[i];
		b.q[i] = (struct queue_blob){q->desc,	  q->avail,	     q->used,
					     q->size,	  q->enabled,	     q->last_avail,
					     q->used_idx, t->queue_vector[i]};
	}
	if (msix_save(&t->msix, b.msix, sizeof(b.msix)) < 0)
		return -ENOSPC;
	memcpy(buf, &b, sizeof(b));
	return sizeof(b);
}

/* A queue as the registers could have left it: disabled queues hold only
 * what the driver wrote (indexes 0: only a reset disables a queue, and it
 * clears them); an enabled one has its rings in guest RAM, and, as the
 * device returns every chain it takes at once, as many used as taken
 * (unless a bad chain made it need a reset before it could return one). */
static int queue_ok(struct virtio_pci *t, uint8_t status, const struct queue_blob *b,
		    const char **why)
{
	struct virtq q = {.size = b->size,
			  .enabled = b->enabled != 0,
			  .last_avail = b->last_avail,
			  .used_idx = b->used_idx,
			  .desc = b->desc,
			  .avail = b->avail,
			  .used = b->used};

	if (b->enabled > 1 || b->size > VQ_SIZE_MAX)
		return *why = "queue size or enable out of range", -EINVAL;
	if (b->vector != NO_VECTOR && b->vector >= t->msix.nvec)
		return *why = "queue vector past the MSI-X table", -EINVAL;
	if (!q.enabled)
		return b->last_avail || b->used_idx
			       ? (*why = "indexes on a queue that is not enabled", -EINVAL)
			       : 0;
	if (b->last_avail != b->used_idx &&
	    (!(status & VIRTIO_STATUS_NEEDS_RESET) || (uint16_t)(b->last_avail - b->used_idx) > 1))
		return *why = "queue indexes this device cannot reach", -EINVAL;
	return vq_check(t->vm, &q, why);
}

int virtio_pci_restore(struct virtio_pci *t, const void *buf, size_t len, const char **why)
{
	static const struct queue_blob none = {.vector = NO_VECTOR};
	const uint8_t status_bits = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				    VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_FEATURES_OK |
				    VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED;
	struct transport_blob b;
	struct virtio_pci n;

	*why = "malformed transport state";
	if (len != sizeof(b))
		return -EINVAL;
	memcpy(&b, buf, sizeof(b)); /* the stream gives no alignment guarantee */
	if (b.version != STATE_VERSION || b.num_queues != t->ops->num_queues || b.pad)
		return -EINVAL;
	if ((b.status & ~status_bits) || (b.isr & ~(ISR_QUEUE | ISR_CONFIG)))
		return *why = "status or ISR bits this device does not have", -EINVAL;
	if (b.msix_config != NO_VECTOR && b.msix_config >= t->msix.nvec)
		return *why = "configuration vector past the MSI-X table", -EINVAL;
	size_t mlen = MSIX_STATE_LEN(t->msix.nvec);
	for (size_t i = mlen; i < sizeof(b.msix); i++)
		if (b.msix[i])
			return *why = "MSI-X entries past this device's table", -EINVAL;
	int rc = msix_check(&t->msix, b.msix, mlen, why);
	if (rc)
		return rc;
	/* Everything is checked on a copy: a refused blob changes nothing. */
	n = *t;
	n.status = b.status;
	n.isr = b.isr;
	n.queue_select = b.queue_select;
	n.dfselect = b.dfselect;
	n.gfselect = b.gfselect;
	n.guest_features = b.guest_features;
	n.msix_config = b.msix_config;
	if ((n.status & VIRTIO_STATUS_FEATURES_OK) && !features_acceptable(&n))
		return *why = "features this host does not offer", -EINVAL;
	for (unsigned i = 0; i < VIRTIO_PCI_QUEUES_MAX; i++) {
		const struct queue_blob *q = &b.q[i];
		if (i >= t->ops->num_queues) {
			if (memcmp(q, &none, sizeof(none)))
				return *why = "state for a queue this device does not have",
				       -EINVAL;
			continue;
		}
		rc = queue_ok(t, n.status, q, why);
		if (rc)
			return rc;
		/* a reset (status 0) disables every queue */
		if (q->enabled && !n.status)
			return *why = "an enabled queue on a device that is reset", -EINVAL;
		n.vq[i] = (struct virtq){.size = q->size,
					 .enabled = q->enabled != 0,
					 .last_avail = q->last_avail,
					 .used_idx = q->used_idx,
					 .desc = q->desc,
					 .avail = q->avail,
					 .used = q->used};
		n.queue_vector[i] = q->vector;
	}
	/* From here on nothing can fail. */
	*t = n;
	msix_load(&t->msix, b.msix);
	return 0;
}
