#include "arch/x86/asm.h"
#include "arch/x86/tsc.h"
#include "kernel/time.h"

#define PIT_HZ 1193182ull
#define PM_TIMER_HZ 3579545ull
#define CAL_MS 25

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
		if (spins > 5000000)
			return 0; /* no PIT (some modern boards gate it off) */
	return (rdtsc() - t0) * 1000 / CAL_MS;
}

static uint16_t pm_port;

static uint64_t calibrate_pm_timer(void)
{
	uint16_t port = pm_port;
	uint32_t start = inl(port) & 0xFFFFFF, ticks = 0;
	uint64_t t0 = rdtsc();

	while (ticks < PM_TIMER_HZ * CAL_MS / 1000)
		ticks = ((inl(port) & 0xFFFFFF) - start) & 0xFFFFFF; /* 24-bit counter wraps */
	return (rdtsc() - t0) * PM_TIMER_HZ / ticks;
}

/* The median of three: under emulation (and on a busy host) one window
 * can be stretched by the host scheduling the emulator away, and a wrong
 * rate would skew every time Tern reports. */
static uint64_t median3(uint64_t (*measure)(void))
{
	uint64_t a = measure();
	if (!a)
		return 0; /* no such timer: do not wait for it three times */
	uint64_t b = measure(), c = measure();
	if ((a <= b && b <= c) || (c <= b && b <= a))
		return b;
	if ((b <= a && a <= c) || (c <= a && a <= b))
		return a;
	return c;
}

const char *tsc_calibrate(uint64_t origin_tsc, uint16_t pm_timer_port)
{
	const char *ref = "PIT";

	tsc_origin = origin_tsc;
	tsc_hz = median3(calibrate_pit);
	if (!tsc_hz && pm_timer_port) {
		pm_port = pm_timer_port;
		tsc_hz = median3(calibrate_pm_timer);
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
