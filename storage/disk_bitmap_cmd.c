/* `disk bitmap`: named dirty block bitmaps of a volume, after QEMU's
 * block-dirty-bitmap-add/remove/clear (docs/storage.md, "Dirty bitmaps",
 * shows every output and error). The bitmaps themselves are the volume
 * table's (storage/voltab.h); this file only parses and prints. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kernel/console/cmd.h"
#include "kernel/kprintf.h"
#include "storage/disk_job.h"
#include "storage/storage.h"
#include "storage/volume_claim.h"

#define REFUSED (-ERANGE) /* the error line is printed: no usage after it */
#define SHOW_RUNS 64	  /* runs `show` prints; the rest are counted */

/* The volume, or NULL after an error line. */
static const struct voltab_volume *need_volume(struct storage_disk **s, const char *what,
					       const char *vol)
{
	char label[64];

	snprintf(label, sizeof(label), "bitmap %s", what);
	if (!(*s = disk_job_table(label)))
		return NULL;
	const struct voltab_volume *v = voltab_find(&(*s)->tab, vol);
	if (!v)
		cmd_error("disk bitmap %s %s: no such volume", what, vol);
	return v;
}

static struct voltab_bitmap *need_bitmap(struct storage_disk *s, const char *what,
					 const struct voltab_volume *v, const char *name)
{
	struct voltab_bitmap *b = voltab_bitmap_find(&s->tab, v->id, name);
	if (!b)
		cmd_error("disk bitmap %s %s %s: no such bitmap (see 'disk bitmap list %s')", what,
			  v->name, name, v->name);
	return b;
}

/* A persistent change whose table write failed (the table was read back). */
static int write_failed(struct storage_disk *s, const char *what, const char *vol, const char *name,
			int rc)
{
	cmd_error("disk bitmap %s %s %s: writing the volume table failed (%d)%s", what, vol, name,
		  rc,
		  s->tab.loaded ? "; the table is as the disk holds it (see 'disk bitmap list')"
				: "; the table is no longer loaded (see 'disk list')");
	return REFUSED;
}

static int do_add(int argc, char **argv)
{
	const char *vol = argv[3], *name = argv[4], *why;
	uint32_t gran = BITMAP_GRAN_DEFAULT;
	bool persistent = false;
	struct storage_disk *s;

	for (int i = 5; i < argc; i++) {
		const char *a = argv[i];
		if (!strncmp(a, "granularity=", 12)) {
			uint64_t g;
			if (cmd_parse_size(a + 12, 0, &g) || g > BITMAP_GRAN_MAX) {
				cmd_error("disk bitmap add %s %s: '%s' is not a granularity (a "
					  "power of two from 4K to 16M: granularity=64K)",
					  vol, name, a + 12);
				return REFUSED;
			}
			gran = (uint32_t)g;
		} else if (!strcmp(a, "persistent=on")) {
			persistent = true;
		} else if (!strcmp(a, "persistent=off")) {
			persistent = false;
		} else {
			cmd_error("disk bitmap add %s %s: unknown option '%s' (granularity=SIZE, "
				  "persistent=on|off)",
				  vol, name, a);
			return REFUSED;
		}
	}
	if ((why = voltab_name_error(name))) {
		cmd_error("disk bitmap add %s '%s': %s", vol, name, why);
		return REFUSED;
	}
	const struct voltab_volume *v = need_volume(&s, "add", vol);
	if (!v)
		return REFUSED;
	if (!bitmap_gran_ok(gran, s->dev->block_size)) {
		cmd_error("disk bitmap add %s %s: granularity %u is not a power of two from %u to "
			  "16777216 bytes",
			  vol, name, gran,
			  s->dev->block_size > BITMAP_GRAN_MIN ? s->dev->block_size
							       : BITMAP_GRAN_MIN);
		return REFUSED;
	}
	uint64_t need = 0, id = v->id;
	int rc = voltab_bitmap_add(&s->tab, vol, name, gran, persistent, volume_user(id) != NULL,
				   storage_now_ns(), &need);
	switch (rc) {
	case 0:
		kprintf("disk %s: bitmap %s added, granularity %u bytes, %s\n", vol, name, gran,
			persistent ? "persistent" : "in memory only");
		return 0;
	case -EEXIST:
		cmd_error("disk bitmap add %s %s: the volume has a bitmap of that name", vol, name);
		break;
	case -EMFILE:
		cmd_error("disk bitmap add %s %s: the host has %u bitmaps, the most it keeps", vol,
			  name, VOLTAB_MAX_BITMAPS);
		break;
	case -ENOSPC:
		cmd_error("disk bitmap add %s %s: its bits take %lu bytes, the volume table has "
			  "room for %lu more (of %u; a coarser granularity= takes fewer)",
			  vol, name, need, VOLTAB_BITS_ROOM - voltab_bits_used(&s->tab),
			  VOLTAB_BITS_ROOM);
		break;
	case -EROFS:
		cmd_error("disk bitmap add %s %s: the table is read-only (written by a newer "
			  "Tern): persistent=off only",
			  vol, name);
		break;
	case -ENOMEM:
		cmd_error("disk bitmap add %s %s: out of memory", vol, name);
		break;
	default:
		return write_failed(s, "add", vol, name, rc);
	}
	return REFUSED;
}

