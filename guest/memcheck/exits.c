/* mode=exits: what one VM exit costs the guest, end to end. `count` times an
 * instruction every hypervisor must intercept, timed with the TSC:
 *  - cpuid (leaf 0): answered by the backend's exit handler itself;
 *  - outb to port 0x80 (the PC's POST-code port, no device behind it under
 *    Tern): goes on to the device model, as a real device access would.
 * Under a plain emulator nothing exits and the figures are the emulator's
 * cost of the instruction. For `make bench` (tools/benches/dirty.py). */
#include "memcheck.h"
#include "common/cpu.h"
#include "common/uart.h"

#define EXITS_PORT 0x80

static void exits_report(const char *kind, uint64_t count, uint64_t cycles, uint64_t khz)
{
	uint64_t per = cycles / count;
	/* ns per exit = cycles / count / (khz / 1e6), kept in integers. */
	uint64_t ns = cycles * 1000000 / khz / count;

	uart_printf("memcheck: exits %s count=%lu cycles=%lu per_exit=%lu ns=%lu\n", kind, count,
		    cycles, per, ns);
}

void mc_exits(const struct mc_opts *o, const struct mc_mem *m)
{
	uint64_t t0, cycles;

	uart_printf("memcheck: exits count=%lu port=%#x\n", o->count, EXITS_PORT);

	t0 = rdtsc();
	for (uint64_t i = 0; i < o->count; i++)
		cpuid(0, 0);
	cycles = rdtsc() - t0;
	exits_report("cpuid", o->count, cycles, m->tsc_khz);

	t0 = rdtsc();
	for (uint64_t i = 0; i < o->count; i++)
		outb(EXITS_PORT, (uint8_t)i);
	cycles = rdtsc() - t0;
	exits_report("out", o->count, cycles, m->tsc_khz);
}
