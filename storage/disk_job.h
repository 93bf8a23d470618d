/* The `disk` commands that go on after the prompt returns: `disk import`
 * (disk_import.c) and `disk sha256` (disk_hash.c), one job at a time, and
 * what they share (disk_job.c): the one-job rule, `disk cancel`, progress
 * lines, and the check that the volume a job works on is still there.
 * docs/storage.md shows every line they print. */
#pragma once
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "storage/storage.h"

struct disk_job_vol;

/* The dispatch targets of disk_cmd.c: argv as the console split it
 * ("disk", "import", ...). */
int disk_import_cmd(int argc, char **argv);
int disk_hash_cmd(int argc, char **argv);
int disk_readonly_cmd(int argc, char **argv);
int disk_cancel_cmd(void);

/* True while an import or a hash reads or writes the volume with this id:
 * `disk delete` and a VM that attaches a volume should refuse it then. */
bool disk_job_uses(uint64_t vol_id);

/* What the last `disk import` left in a volume (by id) since boot: NULL
 * when nothing is known against it (never imported, or imported whole and,
 * with sha256=, matching), else why its content is not to be trusted:
 * "an import is writing it", "an import failed part way", "its import did
 * not match sha256=". Memory only: a reboot forgets it. */
const char *disk_import_distrust(uint64_t vol_id);

/* --- shared by the two jobs (disk_job.c) --------------------------------- */

/* What a command returns after printing its own error line: not CMD_USAGE
 * (-EINVAL), which makes the registry add "bad arguments" and the usage
 * (disk_cmd.c's DISK_REFUSED). */
#define DISK_JOB_REFUSED (-ERANGE)
static inline int disk_job_refused(int rc)
{
	return rc == -EINVAL ? DISK_JOB_REFUSED : rc;
}

/* The job under way, "import of web" or "sha256 of web", or NULL. */
const char *disk_job_running(void);
/* Each job's side of disk_job_running and disk cancel. */
bool disk_import_active(struct disk_job_vol *vol, const char **name);
bool disk_hash_active(struct disk_job_vol *vol, const char **name);
/* Which command the hash job runs for: "sha256", "read" or "readonly". */
const char *disk_hash_kind(void);
int disk_import_cancel(void);
int disk_hash_cancel(void);

/* The disk with a loaded table, or NULL after the error line every `disk`
 * command prints for a missing disk or table ("disk WHAT: ..."). */
struct storage_disk *disk_job_table(const char *what);
/* A volume as a job or a mark knows it: by id, and by the table's own id,
 * since a new table (`disk init force`) numbers its volumes from 1 again. */
struct disk_job_vol {
	uint8_t table[16];
	uint64_t id; /* 0: none */
};
void disk_job_vol_of(const struct voltab_volume *v, struct disk_job_vol *k);
/* True when k names the volume `id` of the table loaded now. */
bool disk_job_vol_is(const struct disk_job_vol *k, uint64_t id);
/* The volume k names if the table still holds it (a `disk delete` or
 * `disk init force` during a job removes it), else NULL. */
const struct voltab_volume *disk_job_volume(const struct disk_job_vol *k);
/* One progress line, "disk web: importing, 3.0 of 8.0 MiB (37%), 2.1
 * MiB/s", at most once a second: *next_ns is when the next may come. */
void disk_job_progress(const char *name, const char *doing, uint64_t done, uint64_t total,
		       uint64_t start_ns, uint64_t *next_ns);
/* 64 hex digits and a NUL. */
void disk_job_hex(const uint8_t sha[32], char out[65]);
