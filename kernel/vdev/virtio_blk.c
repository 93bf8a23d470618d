/* virtio-blk for guests, over a window of a host block device (see
 * virtio_blk.h). Follows virtio 1.1 section 5.2 (block device: feature
 * bits 5.2.3, configuration layout 5.2.4, requests and status codes 5.2.6)
 * on the PCI transport of 4.1 and the split virtqueues of 2.6.
 *
 * Request framing (2.6.4.1, 5.2.6): the device must not assume how the
 * driver cuts a request into descriptors, so a chain is read as two byte
 * streams. Its readable bytes are the 16-byte header (le32 type, le32
 * reserved, le64 sector) followed, for OUT, by the data; its writable
 * bytes are, for IN and GET_ID, the data, and always end with the one-byte
 * status. Linux's layout (header; data segments; status, each its own
 * descriptor) is one case of it. The checks are on those two lengths. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "kernel/log.h"
#include "kernel/vdev/virtio_blk.h"
#include "kernel/vm.h"

#define VIRTIO_ID_BLOCK 2
/* 5.2.3 */
#define VIRTIO_BLK_F_SIZE_MAX (1ull << 1)
#define VIRTIO_BLK_F_SEG_MAX (1ull << 2)
#define VIRTIO_BLK_F_RO (1ull << 5)
#define VIRTIO_BLK_F_BLK_SIZE (1ull << 6)
#define VIRTIO_BLK_F_FLUSH (1ull << 9)
/* 5.2.4: le64 capacity, le32 size_max, le32 seg_max, geometry (4 bytes,
 * not offered), le32 blk_size; topology and what follows are not offered. */
#define CFG_CAPACITY 0
#define CFG_SIZE_MAX 8
#define CFG_SEG_MAX 12
#define CFG_BLK_SIZE 20
#define CONFIG_LEN 24
/* 5.2.6 */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
#define HDR_LEN 16
#define STATUS_LEN 1

#define CLASS_STORAGE_SCSI 0x010000 /* what QEMU's virtio-blk-pci reports */
#define REQQ 0
#define STATE_VERSION 1
#define STATE_RO 0x1

/* ---- one request ------------------------------------------------------------ */

struct req {
	uint32_t type;
	uint64_t sector;
	uint64_t dlen;	/* data bytes: readable after the header, or writable before the status */
	uint32_t wrote; /* bytes written into the guest's data buffers */
};

/* The blocks of the window a data request touches, or false when it is
 * not whole blocks inside the window. The sector is the guest's (512
 * bytes); on a 4096-byte device a request must start and end on a block
 * boundary (Linux keeps to blk_size, its logical block size). */
static bool window_range(const struct vdev_vblk *d, const struct req *r, uint64_t *lba,
			 uint64_t *count)
{
	uint64_t bs = d->disk.dev->block_size;

	if (r->dlen % bs || r->sector % d->sectors_per_block)
		return false;
	/* No addition that can wrap: the guest picks sector freely. */
	if (r->sector > d->capacity || r->dlen / VBLK_SECTOR > d->capacity - r->sector)
		return false;
	*lba = d->disk.start + r->sector / d->sectors_per_block;
	*count = r->dlen / bs;
	return true;
}

/* How many blocks one blkdev call may carry: what the bounce buffer holds
 * and the device takes. */
static uint32_t chunk_blocks(const struct vdev_vblk *d)
{
	uint32_t n = VBLK_BOUNCE / d->disk.dev->block_size;
	uint32_t max = d->disk.dev->max_blocks;

	return max && max < n ? max : n;
}

/* Data moves through the device's own bounce buffer, never by pointing
 * the block driver at guest memory: guest RAM is 2 MiB host chunks and a
 * guest buffer is any byte range of it, while blkdev wants aligned host
 * buffers of whole blocks; a copy through vm_gpa_write also records the
 * pages it fills in the dirty log, which a driver's DMA would not; and no
 * hardware DMA ever targets guest RAM, so nothing lands in a guest page
 * after its request was answered (a command that timed out) or after a
 * migration's last copy. VBLK_BOUNCE bytes per call keeps each call short;
 * the copy costs little next to the disk. */
static int do_read(struct vdev_vblk *d, struct req *r, uint64_t lba, uint64_t count)
{
	uint32_t bs = d->disk.dev->block_size, step = chunk_blocks(d);

	for (uint64_t done = 0; done < count;) {
		uint32_t n = count - done < step ? (uint32_t)(count - done) : step;
		int rc = blkdev_read(d->disk.dev, lba + done, n, d->bounce);
		if (rc)
			return rc;
		if (vq_write(d->vm, &d->chain, done * bs, d->bounce, (uint64_t)n * bs))
			return -EFAULT; /* not reached: vq_pop checked every buffer */
		done += n;
		r->wrote = (uint32_t)(done * bs);
	}
	return 0;
}

