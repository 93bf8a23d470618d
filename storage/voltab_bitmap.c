/* Named dirty bitmaps in the volume table (voltab.h): adding, removing,
 * clearing, the in-use flag around a guest's writes, and marking. The
 * encoding is voltab.c's; docs/storage.md, "Dirty bitmaps", is the spec. */
#include <errno.h>
#include <string.h>

#include "storage/voltab.h"

static const struct voltab_volume *volume_by_id(const struct voltab *t, uint64_t id)
{
	for (unsigned i = 0; i < t->nvolumes; i++)
		if (t->vol[i].id == id)
			return &t->vol[i];
	return NULL;
}

struct voltab_bitmap *voltab_bitmap_find(struct voltab *t, uint64_t vol_id, const char *name)
{
	for (unsigned i = 0; i < t->nbitmaps; i++)
		if (t->bm[i].vol_id == vol_id && !strcmp(t->bm[i].name, name))
			return &t->bm[i];
	return NULL;
}

static void drop(struct voltab *t, struct voltab_bitmap *b)
{
	unsigned at = (unsigned)(b - t->bm);

	bitmap_free(&b->map);
	memmove(&t->bm[at], &t->bm[at + 1], (t->nbitmaps - at - 1) * sizeof(t->bm[0]));
	t->nbitmaps--;
}

int voltab_bitmap_add(struct voltab *t, const char *vol, const char *name, uint32_t gran,
		      bool persistent, bool vol_in_use, uint64_t now_ns, uint64_t *need)
{
	if (!t->loaded)
		return -ENODEV;
	const struct voltab_volume *v = voltab_find(t, vol);
	if (!v)
		return -ENOENT;
	if (voltab_name_error(name) || !bitmap_gran_ok(gran, t->dev->block_size))
		return -EINVAL;
	if (voltab_bitmap_find(t, v->id, name))
		return -EEXIST;
	if (t->nbitmaps == VOLTAB_MAX_BITMAPS)
		return -EMFILE;
	if (persistent && t->readonly)
		return -EROFS;
	uint64_t bytes = (bitmap_bytes_for(v->size, gran) + 7) & ~7ull;
	if (need)
		*need = bytes;
	if (persistent && voltab_bits_used(t) + bytes > VOLTAB_BITS_ROOM)
		return -ENOSPC;
	struct voltab_bitmap *b = &t->bm[t->nbitmaps];
	memset(b, 0, sizeof(*b));
	int rc = bitmap_init(&b->map, v->size, gran);
	if (rc)
		return rc;
	t->nbitmaps++;
	memcpy(b->name, name, strlen(name) + 1);
	b->vol_id = v->id;
	b->persistent = persistent;
	/* Written IN_USE at once if a guest writes the volume now: a crash
	 * before its release must not leave a bitmap that looks complete. */
	b->in_use = persistent && vol_in_use;
	if (!persistent)
		return 0;
	if ((rc = voltab_write(t, now_ns))) {
		/* The reload kept what the disk holds: the bitmap if the change
		 * got there, which the caller tells with voltab_bitmap_find. */
		return rc;
	}
	return 0;
}

int voltab_bitmap_remove(struct voltab *t, struct voltab_bitmap *b, uint64_t now_ns)
{
	bool persistent = b->persistent;

	if (persistent && t->readonly)
		return -EROFS;
	drop(t, b);
	return persistent ? voltab_write(t, now_ns) : 0;
}

int voltab_bitmap_clear(struct voltab *t, struct voltab_bitmap *b, uint64_t now_ns)
{
	if (b->persistent && t->readonly)
		return -EROFS;
	bitmap_clear(&b->map);
	b->inconsistent = false;
	return b->persistent ? voltab_write(t, now_ns) : 0;
}

int voltab_bitmaps_in_use(struct voltab *t, uint64_t vol_id, bool in_use, uint64_t now_ns)
{
	unsigned n = 0;

	if (!t->loaded || !volume_by_id(t, vol_id))
		return 0;
	for (unsigned i = 0; i < t->nbitmaps; i++)
		if (t->bm[i].vol_id == vol_id && t->bm[i].persistent) {
			t->bm[i].in_use = in_use;
			n++;
		}
	if (!n)
		return 0;
	int rc = t->readonly ? -EROFS : voltab_write(t, now_ns);
	/* Not flagged on the disk: after a crash nothing would tell that the
	 * bits missed this guest's writes. Say it now instead. */
	for (unsigned i = 0; rc && in_use && i < t->nbitmaps; i++)
		if (t->bm[i].vol_id == vol_id && t->bm[i].persistent)
			t->bm[i].inconsistent = true;
	return rc;
}

void voltab_bitmaps_mark(struct voltab *t, uint64_t vol_id, uint64_t off, uint64_t len)
{
	for (unsigned i = 0; i < t->nbitmaps; i++)
		if (t->bm[i].vol_id == vol_id)
			bitmap_mark(&t->bm[i].map, off, len);
}
