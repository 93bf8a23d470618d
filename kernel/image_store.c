/* The image registry and `image fetch`'s receiving end (see image_store.h).
 * The transfer itself is net/http_fetch.c; here the bytes find memory,
 * are hashed as they arrive (mbedTLS SHA-256, the one TLS uses) and,
 * when everything checks out, get a name. Any failure frees the frames
 * before the error line: nothing stays half-loaded. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kernel/console/console.h"
#include "kernel/image_store.h"
#include "kernel/kprintf.h"
#include "kernel/log.h"
#include "kernel/mm/frame.h"
#include "kernel/sys.h"
#include "mbedtls/sha256.h"
#include "net/http_fetch.h"

#define ORIGIN_MAX 240

enum image_state { IMAGE_FREE, IMAGE_FETCHING, IMAGE_READY };

struct image {
	enum image_state state;
	struct boot_module mod; /* base 0 until the head arrived */
	uint64_t pages;
	char origin[ORIGIN_MAX + 1];
	uint8_t sha256[32];
};

static struct image images[IMAGE_FETCHED_MAX];

/* Boot modules' hashes, computed at their first listing. */
static uint8_t module_sha[BOOT_MAX_MODULES][32];
static bool module_hashed[BOOT_MAX_MODULES];

/* The one fetch under way (http_fetch runs one at a time). */
static struct {
	struct image *img;
	bool check_sha, check_size;
	uint8_t want_sha[32];
	uint64_t want_size, got;
	mbedtls_sha256_context sha;
	char why[256];
} fetch;

static const struct boot_module *module_find(const char *name)
{
	const struct boot_info *bi = boot_info_get();
	for (unsigned i = 0; i < bi->nmodules; i++)
		if (!strcmp(bi->modules[i].name, name))
			return &bi->modules[i];
	return NULL;
}

static struct image *image_lookup(const char *name)
{
	for (int i = 0; i < IMAGE_FETCHED_MAX; i++)
		if (images[i].state != IMAGE_FREE && !strcmp(images[i].mod.name, name))
			return &images[i];
	return NULL;
}

const struct boot_module *image_find(const char *name)
{
	const struct boot_module *m = module_find(name);
	if (m)
		return m;
	struct image *img = image_lookup(name);
	return img && img->state == IMAGE_READY ? &img->mod : NULL;
}

static void hex(const uint8_t *sha, char *out)
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", sha[i]);
}

static void release(struct image *img)
{
	if (img->mod.base)
		frame_free(img->mod.base, img->pages);
	memset(img, 0, sizeof(*img));
}

/* ---- the transfer's sink (net/http_fetch.h) ------------------------------------------ */

static int fetch_begin(void *ctx, uint64_t len, const char **why)
{
	struct image *img = ctx;
	struct frame_stats st;

	if (!len)
		return *why = "the server sent an empty file", -EINVAL;
	if (fetch.check_size && len != fetch.want_size) {
		snprintf(fetch.why, sizeof(fetch.why),
			 "wrong size: the server announces %llu bytes, size= says %llu",
			 (unsigned long long)len, (unsigned long long)fetch.want_size);
		return *why = fetch.why, -EMSGSIZE;
	}
	if (len > IMAGE_FETCH_MAX_BYTES) {
		snprintf(
			fetch.why, sizeof(fetch.why),
			"the server announces %llu bytes, more than the %llu MiB an image may have",
			(unsigned long long)len, IMAGE_FETCH_MAX_BYTES >> 20);
		return *why = fetch.why, -EFBIG;
	}
	uint64_t pages = (len + FRAME_SIZE - 1) / FRAME_SIZE;
	uint64_t base = frame_alloc(pages, 1);
	if (!base) {
		frame_get_stats(&st);
		snprintf(fetch.why, sizeof(fetch.why),
			 "out of memory: %llu bytes need %llu KiB, %llu KiB free%s",
			 (unsigned long long)len, (unsigned long long)(pages * FRAME_SIZE >> 10),
			 (unsigned long long)(st.free_bytes >> 10),
			 st.free_bytes >= pages * FRAME_SIZE ? " but not in one piece" : "");
		return *why = fetch.why, -ENOMEM;
	}
	img->mod.base = base;
	img->mod.size = len;
	img->pages = pages;
	return 0;
}

static int fetch_data(void *ctx, const void *buf, size_t n, const char **why)
{
	struct image *img = ctx;

	/* http_fetch never passes the announced length; checked again
	 * because this writes memory. */
	if (fetch.got + n > img->mod.size)
		return *why = "more bytes than announced", -EMSGSIZE;
	memcpy((uint8_t *)img->mod.base + fetch.got, buf, n);
	mbedtls_sha256_update_ret(&fetch.sha, buf, n);
	fetch.got += n;
	return 0;
}

