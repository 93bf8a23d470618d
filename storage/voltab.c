/* The volume table on disk: loading and committing the two copies (the
 * two-copy rule) and first-fit allocation. Encoding and checking a copy:
 * voltab_codec.c. docs/storage.md is the spec. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/voltab.h"
#include "storage/voltab_private.h"
const char *voltab_name_error(const char *name)
{
	size_t n = strlen(name);

	if (!n)
		return "a name needs at least one character";
	if (n > VOLTAB_NAME_MAX)
		return "a name has at most 31 characters";
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return "a name has only letters, digits, '.', '_' and '-'";
	}
	return NULL;
}
static int ensure_buf(struct voltab *t)
{
	if (!t->buf)
		t->buf = malloc(VOLTAB_COPY_ROOM);
	return t->buf ? 0 : -ENOMEM;
}
static void free_bitmaps(struct voltab *t)
{
	for (unsigned i = 0; i < t->nbitmaps; i++)
		bitmap_free(&t->bm[i].map);
	t->nbitmaps = 0;
}
static int load(struct voltab *t, struct blkdev *dev)
{
	struct voltab_load_info *info = &t->info;
	uint8_t *buf = t->buf;
	int rc;

	free_bitmaps(t);
	memset(t, 0, sizeof(*t));
	t->buf = buf;
	t->dev = dev;
	info->used = -1;
	if ((rc = ensure_buf(t)))
		return rc;
	if (dev->block_size > VOLTAB_ALIGN || VOLTAB_ALIGN % dev->block_size ||
	    dev->blocks < voltab_data_start_lba(t) + VOLTAB_ALIGN / dev->block_size) {
		for (int c = 0; c < 2; c++) {
			info->copy[c].rc = -ENOSPC;
			snprintf(info->copy[c].why, sizeof(info->copy[c].why), "disk under 2 MiB");
		}
		return -ENOSPC;
	}
	/* Decode each copy to learn its state and generation, then decode
	 * the winner once more: t holds one copy at a time. */
	for (int c = 0; c < 2; c++) {
		struct voltab_copy_info *ci = &info->copy[c];
		ci->rc = voltab_read_copy(t, c);
		if (ci->rc) {
			snprintf(ci->why, sizeof(ci->why), "read failed (%d)", ci->rc);
			ci->rc = -EIO;
			continue;
		}
		ci->rc = voltab_decode(t, c, t->buf, ci);
		if (!ci->rc && ci->generation > info->max_generation)
			info->max_generation = ci->generation;
	}
	int c0 = info->copy[0].rc, c1 = info->copy[1].rc;
	if (c0 == -EPROTONOSUPPORT || c1 == -EPROTONOSUPPORT)
		return -EPROTONOSUPPORT;
	if (c0 && c1) {
		if (c0 == -ENOENT && c1 == -ENOENT)
			return -ENOENT;
		return c0 == -EIO && c1 == -EIO ? -EIO : -EBADMSG;
	}
	int use = c0 ? 1 : c1 ? 0 : info->copy[1].generation > info->copy[0].generation;
	info->used = use;
	info->repair =
		info->copy[1 - use].rc || info->copy[0].generation != info->copy[1].generation;
	/* t holds whatever was decoded last, perhaps half of a bad copy:
	 * decode the winner once more. */
	if ((rc = voltab_read_copy(t, use)))
		return rc;
	if ((rc = voltab_decode(t, use, t->buf, &info->copy[use])))
		return rc; /* changed under us: report, do not guess */
	if ((rc = voltab_take_bitmaps(t, t->buf))) {
		free_bitmaps(t);
		return rc;
	}
	t->good_copy = use;
	t->loaded = true;
	return 0;
}

/* The marks a persistent bitmap had in memory when the table is read
 * again after a failed write: they may not have reached the disk. Bits
 * only ever get added between clears, so the union of the disk's and
 * memory's is never short of a write (at worst it keeps bits a clear that
 * did not reach the disk would have dropped). And Tern did not stop: the
 * IN_USE flag on the disk is the running guest's, not a crash's. */
static void merge_memory(struct voltab_bitmap *d, const struct voltab_bitmap *m)
{
	if (!m->persistent || m->vol_id != d->vol_id || strcmp(m->name, d->name) ||
	    m->map.gran_shift != d->map.gran_shift || m->map.nbits != d->map.nbits)
		return;
	for (uint64_t i = 0; i < bitmap_bytes(&d->map); i++)
		d->map.bits[i] |= m->map.bits[i];
	d->in_use = m->in_use;
	d->inconsistent = m->inconsistent || d->on_disk_inconsistent;
}

/* A load at boot, or again after a failed write. The persistent bitmaps
 * are the disk's (merged with what memory knew, on a reload); the
 * in-memory ones of volumes still there are kept, the others dropped. */
