#include <stdio.h>
#include <string.h>
#include "kernel/kprintf.h"
#include "kernel/console/console.h"

static struct kcapture *capture;

void kwrite(const char *s, size_t n)
{
	if (!capture) {
		console_write(s, n);
		return;
	}
	size_t room = capture->cap - 1 - capture->len;
	if (n > room) {
		capture->truncated = true;
		n = room;
	}
	memcpy(capture->buf + capture->len, s, n);
	capture->len += n;
	capture->buf[capture->len] = 0;
}

void kcapture_begin(struct kcapture *c, char *buf, size_t cap)
{
	c->buf = buf;
	c->cap = cap;
	c->len = 0;
	c->truncated = false;
	buf[0] = 0;
	capture = c;
}

void kcapture_end(void)
{
	capture = NULL;
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
