/* The console command registry. Subsystems register their commands at
 * init; the console tokenizes a line and runs the matching command. */
#pragma once
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CMD_MAX_ARGS 24
#define CMD_MAX 64

struct cmd {
	const char *name;    /* first word, e.g. "mem" or "vm" */
	const char *summary; /* one line for `help` */
	const char *usage;   /* full usage for `help NAME`, lines separated by \n */
	/* Returns 0, or CMD_USAGE for bad arguments (the registry prints the
	 * usage), or another negative errno after printing its own error. */
	int (*run)(int argc, char **argv);
};

#define CMD_USAGE (-EINVAL)

int cmd_register(const struct cmd *c);
const struct cmd *cmd_find(const char *name);
/* Splits line in place into argv; "double quotes" group words and are
 * removed. Returns argc, -E2BIG for too many words, -EINVAL for an
 * unterminated quote. */
int cmd_tokenize(char *line, char **argv, int max);
/* Runs one console line; returns the command's result. */
int cmd_execute(char *line);
void cmd_for_each(void (*fn)(const struct cmd *c, void *ctx), void *ctx);

void cmd_print_usage(const struct cmd *c);
/* Prints "error: <formatted>" on its own line. */
void cmd_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Parses a decimal or 0x-hex unsigned number; -EINVAL if s is not one. */
int cmd_parse_u64(const char *s, unsigned long long *out);
/* "on" or "off" into *on; -EINVAL for anything else. */
int cmd_parse_on_off(const char *s, bool *on);
/* A number (cmd_parse_u64) with an optional binary suffix, K, M or G in
 * either case; without one it counts units of 1 << unit_shift (0: bytes,
 * 30: GiB). -EINVAL if s is not one or the bytes overflow 64 bits; the
 * caller checks its own range. */
int cmd_parse_size(const char *s, unsigned unit_shift, uint64_t *out);
/* Exactly 2 * len hex digits (a SHA-256: 64) into out; -EINVAL otherwise. */
int cmd_parse_hex(const char *s, uint8_t *out, size_t len);
