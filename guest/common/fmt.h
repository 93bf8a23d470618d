/* A small printf engine: %d %i %u %x %X %s %c %p %%, flags '0' '-' '#',
 * a width, and the length modifiers l, ll, z. No floating point. */
#pragma once
#include <stdarg.h>
#include <stddef.h>

typedef void (*fmt_sink)(void *ctx, char c);

void fmt_vformat(fmt_sink sink, void *ctx, const char *fmt, va_list ap);
/* Like snprintf: always NUL-terminates (size > 0), returns the full length. */
size_t fmt_snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
