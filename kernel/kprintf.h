/* Console output: formatted text to the serial console (and the log). */
#pragma once
#include <stdarg.h>
#include <stddef.h>

int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kvprintf(const char *fmt, va_list ap);
void kputs(const char *s);
void kwrite(const char *s, size_t n);
