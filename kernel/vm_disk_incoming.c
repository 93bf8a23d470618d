/* The incoming guest's volume (vm_disk_incoming.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/log.h"
#include "kernel/vm_disk.h"
#include "kernel/vm_disk_incoming.h"
#include "migrate/migrate.h"
#include "storage/storage.h"

/* Blocks written with one command at most: 256 KiB. */
#define BUF_BLOCKS 64u
/* A round's flush is worth its stall of the receiver only after this
 * much (64 MiB): a flush after a 1 GiB copy took QEMU's disk 0.5 s. */
#define FLUSH_AFTER_BLOCKS (64u << 20 >> 12)
/* A run of zero blocks written with one call at most: 256 MiB. */
#define ZERO_RUN_MAX (256u << 20 >> 12)

static char why_buf[160];

/* copy-storage inc: this host's base must hold what the source's does. */
static int check_base(const struct voltab *t, const char *volume, uint64_t bytes,
		      const char *base, const uint8_t sha[32])
{
	const struct voltab_volume *b = voltab_find(t, base);
	char hex[9];

	if (!b) {
		snprintf(why_buf, sizeof(why_buf),
			 "disk %s: its base %s is not on this host (--copy-storage all copies "
			 "the whole disk)",
			 volume, base);
		return -ENOENT;
	}
	snprintf(hex, sizeof(hex), "%02x%02x%02x%02x", sha[0], sha[1], sha[2], sha[3]);
	if (!(b->flags & VOLTAB_VOL_HASHED)) {
		snprintf(why_buf, sizeof(why_buf),
			 "disk %s: volume %s on this host is not a base ('disk readonly %s')",
			 volume, base, base);
		return -ENOENT;
	}
	if (b->size != bytes || memcmp(b->sha256, sha, 32)) {
		snprintf(why_buf, sizeof(why_buf),
			 "disk %s: base %s on this host differs from the source's (sha256 "
			 "%02x%02x%02x%02x..., %llu MiB; the source's %s..., %llu MiB)",
			 volume, base, b->sha256[0], b->sha256[1], b->sha256[2], b->sha256[3],
			 (unsigned long long)(b->size >> 20), hex,
			 (unsigned long long)(bytes >> 20));
		return -ENOENT;
	}
	return 0;
}

int disk_incoming_create(struct disk_incoming *in, struct vm *vm, const char *volume,
			 uint64_t bytes, const char *base, const uint8_t base_sha256[32],
			 const char **why)
{
	struct storage_disk *s = storage_disk();
	const struct voltab_volume *v;
	struct voltab_space sp;
	const char *bad;
	int rc;

	memset(in, 0, sizeof(*in));
	*why = why_buf;
	if ((bad = voltab_name_error(volume))) {
		snprintf(why_buf, sizeof(why_buf), "disk %s: %s", volume, bad);
		return -EINVAL;
	}
	if (!s->dev || s->tab.load_rc || !s->tab.loaded || s->tab.readonly) {
		snprintf(why_buf, sizeof(why_buf),
			 "disk %s: this host has no usable volume table (see 'disk list')", volume);
		return -ENODEV;
	}
	if (bytes % MIG_DISK_BLOCK || bytes % s->dev->block_size) {
		snprintf(why_buf, sizeof(why_buf), "disk %s: %llu bytes is not whole blocks here",
			 volume, (unsigned long long)bytes);
		return -EINVAL;
	}
	if (voltab_find(&s->tab, volume)) {
		snprintf(why_buf, sizeof(why_buf),
			 "disk %s: a volume of that name exists on this host", volume);
		return -EEXIST;
	}
	if (base && (rc = check_base(&s->tab, volume, bytes, base, base_sha256)))
		return rc;
	in->buf = malloc(BUF_BLOCKS * MIG_DISK_BLOCK);
	if (!in->buf) {
		snprintf(why_buf, sizeof(why_buf), "disk %s: out of memory", volume);
		return -ENOMEM;
	}
	if (base) {
		rc = voltab_clone(&s->tab, base, volume, storage_now_ns(), &v);
		bytes += voltab_clone_map_bytes(bytes); /* for the line below */
	} else {
		rc = voltab_create(&s->tab, volume, bytes, storage_now_ns(), &v);
	}
	if (rc) {
		voltab_space(&s->tab, &sp);
		if (rc == -ENOSPC || rc == -EMFILE)
			snprintf(why_buf, sizeof(why_buf),
				 "disk %s: no room for %llu MiB on this host (largest free: %llu "
				 "MiB)",
				 volume, (unsigned long long)(bytes >> 20),
				 (unsigned long long)(sp.largest_free >> 20));
		else
			snprintf(why_buf, sizeof(why_buf), "disk %s: creating the volume failed (%d)",
				 volume, rc);
		free(in->buf);
		in->buf = NULL;
		return rc == -EMFILE ? -ENOSPC : rc;
	}
	snprintf(in->volume, sizeof(in->volume), "%s", volume);
	in->made = true;
	if ((rc = vm_disk_attach(vm, volume, &bad))) {
		snprintf(why_buf, sizeof(why_buf), "%s", bad);
		disk_incoming_discard(in);
		return rc;
	}
	if (base)
		log_info("migrate", "incoming %s: volume %s made, a clone of %s", vm->name, volume,
			 base);
	else
		log_info("migrate", "incoming %s: volume %s made, %llu MiB", vm->name, volume,
			 (unsigned long long)(bytes >> 20));
	return 0;
}

