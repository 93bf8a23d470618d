/* kernel/log.c for host tests. Quiet by default, because failure-path
 * tests provoke errors on purpose; rerun a failing test with
 * TERN_TEST_LOG=1 to see what the code under test logged. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernel/log.h"

void log_vwrite(enum log_level level, const char *tag, const char *fmt, va_list ap)
{
	static const char *const names[] = {"err", "warn", "info", "debug"};

	if (!getenv("TERN_TEST_LOG"))
		return;
	fprintf(stderr, "[%s] %s: ", names[level], tag);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void log_write(enum log_level level, const char *tag, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, tag, fmt, ap);
	va_end(ap);
}

/* Host tests have no clock and no rate limit: the line goes as is. */
void log_guest(struct vm *vm, enum log_level level, const char *fmt, ...)
{
	va_list ap;

	(void)vm;
	va_start(ap, fmt);
	log_vwrite(level, "vm", fmt, ap);
	va_end(ap);
}
