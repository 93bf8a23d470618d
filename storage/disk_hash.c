/* `disk sha256 NAME [bytes=N]`: the SHA-256 of a volume, or of its first
 * N bytes, read through the blkdev (docs/storage.md); a clone is read as
 * its guest sees it. `disk read NAME [bytes=N]` only reads them, 1 MiB at
 * a time, and says how fast: the disk's own speed, next to a guest's. `disk readonly NAME` is the same hash of the whole
 * volume, which then makes it a base for clones, named by that hash. A
 * main-loop poller does it a few milliseconds at a time, so guests, the
 * network and the console go on while a large volume is read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/console/cmd.h"
#include "kernel/console/console.h"
#include "kernel/kprintf.h"
#include "kernel/log.h"
#include "kernel/loop.h"
#include "kernel/time.h"
#include "storage/disk_job.h"
#include "storage/vol_hash.h"
#include "storage/vol_view.h"
#include "storage/volume_claim.h"

/* One read of 64 KiB, then more while the pass has used under 2 ms: the
 * longest a hash holds the main loop is one read and its hashing past
 * that budget. */
#define HASH_BUF_BYTES (64u << 10)
#define READ_BUF_BYTES (1u << 20)
#define HASH_PASS_NS 2000000ull

static struct {
	bool running;
	bool polled; /* the poller is on the main loop (added once, at the first hash) */
	char name[VOLTAB_NAME_MAX + 1];
	struct disk_job_vol vol;
	uint64_t start_ns, next_ns;
	struct vol_hash h;
	struct vol_view view;
	bool freeze; /* disk readonly: the volume is claimed, and made a base at the end */
	bool just_read; /* disk read: no hash, a rate at the end */
	uint8_t *buf;
} job;

/* The owner a frozen volume is claimed by while it is hashed: no guest
 * may write it then ("in use by VM (disk readonly)"). */
#define FREEZE_OWNER "(disk readonly)"

bool disk_hash_active(struct disk_job_vol *vol, const char **name)
{
	if (!job.running)
		return false;
	*vol = job.vol;
	*name = job.name;
	return true;
}

const char *disk_hash_kind(void)
{
	return job.freeze ? "readonly" : job.just_read ? "read" : "sha256";
}

static void stop(void)
{
	free(job.buf);
	job.buf = NULL;
	vol_view_close(&job.view);
	if (job.freeze)
		volume_release(job.vol.id);
	job.freeze = false;
	job.just_read = false;
	job.running = false;
}

static void fail(const char *why, int rc)
{
	const char *cmd = disk_hash_kind();

	vol_hash_abort(&job.h);
	stop();
	console_break_line();
	log_info("disk", "sha256 %s failed: %s (%d)", job.name, why, rc);
	if (rc == -ECANCELED || rc == -ENOENT)
		kprintf("error: disk %s %s: %s\n", cmd, job.name, why);
	else
		kprintf("error: disk %s %s: %s after %llu bytes (%d)\n", cmd, job.name, why,
			(unsigned long long)job.h.done, rc);
}

int disk_hash_cancel(void)
{
	if (!job.running)
		return -ENOENT;
	fail("cancelled", -ECANCELED);
	return 0;
}

/* The end of `disk readonly`: the hash is the volume's, as nothing wrote
 * it while it was read (it was claimed). */
static void make_base(const uint8_t sha[32])
{
	struct storage_disk *s = storage_disk();

	if (!disk_job_volume(&job.vol)) {
		kprintf("error: disk readonly %s: the volume was deleted\n", job.name);
		return;
	}
	int rc = voltab_set_base(&s->tab, job.name, sha, storage_now_ns());
	if (rc) {
		kprintf("error: disk readonly %s: writing the volume table failed (%d)%s\n",
			job.name, rc,
			voltab_find(&s->tab, job.name) &&
					(voltab_find(&s->tab, job.name)->flags & VOLTAB_VOL_READONLY)
				? ", but the change reached the disk: the volume is read-only"
				: "; the volume stays writable");
		return;
	}
	log_info("disk", "%s is read-only now: a base for clones", job.name);
	kprintf("disk %s: read-only now, a base for clones ('disk clone %s NEW')\n", job.name,
		job.name);
}

static bool hash_poll(void)
{
	uint8_t sha[32];
	char hex[65];

	if (!job.running)
		return false;
	uint64_t t0 = time_ns();
	int rc = 1;
	while (rc == 1 && time_ns() - t0 < HASH_PASS_NS) {
		if (!disk_job_volume(&job.vol)) {
			fail("the volume was deleted", -ENOENT);
			return true;
		}
		rc = vol_hash_step(&job.h);
	}
	if (rc < 0) {
		fail("reading the volume failed", rc);
		return true;
	}
	if (rc == 1) {
		disk_job_progress(job.name, job.just_read ? "reading" : "hashing", job.h.done,
				  job.h.bytes, job.start_ns, &job.next_ns);
		return true;
	}
	vol_hash_finish(&job.h, sha);
	if (job.just_read) {
		uint64_t us = (time_ns() - job.start_ns) / 1000;
		stop();
		console_break_line();
		uint64_t x10 = us ? job.h.bytes * 10000000ull / us >> 20 : 0; /* MiB/s x 10 */
		kprintf("disk %s: read %llu bytes in %llu ms, %llu.%llu MiB/s\n", job.name,
			(unsigned long long)job.h.bytes, (unsigned long long)(us / 1000),
			(unsigned long long)(x10 / 10), (unsigned long long)(x10 % 10));
		return true;
	}
	bool freeze = job.freeze;
	stop();
	disk_job_hex(sha, hex);
	console_break_line();
	kprintf("disk %s: sha256 %s (%llu bytes)\n", job.name, hex,
		(unsigned long long)job.h.bytes);
	if (freeze)
		make_base(sha);
	return true;
}

