/* Guest images by name: the boot modules Tern was started with, and the
 * images `image fetch` loaded over HTTP (net/http_fetch.h). A fetched
 * image is one contiguous run of frames, sized once from the server's
 * Content-Length, so it reads like a boot module (struct boot_module:
 * base, size, name) and vm create copies from it the same way. Nothing
 * keeps a reference after vm create: a fetched image can always be
 * dropped; a boot module never. docs/console.md, "image". */
#pragma once
#include <stdint.h>
#include "kernel/boot_info.h"

#define IMAGE_FETCHED_MAX 8
/* The largest image a fetch accepts (a kernel, an initrd): 1 GiB. */
#define IMAGE_FETCH_MAX_BYTES (1024ull << 20)

/* A boot module, or a fetched image that arrived whole; NULL if none (an
 * image still being fetched is not found). */
const struct boot_module *image_find(const char *name);

/* Starts `image fetch`: 0 when the transfer is under way (its end line
 * comes later), or a negative errno with *why. sha256: 32 bytes or NULL;
 * size 0: any. */
int image_fetch_start(const char *name, const char *url, const uint8_t *sha256, uint64_t size,
		      const char **why);
/* Aborts the fetch under way (its end line says "cancelled"); -ENOENT if
 * none runs. */
int image_fetch_cancel(void);
/* 0 and *freed (bytes), or a negative errno with *why. */
int image_drop(const char *name, uint64_t *freed, const char **why);
/* The `vm images` table. */
void image_list(void);
void image_register_commands(void);