static int do_write(struct vdev_vblk *d, uint64_t lba, uint64_t count)
{
	uint32_t bs = d->disk.dev->block_size, step = chunk_blocks(d);

	for (uint64_t done = 0; done < count;) {
		uint32_t n = count - done < step ? (uint32_t)(count - done) : step;
		if (vq_read(d->vm, &d->chain, HDR_LEN + done * bs, d->bounce, (uint64_t)n * bs))
			return -EFAULT;
		int rc = blkdev_write(d->disk.dev, lba + done, n, d->bounce);
		if (rc)
			return rc;
		done += n;
	}
	return 0;
}

/* The serial, as much of it as the buffer holds (5.2.6: 20 bytes, NUL
 * terminated only if shorter). */
static int do_get_id(struct vdev_vblk *d, struct req *r)
{
	uint32_t n = r->dlen < VBLK_ID_BYTES ? (uint32_t)r->dlen : VBLK_ID_BYTES;

	if (vq_write(d->vm, &d->chain, 0, d->disk.serial, n))
		return -EFAULT;
	r->wrote = n;
	return 0;
}

static void disk_failed(struct vdev_vblk *d, const char *what, const struct req *r, int rc)
{
	d->stats.errors++;
	if (r->type == VIRTIO_BLK_T_FLUSH)
		log_guest(d->vm, LOG_WARN, "disk %s: flush failed (%d)", d->disk.dev->name, rc);
	else
		log_guest(d->vm, LOG_WARN, "disk %s: %s at sector %llu failed (%d)",
			  d->disk.dev->name, what, (unsigned long long)r->sector, rc);
}

static uint8_t refuse(struct vdev_vblk *d)
{
	d->stats.refused++;
	return VIRTIO_BLK_S_IOERR;
}

/* Serves a request whose header was read and whose status byte exists:
 * the status to return. Nothing touches the disk or guest memory before
 * every check has passed. rlen: the chain's readable bytes. */
static uint8_t serve(struct vdev_vblk *d, struct req *r, uint64_t rlen)
{
	uint64_t lba, count;
	int rc;

	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		if (rlen != HDR_LEN || r->dlen > VBLK_DATA_MAX || !window_range(d, r, &lba, &count))
			return refuse(d);
		rc = do_read(d, r, lba, count);
		if (rc)
			return disk_failed(d, "read", r, rc), VIRTIO_BLK_S_IOERR;
		d->stats.reads++;
		d->stats.read_bytes += r->dlen;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_OUT:
		/* 5.2.6.2: a read-only device fails writes and writes nothing */
		if (d->disk.read_only || r->dlen > VBLK_DATA_MAX ||
		    !window_range(d, r, &lba, &count))
			return refuse(d);
		rc = do_write(d, lba, count);
		if (rc)
			return disk_failed(d, "write", r, rc), VIRTIO_BLK_S_IOERR;
		d->stats.writes++;
		d->stats.write_bytes += r->dlen;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_FLUSH:
		if (rlen != HDR_LEN || r->dlen)
			return refuse(d);
		rc = blkdev_flush(d->disk.dev);
		if (rc)
			return disk_failed(d, "flush", r, rc), VIRTIO_BLK_S_IOERR;
		d->stats.flushes++;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		if (rlen != HDR_LEN || !r->dlen || do_get_id(d, r))
			return refuse(d);
		return VIRTIO_BLK_S_OK;
	default:
		d->stats.unsupported++;
		return VIRTIO_BLK_S_UNSUPP;
	}
}

/* The request in the chain just taken, as far as its shape allows: the
 * status for it. */
static uint8_t request(struct vdev_vblk *d, struct req *r)
{
	const struct vq_chain *c = &d->chain;
	uint8_t hdr[HDR_LEN];

	/* more data descriptors than seg_max, or no whole header */
	if (c->nseg > VBLK_SEG_MAX + 2 || c->rlen < HDR_LEN)
		return refuse(d);
	vq_read(d->vm, c, 0, hdr, HDR_LEN); /* rlen >= HDR_LEN: cannot fail */
	memcpy(&r->type, hdr, 4);
	memcpy(&r->sector, hdr + 8, 8);
	/* OUT carries its data after the header and has nothing but the
	 * status to write; the others write their data before the status. */
	if (r->type == VIRTIO_BLK_T_OUT) {
		if (c->wlen != STATUS_LEN)
			return refuse(d);
		r->dlen = c->rlen - HDR_LEN;
	} else {
		r->dlen = c->wlen - STATUS_LEN;
	}
	return serve(d, r, c->rlen);
}