/* Starts the job on volume v: `cmd` names the command in error lines. */
static int start(const char *cmd, const struct voltab_volume *v, uint64_t bytes, bool freeze,
		 bool just_read)
{
	uint32_t buf_bytes = just_read ? READ_BUF_BYTES : HASH_BUF_BYTES;
	const char *name = v->name;
	const char *other = disk_job_running();

	if (other) {
		cmd_error("disk %s %s: another disk job is running (%s; one at a time: wait for "
			  "its end line, or 'disk cancel')",
			  cmd, name, other);
		return -EBUSY;
	}
	if (!job.polled) {
		if (loop_add("disk", hash_poll)) {
			cmd_error("disk %s %s: no room for the job on the main loop", cmd, name);
			return -ENOSPC;
		}
		job.polled = true;
	}
	if (freeze && volume_claim(v->id, FREEZE_OWNER)) {
		const char *user = volume_user(v->id);
		cmd_error("disk %s %s: in use by VM %s ('vm destroy %s' first)", cmd, name,
			  user ? user : "?", user ? user : "?");
		return -EBUSY;
	}
	uint8_t *buf = malloc(buf_bytes);
	int rc = buf ? vol_view_open(v, &job.view) : -ENOMEM;
	if (!rc) {
		rc = vol_hash_start(&job.h, job.view.dev, job.view.start, bytes, buf, buf_bytes);
		job.h.read_only = just_read;
		if (rc)
			vol_view_close(&job.view);
	}
	if (rc) {
		free(buf);
		if (freeze)
			volume_release(v->id);
		cmd_error("disk %s %s: %s (%d)", cmd, name,
			  rc == -ENOMEM	  ? "out of memory for its buffers"
			  : rc == -ENOENT ? "the clone's base is missing"
					  : "the volume cannot be read",
			  rc);
		return disk_job_refused(rc);
	}
	snprintf(job.name, sizeof(job.name), "%s", name);
	disk_job_vol_of(v, &job.vol);
	job.buf = buf;
	job.freeze = freeze;
	job.just_read = just_read;
	job.running = true;
	job.start_ns = time_ns();
	job.next_ns = job.start_ns + 1000000000ull;
	kprintf("disk %s: %s %llu bytes\n", name, just_read ? "reading" : "hashing",
		(unsigned long long)bytes);
	return 0;
}

int disk_hash_cmd(int argc, char **argv)
{
	const char *cmd = argv[1]; /* sha256 or read */
	bool just_read = !strcmp(cmd, "read");
	unsigned long long bytes = 0;
	bool some = false;

	if (argc < 3)
		return CMD_USAGE;
	const char *name = argv[2];
	for (int i = 3; i < argc; i++) {
		if (strncmp(argv[i], "bytes=", 6)) {
			cmd_error("disk %s %s: unknown option '%s' (bytes=N)", cmd, name, argv[i]);
			return DISK_JOB_REFUSED;
		}
		if (cmd_parse_u64(argv[i] + 6, &bytes) || !bytes) {
			cmd_error("disk %s %s: bytes=%s is not a positive number of bytes", cmd,
				  name, argv[i] + 6);
			return DISK_JOB_REFUSED;
		}
		some = true;
	}
	struct storage_disk *s = disk_job_table(cmd);
	if (!s)
		return -ENODEV;
	const struct voltab_volume *v = voltab_find(&s->tab, name);
	if (!v) {
		cmd_error("disk %s %s: no such volume", cmd, name);
		return -ENOENT;
	}
	if (!some)
		bytes = v->size;
	if (bytes > v->size) {
		cmd_error("disk %s %s: bytes=%llu is more than the volume's %llu bytes", cmd,
			  name, bytes, (unsigned long long)v->size);
		return DISK_JOB_REFUSED;
	}
	return start(cmd, v, bytes, false, just_read);
}

/* `disk readonly NAME`: hashed in the background, then a base;
 * `disk readonly NAME off`: writable again, once no clone uses it. */
int disk_readonly_cmd(int argc, char **argv)
{
	if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "off")))
		return CMD_USAGE;
	const char *name = argv[2];
	struct storage_disk *s = disk_job_table("readonly");
	if (!s)
		return -ENODEV;
	const struct voltab_volume *v = voltab_find(&s->tab, name);
	if (!v) {
		cmd_error("disk readonly %s: no such volume", name);
		return -ENOENT;
	}
	if (s->tab.readonly) {
		cmd_error("disk readonly %s: the table is read-only (written by a newer Tern)",
			  name);
		return -EROFS;
	}
	if (v->parent_id) {
		cmd_error("disk readonly %s: the volume is a clone; a base must be a plain volume",
			  name);
		return DISK_JOB_REFUSED;
	}
	if (argc == 3) {
		if (v->flags & VOLTAB_VOL_READONLY) {
			cmd_error("disk readonly %s: the volume is read-only already", name);
			return DISK_JOB_REFUSED;
		}
		return start("readonly", v, v->size, true, false);
	}
	unsigned n = voltab_clones_of(&s->tab, v->id);
	if (n) {
		cmd_error("disk readonly %s off: %u clone%s use%s it as their base ('disk list')",
			  name, n, n == 1 ? "" : "s", n == 1 ? "s" : "");
		return -EBUSY;
	}
	if (!(v->flags & VOLTAB_VOL_READONLY)) {
		kprintf("disk %s: writable already\n", name);
		return 0;
	}
	int rc = voltab_set_base(&s->tab, name, NULL, storage_now_ns());
	if (rc) {
		cmd_error("disk readonly %s off: writing the volume table failed (%d)", name, rc);
		return rc;
	}
	kprintf("disk %s: writable again\n", name);
	return 0;
}
