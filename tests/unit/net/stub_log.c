/* Tern's log (kernel/log.h) for host tests: errors and warnings to stderr,
 * so a failing test shows what the code under test complained about. */
#include <stdarg.h>
#include <stdio.h>

#include "kernel/log.h"

void log_vwrite(enum log_level level, const char *tag, const char *fmt, va_list ap)
{
	if (level > LOG_WARN)
		return;
	fprintf(stderr, "[%s] ", tag);
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
