/* Host stand-ins for the console output the kernel code under test uses.
 * Output is captured so tests can assert on exactly what was printed. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "tests/unit/kernel/stubs.h"

char captured[65536];
size_t captured_len;

void captured_reset(void)
{
	captured_len = 0;
	captured[0] = 0;
}

void kwrite(const char *s, size_t n)
{
	if (captured_len + n >= sizeof(captured))
		n = sizeof(captured) - captured_len - 1;
	memcpy(captured + captured_len, s, n);
	captured_len += n;
	captured[captured_len] = 0;
}

void kputs(const char *s)
{
	kwrite(s, strlen(s));
}

int kvprintf(const char *fmt, va_list ap)
{
	char buf[1024];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	kwrite(buf, strlen(buf));
	return n;
}

int kprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = kvprintf(fmt, ap);
	va_end(ap);
	return n;
}
