/* The guest's TSC at its own rate (guest_tsc.h). */
#include "arch/x86/guest_tsc.h"

/* (hi:lo) / d for hi < d: the quotient fits 64 bits. */
static uint64_t div128(uint64_t hi, uint64_t lo, uint64_t d)
{
	uint64_t q, r;

	__asm__("divq %4" : "=a"(q), "=d"(r) : "a"(lo), "d"(hi), "rm"(d));
	(void)r;
	return q;
}

void guest_tsc_init(struct guest_tsc *t, uint64_t guest_hz, uint64_t host_hz, bool trap)
{
	*t = (struct guest_tsc){.hz = guest_hz, .trap = trap};
	if (!host_hz)
		host_hz = guest_hz ? guest_hz : 1;
	/* mult = guest_hz / host_hz in fixed point with as many fraction
	 * bits as fit below bit 63: a 100 MHz guest on a 2 GHz host keeps
	 * 63 bits of precision, not the 27 a fixed 32.32 would leave. */
	unsigned int_bits = 0;
	for (uint64_t q = guest_hz / host_hz; q; q >>= 1)
		int_bits++;
	t->shift = int_bits < 63 ? 63 - int_bits : 0;
	t->mult = t->shift ? div128(guest_hz >> (64 - t->shift), guest_hz << t->shift, host_hz)
			   : guest_hz / host_hz;
}

uint64_t guest_tsc_at(const struct guest_tsc *t, uint64_t host)
{
	if (!t->trap)
		return host + t->offset;
	unsigned __int128 d = (unsigned __int128)(host - t->host0) * t->mult;
	return t->guest0 + (uint64_t)(d >> t->shift);
}

void guest_tsc_set(struct guest_tsc *t, uint64_t host, uint64_t value)
{
	t->offset = value - host;
	t->guest0 = value;
	t->host0 = host;
}
