/* The `disk` console command: list, create, delete volumes on the host's
 * NVMe disk, and init its volume table (docs/storage.md shows every
 * output and error). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "drivers/nvme.h"
#include "kernel/console/cmd.h"
#include "kernel/kprintf.h"
#include "kernel/random.h"
#include "kernel/vdev/rtc.h"
#include "storage/disk_job.h"
#include "storage/storage.h"
#include "storage/volume_claim.h"

/* A refused argument whose error line is printed already: not CMD_USAGE
 * (-EINVAL), which makes the registry add "bad arguments" and the usage. */
#define DISK_REFUSED (-ERANGE)

static int refused(int rc)
{
	return rc == CMD_USAGE ? DISK_REFUSED : rc;
}

/* The disk, or NULL after an error line saying why there is none. */
static struct storage_disk *need_disk(const char *what)
{
	struct storage_disk *s = storage_disk();

	if (s->dev)
		return s;
	if (s->probe_rc)
		cmd_error("disk %s: the NVMe controller failed to start (%d; see 'log')", what,
			  s->probe_rc);
	else
		cmd_error("disk %s: no NVMe controller (Tern found no disk at boot)", what);
	return NULL;
}

/* The disk with a loaded table, or NULL after an error line. */
static struct storage_disk *need_table(const char *what)
{
	struct storage_disk *s = need_disk(what);
	char why[256];

	if (!s)
		return NULL;
	if (s->tab.load_rc) {
		cmd_error("disk %s: %s: %s", what, s->dev->name,
			  storage_table_problem(s, why, sizeof(why)));
		return NULL;
	}
	return s;
}

/* Before a change: which copy, if any, was found bad or old at load. */
static int copy_to_repair(const struct storage_disk *s)
{
	return s->tab.info.repair ? 1 - s->tab.info.used : -1;
}

/* After the change reached both copies: the bad one is good again. */
static void note_repair(int copy)
{
	if (copy >= 0)
		kprintf("disk: volume table copy %d rewritten\n", copy);
}

/* A change whose write failed: the table was read back from the disk
 * (voltab_create/delete/format), so say what the disk holds now. */
static void write_failed(struct storage_disk *s, const char *what, int rc, bool done,
			 const char *done_text, const char *undone_text)
{
	char why[256];

	if (!s->tab.loaded)
		cmd_error("%s: writing the volume table failed (%d); %s", what, rc,
			  storage_table_problem(s, why, sizeof(why)));
	else if (done)
		cmd_error("%s: writing the volume table failed (%d), but the change reached the "
			  "disk: %s",
			  what, rc, done_text);
	else
		cmd_error("%s: writing the volume table failed (%d); %s", what, rc, undone_text);
}

static void print_time(uint64_t ns)
{
	struct rtc_time t;

	if (!ns) {
		kprintf("-");
		return;
	}
	rtc_from_epoch((int64_t)(ns / 1000000000ull), &t);
	kprintf("%04ld-%02d-%02d %02d:%02d:%02d", (long)t.year, t.mon, t.mday, t.hour, t.min,
		t.sec);
}

/* --- list -------------------------------------------------------------------- */

