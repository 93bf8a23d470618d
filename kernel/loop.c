#include <errno.h>
#include "arch/x86/asm.h"
#include "kernel/console/console.h"
#include "kernel/loop.h"
#include "kernel/time.h"

#define LOOP_MAX 16

static struct {
	const char *name;
	loop_poll_fn fn;
} polls[LOOP_MAX];
static int npolls;

/* Busy/idle accounting for `cpu load`. The loop samples the TSC and its
 * idle total about once a second into a ring, so a window is the
 * difference between now and a sample; no sample means no window yet. */
#define LOAD_RING (LOOP_LOAD_MAX_S + 2)

struct load_sample {
	uint64_t tsc, idle;
};

static struct {
	uint64_t start; /* TSC when the loop started */
	uint64_t idle;	/* cycles spent halted since then */
	uint64_t next;	/* TSC of the next sample */
	struct load_sample ring[LOAD_RING];
	unsigned head, count; /* next slot to write; samples held */
} load;

int loop_add(const char *name, loop_poll_fn fn)
{
	if (npolls == LOOP_MAX)
		return -ENOSPC;
	polls[npolls].name = name;
	polls[npolls].fn = fn;
	npolls++;
	return 0;
}

static void load_sample(uint64_t now)
{
	if (now < load.next)
		return;
	load.ring[load.head] = (struct load_sample){now, load.idle};
	load.head = (load.head + 1) % LOAD_RING;
	if (load.count < LOAD_RING)
		load.count++;
	load.next = now + tsc_hz;
}

void loop_load(unsigned seconds, struct loop_load *out)
{
	uint64_t now = rdtsc();
	struct load_sample from = {load.start, 0};

	/* The newest sample (head - 1) is under a second old, so the one
	 * `seconds` before it starts a window of seconds to seconds + 1; a
	 * loop younger than that counts from its start. */
	if (seconds && seconds < load.count)
		from = load.ring[(load.head + LOAD_RING - 1 - seconds) % LOAD_RING];
	out->window_cycles = now - from.tsc;
	out->window_idle = load.idle - from.idle;
	out->total_cycles = now - load.start;
	out->total_idle = load.idle;
}

void loop_run(void)
{
	load.start = rdtsc();
	load.next = load.start + tsc_hz;
	for (;;) {
		bool busy = console_poll();
		for (int i = 0; i < npolls; i++)
			busy |= polls[i].fn();
		/* Nothing to do: sleep until the next LAPIC tick (1 ms), which
		 * keeps an idle Tern from burning a host core under emulation. */
		if (!busy) {
			uint64_t t = rdtsc();
			irq_enable_and_halt();
			load.idle += rdtsc() - t;
		}
		load_sample(rdtsc());
	}
}
