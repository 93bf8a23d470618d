/* A guest's disk on a volume of the host's NVMe disk (vm_disk.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/log.h"
#include "kernel/vm_disk.h"
#include "migrate/migrate.h"
#include "storage/crc32c.h"
#include "storage/storage.h"
#include "storage/vol_view.h"
#include "storage/volume_claim.h"

/* --- the write path: dirty bitmaps -------------------------------------------
 * A guest's virtio-blk device does not get the NVMe blkdev itself but a
 * thin one in front of it, whose write marks the volume's dirty bitmaps
 * (storage/voltab.h) and passes the write on: every guest write reaches
 * the disk through here, and the device stays unaware of bitmaps. One per
 * claimed volume; the marks come before the write, since a write that
 * fails may still have changed some of its blocks. Below it is the
 * volume's view (storage/vol_view.h): the disk itself, or a clone's view
 * over its base. */
struct disk_track {
	struct blkdev dev;   /* first: the ops get &dev */
	struct blkdev *real; /* view.dev */
	struct vol_view view;
	uint64_t vol_id; /* 0: a free slot */
	uint64_t start;	 /* the volume's first LBA on real */
	bool writing;	 /* its persistent bitmaps are flagged IN_USE */
	/* While a migration copies the volume (copy-storage): a bit per
	 * MIG_DISK_BLOCK of it written since the last harvest. */
	uint64_t *mig_bits;
	uint64_t mig_blocks;
};

static struct disk_track tracks[VOLUME_CLAIMS_MAX];

static int track_read(struct blkdev *d, uint64_t lba, uint32_t count, void *buf)
{
	return blkdev_read(((struct disk_track *)d)->real, lba, count, buf);
}

/* The migration's log, bits first .. last (inclusive, clipped). */
static void mig_mark(struct disk_track *k, uint64_t off, uint64_t len)
{
	if (!k->mig_bits || !len)
		return;
	uint64_t first = off / MIG_DISK_BLOCK, last = (off + len - 1) / MIG_DISK_BLOCK;
	if (last >= k->mig_blocks)
		last = k->mig_blocks - 1;
	for (uint64_t b = first; b <= last; b++)
		k->mig_bits[b / 64] |= 1ull << (b % 64);
}

static int track_write(struct blkdev *d, uint64_t lba, uint32_t count, const void *buf)
{
	struct disk_track *k = (struct disk_track *)d;

	if (lba >= k->start) {
		uint64_t off = (lba - k->start) * d->block_size, len = (uint64_t)count * d->block_size;
		voltab_bitmaps_mark(&storage_disk()->tab, k->vol_id, off, len);
		mig_mark(k, off, len);
	}
	return blkdev_write(k->real, lba, count, buf);
}

static int track_flush(struct blkdev *d)
{
	return blkdev_flush(((struct disk_track *)d)->real);
}

static const struct blkdev_ops track_ops = {
	.read = track_read,
	.write = track_write,
	.flush = track_flush,
};

static struct disk_track *track_get(const struct voltab_volume *v, int *rc)
{
	*rc = -ENOSPC;
	for (unsigned i = 0; i < VOLUME_CLAIMS_MAX; i++)
		if (!tracks[i].vol_id) {
			struct disk_track *k = &tracks[i];
			memset(k, 0, sizeof(*k));
			if ((*rc = vol_view_open(v, &k->view)))
				return NULL;
			struct blkdev *real = k->view.dev;
			memcpy(k->dev.name, real->name, sizeof(k->dev.name));
			k->dev.block_size = real->block_size;
			k->dev.blocks = real->blocks;
			k->dev.max_blocks = real->max_blocks;
			k->dev.ops = &track_ops;
			k->real = real;
			k->vol_id = v->id;
			k->start = k->view.start;
			return k;
		}
	return NULL;
}

static struct disk_track *track_of(const struct vm *vm)
{
	for (unsigned i = 0; i < VOLUME_CLAIMS_MAX; i++)
		if (tracks[i].vol_id && &tracks[i].dev == vm->disk.cfg.dev)
			return &tracks[i];
	return NULL;
}

