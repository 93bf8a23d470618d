#include <errno.h>
#include "arch/x86/asm.h"
#include "kernel/console/console.h"
#include "kernel/loop.h"

#define LOOP_MAX 16

static struct {
	const char *name;
	loop_poll_fn fn;
} polls[LOOP_MAX];
static int npolls;

int loop_add(const char *name, loop_poll_fn fn)
{
	if (npolls == LOOP_MAX)
		return -ENOSPC;
	polls[npolls].name = name;
	polls[npolls].fn = fn;
	npolls++;
	return 0;
}

void loop_run(void)
{
	for (;;) {
		bool busy = console_poll();
		for (int i = 0; i < npolls; i++)
			busy |= polls[i].fn();
		/* Nothing to do: sleep until the next LAPIC tick (1 ms), which
		 * keeps an idle Tern from burning a host core under emulation. */
		if (!busy)
			irq_enable_and_halt();
	}
}
