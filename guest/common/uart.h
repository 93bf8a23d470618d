/* The guests' only required device: a 16550 at COM1 (0x3F8), polled. */
#pragma once
#include <stdarg.h>
#include <stdbool.h>

void uart_init(void);
void uart_putc(char c);
/* Returns true and stores a received byte, or false at once if none. */
bool uart_try_getc(char *c);
/* fmt.h's conversions; "\n" goes out as "\r\n". */
void uart_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void uart_vprintf(const char *fmt, va_list ap);
