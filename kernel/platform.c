/* Hooks that portable libraries (lwIP, via net/lwip_port.h) call into Tern. */
#include <stdint.h>
#include "arch/x86/asm.h"
#include "net/lwip_port.h"
#include "kernel/time.h"

uint32_t tern_ms(void)
{
	return (uint32_t)time_ms();
}

/* RDRAND where CPUID.1:ECX[30] says so; otherwise xorshift64* seeded from
 * the TSC, which is unpredictable enough for sequence numbers in a lab. */
uint32_t tern_rand32(void)
{
	static int have_rdrand = -1;
	static uint64_t state;

	if (have_rdrand < 0)
		have_rdrand = !!(cpuid(1, 0).ecx & (1u << 30));
	if (have_rdrand) {
		uint64_t v;
		unsigned char ok;
		for (int i = 0; i < 10; i++) {
			__asm__ volatile("rdrand %0; setc %1" : "=r"(v), "=qm"(ok));
			if (ok)
				return (uint32_t)v;
		}
	}
	if (!state)
		state = rdtsc() | 1;
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	state ^= rdtsc();
	return (uint32_t)((state * 0x2545F4914F6CDD1Dull) >> 32);
}