static int do_list(void)
{
	struct storage_disk *s = need_disk("list");
	char desc[128], why[256];

	if (!s)
		return -ENODEV;
	struct blkdev *d = s->dev;
	const struct blkdev_counters *c = &d->counters;
	nvme_describe(d, desc, sizeof(desc));
	kprintf("device:  %s, %lu MiB (%lu blocks of %u bytes), %s\n", d->name,
		d->blocks * d->block_size >> 20, d->blocks, d->block_size, desc);
	kprintf("io:      %lu reads, %lu writes, %lu flushes, %lu errors, %lu timeouts, %lu "
		"resets\n",
		c->reads, c->writes, c->flushes, c->errors, c->timeouts, c->resets);
	if (s->tab.load_rc) {
		cmd_error("disk list: %s: %s", d->name, storage_table_problem(s, why, sizeof(why)));
		return -ENOENT;
	}
	const struct voltab *t = &s->tab;
	struct voltab_space sp;
	voltab_space(t, &sp);
	kprintf("table:   generation %lu, %u volume%s%s\n", t->generation, t->nvolumes,
		t->nvolumes == 1 ? "" : "s",
		t->readonly ? " (read-only: written by a newer Tern)" : "");
	kprintf("space:   %lu MiB for volumes, %lu MiB used, %lu MiB free (largest free extent "
		"%lu MiB)\n",
		sp.data_bytes >> 20, sp.used_bytes >> 20, sp.free_bytes >> 20,
		sp.largest_free >> 20);
	if (!t->nvolumes)
		return 0;
	kprintf("%-31s %10s %12s %6s  %s\n", "NAME", "SIZE(MiB)", "START(LBA)", "ID",
		"CREATED (UTC)");
	for (unsigned i = 0; i < t->nvolumes; i++) {
		const struct voltab_volume *v = &t->vol[i];
		kprintf("%-31s %10lu %12lu %6lu  ", v->name, v->size >> 20, v->start_lba, v->id);
		print_time(v->created_ns);
		const char *user = volume_user(v->id);
		const struct voltab_volume *base = v->parent_id ? voltab_find_id(t, v->parent_id) : NULL;
		if (v->flags & VOLTAB_VOL_HASHED)
			kprintf("  read-only base (sha256 %02x%02x%02x%02x..., %u clone%s)",
				v->sha256[0], v->sha256[1], v->sha256[2], v->sha256[3],
				voltab_clones_of(t, v->id), voltab_clones_of(t, v->id) == 1 ? "" : "s");
		else if (v->flags & VOLTAB_VOL_READONLY)
			kprintf("  read-only");
		if (base)
			kprintf("  clone of %s", base->name);
		kprintf("%s%s\n", user ? "  in use by VM " : "", user ? user : "");
	}
	return 0;
}

/* --- create, delete -------------------------------------------------------- */

static int do_create(int argc, char **argv)
{
	const char *name = argv[2];
	uint64_t size = 0;
	const char *why;

	for (int i = 3; i < argc; i++) {
		if (strncmp(argv[i], "size=", 5)) {
			cmd_error("disk create %s: unknown option '%s' (size=GIB or size=NNNM)",
				  name, argv[i]);
			return DISK_REFUSED;
		}
		if (cmd_parse_size(argv[i] + 5, 30, &size) || !size || size % VOLTAB_ALIGN) {
			cmd_error("disk create %s: '%s' is not a size (size=GIB, or size=NNNM for "
				  "MiB)",
				  name, argv[i] + 5);
			return DISK_REFUSED;
		}
	}
	if ((why = voltab_name_error(name))) {
		cmd_error("disk create '%s': %s", name, why);
		return DISK_REFUSED;
	}
	if (!size) {
		cmd_error("disk create %s: size= is missing (size=GIB, or size=NNNM for MiB)",
			  name);
		return DISK_REFUSED;
	}
	struct storage_disk *s = need_table("create");
	if (!s)
		return -ENODEV;
	const struct voltab_volume *v;
	struct voltab_space sp;
	char what[64];
	int repair = copy_to_repair(s);
	int rc = voltab_create(&s->tab, name, size, storage_now_ns(), &v);
	switch (rc) {
	case 0:
		kprintf("disk %s: created, %lu MiB at LBA %lu, id %lu\n", name, v->size >> 20,
			v->start_lba, v->id);
		note_repair(repair);
		return 0;
	case -EEXIST:
		cmd_error("disk create %s: a volume of that name exists", name);
		break;
	case -EMFILE:
		cmd_error("disk create %s: the table is full (%u volumes)", name,
			  VOLTAB_MAX_VOLUMES);
		break;
	case -ENOSPC:
		voltab_space(&s->tab, &sp);
		cmd_error("disk create %s: no free extent of %lu MiB (largest free: %lu MiB)", name,
			  size >> 20, sp.largest_free >> 20);
		break;
	case -EROFS:
		cmd_error("disk create %s: the table is read-only (written by a newer Tern)", name);
		break;
	default:
		snprintf(what, sizeof(what), "disk create %s", name);
		write_failed(s, what, rc, voltab_find(&s->tab, name), "the volume is created",
			     "not created");
	}
	return refused(rc);
}

