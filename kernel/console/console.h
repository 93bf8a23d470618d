/* The operator console on COM1: prompt, line editing, command dispatch. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#define CONSOLE_PROMPT "tern> "

void console_init(void);
/* Writes raw text to the console, turning \n into \r\n. */
void console_write(const char *s, size_t n);
/* Reads and handles pending input; true if there was any. */
bool console_poll(void);
/* Moves received bytes out of the UART's 16-byte FIFO into a buffer that
 * the next console_poll() handles, and runs no command: safe in the middle
 * of a guest's slice, where a command (`vm destroy`) must not run. */
void console_stash_input(void);
/* Asynchronous output (guest lines, migration progress) starts on a line
 * of its own; the prompt is not printed again after it, so scripts that
 * wait for "tern> " after a command are never fooled by it. */
void console_break_line(void);
/* Prints the prompt (after a command). */
void console_prompt(void);

/* While a hook is set, every received byte goes to it instead of the line
 * editor (`vm console` uses this); it returns false to detach itself. */
typedef bool (*console_input_hook)(int ch, void *ctx);
void console_set_input_hook(console_input_hook hook, void *ctx);
