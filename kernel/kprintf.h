/* Console output: formatted text to the serial console (and the log). */
#pragma once
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kvprintf(const char *fmt, va_list ap);
void kputs(const char *s);
void kwrite(const char *s, size_t n);

/* Between begin and end, console output goes into buf (cap bytes, always
 * NUL-terminated; what does not fit is cut and `truncated` set) instead of
 * the serial line: the management API runs a console command and answers
 * with what it printed. Not nested. */
struct kcapture {
	char *buf;
	size_t cap, len;
	bool truncated;
};
void kcapture_begin(struct kcapture *c, char *buf, size_t cap);
void kcapture_end(void);
