#include "arch/x86/asm.h"
#include "arch/x86/tsc.h"
#include "kernel/time.h"

#define PIT_HZ 1193182ull
#define PM_TIMER_HZ 3579545ull
#define CAL_MS 50

uint64_t tsc_hz;
static uint64_t tsc_origin;

/* PIT channel 2 in mode 0 (SDM-era 8254 datasheet): OUT2, readable as bit
 * 5 of port 0x61, goes high when the count reaches zero. */
static uint64_t calibrate_pit(void)
{
	uint16_t count = PIT_HZ * CAL_MS / 1000;

	outb(0x61, (inb(0x61) & ~0x02) | 0x01); /* gate on, speaker off */
	outb(0x43, 0xB0);                        /* channel 2, lo/hi byte, mode 0 */
	outb(0x42, count & 0xff);
	outb(0x42, count >> 8);
	uint64_t t0 = rdtsc();
	for (uint64_t spins = 0; !(inb(0x61) & 0x20); spins++)
		if (spins > 50000000)
			return 0; /* no PIT (some modern boards gate it off) */
	return (rdtsc() - t0) * 1000 / CAL_MS;
}

static uint64_t calibrate_pm_timer(uint16_t port)
{
	uint32_t start = inl(port) & 0xFFFFFF, ticks = 0;
	uint64_t t0 = rdtsc();

	while (ticks < PM_TIMER_HZ * CAL_MS / 1000)
		ticks = ((inl(port) & 0xFFFFFF) - start) & 0xFFFFFF; /* 24-bit counter wraps */
	return (rdtsc() - t0) * PM_TIMER_HZ / ticks;
}

const char *tsc_calibrate(uint64_t origin_tsc, uint16_t pm_timer_port)
{
	const char *ref = "PIT";

	tsc_origin = origin_tsc;
	tsc_hz = calibrate_pit();
	if (!tsc_hz && pm_timer_port) {
		tsc_hz = calibrate_pm_timer(pm_timer_port);
		ref = "ACPI PM timer";
	}
	if (!tsc_hz) {
		tsc_hz = 1000000000; /* no reference at all: assume 1 GHz and say so */
		ref = "none (assumed 1 GHz)";
	}
	return ref;
}

static uint64_t tsc_to_ns(uint64_t d)
{
	return d / tsc_hz * 1000000000ull + d % tsc_hz * 1000000000ull / tsc_hz;
}

uint64_t time_ns(void)
{
	return tsc_hz ? tsc_to_ns(rdtsc() - tsc_origin) : 0;
}

uint64_t time_since_tsc_ms(uint64_t tsc)
{
	return tsc_hz ? tsc_to_ns(rdtsc() - tsc) / 1000000 : 0;
}

void udelay(uint64_t us)
{
	uint64_t end = rdtsc() + tsc_hz / 1000000 * us;
	while (rdtsc() < end)
		cpu_relax();
}
