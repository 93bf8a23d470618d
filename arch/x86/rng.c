/* Entropy from the CPU for kernel/random.c.
 *
 * RDSEED (CPUID.(7,0):EBX[18]) gives conditioned seed material straight
 * from the hardware source; RDRAND (CPUID.1:ECX[30]) gives the output of
 * the CPU's own DRBG. Both may return CF=0 when drained: Intel SDM Vol. 1
 * 7.3.17.1 and the DRNG guide recommend a bounded retry loop.
 *
 * Without either (QEMU's qemu64 model, Bochs), the fallback is timing
 * jitter: the TSC read around a PIT latch-and-read. Port I/O goes
 * through the chipset, so on real hardware its duration varies with bus
 * arbitration and clock-domain crossings. Under an emulator the delay is
 * computed by the host's code and the jitter is far weaker; see
 * docs/migration.md ("Randomness"). */
#include "arch/x86/rng.h"

#include <string.h>

#include "arch/x86/asm.h"

#define PIT_CH0 0x40
#define PIT_CMD 0x43
#define RETRIES 100
/* Samples folded into each output byte: the deltas' low bits carry the
 * jitter, and mbedTLS's entropy pool hashes whatever we give it. */
#define SAMPLES_PER_BYTE 16

static int probed = -1;

enum rng_source rng_best_source(void)
{
	if (probed < 0) {
		if (cpuid(0, 0).eax >= 7 && (cpuid(7, 0).ebx & (1u << 18)))
			probed = RNG_RDSEED;
		else if (cpuid(1, 0).ecx & (1u << 30))
			probed = RNG_RDRAND;
		else
			probed = RNG_JITTER;
	}
	return (enum rng_source)probed;
}

const char *rng_source_name(enum rng_source s)
{
	switch (s) {
	case RNG_RDSEED:
		return "RDSEED";
	case RNG_RDRAND:
		return "RDRAND";
	default:
		return "TSC jitter";
	}
}

static bool rdseed64(uint64_t *v)
{
	unsigned char ok;
	for (int i = 0; i < RETRIES; i++) {
		__asm__ volatile("rdseed %0; setc %1" : "=r"(*v), "=qm"(ok));
		if (ok)
			return true;
		cpu_relax();
	}
	return false;
}

static bool rdrand64(uint64_t *v)
{
	unsigned char ok;
	for (int i = 0; i < RETRIES; i++) {
		__asm__ volatile("rdrand %0; setc %1" : "=r"(*v), "=qm"(ok));
		if (ok)
			return true;
	}
	return false;
}

static uint8_t jitter_byte(void)
{
	uint8_t acc = 0;
	for (int i = 0; i < SAMPLES_PER_BYTE; i++) {
		uint64_t t0 = rdtsc();
		outb(PIT_CMD, 0x00); /* latch channel 0 */
		uint8_t lo = inb(PIT_CH0);
		uint8_t hi = inb(PIT_CH0);
		uint64_t d = rdtsc() - t0;
		acc = (uint8_t)((acc << 1 | acc >> 7) ^ (uint8_t)d ^ (uint8_t)(d >> 8) ^ lo ^ hi);
	}
	return acc;
}

bool rng_fill(enum rng_source s, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		uint64_t v;
		size_t k = len < 8 ? len : 8;
		if (s == RNG_RDSEED) {
			if (!rdseed64(&v))
				return false;
		} else if (s == RNG_RDRAND) {
			if (!rdrand64(&v))
				return false;
		} else {
			for (size_t i = 0; i < 8; i++)
				((uint8_t *)&v)[i] = jitter_byte();
		}
		memcpy(p, &v, k);
		p += k;
		len -= k;
	}
	return true;
}
