/* log_guest(): log lines a guest causes, rate-limited per VM (log.h,
 * log_limit.h), so a guest that provokes them in a loop cannot stall the
 * host on its polled serial console. */
#include <stdarg.h>
#include <stdio.h>
#include "kernel/log.h"
#include "kernel/time.h"
#include "kernel/vm.h"

void log_guest(struct vm *vm, enum log_level level, const char *fmt, ...)
{
	char msg[256];
	uint32_t held = 0;
	va_list ap;

	if (!vm) {
		va_start(ap, fmt);
		log_vwrite(level, "vm", fmt, ap);
		va_end(ap);
		return;
	}
	if (!log_limit_take(&vm->log_limit, time_ms(), &held))
		return;
	if (held)
		log_write(level, "vm", "%s: %u messages suppressed", vm->name, held);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_write(level, "vm", "%s: %s", vm->name, msg);
}