int voltab_load(struct voltab *t, struct blkdev *dev)
{
	static struct voltab_bitmap keep[VOLTAB_MAX_BITMAPS];
	unsigned nkeep = t->nbitmaps;

	memcpy(keep, t->bm, nkeep * sizeof(keep[0]));
	t->nbitmaps = 0;
	int rc = load(t, dev);
	for (unsigned i = 0; !rc && i < t->nbitmaps; i++)
		for (unsigned k = 0; k < nkeep; k++)
			merge_memory(&t->bm[i], &keep[k]);
	for (unsigned i = 0; i < nkeep; i++) {
		bool vol = false;
		for (unsigned k = 0; !rc && k < t->nvolumes; k++)
			vol |= t->vol[k].id == keep[i].vol_id;
		if (!keep[i].persistent && vol && t->nbitmaps < VOLTAB_MAX_BITMAPS)
			t->bm[t->nbitmaps++] = keep[i];
		else
			bitmap_free(&keep[i].map);
	}
	t->load_rc = rc;
	return rc;
}

/* After a failed write: what is on the disk now is whatever the writes
 * left, one copy new or none. Loading it again makes memory agree with
 * the next boot, instead of guessing. */
static int reload_after(struct voltab *t, int write_rc)
{
	voltab_load(t, t->dev);
	return write_rc;
}

/* The two-copy rule: the copy that may be stale or damaged is written and
 * flushed first, the one holding the current table last. A write torn at
 * any point leaves one valid copy: the old table or the new one. */
static int commit(struct voltab *t)
{
	uint32_t bs = t->dev->block_size;
	int order[2] = {1 - t->good_copy, t->good_copy};
	int rc;

	t->generation++;
	for (int i = 0; i < 2; i++) {
		int c = order[i];
		uint64_t bytes = voltab_encode(t, c, t->buf);
		rc = blkdev_write(t->dev, voltab_copy_offset[c] / bs, (uint32_t)(bytes / bs), t->buf);
		if (!rc)
			rc = blkdev_flush(t->dev);
		if (rc)
			return rc;
		/* The copy just written holds the newest table from now on. */
		t->good_copy = c;
	}
	for (int c = 0; c < 2; c++) {
		t->info.copy[c].rc = 0;
		t->info.copy[c].generation = t->generation;
		t->info.copy[c].why[0] = 0;
	}
	t->info.used = t->good_copy;
	t->info.repair = false;
	t->info.max_generation = t->generation;
	return 0;
}

int voltab_format(struct voltab *t, struct blkdev *dev, const uint8_t uuid[16], uint64_t now_ns,
		  uint64_t generation)
{
	uint8_t *buf = t->buf;
	int rc;

	free_bitmaps(t); /* a new table forgets every volume */
	memset(t, 0, sizeof(*t));
	t->buf = buf;
	t->dev = dev;
	if ((rc = ensure_buf(t)))
		return rc;
	if (dev->block_size > VOLTAB_ALIGN || VOLTAB_ALIGN % dev->block_size ||
	    dev->blocks < voltab_data_start_lba(t) + VOLTAB_ALIGN / dev->block_size)
		return voltab_load(t, dev); /* -ENOSPC, with the reason in t->info */
	memcpy(t->uuid, uuid, 16);
	t->created_ns = t->updated_ns = now_ns;
	t->next_id = 1;
	t->generation = generation ? generation - 1 : 0;
	t->good_copy = 1; /* copy 0 is written first */
	rc = commit(t);
	if (rc)
		return reload_after(t, rc);
	t->loaded = true;
	t->load_rc = 0;
	return 0;
}

const struct voltab_volume *voltab_find(const struct voltab *t, const char *name)
{
	for (unsigned i = 0; i < t->nvolumes; i++)
		if (!strcmp(t->vol[i].name, name))
			return &t->vol[i];
	return NULL;
}

static void remove_at(struct voltab *t, unsigned at)
{
	memmove(&t->vol[at], &t->vol[at + 1], (t->nvolumes - at - 1) * sizeof(t->vol[0]));
	t->nvolumes--;
}

static void insert_at(struct voltab *t, unsigned at, const struct voltab_volume *v)
{
	memmove(&t->vol[at + 1], &t->vol[at], (t->nvolumes - at) * sizeof(t->vol[0]));
	t->vol[at] = *v;
	t->nvolumes++;
}

/* Writes the changed table. */
static int commit_change(struct voltab *t, uint64_t now_ns)
{
	if (now_ns)
		t->updated_ns = now_ns;
	return commit(t);
}

int voltab_write(struct voltab *t, uint64_t now_ns)
{
	int rc = commit_change(t, now_ns);
	return rc ? reload_after(t, rc) : 0;
}