/* Zero blocks are not buffered but counted: a run of them goes to the
 * disk as Write Zeroes (no data moved, and nothing for a flush to write
 * back), which most of a new volume's blocks are. */
int disk_incoming_sync(struct disk_incoming *in, struct vm *vm)
{
	int rc;

	if (!in->n)
		return 0;
	if (in->zeros) {
		rc = vm_disk_write_zeroes(vm, in->first, in->n);
	} else {
		rc = vm_disk_write_blocks(vm, in->first, in->n, in->buf);
		in->unflushed += in->n;
	}
	in->n = 0;
	return rc;
}

int disk_incoming_flush(struct disk_incoming *in, struct vm *vm)
{
	if (in->unflushed < FLUSH_AFTER_BLOCKS)
		return 0;
	in->unflushed = 0;
	return vm_disk_flush(vm);
}

int disk_incoming_write(struct disk_incoming *in, struct vm *vm, uint64_t block, const void *data)
{
	bool zeros = !data;
	int rc;

	if (!in->buf)
		return -ENODEV;
	if (in->n && (block != in->first + in->n || zeros != in->zeros ||
		      (!zeros && in->n == BUF_BLOCKS) || (zeros && in->n == ZERO_RUN_MAX)) &&
	    (rc = disk_incoming_sync(in, vm)))
		return rc;
	if (!in->n) {
		in->first = block;
		in->zeros = zeros;
	}
	if (!zeros)
		memcpy(in->buf + (uint64_t)in->n * MIG_DISK_BLOCK, data, MIG_DISK_BLOCK);
	in->n++;
	return 0;
}

int disk_incoming_bitmap(struct disk_incoming *in, const struct mig_disk_bitmap *b,
			 const char **why)
{
	struct voltab *t = &storage_disk()->tab;
	const struct voltab_volume *v = voltab_find(t, in->volume);
	struct voltab_bitmap *m = v ? voltab_bitmap_find(t, v->id, b->name) : NULL;
	uint64_t need = 0;
	int rc = 0;

	*why = why_buf;
	/* Made ahead of round 0 (a table write for a persistent one); with
	 * the guest paused only its bits change, in memory. */
	if (m && (bitmap_gran(&m->map) != b->granularity || m->persistent != b->persistent)) {
		snprintf(why_buf, sizeof(why_buf), "it changed on the source during the migration");
		return -EINVAL;
	}
	if (!m) {
		rc = voltab_bitmap_add(t, in->volume, b->name, b->granularity, b->persistent, true,
				       storage_now_ns(), &need);
		m = v ? voltab_bitmap_find(t, v->id, b->name) : NULL;
	}
	if (rc || !m) {
		snprintf(why_buf, sizeof(why_buf),
			 rc == -ENOSPC	 ? "no room for its %llu bytes in this host's volume table"
			 : rc == -EMFILE ? "this host's table of bitmaps is full"
			 : rc == -EINVAL ? "its granularity is not one this disk can have"
					 : "making it failed",
			 (unsigned long long)need);
		return rc ? rc : -EIO;
	}
	if (m->map.nbits != b->nbits) {
		voltab_bitmap_remove(t, m, storage_now_ns());
		snprintf(why_buf, sizeof(why_buf), "%llu bits, this volume's has %llu",
			 (unsigned long long)b->nbits, (unsigned long long)m->map.nbits);
		return -EINVAL;
	}
	memcpy(m->map.bits, b->bits, bitmap_bytes(&m->map));
	m->inconsistent = b->inconsistent;
	return 0;
}

void disk_incoming_keep(struct disk_incoming *in, struct vm *vm)
{
	int rc = in->made ? vm_disk_flush(vm) : 0;

	if (rc)
		log_err("migrate", "%s: disk %s: flushing what arrived failed (%d)", vm->name,
			in->volume, rc);
	free(in->buf);
	in->buf = NULL;
	in->made = false;
}

void disk_incoming_discard(struct disk_incoming *in)
{
	struct storage_disk *s = storage_disk();

	free(in->buf);
	in->buf = NULL;
	if (!in->made)
		return;
	in->made = false;
	int rc = voltab_delete(&s->tab, in->volume, storage_now_ns());
	if (rc)
		log_err("migrate", "disk %s: deleting the partly received volume failed (%d): "
			"'disk delete %s' when the disk works again",
			in->volume, rc, in->volume);
	else
		log_info("migrate", "disk %s: the partly received volume is deleted", in->volume);
}