/* QEMU's rule: a persistent bitmap is flagged in use on the disk while a
 * guest may write its volume, and written with the flag cleared when the
 * writing stops, so one found flagged at boot is known to be incomplete.
 * A failure is logged (the bitmap is then marked inconsistent when it
 * could not be flagged); the guest goes on. */
static void track_writing(struct vm *vm, struct disk_track *k, bool writing)
{
	if (!k || k->writing == writing)
		return;
	k->writing = writing;
	int rc = voltab_bitmaps_in_use(&storage_disk()->tab, k->vol_id, writing, storage_now_ns());
	if (rc)
		log_err("storage",
			"%s: disk %s: writing its persistent dirty bitmaps (%s) failed (%d)%s",
			vm->name, vm->disk.volume, writing ? "in use" : "released", rc,
			writing ? "; they are marked inconsistent" : "");
}

/* The reasons that name a volume or a VM are formatted here: one console
 * command runs at a time. */
static char why_buf[320];

static const char *say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why_buf, sizeof(why_buf), fmt, ap);
	va_end(ap);
	return why_buf;
}

/* The volume VOLUME as it can be a disk, or NULL with *why and *rc. */
static const struct voltab_volume *usable(const char *volume, const char **why, int *rc)
{
	struct storage_disk *s = storage_disk();
	char problem[256];

	*rc = -ENODEV;
	if (!s->dev) {
		*why = s->probe_rc ? say("disk=%s: the NVMe controller failed to start (see 'log')",
					 volume)
				   : say("disk=%s: this host has no NVMe disk", volume);
		return NULL;
	}
	if (s->tab.load_rc) {
		*why = say("disk=%s: %s: %s", volume, s->dev->name,
			   storage_table_problem(s, problem, sizeof(problem)));
		return NULL;
	}
	const struct voltab_volume *v = voltab_find(&s->tab, volume);
	*rc = -ENOENT;
	if (!v) {
		*why = say("disk=%s: no such volume (see 'disk list')", volume);
		return NULL;
	}
	*rc = -EBUSY;
	const char *user = volume_user(v->id);
	if (user) {
		*why = say("disk=%s: the volume is in use by VM %s", volume, user);
		return NULL;
	}
	/* A read-only-compatible feature this Tern does not know may describe
	 * the volumes' contents (as bitmaps do): no guest writes them. */
	*rc = -EROFS;
	if (s->tab.readonly) {
		*why = say("disk=%s: the volume table is read-only (written by a newer Tern): no "
			   "guest may write its volumes",
			   volume);
		return NULL;
	}
	/* A clone's base must never change under its clones: no guest gets it,
	 * not even read-only, until clones say how a base is shared. */
	if (v->flags & VOLTAB_VOL_READONLY) {
		*why = say("disk=%s: the volume is read-only (a base for clones): no guest may "
			   "use it",
			   volume);
		return NULL;
	}
	*rc = 0;
	return v;
}

int vm_disk_check(const char *volume, const char **why)
{
	int rc;

	usable(volume, why, &rc);
	return rc;
}

void vm_disk_serial(const char *volume, char serial[VBLK_ID_BYTES])
{
	size_t n = strlen(volume);

	memset(serial, 0, VBLK_ID_BYTES);
	if (n <= VBLK_ID_BYTES) {
		memcpy(serial, volume, n);
		return;
	}
	char tail[10];
	snprintf(tail, sizeof(tail), "-%08x", (unsigned)crc32c_update(0, volume, n));
	memcpy(serial, volume, VBLK_ID_BYTES - 9);
	memcpy(serial + VBLK_ID_BYTES - 9, tail, 9);
}

int vm_disk_device_create(struct vm *vm)
{
	if (!vm->disk.on)
		return 0;
	int rc = vblk_init(&vm->disk.dev, vm, &vm->pci, VBLK_PCI_DEV, &vm->disk.cfg);
	if (!rc)
		track_writing(vm, track_of(vm), true);
	return rc;
}

void vm_disk_device_release(struct vm *vm)
{
	if (!vm->disk.on)
		return;
	vblk_destroy(&vm->disk.dev);
	/* The device is gone: no write can come any more, the bits are final. */
	track_writing(vm, track_of(vm), false);
}