static int do_remove_clear(bool remove, const char *vol, const char *name)
{
	const char *what = remove ? "remove" : "clear";
	struct storage_disk *s;
	const struct voltab_volume *v = need_volume(&s, what, vol);
	if (!v)
		return REFUSED;
	struct voltab_bitmap *b = need_bitmap(s, what, v, name);
	if (!b)
		return REFUSED;
	int rc = remove ? voltab_bitmap_remove(&s->tab, b, storage_now_ns())
			: voltab_bitmap_clear(&s->tab, b, storage_now_ns());
	if (rc == -EROFS) {
		cmd_error("disk bitmap %s %s %s: the table is read-only (written by a newer Tern)",
			  what, vol, name);
		return REFUSED;
	}
	if (rc)
		return write_failed(s, what, vol, name, rc);
	kprintf("disk %s: bitmap %s %s\n", vol, name, remove ? "removed" : "cleared");
	return 0;
}

static const char *state(const struct voltab_bitmap *b)
{
	if (b->inconsistent)
		return "inconsistent (Tern stopped while a VM wrote the volume: clear or remove "
		       "it)";
	if (b->in_use)
		return "active, in use on disk";
	return "active";
}

static int do_list(const char *vol)
{
	struct storage_disk *s;
	const struct voltab_volume *v = need_volume(&s, "list", vol);
	unsigned n = 0;

	if (!v)
		return REFUSED;
	for (unsigned i = 0; i < s->tab.nbitmaps; i++)
		n += s->tab.bm[i].vol_id == v->id;
	kprintf("disk %s: %u bitmap%s\n", vol, n, n == 1 ? "" : "s");
	if (!n)
		return 0;
	kprintf("%-31s %12s %-10s %14s  %s\n", "NAME", "GRANULARITY", "PERSISTENT", "DIRTY(bytes)",
		"STATE");
	for (unsigned i = 0; i < s->tab.nbitmaps; i++) {
		const struct voltab_bitmap *b = &s->tab.bm[i];
		if (b->vol_id != v->id)
			continue;
		uint64_t from = 0, off, len, dirty = 0;
		while (bitmap_next_run(&b->map, &from, &off, &len))
			dirty += len;
		kprintf("%-31s %12u %-10s %14lu  %s\n", b->name, bitmap_gran(&b->map),
			b->persistent ? "yes" : "no", dirty, state(b));
	}
	return 0;
}

static int do_show(const char *vol, const char *name)
{
	struct storage_disk *s;
	const struct voltab_volume *v = need_volume(&s, "show", vol);
	if (!v)
		return REFUSED;
	const struct voltab_bitmap *b = need_bitmap(s, "show", v, name);
	if (!b)
		return REFUSED;
	/* QEMU's rule: an inconsistent bitmap may miss writes, so its bits
	 * are not offered as if they meant something. */
	if (b->inconsistent) {
		cmd_error(
			"disk bitmap show %s %s: the bitmap is inconsistent (Tern stopped while a "
			"VM wrote the volume): clear or remove it",
			vol, name);
		return REFUSED;
	}
	uint64_t from = 0, off, len, runs = 0, dirty = 0;
	while (bitmap_next_run(&b->map, &from, &off, &len))
		runs++, dirty += len;
	kprintf("disk %s: bitmap %s, granularity %u, %lu dirty bytes in %lu run%s\n", vol, name,
		bitmap_gran(&b->map), dirty, runs, runs == 1 ? "" : "s");
	from = 0;
	for (uint64_t i = 0; i < SHOW_RUNS && bitmap_next_run(&b->map, &from, &off, &len); i++)
		kprintf("  offset %lu length %lu\n", off, len);
	if (runs > SHOW_RUNS)
		kprintf("  ... %lu more runs\n", runs - SHOW_RUNS);
	return 0;
}

int disk_bitmap_cmd(int argc, char **argv)
{
	const char *sub = argc >= 3 ? argv[2] : "";

	if (!strcmp(sub, "add") && argc >= 5)
		return do_add(argc, argv);
	if ((!strcmp(sub, "remove") || !strcmp(sub, "clear")) && argc == 5)
		return do_remove_clear(!strcmp(sub, "remove"), argv[3], argv[4]);
	if (!strcmp(sub, "list") && argc == 4)
		return do_list(argv[3]);
	if (!strcmp(sub, "show") && argc == 5)
		return do_show(argv[3], argv[4]);
	cmd_error("disk bitmap: bad arguments (disk bitmap add|remove|clear|show VOLUME NAME, "
		  "disk bitmap list VOLUME)");
	return REFUSED;
}