/* First fit over the gaps between volumes sorted by start: the slot the
 * new entry goes in and its first LBA, or -ENOSPC. */
static int place(const struct voltab *t, uint64_t extent, unsigned *slot_out, uint64_t *at_out)
{
	uint64_t need = voltab_bytes_to_blocks(t, extent), end = voltab_data_end_lba(t);
	uint64_t at = voltab_data_start_lba(t);
	unsigned slot = 0;

	for (; slot < t->nvolumes; slot++) {
		if (t->vol[slot].start_lba - at >= need)
			break;
		at = t->vol[slot].start_lba + voltab_bytes_to_blocks(t, voltab_extent_bytes(&t->vol[slot]));
	}
	if (slot == t->nvolumes && (at > end || end - at < need))
		return -ENOSPC;
	*slot_out = slot;
	*at_out = at;
	return 0;
}

int voltab_add(struct voltab *t, struct voltab_volume *v,
	       int (*prepare)(struct voltab *t, const struct voltab_volume *v), uint64_t now_ns,
	       const struct voltab_volume **out)
{
	unsigned slot;
	int rc;

	if (!t->loaded)
		return -ENODEV;
	if (voltab_name_error(v->name) || !v->size || v->size % VOLTAB_ALIGN)
		return -EINVAL;
	if (t->readonly)
		return -EROFS;
	if (voltab_find(t, v->name))
		return -EEXIST;
	if (t->nvolumes == VOLTAB_MAX_VOLUMES)
		return -EMFILE;
	if ((rc = place(t, voltab_extent_bytes(v), &slot, &v->start_lba)))
		return rc;
	if (prepare && (rc = prepare(t, v)))
		return rc;
	v->id = t->next_id++;
	v->created_ns = now_ns;
	insert_at(t, slot, v);
	rc = commit_change(t, now_ns);
	if (rc)
		return reload_after(t, rc);
	if (out)
		*out = &t->vol[slot];
	return 0;
}

int voltab_create(struct voltab *t, const char *name, uint64_t size, uint64_t now_ns,
		  const struct voltab_volume **out)
{
	struct voltab_volume v = {0};

	if (strlen(name) > VOLTAB_NAME_MAX)
		return -EINVAL;
	memcpy(v.name, name, strlen(name) + 1);
	v.size = size;
	return voltab_add(t, &v, NULL, now_ns, out);
}

unsigned voltab_clones_of(const struct voltab *t, uint64_t id)
{
	unsigned n = 0;

	for (unsigned i = 0; i < t->nvolumes; i++)
		n += t->vol[i].parent_id == id;
	return n;
}

const struct voltab_volume *voltab_find_id(const struct voltab *t, uint64_t id)
{
	for (unsigned i = 0; i < t->nvolumes; i++)
		if (t->vol[i].id == id)
			return &t->vol[i];
	return NULL;
}

int voltab_delete(struct voltab *t, const char *name, uint64_t now_ns)
{
	if (!t->loaded)
		return -ENODEV;
	const struct voltab_volume *v = voltab_find(t, name);
	if (!v)
		return -ENOENT;
	if (t->readonly)
		return -EROFS;
	if (voltab_clones_of(t, v->id))
		return -EBUSY;
	unsigned at = (unsigned)(v - t->vol);
	/* Its bitmaps go with it, in memory and in the table written now. */
	for (unsigned i = 0; i < t->nbitmaps;) {
		if (t->bm[i].vol_id == v->id) {
			bitmap_free(&t->bm[i].map);
			memmove(&t->bm[i], &t->bm[i + 1], (t->nbitmaps - i - 1) * sizeof(t->bm[0]));
			t->nbitmaps--;
		} else {
			i++;
		}
	}
	remove_at(t, at);
	int rc = commit_change(t, now_ns);
	return rc ? reload_after(t, rc) : 0;
}

void voltab_space(const struct voltab *t, struct voltab_space *s)
{
	memset(s, 0, sizeof(*s));
	if (!t->loaded)
		return;
	uint64_t bs = t->dev->block_size, end = voltab_data_end_lba(t), at = voltab_data_start_lba(t);
	s->data_bytes = (end - at) * bs;
	for (unsigned i = 0; i < t->nvolumes; i++) {
		const struct voltab_volume *v = &t->vol[i];
		if ((v->start_lba - at) * bs > s->largest_free)
			s->largest_free = (v->start_lba - at) * bs;
		s->used_bytes += voltab_extent_bytes(v);
		at = v->start_lba + voltab_extent_bytes(v) / bs;
	}
	if ((end - at) * bs > s->largest_free)
		s->largest_free = (end - at) * bs;
	s->free_bytes = s->data_bytes - s->used_bytes;
}

void voltab_close(struct voltab *t)
{
	free_bitmaps(t);
	free(t->buf);
	memset(t, 0, sizeof(*t));
}
