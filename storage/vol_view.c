/* Shared views of the volumes (vol_view.h). */
#include <errno.h>
#include <string.h>

#include "storage/storage.h"
#include "storage/vol_view.h"
#include "storage/volume_claim.h"

/* Every guest's disk may be a clone, and a hash may read one more. */
#define VIEWS_MAX (VOLUME_CLAIMS_MAX + 2)

static struct {
	uint64_t vol_id; /* 0: free */
	unsigned refs;
	struct vol_clone c;
} views[VIEWS_MAX];

int vol_view_open(const struct voltab_volume *v, struct vol_view *out)
{
	struct storage_disk *s = storage_disk();

	memset(out, 0, sizeof(*out));
	if (!s->dev || !s->tab.loaded)
		return -ENODEV;
	out->vol_id = v->id;
	if (!v->parent_id) {
		out->dev = s->dev;
		out->start = v->start_lba;
		return 0;
	}
	const struct voltab_volume *base = voltab_find_id(&s->tab, v->parent_id);
	if (!base)
		return -ENOENT;
	int free_slot = -1;
	for (int i = 0; i < VIEWS_MAX; i++) {
		if (views[i].vol_id == v->id) {
			views[i].refs++;
			out->clone = &views[i].c;
			out->dev = &views[i].c.dev;
			return 0;
		}
		if (!views[i].vol_id && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0)
		return -ENOSPC;
	uint64_t bs = s->dev->block_size;
	int rc = vol_clone_open(&views[free_slot].c, s->dev, base->start_lba, v->start_lba,
				v->start_lba + v->size / bs, v->size);
	if (rc)
		return rc;
	views[free_slot].vol_id = v->id;
	views[free_slot].refs = 1;
	out->clone = &views[free_slot].c;
	out->dev = &views[free_slot].c.dev;
	return 0;
}

int vol_view_close(struct vol_view *w)
{
	int rc = 0;

	if (w->clone)
		for (int i = 0; i < VIEWS_MAX; i++)
			if (views[i].vol_id == w->vol_id && &views[i].c == w->clone) {
				if (!--views[i].refs) {
					rc = vol_clone_close(&views[i].c);
					views[i].vol_id = 0;
				}
				break;
			}
	memset(w, 0, sizeof(*w));
	return rc;
}
