/* The log: a ring buffer of tagged, timestamped lines (console `log`).
 * Errors and warnings are also echoed to the console at once. */
#pragma once
#include <stdarg.h>

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_write(enum log_level level, const char *tag, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_vwrite(enum log_level level, const char *tag, const char *fmt, va_list ap);

#define log_err(tag, ...)   log_write(LOG_ERR, tag, __VA_ARGS__)
#define log_warn(tag, ...)  log_write(LOG_WARN, tag, __VA_ARGS__)
#define log_info(tag, ...)  log_write(LOG_INFO, tag, __VA_ARGS__)
#define log_debug(tag, ...) log_write(LOG_DEBUG, tag, __VA_ARGS__)

/* A line a guest caused (a refused MSR, a broken virtio ring, ...):
 * tagged "vm", prefixed with the VM's name, and rate-limited per VM
 * (kernel/log_limit.h: bursts of LOG_LIMIT_BURST, then one a second; the
 * next line that passes says how many were suppressed). vm may be NULL
 * (no guest known): then the line is written as is, unlimited. */
struct vm;
void log_guest(struct vm *vm, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Kernel only: registers the `log` command; ends echoing info lines. */
void log_init(void);
void log_boot_done(void);
