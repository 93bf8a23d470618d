/* `disk import NAME URL [sha256=HEX]`: an HTTP body streamed onto an
 * existing volume (docs/storage.md). The transfer is net/http_fetch.c,
 * the one `image fetch` uses, so its rules hold here too: one HTTP
 * transfer at a time, a Content-Length first, 30 s of silence ends it.
 * The bytes go to the disk through vol_stream (one bounded buffer, written
 * from the receive path as it fills) and into SHA-256 as they arrive.
 *
 * What a volume holds afterwards is remembered per volume id until reboot
 * (disk_import_distrust), because a failed import leaves a mix of the new
 * image and what was there before. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/console/cmd.h"
#include "kernel/console/console.h"
#include "kernel/kprintf.h"
#include "kernel/log.h"
#include "kernel/time.h"
#include "mbedtls/sha256.h"
#include "net/addr.h"
#include "net/http_fetch.h"
#include "storage/disk_job.h"
#include "storage/vol_stream.h"
#include "storage/volume_claim.h"

/* One NVMe write per 128 KiB received: few commands, and each holds the
 * main loop only for the time the disk takes to write 128 KiB. */
#define IMPORT_BUF_BYTES (128u << 10)
#define URL_MAX 240

enum mark { MARK_NONE, MARK_OK, MARK_CHECKED, MARK_PARTIAL, MARK_MISMATCH };

/* The last import's outcome per volume, since boot. */
#define MARKS_MAX 32
static struct {
	struct disk_job_vol vol; /* id 0: free */
	enum mark mark;
	uint64_t bytes; /* what reached the disk */
	char url[URL_MAX + 1];
} marks[MARKS_MAX];

static struct {
	bool running;
	char name[VOLTAB_NAME_MAX + 1];
	struct disk_job_vol vol;
	uint64_t size; /* the volume's */
	char url[URL_MAX + 1];
	bool check_sha;
	uint8_t want[32];
	uint64_t len; /* Content-Length; 0 until the head arrived */
	uint64_t start_ns, next_ns;
	struct vol_stream st;
	uint8_t *buf;
	mbedtls_sha256_context sha;
	char why[320];
} imp;

static void set_mark(const struct disk_job_vol *k, enum mark m, uint64_t bytes, const char *url)
{
	int slot = -1;

	for (int i = 0; i < MARKS_MAX && slot < 0; i++)
		if (!memcmp(&marks[i].vol, k, sizeof(*k)))
			slot = i;
	/* Else a free slot, or one whose volume is gone; else the first. */
	for (int i = 0; i < MARKS_MAX && slot < 0; i++)
		if (!disk_job_volume(&marks[i].vol))
			slot = i;
	if (slot < 0)
		slot = 0;
	marks[slot].vol = *k;
	marks[slot].mark = m;
	marks[slot].bytes = bytes;
	snprintf(marks[slot].url, sizeof(marks[slot].url), "%s", url);
}

const char *disk_import_distrust(uint64_t vol_id)
{
	if (imp.running && disk_job_vol_is(&imp.vol, vol_id))
		return "an import is writing it";
	for (int i = 0; i < MARKS_MAX; i++) {
		if (!disk_job_vol_is(&marks[i].vol, vol_id))
			continue;
		switch (marks[i].mark) {
		case MARK_PARTIAL:
			return "an import failed part way";
		case MARK_MISMATCH:
			return "its import did not match sha256=";
		default:
			return NULL;
		}
	}
	return NULL;
}

bool disk_import_active(struct disk_job_vol *vol, const char **name)
{
	if (!imp.running)
		return false;
	*vol = imp.vol;
	*name = imp.name;
	return true;
}

int disk_import_cancel(void)
{
	if (!imp.running)
		return -ENOENT;
	http_fetch_cancel(); /* end() runs, and prints "cancelled", before this returns */
	return 0;
}

/* ---- the transfer's sink (net/http_fetch.h) ---------------------------------------- */

static int import_begin(void *ctx, uint64_t len, const char **why)
{
	(void)ctx;
	if (!len)
		return *why = "the server sent an empty file", -EINVAL;
	if (len > imp.size) {
		/* Refused before a byte is written: the volume is unchanged. */
		snprintf(imp.why, sizeof(imp.why),
			 "the server announces %llu bytes, more than the volume's %llu MiB (%llu "
			 "bytes)",
			 (unsigned long long)len, (unsigned long long)(imp.size >> 20),
			 (unsigned long long)imp.size);
		return *why = imp.why, -EFBIG;
	}
	imp.len = len;
	return 0;
}