static int do_delete(const char *name)
{
	struct storage_disk *s = need_table("delete");

	if (!s)
		return -ENODEV;
	const struct voltab_volume *v = voltab_find(&s->tab, name);
	uint64_t size = v ? v->size : 0;
	const char *user = v ? volume_user(v->id) : NULL;
	char what[64];
	if (user) {
		cmd_error("disk delete %s: in use by VM %s ('vm destroy %s' first)", name, user,
			  user);
		return -EBUSY;
	}
	int repair = copy_to_repair(s);
	unsigned clones = v ? voltab_clones_of(&s->tab, v->id) : 0;
	if (v)
		size = voltab_extent_bytes(v);
	int rc = voltab_delete(&s->tab, name, storage_now_ns());
	switch (rc) {
	case 0:
		kprintf("disk %s: deleted, %lu MiB free again\n", name, size >> 20);
		note_repair(repair);
		return 0;
	case -ENOENT:
		cmd_error("disk delete %s: no such volume", name);
		break;
	case -EBUSY:
		cmd_error("disk delete %s: the base of %u clone%s (delete them first; 'disk list')",
			  name, clones, clones == 1 ? "" : "s");
		break;
	case -EROFS:
		cmd_error("disk delete %s: the table is read-only (written by a newer Tern)", name);
		break;
	default:
		snprintf(what, sizeof(what), "disk delete %s", name);
		write_failed(s, what, rc, !voltab_find(&s->tab, name), "the volume is deleted",
			     "not deleted");
	}
	return refused(rc);
}

/* --- clone ------------------------------------------------------------------- */

static int do_clone(const char *base, const char *name)
{
	struct storage_disk *s = need_table("clone");
	const char *why;
	char what[96];

	if (!s)
		return -ENODEV;
	if ((why = voltab_name_error(name))) {
		cmd_error("disk clone %s '%s': %s", base, name, why);
		return DISK_REFUSED;
	}
	const struct voltab_volume *b = voltab_find(&s->tab, base), *v;
	int repair = copy_to_repair(s);
	int rc = voltab_clone(&s->tab, base, name, storage_now_ns(), &v);
	struct voltab_space sp;
	switch (rc) {
	case 0:
		kprintf("disk %s: clone of %s, %lu MiB at LBA %lu (+%lu MiB map), id %lu\n", name,
			base, v->size >> 20, v->start_lba, v->map_bytes >> 20, v->id);
		note_repair(repair);
		return 0;
	case -ENOENT:
		cmd_error("disk clone %s %s: no such volume '%s'", base, name, base);
		break;
	case -EPERM:
		if (b && b->parent_id)
			cmd_error("disk clone %s %s: %s is a clone; a base must be a plain volume",
				  base, name, base);
		else
			cmd_error("disk clone %s %s: %s is not a base ('disk readonly %s' makes it "
				  "one)",
				  base, name, base, base);
		break;
	case -EEXIST:
		cmd_error("disk clone %s %s: a volume of that name exists", base, name);
		break;
	case -EMFILE:
		cmd_error("disk clone %s %s: the table is full (%u volumes)", base, name,
			  VOLTAB_MAX_VOLUMES);
		break;
	case -ENOSPC:
		voltab_space(&s->tab, &sp);
		cmd_error("disk clone %s %s: no free extent of %lu MiB (largest free: %lu MiB)",
			  base, name, (b->size + voltab_clone_map_bytes(b->size)) >> 20,
			  sp.largest_free >> 20);
		break;
	case -EROFS:
		cmd_error("disk clone %s %s: the table is read-only (written by a newer Tern)",
			  base, name);
		break;
	default:
		snprintf(what, sizeof(what), "disk clone %s %s", base, name);
		write_failed(s, what, rc, voltab_find(&s->tab, name), "the clone is created",
			     "not created");
	}
	return refused(rc);
}

/* --- init -------------------------------------------------------------------- */

