#include <errno.h>
#include <string.h>
#include "arch/x86/asm.h"
#include "kernel/console/console.h"
#include "kernel/loop.h"
#include "kernel/time.h"

/* Per poll function (and the console, slot 0), since `cpu loop` last
 * read them: where the loop's busy time goes and its longest single call,
 * which is what a guest or a ping waits behind. */
static struct {
	const char *name;
	loop_poll_fn fn;
	loop_flush_fn flush; /* at the end of every pass, counted as this poll's */
	struct loop_poll_stat st;
	uint64_t cycles_total;
} polls[LOOP_MAX] = {{.name = "console", .fn = console_poll}};
static int npolls = 1;
static uint64_t stat_since, pass_max; /* TSC; the longest pass */

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

int loop_add_flush(const char *name, loop_flush_fn fn)
{
	for (int i = 0; i < npolls; i++) {
		if (!strcmp(polls[i].name, name)) {
			polls[i].flush = fn;
			return 0;
		}
	}
	return -ENOENT;
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

static void poll_account(int i, uint64_t d)
{
	struct loop_poll_stat *st = &polls[i].st;

	st->cycles += d;
	polls[i].cycles_total += d;
	if (d > st->max_cycles)
		st->max_cycles = d;
}

static bool timed_poll(int i)
{
	uint64_t t = rdtsc();
	bool busy = polls[i].fn();

	polls[i].st.calls++;
	poll_account(i, rdtsc() - t);
	return busy;
}

/* What the polls left queued for later in the pass goes out now, before
 * the loop can halt: the NIC's batched transmit tail. */
static void timed_flushes(void)
{
	for (int i = 0; i < npolls; i++) {
		if (polls[i].flush) {
			uint64_t t = rdtsc();
			polls[i].flush();
			poll_account(i, rdtsc() - t);
		}
	}
}

int loop_poll_stats(struct loop_poll_stat *out, int max, uint64_t *window_cycles,
		    uint64_t *longest_pass)
{
	uint64_t now = rdtsc();
	int n = npolls < max ? npolls : max;

	for (int i = 0; i < n; i++) {
		out[i] = polls[i].st;
		out[i].name = polls[i].name;
		polls[i].st = (struct loop_poll_stat){0};
	}
	*window_cycles = now - stat_since;
	*longest_pass = pass_max;
	stat_since = now;
	pass_max = 0;
	return n;
}

uint64_t loop_poll_cycles(const char *name)
{
	for (int i = 0; i < npolls; i++)
		if (!strcmp(polls[i].name, name))
			return polls[i].cycles_total;
	return 0;
}

uint64_t loop_idle_cycles(void)
{
	return load.idle;
}

void loop_run(void)
{
	load.start = rdtsc();
	load.next = load.start + tsc_hz;
	stat_since = load.start;
	for (;;) {
		uint64_t pass = rdtsc();
		bool busy = false;
		for (int i = 0; i < npolls; i++)
			busy |= timed_poll(i);
		timed_flushes();
		/* Nothing to do: sleep until the next LAPIC tick (1 ms), which
		 * keeps an idle Tern from burning a host core under emulation. */
		if (!busy) {
			uint64_t t = rdtsc();
			irq_enable_and_halt();
			load.idle += rdtsc() - t;
			pass = rdtsc(); /* a pass is work, not the halt */
		}
		uint64_t now = rdtsc();
		if (now - pass > pass_max)
			pass_max = now - pass;
		load_sample(now);
	}
}
