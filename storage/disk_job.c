/* What `disk import` and `disk sha256` share (disk_job.h): one job at a
 * time, `disk cancel`, progress lines, the volume's identity. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kernel/console/cmd.h"
#include "kernel/console/console.h"
#include "kernel/kprintf.h"
#include "kernel/time.h"
#include "storage/disk_job.h"

#define PROGRESS_NS 1000000000ull /* one line a second: readable, and cheap on a serial line */

const char *disk_job_running(void)
{
	static char what[48];
	const char *name;
	struct disk_job_vol k;

	if (disk_import_active(&k, &name))
		snprintf(what, sizeof(what), "import of %s", name);
	else if (disk_hash_active(&k, &name))
		snprintf(what, sizeof(what), "%s of %s", disk_hash_kind(), name);
	else
		return NULL;
	return what;
}

bool disk_job_uses(uint64_t vol_id)
{
	const char *name;
	struct disk_job_vol k;

	return (disk_import_active(&k, &name) && disk_job_vol_is(&k, vol_id)) ||
	       (disk_hash_active(&k, &name) && disk_job_vol_is(&k, vol_id));
}

int disk_cancel_cmd(void)
{
	/* Each job prints its own end line ("error: disk ... cancelled"). */
	if (!disk_import_cancel() || !disk_hash_cancel())
		return 0;
	cmd_error("disk cancel: no disk import or sha256 is running");
	return -ENOENT;
}

struct storage_disk *disk_job_table(const char *what)
{
	struct storage_disk *s = storage_disk();
	char why[256];

	/* The same words as disk_cmd.c's, which every disk command prints. */
	if (!s->dev) {
		if (s->probe_rc)
			cmd_error("disk %s: the NVMe controller failed to start (%d; see 'log')",
				  what, s->probe_rc);
		else
			cmd_error("disk %s: no NVMe controller (Tern found no disk at boot)", what);
		return NULL;
	}
	if (s->tab.load_rc) {
		cmd_error("disk %s: %s: %s", what, s->dev->name,
			  storage_table_problem(s, why, sizeof(why)));
		return NULL;
	}
	return s;
}

void disk_job_vol_of(const struct voltab_volume *v, struct disk_job_vol *k)
{
	memcpy(k->table, storage_disk()->tab.uuid, sizeof(k->table));
	k->id = v->id;
}

bool disk_job_vol_is(const struct disk_job_vol *k, uint64_t id)
{
	const struct voltab *t = &storage_disk()->tab;

	return k->id && k->id == id && t->loaded && !memcmp(k->table, t->uuid, sizeof(k->table));
}

const struct voltab_volume *disk_job_volume(const struct disk_job_vol *k)
{
	const struct voltab *t = &storage_disk()->tab;

	/* Ids are never reused within a table, so the same id in the same
	 * table is the same extent. */
	if (!k->id || !t->loaded || memcmp(k->table, t->uuid, sizeof(k->table)))
		return NULL;
	for (unsigned i = 0; i < t->nvolumes; i++)
		if (t->vol[i].id == k->id)
			return &t->vol[i];
	return NULL;
}

/* x MiB with one decimal, without floating point. */
static void mib(char *out, size_t size, uint64_t bytes)
{
	uint64_t tenths = (bytes * 10 + (1 << 19)) >> 20;
	snprintf(out, size, "%llu.%llu", (unsigned long long)(tenths / 10),
		 (unsigned long long)(tenths % 10));
}

void disk_job_progress(const char *name, const char *doing, uint64_t done, uint64_t total,
		       uint64_t start_ns, uint64_t *next_ns)
{
	uint64_t now = time_ns();
	char a[24], b[24], r[24];

	if (now < *next_ns)
		return;
	*next_ns = now + PROGRESS_NS;
	uint64_t el = now - start_ns;
	mib(a, sizeof(a), done);
	mib(b, sizeof(b), total);
	mib(r, sizeof(r), el ? (uint64_t)((unsigned __int128)done * 1000000000ull / el) : 0);
	console_break_line();
	kprintf("disk %s: %s, %s of %s MiB (%llu%%), %s MiB/s\n", name, doing, a, b,
		(unsigned long long)(total ? done * 100 / total : 100), r);
}

void disk_job_hex(const uint8_t sha[32], char out[65])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		out[2 * i] = digits[sha[i] >> 4];
		out[2 * i + 1] = digits[sha[i] & 15];
	}
	out[64] = 0;
}
