#include <stdio.h>
#include <string.h>
#include "kernel/kprintf.h"
#include "kernel/console/console.h"

void kwrite(const char *s, size_t n)
{
	console_write(s, n);
}

void kputs(const char *s)
{
	kwrite(s, strlen(s));
}

int kvprintf(const char *fmt, va_list ap)
{
	char buf[512];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);

	if (n < 0)
		return n;
	kwrite(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
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
