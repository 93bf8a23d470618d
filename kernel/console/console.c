#include <stdint.h>
#include <string.h>
#include "drivers/uart16550.h"
#include "kernel/console/cmd.h"
#include "kernel/console/console.h"
#include "kernel/console/line.h"
#include "kernel/kprintf.h"

static struct line_editor editor;
static console_input_hook input_hook;
static void *input_hook_ctx;
static bool at_line_start = true;

void console_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			uart_putc(COM1_PORT, '\r');
		uart_putc(COM1_PORT, s[i]);
	}
	if (n)
		at_line_start = s[n - 1] == '\n';
}

static void editor_out(void *ctx, const char *s, size_t n)
{
	(void)ctx;
	for (size_t i = 0; i < n; i++)
		uart_putc(COM1_PORT, s[i]);
}

void console_break_line(void)
{
	if (!at_line_start)
		kputs("\n");
}

void console_prompt(void)
{
	if (!at_line_start)
		kputs("\n");
	kputs(CONSOLE_PROMPT);
	at_line_start = false;
}

void console_init(void)
{
	line_init(&editor, editor_out, NULL);
}

void console_set_input_hook(console_input_hook hook, void *ctx)
{
	input_hook = hook;
	input_hook_ctx = ctx;
}

/* A byte the hook had no room for, offered again first (-1: none). */
static int held = -1;

/* False when the hook had no room: the byte is held. */
static bool handle_byte(int ch)
{
	if (input_hook) {
		switch (input_hook(ch, input_hook_ctx)) {
		case CONSOLE_FULL:
			held = ch;
			return false;
		case CONSOLE_DETACH:
			input_hook = NULL;
			console_prompt();
			break;
		case CONSOLE_TAKEN:
			break;
		}
		return true;
	}
	switch (line_feed(&editor, ch)) {
	case LINE_NONE:
		return true;
	case LINE_DONE:
		at_line_start = true;
		cmd_execute(editor.buf);
		break;
	case LINE_ABORT:
		at_line_start = true;
		break;
	case LINE_TOO_LONG:
		at_line_start = true;
		cmd_error("line too long (at most %d characters); ignored", LINE_MAX_LEN);
		break;
	}
	if (!input_hook)
		console_prompt();
	return true;
}

/* Bytes taken from the UART by console_stash_input(), not yet handled. */
static struct {
	uint8_t buf[256];
	unsigned head, count;
} stash;

void console_stash_input(void)
{
	int ch;

	while (stash.count < sizeof(stash.buf) && (ch = uart_getc(COM1_PORT)) >= 0) {
		stash.buf[(stash.head + stash.count) % sizeof(stash.buf)] = (uint8_t)ch;
		stash.count++;
	}
}

static int next_byte(void)
{
	if (held >= 0) {
		int ch = held;
		held = -1;
		return ch;
	}
	if (!stash.count)
		return uart_getc(COM1_PORT);
	int ch = stash.buf[stash.head];
	stash.head = (stash.head + 1) % sizeof(stash.buf);
	stash.count--;
	return ch;
}

/* Input held for a guest that takes nothing (paused, or hung) must not
 * keep the operator from detaching: a Ctrl-] waiting behind it goes
 * first, and what came before it is dropped. */
static void detach_key_first(void)
{
	console_stash_input();
	for (unsigned i = 0; i < stash.count; i++)
		if (stash.buf[(stash.head + i) % sizeof(stash.buf)] == CONSOLE_DETACH_KEY) {
			stash.head = (stash.head + i) % sizeof(stash.buf);
			stash.count -= i;
			held = -1;
			return;
		}
}

bool console_poll(void)
{
	bool any = false;
	int ch;

	if (held >= 0)
		detach_key_first();

	/* Bounded, so a flood of input cannot starve the rest of the loop. */
	for (int i = 0; i < 64 && (ch = next_byte()) >= 0; i++) {
		if (!handle_byte(ch))
			break; /* no room in the guest: it drains meanwhile */
		any = true;
	}
	return any;
}
