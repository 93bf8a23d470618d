#include <stdarg.h>
#include "arch/x86/asm.h"
#include "kernel/kernel.h"
#include "kernel/kprintf.h"

/* Only for broken invariants of Tern itself; anything a guest, peer or
 * operator can cause is an error with a message instead. */
void panic(const char *fmt, ...)
{
	va_list ap;
	kputs("\n*** Tern panic: ");
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kputs("\n*** Tern stopped. Reset the machine to continue.\n");
	cpu_halt_forever();
}