static int do_init(bool force)
{
	struct storage_disk *s = need_disk("init");
	char why[256];
	uint8_t uuid[16];

	if (!s)
		return -ENODEV;
	if (!force && s->tab.load_rc != -ENOENT) {
		if (!s->tab.load_rc)
			cmd_error("disk init: %s has a volume table (generation %lu, %u volumes); "
				  "'disk init force' replaces it and loses them",
				  s->dev->name, s->tab.generation, s->tab.nvolumes);
		else
			cmd_error("disk init: %s: %s", s->dev->name,
				  storage_table_problem(s, why, sizeof(why)));
		return -EEXIST;
	}
	/* A new table forgets every volume while guests still write to them,
	 * and restarts volume ids, which the in-use marks are kept by. */
	if (volume_claims()) {
		cmd_error(
			"disk init: %u volume%s in use by VMs (see 'vm list'); destroy them first",
			volume_claims(), volume_claims() == 1 ? " is" : "s are");
		return -EBUSY;
	}
	int rc = random_bytes(uuid, sizeof(uuid));
	if (rc) {
		cmd_error("disk init: no random table id (%d)", rc);
		return refused(rc);
	}
	/* Above every generation seen, so no old copy can win a later load. */
	uint64_t gen = s->tab.info.max_generation + 1;
	if (!s->tab.load_rc && s->tab.generation >= gen)
		gen = s->tab.generation + 1;
	rc = voltab_format(&s->tab, s->dev, uuid, storage_now_ns(), gen);
	if (rc == -ENOSPC) {
		cmd_error("disk init: %s: the disk is too small for a volume table (under 2 MiB)",
			  s->dev->name);
		return -ENOSPC;
	}
	if (rc) {
		char what[64], done[64];
		snprintf(what, sizeof(what), "disk init: %s", s->dev->name);
		snprintf(done, sizeof(done), "the new table (generation %lu) is in use",
			 s->tab.generation);
		write_failed(s, what, rc, s->tab.loaded && s->tab.generation == gen, done,
			     "no new table");
		return refused(rc);
	}
	struct voltab_space sp;
	voltab_space(&s->tab, &sp);
	kprintf("disk: %s: new volume table, generation %lu, %lu MiB for volumes\n", s->dev->name,
		s->tab.generation, sp.data_bytes >> 20);
	return 0;
}

static int cmd_disk(int argc, char **argv)
{
	if (argc == 1 || (argc == 2 && !strcmp(argv[1], "list")))
		return do_list();
	if (argc >= 3 && !strcmp(argv[1], "create"))
		return do_create(argc, argv);
	if (argc == 3 && !strcmp(argv[1], "delete"))
		return do_delete(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "init"))
		return do_init(false);
	if (argc == 3 && !strcmp(argv[1], "init") && !strcmp(argv[2], "force"))
		return do_init(true);
	if (argc >= 2 && !strcmp(argv[1], "import"))
		return disk_import_cmd(argc, argv);
	if (argc == 4 && !strcmp(argv[1], "clone"))
		return do_clone(argv[2], argv[3]);
	if (argc >= 3 && !strcmp(argv[1], "readonly"))
		return disk_readonly_cmd(argc, argv);
	if (argc >= 3 && (!strcmp(argv[1], "sha256") || !strcmp(argv[1], "read")))
		return disk_hash_cmd(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "bitmap"))
		return disk_bitmap_cmd(argc, argv);
	if (argc == 2 && !strcmp(argv[1], "cancel"))
		return disk_cancel_cmd();
	return CMD_USAGE;
}

static const struct cmd disk_cmd = {
	.name = "disk",
	.summary = "volumes on the host's NVMe disk: list, create, delete, import, sha256, bitmap, "
		   "readonly, clone; init",
	.usage = "disk [list]                   (the disk, its space, every volume)\n"
		 "disk create NAME size=GIB     (size=NNNM for MiB; NAME: 1-31 of A-Za-z0-9._-)\n"
		 "disk delete NAME\n"
		 "disk init [force]             (a new, empty volume table; force replaces one)\n"
		 "disk import NAME http://ADDR[:PORT]/PATH [sha256=HEX]\n"
		 "                              (in the background: fills volume NAME from it)\n"
		 "disk import                   (the import under way, what earlier ones left)\n"
		 "disk sha256 NAME [bytes=N]    (in the background: the volume's SHA-256)\n"
		 "disk read NAME [bytes=N]      (in the background: reads it, says how fast)\n"
		 "disk readonly NAME [off]      (in the background: hashed, then a base for clones)\n"
		 "disk clone BASE NAME          (a copy-on-write volume over read-only BASE)\n"
		 "disk cancel                   (stops the import, sha256 or readonly under way)\n"
		 "disk bitmap add VOLUME NAME [granularity=64K] [persistent=on|off]\n"
		 "disk bitmap remove|clear|show VOLUME NAME\n"
		 "disk bitmap list VOLUME       (named dirty block bitmaps of the volume)",
	.run = cmd_disk,
};

void disk_register_commands(void)
{
	cmd_register(&disk_cmd);
}