static int import_data(void *ctx, const void *buf, size_t n, const char **why)
{
	(void)ctx;
	/* The table may have changed under the import (`disk delete`, `disk
	 * init force`): never write where the volume no longer is. */
	if (!disk_job_volume(&imp.vol))
		return *why = "the volume was deleted during the import", -ENOENT;
	const char *user = volume_user(imp.vol.id);
	if (user) {
		snprintf(imp.why, sizeof(imp.why), "VM %s started using the volume", user);
		return *why = imp.why, -EBUSY;
	}
	/* The bytes accepted now reach the disk with this put or a later one
	 * (the tail block of the last, padded with zeros, is in the granule
	 * of the last byte): marked once, here, before any of them is
	 * written, as a guest's write is (kernel/vm_disk.c). */
	voltab_bitmaps_mark(&storage_disk()->tab, imp.vol.id, imp.st.taken, n);
	int rc = vol_stream_put(&imp.st, buf, n);
	if (rc == -EFBIG)
		return *why = "more bytes than the volume holds", rc;
	if (rc) {
		snprintf(imp.why, sizeof(imp.why),
			 "writing the volume failed after %llu bytes (%d)",
			 (unsigned long long)imp.st.written, rc);
		return *why = imp.why, rc;
	}
	mbedtls_sha256_update_ret(&imp.sha, buf, n);
	disk_job_progress(imp.name, "importing", imp.st.taken, imp.len, imp.start_ns, &imp.next_ns);
	return 0;
}

static void import_end(void *ctx, int rc, const char *why)
{
	char got[65], want[65], reason[256];
	uint8_t sha[32];

	(void)ctx;
	if (!rc && !disk_job_volume(&imp.vol))
		rc = -ENOENT, why = "the volume was deleted during the import";
	if (!rc && (rc = vol_stream_finish(&imp.st))) {
		snprintf(reason, sizeof(reason), "writing the volume failed at its end (%d)", rc);
		why = reason;
	}
	mbedtls_sha256_finish_ret(&imp.sha, sha);
	mbedtls_sha256_free(&imp.sha);
	disk_job_hex(sha, got);
	free(imp.buf);
	imp.buf = NULL;
	imp.running = false;
	console_break_line();
	if (!rc && imp.check_sha && memcmp(sha, imp.want, 32)) {
		disk_job_hex(imp.want, want);
		set_mark(&imp.vol, MARK_MISMATCH, imp.len, imp.url);
		log_info("disk", "import %s failed: sha256 mismatch", imp.name);
		kprintf("error: disk import %s: sha256 mismatch: got %s, expected %s; the volume "
			"holds the %llu bytes received: do not use it\n",
			imp.name, got, want, (unsigned long long)imp.len);
		return;
	}
	if (rc) {
		/* Bytes still in the buffer never reached the disk: only a
		 * write makes the volume differ from what it was. */
		bool changed = imp.st.written > 0;
		bool gone = !disk_job_volume(&imp.vol);
		if (changed && !gone) /* else the volume keeps the mark it had */
			set_mark(&imp.vol, MARK_PARTIAL, imp.st.written, imp.url);
		log_info("disk", "import %s failed: %s", imp.name, why);
		if (gone)
			kprintf("error: disk import %s: %s\n", imp.name, why);
		else if (changed)
			kprintf("error: disk import %s: %s; the volume is incomplete "
				"(its first %llu bytes were overwritten)\n",
				imp.name, why, (unsigned long long)imp.st.written);
		else
			kprintf("error: disk import %s: %s; the volume is unchanged\n", imp.name,
				why);
		return;
	}
	set_mark(&imp.vol, imp.check_sha ? MARK_CHECKED : MARK_OK, imp.len, imp.url);
	uint64_t ms = (time_ns() - imp.start_ns) / 1000000;
	log_info("disk", "%s: imported %llu bytes from %s", imp.name, (unsigned long long)imp.len,
		 imp.url);
	kprintf("disk %s: imported %llu bytes in %llu.%01llu s (sha256 %s)\n", imp.name,
		(unsigned long long)imp.len, (unsigned long long)(ms / 1000),
		(unsigned long long)(ms % 1000 / 100), got);
}

static const struct http_fetch_ops sink = {import_begin, import_data, import_end};

/* ---- the command ------------------------------------------------------------------- */

/* `disk import` alone: the import under way, and what earlier ones left. */
static int import_status(void)
{
	static const char *const words[] = {
		[MARK_OK] = "imported (no sha256= given)",
		[MARK_CHECKED] = "imported, sha256= matched",
		[MARK_PARTIAL] = "incomplete: the import failed part way",
		[MARK_MISMATCH] = "not trusted: the body did not match sha256=",
	};
	int n = 0;

	if (imp.running) {
		kprintf("%s: importing, %llu of %llu bytes, from %s\n", imp.name,
			(unsigned long long)imp.st.taken, (unsigned long long)imp.len, imp.url);
		n++;
	}
	for (int i = 0; i < MARKS_MAX; i++) {
		const struct voltab_volume *v = disk_job_volume(&marks[i].vol);
		if (marks[i].mark == MARK_NONE || !v ||
		    (imp.running && !memcmp(&imp.vol, &marks[i].vol, sizeof(imp.vol))))
			continue;
		kprintf("%s: %s, %llu bytes from %s\n", v->name, words[marks[i].mark],
			(unsigned long long)marks[i].bytes, marks[i].url);
		n++;
	}
	if (!n)
		kprintf("no disk import since boot\n");
	return 0;
}

