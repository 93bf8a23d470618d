/* kernel/console/console.c's input path to an attached guest (`vm
 * console`): what the guest has no room for is held, not dropped, and the
 * console reads no more from its UART meanwhile (so QEMU's serial waits);
 * a Ctrl-] behind held input detaches at once. The UART is a script of
 * bytes, the guest a hook with room for a few bytes per poll. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "drivers/uart16550.h"
#include "kernel/console/cmd.h"
#include "kernel/console/console.h"
#include "kernel/kprintf.h"

/* --- the host's UART: bytes the operator typed ------------------------------ */
static const char *typed;
static size_t typed_len, typed_at, uart_reads;

int uart_getc(uint16_t port)
{
	(void)port;
	if (typed_at == typed_len)
		return -1;
	uart_reads++;
	return (uint8_t)typed[typed_at++];
}

void uart_putc(uint16_t port, char c)
{
	(void)port, (void)c;
}

void kputs(const char *s)
{
	(void)s;
}

int cmd_execute(char *line)
{
	(void)line;
	return 0;
}

void cmd_error(const char *fmt, ...)
{
	(void)fmt;
}

/* --- the guest: a FIFO with room for `room` bytes until it drains ----------- */
static char got[4096];
static size_t got_len, room, detaches;

static enum console_take guest(int ch, void *ctx)
{
	(void)ctx;
	if (ch == CONSOLE_DETACH_KEY) {
		detaches++;
		return CONSOLE_DETACH;
	}
	if (!room)
		return CONSOLE_FULL;
	room--;
	got[got_len++] = (char)ch;
	return CONSOLE_TAKEN;
}

static void type(const char *s, size_t n)
{
	typed = s;
	typed_len = n;
	typed_at = 0;
	uart_reads = 0;
	got_len = 0;
	detaches = 0;
}

static void test_a_slow_guest_gets_every_byte_in_order(void **state)
{
	(void)state;
	static char line[1000];
	for (size_t i = 0; i < sizeof(line); i++)
		line[i] = (char)('0' + i % 10);
	type(line, sizeof(line));
	console_init();
	console_set_input_hook(guest, NULL);
	for (int poll = 0; poll < 1000 && got_len < sizeof(line); poll++) {
		room = 7; /* the guest drains 7 bytes between polls */
		console_poll();
		/* While the guest is full, the UART is read no further than
		 * the console's own 256-byte stash and the held byte: the rest
		 * stays with the sender. */
		assert_true(uart_reads <= got_len + 1 + 256);
	}
	assert_int_equal(got_len, sizeof(line));
	assert_memory_equal(got, line, sizeof(line));
	console_set_input_hook(NULL, NULL);
}

static void test_ctrl_rbracket_behind_held_input_detaches_at_once(void **state)
{
	(void)state;
	static char in[40];
	memset(in, 'x', sizeof(in));
	in[30] = CONSOLE_DETACH_KEY;
	type(in, 31);
	console_init();
	console_set_input_hook(guest, NULL);
	room = 5;
	console_poll(); /* 5 taken, the 6th held: the guest is paused */
	assert_int_equal(got_len, 5);
	assert_int_equal(detaches, 0);
	room = 0;
	console_poll(); /* the key waits behind 25 held bytes: it goes first */
	assert_int_equal(detaches, 1);
	assert_int_equal(got_len, 5);
	/* Detached: the next bytes go to the line editor, not the guest. */
	room = 100;
	type("ab", 2);
	console_poll();
	assert_int_equal(got_len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_slow_guest_gets_every_byte_in_order),
		cmocka_unit_test(test_ctrl_rbracket_behind_held_input_detaches_at_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