int vm_disk_attach(struct vm *vm, const char *volume, const char **why)
{
	struct storage_disk *s = storage_disk();
	struct vm_disk *d = &vm->disk;
	int rc;

	const struct voltab_volume *v = usable(volume, why, &rc);
	if (!v)
		return rc;
	if ((rc = volume_claim(v->id, vm->name))) {
		*why = say("disk=%s: too many volumes in use", volume);
		return rc;
	}
	struct disk_track *k = track_get(v, &rc);
	if (!k) {
		*why = rc == -ENOSPC   ? say("disk=%s: too many volumes in use", volume)
		       : rc == -ENOENT ? say("disk=%s: the clone's base is missing", volume)
				       : say("disk=%s: reading the clone's map failed (%d)", volume, rc);
		volume_release(v->id);
		return rc;
	}
	memset(d, 0, sizeof(*d));
	d->on = true;
	d->vol_id = v->id;
	snprintf(d->volume, sizeof(d->volume), "%s", v->name);
	d->cfg = (struct vblk_disk){
		.dev = &k->dev,
		.start = k->start,
		.blocks = v->size / s->dev->block_size,
	};
	vm_disk_serial(v->name, d->cfg.serial);
	if ((rc = vm_disk_device_create(vm))) {
		*why = say("disk=%s: the virtio-blk device could not be made (out of memory?)",
			   volume);
		volume_release(d->vol_id);
		vol_view_close(&k->view);
		k->vol_id = 0;
		memset(d, 0, sizeof(*d));
		return rc;
	}
	if (k->view.clone)
		log_info("vm", "%s: disk %s, %lu MiB clone of %s at LBA %lu of %s (%lu MiB its own)",
			 vm->name, d->volume, v->size >> 20,
			 voltab_find_id(&s->tab, v->parent_id)->name, v->start_lba, s->dev->name,
			 k->view.clone->held * VOLTAB_CLONE_GRAN >> 20);
	else
		log_info("vm", "%s: disk %s, %lu MiB at LBA %lu of %s", vm->name, d->volume,
			 v->size >> 20, v->start_lba, s->dev->name);
	return 0;
}

void vm_disk_detach(struct vm *vm)
{
	if (!vm->disk.on)
		return;
	vm_disk_device_release(vm);
	struct disk_track *k = track_of(vm);
	if (k) {
		free(k->mig_bits);
		k->mig_bits = NULL;
		int rc = vol_view_close(&k->view);
		if (rc)
			log_err("vm", "%s: disk %s: writing the clone's map failed (%d): blocks the "
				"guest wrote since its last flush may read as the base's",
				vm->name, vm->disk.volume, rc);
		k->vol_id = 0;
	}
	volume_release(vm->disk.vol_id);
	memset(&vm->disk, 0, sizeof(vm->disk));
}

/* --- copy-storage: the source's side --------------------------------------- */

/* [block, block + count) of vm's disk in MIG_DISK_BLOCKs as LBAs of its
 * track's device below the tracking layer (a read or write there marks
 * nothing: these are the migration's, not the guest's), or NULL and *rc. */
static struct disk_track *blocks_at(struct vm *vm, uint64_t block, uint32_t count, uint64_t *lba,
				    uint64_t *n, int *rc)
{
	struct disk_track *k = track_of(vm);

	*rc = k ? -EINVAL : -ENODEV;
	if (!k)
		return NULL;
	uint32_t per = MIG_DISK_BLOCK / k->dev.block_size;
	if (block + count > vm->disk.cfg.blocks / per)
		return NULL;
	*lba = k->start + block * per;
	*n = (uint64_t)count * per;
	return k;
}

int vm_disk_read_blocks(struct vm *vm, uint64_t block, uint32_t count, void *buf)
{
	uint64_t lba, n;
	int rc;
	struct disk_track *k = blocks_at(vm, block, count, &lba, &n, &rc);

	return k ? blkdev_io_split(k->real, lba, n, buf, 0) : rc;
}

