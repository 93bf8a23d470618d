/* Host stand-in for the console the kernel code under test prints to
 * (through the real kernel/kprintf.c). Output is captured so tests can
 * assert on exactly what was printed. */
#include <string.h>
#include "tests/unit/kernel/stubs.h"

char captured[65536];
size_t captured_len;

void captured_reset(void)
{
	captured_len = 0;
	captured[0] = 0;
}

void console_write(const char *s, size_t n)
{
	if (captured_len + n >= sizeof(captured))
		n = sizeof(captured) - captured_len - 1;
	memcpy(captured + captured_len, s, n);
	captured_len += n;
	captured[captured_len] = 0;
}