/* One chain: its status written, *used the bytes written into it, *data
 * the data bytes it asked to move (what the budget counts). -EIO when it
 * has no writable byte for the status: the device cannot answer it and
 * needs a reset (QEMU does the same). */
static int handle(struct vdev_vblk *d, uint32_t *used, uint64_t *data)
{
	const struct vq_chain *c = &d->chain;
	struct req r = {0};

	if (!c->wlen)
		return virtio_pci_fail(&d->vp, "block request without a status byte"), -EIO;
	uint8_t status = request(d, &r);
	if (vq_write(d->vm, c, c->wlen - STATUS_LEN, &status, STATUS_LEN))
		return virtio_pci_fail(&d->vp, "status byte vanished"), -EIO;
	*used = r.wrote + STATUS_LEN;
	*data = r.dlen;
	return 0;
}

/* The chains the driver made available, served in order until the budget
 * is spent: VBLK_BUDGET_BYTES of data or VBLK_BUDGET_REQS requests. The
 * budget is checked before a chain is taken, so the request that crosses
 * it is finished and every call makes progress; what is left stays in the
 * available ring, untaken, for vblk_poll. Nothing is held between calls,
 * so a reset or a migration finds only the rings' indexes. True when a
 * chain was returned. */
static bool serve_queue(struct vdev_vblk *d)
{
	struct virtq *q = &d->vp.vq[REQQ];
	const char *why = "";
	bool returned = false;
	uint64_t bytes = 0;

	for (unsigned n = 0;
	     n < VBLK_BUDGET_REQS && bytes < VBLK_BUDGET_BYTES && virtio_pci_live(&d->vp); n++) {
		uint32_t used = 0;
		uint64_t data = 0;
		int rc = vq_pop(d->vm, q, &d->chain, &why);
		if (rc < 0)
			virtio_pci_fail(&d->vp, why);
		if (rc <= 0 || handle(d, &used, &data))
			break;
		if (vq_push(d->vm, q, d->chain.head, used)) {
			virtio_pci_fail(&d->vp, "used ring vanished");
			break;
		}
		bytes += data;
		returned = true;
	}
	if (returned)
		virtio_pci_used(&d->vp, REQQ); /* one interrupt for the batch */
	return returned;
}

bool vblk_poll(struct vdev_vblk *d)
{
	if (!d->vm || !virtio_pci_live(&d->vp) || !d->vp.vq[REQQ].enabled ||
	    !vq_has_avail(d->vm, &d->vp.vq[REQQ]))
		return false;
	return serve_queue(d);
}

/* ---- what the transport asks of the device ------------------------------- */

static void put_le(uint8_t *b, unsigned off, unsigned size, uint64_t v)
{
	for (unsigned i = 0; i < size; i++)
		b[off + i] = (uint8_t)(v >> (8 * i));
}

static void blk_config(void *ctx, uint8_t *buf)
{
	struct vdev_vblk *d = ctx;

	put_le(buf, CFG_CAPACITY, 8, d->capacity);
	put_le(buf, CFG_SIZE_MAX, 4, VBLK_SIZE_MAX);
	put_le(buf, CFG_SEG_MAX, 4, VBLK_SEG_MAX);
	put_le(buf, CFG_BLK_SIZE, 4, d->disk.dev->block_size);
}

/* The guest notifies from a vCPU exit, so the VM is running: a budget's
 * worth is served at once, the rest by vblk_poll from the main loop. */
static void blk_notify(void *ctx, uint16_t queue)
{
	if (queue == REQQ)
		serve_queue(ctx);
}

/* Nothing is held between notifications: a reset leaves nothing to drop. */
static void blk_reset(void *ctx)
{
	(void)ctx;
}

static void blk_driver_ok(void *ctx)
{
	(void)ctx;
}

/* ---- lifecycle ------------------------------------------------------------ */

static bool disk_ok(const struct vblk_disk *k)
{
	const struct blkdev *b = k->dev;

	if (!b || !b->ops)
		return false;
	/* Linux takes 512 to its page size, a power of two (blk_validate_block_size) */
	if (b->block_size < VBLK_SECTOR || b->block_size > 4096 ||
	    (b->block_size & (b->block_size - 1)))
		return false;
	/* capacity in sectors must fit in 64 bits */
	return k->blocks && k->start <= b->blocks && k->blocks <= b->blocks - k->start &&
	       k->blocks <= UINT64_MAX / (b->block_size / VBLK_SECTOR);
}