int vm_disk_write_blocks(struct vm *vm, uint64_t block, uint32_t count, const void *buf)
{
	uint64_t lba, n;
	int rc;
	struct disk_track *k = blocks_at(vm, block, count, &lba, &n, &rc);

	return k ? blkdev_io_split(k->real, lba, n, (void *)buf, 1) : rc;
}

/* What blkdev_write_zeroes writes without Write Zeroes (a clone's view
 * has none: its zeros must be held like any write). */
static const uint8_t zero_blocks[64 << 10];

int vm_disk_write_zeroes(struct vm *vm, uint64_t block, uint32_t count)
{
	uint64_t lba, n;
	int rc;
	struct disk_track *k = blocks_at(vm, block, count, &lba, &n, &rc);

	return k ? blkdev_write_zeroes(k->real, lba, n, zero_blocks,
				       sizeof(zero_blocks) / k->dev.block_size)
		 : rc;
}

int vm_disk_flush(struct vm *vm)
{
	struct disk_track *k = track_of(vm);

	return k ? blkdev_flush(k->real) : -ENODEV;
}

int vm_disk_held(struct vm *vm, uint64_t *bitmap, uint64_t nblocks)
{
	struct disk_track *k = track_of(vm);

	if (!k || !k->view.clone || nblocks != k->view.clone->granules)
		return -EINVAL;
	_Static_assert(VOLTAB_CLONE_GRAN == MIG_DISK_BLOCK, "a clone's granule is a block");
	for (uint64_t b = 0; b < nblocks; b++)
		if (vol_clone_holds(k->view.clone, b))
			bitmap[b / 64] |= 1ull << (b % 64);
	return 0;
}

int vm_disk_base(struct vm *vm, char *name, unsigned size, uint8_t sha256[32])
{
	struct voltab *t = &storage_disk()->tab;
	const struct voltab_volume *v = vm->disk.on ? voltab_find_id(t, vm->disk.vol_id) : NULL;
	const struct voltab_volume *b = v && v->parent_id ? voltab_find_id(t, v->parent_id) : NULL;

	if (!b)
		return -EINVAL;
	snprintf(name, size, "%s", b->name);
	memcpy(sha256, b->sha256, 32);
	return 0;
}

int vm_disk_log_start(struct vm *vm)
{
	struct disk_track *k = track_of(vm);

	if (!k || k->mig_bits)
		return k ? -EBUSY : -ENODEV;
	k->mig_blocks = vm->disk.cfg.blocks * k->dev.block_size / MIG_DISK_BLOCK;
	k->mig_bits = calloc((size_t)((k->mig_blocks + 63) / 64), sizeof(uint64_t));
	return k->mig_bits ? 0 : -ENOMEM;
}

int vm_disk_log_harvest(struct vm *vm, uint64_t *bitmap, uint64_t nblocks)
{
	struct disk_track *k = track_of(vm);

	if (!k || !k->mig_bits || nblocks != k->mig_blocks)
		return -EINVAL;
	for (uint64_t i = 0; i < (nblocks + 63) / 64; i++) {
		bitmap[i] |= k->mig_bits[i];
		k->mig_bits[i] = 0;
	}
	return 0;
}

int vm_disk_bitmap(struct vm *vm, unsigned i, struct mig_disk_bitmap *out)
{
	struct voltab *t = &storage_disk()->tab;

	for (unsigned k = 0; k < t->nbitmaps; k++) {
		struct voltab_bitmap *b = &t->bm[k];
		if (b->vol_id != vm->disk.vol_id || i--)
			continue;
		memset(out, 0, sizeof(*out));
		snprintf(out->name, sizeof(out->name), "%s", b->name);
		out->granularity = bitmap_gran(&b->map);
		out->persistent = b->persistent;
		out->inconsistent = b->inconsistent;
		out->nbits = b->map.nbits;
		out->bits = b->map.bits;
		return 0;
	}
	return -ENOENT;
}

void vm_disk_log_stop(struct vm *vm)
{
	struct disk_track *k = track_of(vm);

	if (k) {
		free(k->mig_bits);
		k->mig_bits = NULL;
	}
}
