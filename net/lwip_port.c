/* lwIP's diagnostics and assertions, routed to Tern's log. */
#include <stdarg.h>

#include "kernel/log.h"
#include "net/lwip_port.h"

void lwip_port_diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_DEBUG, "lwip", fmt, ap);
	va_end(ap);
}

void lwip_port_assert(const char *msg, const char *file, int line)
{
	log_err("lwip", "assertion \"%s\" failed at %s:%d", msg, file, line);
	/* lwIP's state is no longer trustworthy and it may be mid-way through a
	 * pbuf chain: stop here. The trap lands in the exception handler, which
	 * prints registers and a backtrace (on the host: SIGILL, which the test
	 * runner reports as a failure). */
	__builtin_trap();
}
