/* The log ring: the last LOG_RING_SIZE bytes of tagged, timestamped lines.
 * Errors and warnings are echoed to the console; informational lines are
 * echoed during boot only, so the console stays quiet afterwards. */
#include <stdio.h>
#include <string.h>
#include "kernel/console/cmd.h"
#include "kernel/console/console.h"
#include "kernel/kprintf.h"
#include "kernel/log.h"
#include "kernel/time.h"

#define LOG_RING_SIZE 65536

static char ring[LOG_RING_SIZE];
static uint64_t ring_head; /* total bytes ever written */
static enum log_level echo_level = LOG_INFO;

static void ring_put(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ring[(ring_head + i) % LOG_RING_SIZE] = s[i];
	ring_head += n;
}

void log_vwrite(enum log_level level, const char *tag, const char *fmt, va_list ap)
{
	static const char *const prefix[] = {"error: ", "warning: ", "", ""};
	char line[320];
	uint64_t ns = time_ns();
	int hdr = snprintf(line, sizeof(line), "[%5lu.%06lu] %s: ", ns / 1000000000,
			   (ns / 1000) % 1000000, tag);
	int n = vsnprintf(line + hdr, sizeof(line) - hdr - 1, fmt, ap);
	size_t len = hdr + (n < 0 ? 0 : (size_t)n);

	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	ring_put(line, len);
	if (level <= echo_level) {
		console_break_line(); /* may come while the prompt is shown */
		kputs(prefix[level]);
		kputs(tag);
		kputs(": ");
		kwrite(line + hdr, len - hdr);
	}
}

void log_write(enum log_level level, const char *tag, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(level, tag, fmt, ap);
	va_end(ap);
}

void log_boot_done(void)
{
	echo_level = LOG_WARN;
}

static int cmd_log(int argc, char **argv)
{
	unsigned long long want = ~0ull;

	if (argc > 2 || (argc == 2 && cmd_parse_u64(argv[1], &want)))
		return CMD_USAGE;
	uint64_t start = ring_head > LOG_RING_SIZE ? ring_head - LOG_RING_SIZE : 0;
	/* Walk back `want` lines from the end to find where to start. */
	uint64_t pos = ring_head, lines = 0;
	while (pos > start) {
		if (ring[(pos - 1) % LOG_RING_SIZE] == '\n' && pos != ring_head && ++lines == want)
			break;
		pos--;
	}
	for (; pos < ring_head; pos++)
		kwrite(&ring[pos % LOG_RING_SIZE], 1);
	return 0;
}

static const struct cmd log_cmd = {
	.name = "log",
	.summary = "show the log ring (boot messages, errors, subsystem events)",
	.usage = "log [LINES]   show the whole log, or its last LINES lines",
	.run = cmd_log,
};

void log_init(void)
{
	cmd_register(&log_cmd);
}