int disk_import_cmd(int argc, char **argv)
{
	struct http_url u;
	const char *why = "";
	uint8_t want[32];
	bool check = false;

	if (argc == 2)
		return import_status();
	if (argc < 4)
		return CMD_USAGE;
	const char *name = argv[2], *url = argv[3];
	for (int i = 4; i < argc; i++) {
		if (strncmp(argv[i], "sha256=", 7)) {
			cmd_error("disk import %s: unknown option '%s' (sha256=HEX)", name,
				  argv[i]);
			return DISK_JOB_REFUSED;
		}
		if (cmd_parse_hex(argv[i] + 7, want, 32)) {
			cmd_error("disk import %s: sha256= needs 64 hex digits", name);
			return DISK_JOB_REFUSED;
		}
		check = true;
	}
	struct storage_disk *s = disk_job_table("import");
	if (!s)
		return -ENODEV;
	const struct voltab_volume *v = voltab_find(&s->tab, name);
	if (!v) {
		cmd_error("disk import %s: no such volume ('disk create %s size=...' first)", name,
			  name);
		return -ENOENT;
	}
	if (s->tab.readonly) {
		cmd_error("disk import %s: the table is read-only (written by a newer Tern)", name);
		return -EROFS;
	}
	if (v->flags & VOLTAB_VOL_READONLY) {
		cmd_error("disk import %s: the volume is read-only (a base for clones; 'disk "
			  "readonly %s off' first)",
			  name, name);
		return -EROFS;
	}
	/* An import writes the volume's own blocks, past a clone's map. */
	if (v->parent_id) {
		cmd_error("disk import %s: the volume is a clone (import into a plain volume)",
			  name);
		return -EINVAL;
	}
	const char *user = volume_user(v->id);
	if (user) {
		cmd_error("disk import %s: in use by VM %s ('vm destroy %s' first)", name, user,
			  user);
		return -EBUSY;
	}
	const char *job = disk_job_running();
	if (job) {
		cmd_error(
			"disk import %s: another disk job is running (%s; one at a time: wait for "
			"its end line, or 'disk cancel')",
			name, job);
		return -EBUSY;
	}
	if (strlen(url) > URL_MAX) {
		cmd_error("disk import %s: the URL is longer than %u characters", name, URL_MAX);
		return DISK_JOB_REFUSED;
	}
	int rc = http_parse_url(url, &u, &why);
	if (rc) {
		cmd_error("disk import %s: %s", name, why);
		return disk_job_refused(rc);
	}
	if (http_fetch_busy()) {
		cmd_error("disk import %s: an image fetch is running (one HTTP transfer at a time: "
			  "wait for its end line, or 'image cancel')",
			  name);
		return -EBUSY;
	}
	uint8_t *buf = malloc(IMPORT_BUF_BYTES);
	if (!buf) {
		cmd_error("disk import %s: out of memory for a %u KiB buffer", name,
			  IMPORT_BUF_BYTES >> 10);
		return -ENOMEM;
	}
	memset(&imp, 0, sizeof(imp));
	if ((rc = vol_stream_open(&imp.st, s->dev, v->start_lba, v->size, buf, IMPORT_BUF_BYTES))) {
		free(buf);
		cmd_error("disk import %s: the volume does not fit the disk (%d)", name, rc);
		return disk_job_refused(rc);
	}
	snprintf(imp.name, sizeof(imp.name), "%s", name);
	snprintf(imp.url, sizeof(imp.url), "%s", url);
	disk_job_vol_of(v, &imp.vol);
	imp.size = v->size;
	imp.buf = buf;
	imp.check_sha = check;
	memcpy(imp.want, want, sizeof(want));
	imp.start_ns = time_ns();
	imp.next_ns = imp.start_ns + 1000000000ull;
	mbedtls_sha256_init(&imp.sha);
	mbedtls_sha256_starts_ret(&imp.sha, 0);
	/* Running before the start: a refused connection may end the
	 * transfer inside http_fetch_start's call chain. */
	imp.running = true;
	if ((rc = http_fetch_start(&u, &sink, NULL, &why))) {
		imp.running = false;
		mbedtls_sha256_free(&imp.sha);
		free(buf);
		imp.buf = NULL;
		cmd_error("disk import %s: %s", name, why);
		return disk_job_refused(rc);
	}
	log_info("disk", "importing %s from %s", name, url);
	kprintf("disk %s: importing %s\n", name, url);
	return 0;
}
