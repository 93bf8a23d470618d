/* The `image` console command: fetch an image over HTTP, cancel that,
 * drop a fetched image (kernel/image_store.h; docs/console.md). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "kernel/console/cmd.h"
#include "kernel/image_store.h"
#include "kernel/kprintf.h"
#include "net/addr.h"

static int do_fetch(int argc, char **argv)
{
	uint8_t sha[32];
	bool has_sha = false;
	unsigned long long size = 0;
	const char *why = "";

	if (argc < 4)
		return CMD_USAGE;
	for (int i = 4; i < argc; i++) {
		if (!strncmp(argv[i], "sha256=", 7)) {
			if (cmd_parse_hex(argv[i] + 7, sha, 32)) {
				cmd_error("image fetch %s: sha256= needs 64 hex digits", argv[2]);
				return -EINVAL;
			}
			has_sha = true;
		} else if (!strncmp(argv[i], "size=", 5)) {
			if (cmd_parse_u64(argv[i] + 5, &size) || !size) {
				cmd_error("image fetch %s: size=%s is not a number of bytes",
					  argv[2], argv[i] + 5);
				return -EINVAL;
			}
		} else {
			cmd_error("image fetch %s: unknown option '%s'", argv[2], argv[i]);
			return CMD_USAGE;
		}
	}
	int rc = image_fetch_start(argv[2], argv[3], has_sha ? sha : NULL, size, &why);
	if (rc) {
		cmd_error("image fetch %s: %s", argv[2], why);
		return rc;
	}
	kprintf("image %s: fetching %s\n", argv[2], argv[3]);
	return 0;
}

static int cmd_image(int argc, char **argv)
{
	const char *why = "";

	if (argc >= 2 && !strcmp(argv[1], "fetch"))
		return do_fetch(argc, argv);
	if (argc == 2 && !strcmp(argv[1], "cancel")) {
		if (image_fetch_cancel()) {
			cmd_error("image cancel: no fetch is running");
			return -ENOENT;
		}
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "drop")) {
		uint64_t freed = 0;
		int rc = image_drop(argv[2], &freed, &why);
		if (rc) {
			cmd_error("image drop %s: %s", argv[2], why);
			return rc;
		}
		kprintf("image %s: dropped (%lu KiB freed)\n", argv[2], freed >> 10);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "list"))
		return image_list(), 0;
	return CMD_USAGE;
}

static const struct cmd image_cmd = {
	.name = "image",
	.summary = "fetch guest images over HTTP, drop them (vm images lists them)",
	.usage = "image fetch NAME http://ADDR[:PORT]/PATH [sha256=HEX] [size=BYTES]\n"
		 "          (in the background: ends with 'image NAME: fetched ...' or 'error: "
		 "...')\n"
		 "image cancel           (stops the fetch under way)\n"
		 "image drop NAME        (frees a fetched image)\n"
		 "image list             (the same as vm images)",
	.run = cmd_image,
};

void image_register_commands(void)
{
	cmd_register(&image_cmd);
}
