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
 * editor (`vm console` uses this). It takes the byte, detaches itself, or
 * says it has no room now: the byte is offered again at the next poll, and
 * meanwhile the console reads no more from its UART, so the sender waits
 * (QEMU's serial holds its input back) instead of losing what a slow
 * guest could not take yet. */
enum console_take { CONSOLE_TAKEN, CONSOLE_DETACH, CONSOLE_FULL };
/* Ctrl-]: the hook's key to detach, which never waits behind held input. */
#define CONSOLE_DETACH_KEY 0x1d
typedef enum console_take (*console_input_hook)(int ch, void *ctx);
void console_set_input_hook(console_input_hook hook, void *ctx);