static void fetch_end(void *ctx, int rc, const char *why)
{
	struct image *img = ctx;
	char got[65], want[65];
	char name[BOOT_MODULE_NAME_MAX];

	snprintf(name, sizeof(name), "%s", img->mod.name);
	if (!rc) {
		mbedtls_sha256_finish_ret(&fetch.sha, img->sha256);
		hex(img->sha256, got);
		if (fetch.check_sha && memcmp(img->sha256, fetch.want_sha, 32)) {
			hex(fetch.want_sha, want);
			snprintf(fetch.why, sizeof(fetch.why),
				 "sha256 mismatch: got %s, expected %s", got, want);
			rc = -EBADMSG, why = fetch.why;
		}
	}
	mbedtls_sha256_free(&fetch.sha);
	fetch.img = NULL;
	console_break_line();
	if (rc) {
		release(img);
		log_info("image", "fetch %s failed: %s", name, why);
		kprintf("error: image fetch %s: %s\n", name, why);
		return;
	}
	img->state = IMAGE_READY;
	log_info("image", "%s: fetched %lu bytes from %s", name, img->mod.size, img->origin);
	kprintf("image %s: fetched %lu bytes (sha256 %s)\n", name, img->mod.size, got);
}

static const struct http_fetch_ops sink = {fetch_begin, fetch_data, fetch_end};

/* ---- what the console asks ------------------------------------------------------------ */

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n >= BOOT_MODULE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum =
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '-' && c != '_' && c != '.')))
			return false;
	}
	return true;
}

int image_fetch_start(const char *name, const char *url, const uint8_t *sha256, uint64_t size,
		      const char **why)
{
	struct http_url u;
	struct image *img = NULL;
	int rc;

	if (!name_ok(name))
		return *why = "bad name: 1 to 31 letters, digits, '-', '_' or '.', starting with a "
			      "letter or digit",
		       -EINVAL;
	if (module_find(name))
		return *why = "the name is in use by a boot module", -EEXIST;
	struct image *old = image_lookup(name);
	if (old)
		return *why = old->state == IMAGE_FETCHING
				      ? "the name is in use by the fetch under way"
				      : "the name is in use ('image drop' it first)",
		       -EEXIST;
	if (fetch.img || http_fetch_busy())
		return *why = "another fetch is running (one at a time: wait for its end line, or "
			      "'image cancel')",
		       -EBUSY;
	if ((rc = http_parse_url(url, &u, why)))
		return rc;
	for (int i = 0; i < IMAGE_FETCHED_MAX && !img; i++)
		if (images[i].state == IMAGE_FREE)
			img = &images[i];
	if (!img)
		return *why = "too many fetched images (at most 8: 'image drop' one)", -ENOSPC;
	img->state = IMAGE_FETCHING;
	snprintf(img->mod.name, sizeof(img->mod.name), "%s", name);
	snprintf(img->origin, sizeof(img->origin), "%s", url);
	memset(&fetch, 0, sizeof(fetch));
	fetch.img = img;
	fetch.check_sha = sha256 != NULL;
	if (sha256)
		memcpy(fetch.want_sha, sha256, 32);
	fetch.check_size = size != 0;
	fetch.want_size = size;
	mbedtls_sha256_init(&fetch.sha);
	mbedtls_sha256_starts_ret(&fetch.sha, 0);
	if ((rc = http_fetch_start(&u, &sink, img, why))) {
		mbedtls_sha256_free(&fetch.sha);
		fetch.img = NULL;
		release(img);
		return rc;
	}
	log_info("image", "fetching %s from %s", name, url);
	return 0;
}

int image_fetch_cancel(void)
{
	if (!fetch.img)
		return -ENOENT;
	http_fetch_cancel();
	return 0;
}

int image_drop(const char *name, uint64_t *freed, const char **why)
{
	if (module_find(name))
		return *why = "a boot module cannot be dropped (it came with Tern's boot media)",
		       -EPERM;
	struct image *img = image_lookup(name);
	if (!img)
		return *why = "no such image (see 'vm images')", -ENOENT;
	if (img->state == IMAGE_FETCHING)
		return *why = "it is still being fetched ('image cancel' stops that)", -EBUSY;
	*freed = img->pages * FRAME_SIZE;
	log_info("image", "%s dropped", name);
	release(img);
	return 0;
}

void image_list(void)
{
	const struct boot_info *bi = boot_info_get();
	char sha[65];

	kprintf("%-16s %10s %-64s %s\n", "NAME", "BYTES", "SHA256", "ORIGIN");
	for (unsigned i = 0; i < bi->nmodules; i++) {
		const struct boot_module *m = &bi->modules[i];
		if (!module_hashed[i]) {
			mbedtls_sha256_ret((const unsigned char *)m->base, m->size, module_sha[i],
					   0);
			module_hashed[i] = true;
		}
		hex(module_sha[i], sha);
		kprintf("%-16s %10lu %s boot module\n", m->name, m->size, sha);
	}
	for (int i = 0; i < IMAGE_FETCHED_MAX; i++) {
		struct image *img = &images[i];
		if (img->state == IMAGE_READY) {
			hex(img->sha256, sha);
			kprintf("%-16s %10lu %s %s\n", img->mod.name, img->mod.size, sha,
				img->origin);
		} else if (img->state == IMAGE_FETCHING) {
			char progress[64] = "connecting";
			if (img->mod.size)
				snprintf(progress, sizeof(progress), "%llu of %lu bytes",
					 (unsigned long long)fetch.got, img->mod.size);
			kprintf("%-16s %10s %-64s %s (fetching: %s)\n", img->mod.name, "-", "-",
				img->origin, progress);
		}
	}
}
