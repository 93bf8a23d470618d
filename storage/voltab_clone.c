/* Bases and clones in the volume table (voltab.h, "clones"): making a
 * volume a base, and a clone of one with its map zeroed on the disk
 * before the table names it. The clone's blocks are storage/vol_clone.c's. */
#include <errno.h>
#include <string.h>

#include "storage/voltab.h"
#include "storage/voltab_private.h"

int voltab_set_base(struct voltab *t, const char *name, const uint8_t sha256[32], uint64_t now_ns)
{
	if (!t->loaded)
		return -ENODEV;
	struct voltab_volume *v = (struct voltab_volume *)voltab_find(t, name);
	if (!v)
		return -ENOENT;
	if (t->readonly)
		return -EROFS;
	if (v->parent_id)
		return -EINVAL;
	if (!sha256 && voltab_clones_of(t, v->id))
		return -EBUSY;
	if (sha256) {
		v->flags |= VOLTAB_VOL_READONLY | VOLTAB_VOL_HASHED;
		memcpy(v->sha256, sha256, 32);
	} else {
		v->flags &= ~(VOLTAB_VOL_READONLY | VOLTAB_VOL_HASHED);
		memset(v->sha256, 0, 32);
	}
	return voltab_write(t, now_ns);
}

/* voltab_add's prepare for a clone: its map zeroed and flushed, so a new
 * clone holds nothing and reads exactly as its base. */
static int zero_map(struct voltab *t, const struct voltab_volume *v)
{
	uint32_t bs = t->dev->block_size;
	uint32_t chunk = VOLTAB_COPY_ROOM / bs;
	uint64_t lba = v->start_lba + v->size / bs;

	memset(t->buf, 0, VOLTAB_COPY_ROOM);
	for (uint64_t left = v->map_bytes / bs; left;) {
		uint32_t n = left < chunk ? (uint32_t)left : chunk;
		int rc = blkdev_io_split(t->dev, lba, n, t->buf, 1);
		if (rc)
			return rc;
		lba += n;
		left -= n;
	}
	return blkdev_flush(t->dev);
}

int voltab_clone(struct voltab *t, const char *base, const char *name, uint64_t now_ns,
		 const struct voltab_volume **out)
{
	struct voltab_volume v = {0};

	if (!t->loaded)
		return -ENODEV;
	const struct voltab_volume *b = voltab_find(t, base);
	if (!b)
		return -ENOENT;
	if (b->parent_id || !(b->flags & VOLTAB_VOL_HASHED))
		return -EPERM;
	if (strlen(name) > VOLTAB_NAME_MAX)
		return -EINVAL;
	memcpy(v.name, name, strlen(name) + 1);
	v.size = b->size;
	v.parent_id = b->id;
	v.map_bytes = voltab_clone_map_bytes(v.size);
	return voltab_add(t, &v, zero_map, now_ns, out);
}
