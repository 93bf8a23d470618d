/* `disk sha256 NAME [bytes=N]`: the SHA-256 of a volume, or of its first
 * N bytes, read through the blkdev (docs/storage.md). A main-loop poller
 * does it a few milliseconds at a time, so guests, the network and the
 * console go on while a large volume is read. */
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

/* One read of 64 KiB, then more while the pass has used under 2 ms: the
 * longest a hash holds the main loop is one read and its hashing past
 * that budget. */
#define HASH_BUF_BYTES (64u << 10)
#define HASH_PASS_NS 2000000ull

static struct {
	bool running;
	bool polled; /* the poller is on the main loop (added once, at the first hash) */
	char name[VOLTAB_NAME_MAX + 1];
	struct disk_job_vol vol;
	uint64_t start_ns, next_ns;
	struct vol_hash h;
	uint8_t *buf;
} job;

bool disk_hash_active(struct disk_job_vol *vol, const char **name)
{
	if (!job.running)
		return false;
	*vol = job.vol;
	*name = job.name;
	return true;
}

static void stop(void)
{
	free(job.buf);
	job.buf = NULL;
	job.running = false;
}

static void fail(const char *why, int rc)
{
	vol_hash_abort(&job.h);
	stop();
	console_break_line();
	log_info("disk", "sha256 %s failed: %s (%d)", job.name, why, rc);
	if (rc == -ECANCELED || rc == -ENOENT)
		kprintf("error: disk sha256 %s: %s\n", job.name, why);
	else
		kprintf("error: disk sha256 %s: %s after %llu bytes (%d)\n", job.name, why,
			(unsigned long long)job.h.done, rc);
}

int disk_hash_cancel(void)
{
	if (!job.running)
		return -ENOENT;
	fail("cancelled", -ECANCELED);
	return 0;
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
		disk_job_progress(job.name, "hashing", job.h.done, job.h.bytes, job.start_ns,
				  &job.next_ns);
		return true;
	}
	vol_hash_finish(&job.h, sha);
	stop();
	disk_job_hex(sha, hex);
	console_break_line();
	kprintf("disk %s: sha256 %s (%llu bytes)\n", job.name, hex,
		(unsigned long long)job.h.bytes);
	return true;
}

int disk_hash_cmd(int argc, char **argv)
{
	unsigned long long bytes = 0;
	bool some = false;

	if (argc < 3)
		return CMD_USAGE;
	const char *name = argv[2];
	for (int i = 3; i < argc; i++) {
		if (strncmp(argv[i], "bytes=", 6)) {
			cmd_error("disk sha256 %s: unknown option '%s' (bytes=N)", name, argv[i]);
			return DISK_JOB_REFUSED;
		}
		if (cmd_parse_u64(argv[i] + 6, &bytes) || !bytes) {
			cmd_error("disk sha256 %s: bytes=%s is not a positive number of bytes",
				  name, argv[i] + 6);
			return DISK_JOB_REFUSED;
		}
		some = true;
	}
	struct storage_disk *s = disk_job_table("sha256");
	if (!s)
		return -ENODEV;
	const struct voltab_volume *v = voltab_find(&s->tab, name);
	if (!v) {
		cmd_error("disk sha256 %s: no such volume", name);
		return -ENOENT;
	}
	if (!some)
		bytes = v->size;
	if (bytes > v->size) {
		cmd_error("disk sha256 %s: bytes=%llu is more than the volume's %llu bytes", name,
			  bytes, (unsigned long long)v->size);
		return DISK_JOB_REFUSED;
	}
	const char *other = disk_job_running();
	if (other) {
		cmd_error(
			"disk sha256 %s: another disk job is running (%s; one at a time: wait for "
			"its end line, or 'disk cancel')",
			name, other);
		return -EBUSY;
	}
	if (!job.polled) {
		if (loop_add("disk", hash_poll)) {
			cmd_error("disk sha256 %s: no room for the job on the main loop", name);
			return -ENOSPC;
		}
		job.polled = true;
	}
	uint8_t *buf = malloc(HASH_BUF_BYTES);
	if (!buf) {
		cmd_error("disk sha256 %s: out of memory for a %u KiB buffer", name,
			  HASH_BUF_BYTES >> 10);
		return -ENOMEM;
	}
	int rc = vol_hash_start(&job.h, s->dev, v->start_lba, bytes, buf, HASH_BUF_BYTES);
	if (rc) {
		free(buf);
		cmd_error("disk sha256 %s: the volume does not fit the disk (%d)", name, rc);
		return disk_job_refused(rc);
	}
	snprintf(job.name, sizeof(job.name), "%s", name);
	disk_job_vol_of(v, &job.vol);
	job.buf = buf;
	job.running = true;
	job.start_ns = time_ns();
	job.next_ns = job.start_ns + 1000000000ull;
	kprintf("disk %s: hashing %llu bytes\n", name, bytes);
	return 0;
}