int vblk_init(struct vdev_vblk *d, struct vm *vm, struct vpci *bus, unsigned devnum,
	      const struct vblk_disk *disk)
{
	memset(d, 0, sizeof(*d));
	if (!disk_ok(disk) || !devnum || devnum >= VPCI_DEVS)
		return -EINVAL;
	d->bounce = malloc(VBLK_BOUNCE); /* aligned beyond the 4 bytes blkdev asks */
	if (!d->bounce)
		return -ENOMEM;
	d->disk = *disk;
	d->sectors_per_block = disk->dev->block_size / VBLK_SECTOR;
	d->capacity = disk->blocks * d->sectors_per_block;
	d->ops = (struct virtio_dev_ops){
		.type = VIRTIO_ID_BLOCK,
		.class_code = CLASS_STORAGE_SCSI,
		.features = VIRTIO_F_VERSION_1 | VIRTIO_BLK_F_SIZE_MAX | VIRTIO_BLK_F_SEG_MAX |
			    VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH |
			    (disk->read_only ? VIRTIO_BLK_F_RO : 0),
		.num_queues = 1,
		.config_len = CONFIG_LEN,
		.config = blk_config,
		.notify = blk_notify,
		.reset = blk_reset,
		.driver_ok = blk_driver_ok,
	};
	virtio_pci_init(&d->vp, vm, &d->ops, d, VBLK_IO_BASE(devnum), VBLK_MSIX_BASE(devnum));
	int rc = vpci_attach(bus, devnum, &d->vp.pci);
	if (rc) {
		free(d->bounce);
		memset(d, 0, sizeof(*d));
		return rc;
	}
	d->vm = vm;
	d->bus = bus;
	d->devnum = devnum;
	return 0;
}

void vblk_destroy(struct vdev_vblk *d)
{
	if (!d->vm)
		return;
	vpci_detach(d->bus, d->devnum);
	free(d->bounce);
	d->bounce = NULL;
	d->vm = NULL;
}

/* ---- migration -------------------------------------------------------------
 * Blob: the transport's state (virtio_pci_save), then struct disk_blob.
 * No request is ever in flight between two exits (each one taken is
 * served and returned, or the device needs a reset, before the call that
 * took it returns; what the budget left is still untaken in the available
 * ring, where the destination's vblk_poll finds it), so the rings' indexes
 * in the transport's state are all there is of the queue; the disk's
 * contents move separately (storage/). The disk fields are not state but a
 * check: the destination's disk must look the same to the guest. */

struct disk_blob {
	uint32_t version;
	uint32_t blk_size;
	uint64_t capacity; /* sectors */
	uint32_t flags;	   /* STATE_RO */
	uint32_t seg_max;
	char serial[VBLK_ID_BYTES];
	uint32_t pad;
	struct vblk_stats stats;
} __attribute__((packed));

_Static_assert(VIRTIO_PCI_STATE_LEN + sizeof(struct disk_blob) == VBLK_STATE_LEN, "blob size");

static void describe(const struct vdev_vblk *d, struct disk_blob *b)
{
	memset(b, 0, sizeof(*b));
	b->version = STATE_VERSION;
	b->blk_size = d->disk.dev->block_size;
	b->capacity = d->capacity;
	b->flags = d->disk.read_only ? STATE_RO : 0;
	b->seg_max = VBLK_SEG_MAX;
	memcpy(b->serial, d->disk.serial, VBLK_ID_BYTES);
}

int vblk_save(const struct vdev_vblk *d, void *buf, size_t cap)
{
	struct disk_blob b;

	if (cap < VBLK_STATE_LEN)
		return -ENOSPC;
	int n = virtio_pci_save(&d->vp, buf, cap);
	if (n < 0)
		return n;
	describe(d, &b);
	b.stats = d->stats;
	memcpy((uint8_t *)buf + n, &b, sizeof(b));
	return VBLK_STATE_LEN;
}

int vblk_restore(struct vdev_vblk *d, const void *buf, size_t len, const char **why)
{
	struct disk_blob b, mine;

	*why = "malformed disk state";
	if (len != VBLK_STATE_LEN)
		return -EINVAL;
	memcpy(&b, (const uint8_t *)buf + VIRTIO_PCI_STATE_LEN, sizeof(b));
	describe(d, &mine);
	if (b.version != STATE_VERSION || b.pad || (b.flags & ~STATE_RO))
		return -EINVAL;
	if (b.blk_size != mine.blk_size || b.capacity != mine.capacity)
		return *why = "the disk here has another size or block size", -EINVAL;
	if (b.flags != mine.flags)
		return *why = "the disk here differs in being read-only", -EINVAL;
	if (b.seg_max != mine.seg_max)
		return *why = "the disk here takes another number of segments", -EINVAL;
	if (memcmp(b.serial, mine.serial, VBLK_ID_BYTES))
		return *why = "the disk here has another serial", -EINVAL;
	/* The transport checks all of its state before it takes any: from
	 * here on nothing can fail. */
	int rc = virtio_pci_restore(&d->vp, buf, VIRTIO_PCI_STATE_LEN, why);
	if (rc)
		return rc;
	d->stats = b.stats;
	return 0;
}
