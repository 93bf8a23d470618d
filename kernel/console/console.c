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

static void handle_byte(int ch)
{
	if (input_hook) {
		if (!input_hook(ch, input_hook_ctx)) {
			input_hook = NULL;
			console_prompt();
		}
		return;
	}
	switch (line_feed(&editor, ch)) {
	case LINE_NONE:
		return;
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
	if (!stash.count)
		return uart_getc(COM1_PORT);
	int ch = stash.buf[stash.head];
	stash.head = (stash.head + 1) % sizeof(stash.buf);
	stash.count--;
	return ch;
}

bool console_poll(void)
{
	bool any = false;
	int ch;

	/* Bounded, so a flood of input cannot starve the rest of the loop. */
	for (int i = 0; i < 64 && (ch = next_byte()) >= 0; i++) {
		handle_byte(ch);
		any = true;
	}
	return any;
}
