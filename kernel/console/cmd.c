#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "kernel/console/cmd.h"
#include "kernel/kprintf.h"

static const struct cmd *cmds[CMD_MAX];
static int ncmds;

int cmd_register(const struct cmd *c)
{
	if (ncmds == CMD_MAX || cmd_find(c->name))
		return -EEXIST;
	/* Keep the table sorted so `help` lists commands alphabetically. */
	int i = ncmds++;
	while (i > 0 && strcmp(cmds[i - 1]->name, c->name) > 0) {
		cmds[i] = cmds[i - 1];
		i--;
	}
	cmds[i] = c;
	return 0;
}

const struct cmd *cmd_find(const char *name)
{
	for (int i = 0; i < ncmds; i++)
		if (!strcmp(cmds[i]->name, name))
			return cmds[i];
	return NULL;
}

void cmd_for_each(void (*fn)(const struct cmd *c, void *ctx), void *ctx)
{
	for (int i = 0; i < ncmds; i++)
		fn(cmds[i], ctx);
}

int cmd_tokenize(char *line, char **argv, int max)
{
	int argc = 0;
	char *r = line, *w = line;

	for (;;) {
		while (*r == ' ' || *r == '\t')
			r++;
		if (!*r)
			break;
		if (argc == max)
			return -E2BIG;
		argv[argc++] = w;
		bool quoted = false;
		while (*r && (quoted || (*r != ' ' && *r != '\t'))) {
			if (*r == '"')
				quoted = !quoted;
			else
				*w++ = *r;
			r++;
		}
		if (quoted)
			return -EINVAL;
		if (*r)
			r++;
		*w++ = 0;
	}
	return argc;
}

void cmd_error(const char *fmt, ...)
{
	va_list ap;
	kputs("error: ");
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kputs("\n");
}

int cmd_parse_u64(const char *s, unsigned long long *out)
{
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno || *end ? -EINVAL : 0;
}

int cmd_parse_on_off(const char *s, bool *on)
{
	if (!s || (strcmp(s, "on") && strcmp(s, "off")))
		return -EINVAL;
	*on = !strcmp(s, "on");
	return 0;
}

int cmd_parse_size(const char *s, unsigned unit_shift, uint64_t *out)
{
	static const char suffixes[] = "KkMmGg"; /* shifts 10, 10, 20, 20, 30, 30 */
	char num[24];
	size_t n = s ? strlen(s) : 0;
	unsigned shift = unit_shift;
	unsigned long long v;

	if (!n || n >= sizeof(num) || unit_shift >= 64)
		return -EINVAL;
	memcpy(num, s, n + 1);
	const char *suffix = strchr(suffixes, num[n - 1]);
	if (suffix) {
		shift = 10 * (unsigned)(1 + (suffix - suffixes) / 2);
		num[--n] = 0;
	}
	if (cmd_parse_u64(num, &v) || v > (~0ull >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int cmd_parse_hex(const char *s, uint8_t *out, size_t len)
{
	if (!s || strlen(s) != 2 * len)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void cmd_print_usage(const struct cmd *c)
{
	/* Usage lines are separated by \n; indent continuation lines. */
	kputs("usage: ");
	for (const char *p = c->usage; *p; p++) {
		kwrite(p, 1);
		if (*p == '\n')
			kputs("       ");
	}
	kputs("\n");
}

int cmd_execute(char *line)
{
	char *argv[CMD_MAX_ARGS];
	int argc = cmd_tokenize(line, argv, CMD_MAX_ARGS);

	if (argc == -E2BIG) {
		cmd_error("too many words (at most %d)", CMD_MAX_ARGS);
		return argc;
	}
	if (argc == -EINVAL) {
		cmd_error("unterminated quote");
		return argc;
	}
	if (argc == 0)
		return 0;
	const struct cmd *c = cmd_find(argv[0]);
	if (!c) {
		cmd_error("unknown command '%s' (type 'help' for the list)", argv[0]);
		return -ENOENT;
	}
	int rc = c->run(argc, argv);
	if (rc == CMD_USAGE) {
		cmd_error("%s: bad arguments", c->name);
		cmd_print_usage(c);
	}
	return rc;
}
