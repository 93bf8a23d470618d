/* Boot-time storage: find the NVMe disk, load its volume table, say in
 * one line what was found. A table that cannot be read is reported and
 * left as it is: only `disk init force` replaces it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "drivers/cmos_rtc.h"
#include "drivers/nvme.h"
#include "kernel/log.h"
#include "storage/storage.h"

static struct storage_disk disk;

struct storage_disk *storage_disk(void)
{
	return &disk;
}

uint64_t storage_now_ns(void)
{
	return wallclock_ns();
}

const char *storage_table_problem(const struct storage_disk *s, char *buf, unsigned size)
{
	const struct voltab_load_info *i = &s->tab.info;

	switch (s->tab.load_rc) {
	case 0:
		return "";
	case -ENOENT:
		return "no volume table (blank disk: 'disk init' creates one)";
	case -EPROTONOSUPPORT:
		snprintf(buf, size, "volume table %s; left as it is",
			 i->copy[0].rc == -EPROTONOSUPPORT ? i->copy[0].why : i->copy[1].why);
		return buf;
	case -ENOSPC:
		return "the disk is too small for a volume table (under 2 MiB)";
	default:
		snprintf(buf, size,
			 "volume table unreadable (copy 0: %s; copy 1: %s); left as it is "
			 "('disk init force' replaces it)",
			 i->copy[0].why, i->copy[1].why);
		return buf;
	}
}

void storage_init(void)
{
	char why[256];

	disk_register_commands();
	disk.dev = nvme_probe(0, &disk.probe_rc);
	if (!disk.dev) {
		if (disk.probe_rc)
			log_err("storage", "NVMe controller not usable (%d); no disk",
				disk.probe_rc);
		else
			log_info("storage", "no NVMe controller");
		return;
	}
	struct blkdev *d = disk.dev;
	uint64_t mib = d->blocks * d->block_size >> 20;
	if (voltab_load(&disk.tab, d)) {
		if (disk.tab.load_rc == -ENOENT)
			log_info("storage", "%s %lu MiB, %u-byte blocks, %s", d->name, mib,
				 d->block_size, storage_table_problem(&disk, why, sizeof(why)));
		else
			log_err("storage", "%s %lu MiB, %u-byte blocks: %s", d->name, mib,
				d->block_size, storage_table_problem(&disk, why, sizeof(why)));
		return;
	}
	const struct voltab_load_info *i = &disk.tab.info;
	if (i->repair) {
		int bad = 1 - i->used;
		const struct voltab_copy_info *b = &i->copy[bad];
		if (b->rc)
			log_warn("storage",
				 "%s: volume table copy %d is bad (%s); recovered from copy %d, "
				 "the next change rewrites copy %d",
				 d->name, bad, b->why, i->used, bad);
		else
			log_warn("storage",
				 "%s: volume table copy %d is older (generation %lu); recovered "
				 "from "
				 "copy %d, the next change rewrites copy %d",
				 d->name, bad, b->generation, i->used, bad);
	}
	char bitmaps[48] = "";
	if (disk.tab.nbitmaps)
		snprintf(bitmaps, sizeof(bitmaps), ", %u dirty bitmap%s", disk.tab.nbitmaps,
			 disk.tab.nbitmaps == 1 ? "" : "s");
	log_info("storage", "%s %lu MiB, %u-byte blocks, table generation %lu, %u volume%s%s%s",
		 d->name, mib, d->block_size, disk.tab.generation, disk.tab.nvolumes,
		 disk.tab.nvolumes == 1 ? "" : "s", bitmaps,
		 disk.tab.readonly ? " (read-only: written by a newer Tern)" : "");
	/* QEMU's rule: a bitmap left flagged in use may miss writes. Said at
	 * boot, where an operator looks after a crash. */
	for (unsigned i = 0; i < disk.tab.nbitmaps; i++) {
		const struct voltab_bitmap *b = &disk.tab.bm[i];
		const char *vol = "?";
		for (unsigned k = 0; k < disk.tab.nvolumes; k++)
			if (disk.tab.vol[k].id == b->vol_id)
				vol = disk.tab.vol[k].name;
		if (b->inconsistent)
			log_warn("storage",
				 "%s: dirty bitmap %s of volume %s is inconsistent (Tern stopped "
				 "while a VM wrote the volume): 'disk bitmap clear %s %s' or "
				 "'remove' it",
				 d->name, b->name, vol, vol, b->name);
	}
}
