#include <stdbool.h>
#include "arch/x86/asm.h"
#include "arch/x86/tsc.h"
#include "kernel/log.h"
#include "kernel/loop.h"
#include "kernel/time.h"

#define PIT_HZ 1193182ull
#define PM_TIMER_HZ 3579545ull
#define CAL_MS 25

uint64_t tsc_hz;
static uint64_t tsc_origin;
static uint64_t ns_at_origin; /* time_ns() at tsc_origin: a refined rate rebases */

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

static uint32_t pm_read(void)
{
	return inl(pm_port) & 0xFFFFFF; /* 24 bits, or 32 (FADT TMR_VAL_EXT): use 24 */
}

static uint64_t calibrate_pm_timer(void)
{
	uint32_t start = pm_read(), ticks = 0;
	uint64_t t0 = rdtsc();

	while (ticks < PM_TIMER_HZ * CAL_MS / 1000)
		ticks = (pm_read() - start) & 0xFFFFFF; /* 24-bit counter wraps */
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

/*
 * Refinement, after Linux's tsc_refine_calibration_work: the boot windows
 * are 25 ms, and under an emulator their end is seen tens of µs late, so
 * the boot rate is off by up to 0.07 % here. Guests are told that rate
 * (Linux's tsc_early_khz) and keep time with it: 40 ms a minute. One
 * second against the ACPI PM timer, each end read between two TSC reads,
 * is good to about 10 ppm.
 */
#define REFINE_MS 1000
#define BRACKET_MAX_US 20 /* a read slower than this was interrupted: again */

static struct {
	uint64_t tsc;
	uint32_t pm;
	bool started, done;
} refine;

/* The PM timer and the TSC at the same moment (the middle of the read). */
static bool pm_sample(uint64_t *tsc, uint32_t *pm)
{
	uint64_t a = rdtsc();
	*pm = pm_read();
	uint64_t b = rdtsc();
	*tsc = a + (b - a) / 2;
	return b - a <= tsc_hz / 1000000 * BRACKET_MAX_US;
}

/* One step: the first sample, then, a second later, the second one and
 * the new rate. Returns true when there is nothing more to do. */
static bool refine_step(void)
{
	uint64_t tsc;
	uint32_t pm;

	if (refine.done)
		return true;
	if (!refine.started) {
		refine.started = pm_sample(&refine.tsc, &refine.pm);
		return false;
	}
	if (time_since_tsc_ms(refine.tsc) < REFINE_MS || !pm_sample(&tsc, &pm))
		return false;
	refine.done = true;
	uint64_t cycles = tsc - refine.tsc;
	uint64_t ticks = tsc_pm_ticks(refine.pm, pm, cycles * PM_TIMER_HZ / tsc_hz);
	uint64_t hz = ticks ? cycles * PM_TIMER_HZ / ticks : 0;
	/* The second is the better measurement: under TCG on a busy host the
	 * 25 ms windows have come out 3.5 % and even 2x off. Only a rate a
	 * factor of 4 away says the PM timer itself is broken. */
	if (!hz || hz > tsc_hz * 4 || hz < tsc_hz / 4) {
		log_warn("time", "TSC refinement against the ACPI PM timer gave %lu kHz against "
			 "%lu kHz at boot: the timer looks broken, kept the boot calibration",
			 hz / 1000, tsc_hz / 1000);
		return true;
	}
	uint64_t now = rdtsc();
	ns_at_origin = time_ns();
	tsc_origin = now;
	log_info("time", "TSC refined to %lu.%03lu MHz against the ACPI PM timer over %lu ms (boot: %lu.%03lu)",
		 hz / 1000000, hz / 1000 % 1000, cycles * 1000 / tsc_hz, tsc_hz / 1000000,
		 tsc_hz / 1000 % 1000);
	tsc_hz = hz;
	return true;
}

static bool refine_poll(void)
{
	refine_step();
	return false; /* never busy: at most two port reads */
}

void time_refine_finish(void)
{
	if (!pm_port || refine.done)
		return;
	while (!refine_step())
		cpu_relax();
}

void tsc_refine_start(void)
{
	if (pm_port && loop_add("time", refine_poll) == 0)
		refine_step();
}

const char *tsc_calibrate(uint64_t origin_tsc, uint16_t pm_timer_port)
{
	const char *ref = "PIT";

	tsc_origin = origin_tsc;
	pm_port = pm_timer_port;
	tsc_hz = median3(calibrate_pit);
	if (!tsc_hz && pm_timer_port) {
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
	return tsc_hz ? ns_at_origin + tsc_to_ns(rdtsc() - tsc_origin) : 0;
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
