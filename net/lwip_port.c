/* lwIP's diagnostics and assertions, routed to Tern's log; its heap. */
#include <stdarg.h>
#include <stdlib.h>

#include "kernel/log.h"
#include "lwip/opt.h"
#include "net/lwip_port.h"

/* mem.c wants MEM_SIZE aligned plus two struct mem headers past its
 * (aligned) start; 1 KiB covers both with room to spare. */
#define LWIP_PORT_HEAP_BYTES (MEM_SIZE + 1024)

void *lwip_port_heap(void)
{
	static void *heap;

	if (!heap)
		heap = malloc(LWIP_PORT_HEAP_BYTES);
	return heap;
}

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
