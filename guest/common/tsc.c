/* TSC frequency discovery and delays. */
#include "tsc.h"
#include "cpu.h"

#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_HV_BASE 0x40000000
#define CPUID_HV_TIMING 0x40000010

#define PIT_HZ 1193182
#define PIT_CH2 0x42
#define PIT_CMD 0x43
#define PIT_CMD_CH2_LOHI_MODE0 0xB0
#define PORT_B 0x61
#define PORT_B_GATE2 0x01
#define PORT_B_SPEAKER 0x02
#define PORT_B_OUT2 0x20
#define PIT_CAL_MS 50

uint64_t tsc_khz_from_cpuid(const char **source)
{
	uint32_t max_basic = cpuid(0, 0).eax;

	if (cpuid(1, 0).ecx & CPUID_1_ECX_HYPERVISOR &&
	    cpuid(CPUID_HV_BASE, 0).eax >= CPUID_HV_TIMING) {
		uint32_t khz = cpuid(CPUID_HV_TIMING, 0).eax;

		if (khz) {
			*source = "cpuid 0x40000010";
			return khz;
		}
	}
	/* SDM vol. 2A CPUID leaf 15H: TSC = crystal * EBX / EAX. */
	if (max_basic >= 0x15) {
		struct cpuid_regs r = cpuid(0x15, 0);

		if (r.eax && r.ebx && r.ecx) {
			*source = "cpuid 0x15";
			return (uint64_t)r.ecx * r.ebx / r.eax / 1000;
		}
	}
	if (max_basic >= 0x16) {
		uint32_t mhz = cpuid(0x16, 0).eax & 0xFFFF;

		if (mhz) {
			*source = "cpuid 0x16";
			return (uint64_t)mhz * 1000;
		}
	}
	return 0;
}

/* Channel 2 in mode 0 counts down once with its gate high and raises OUT2
 * (port 0x61 bit 5) at zero: the same measurement Linux's
 * pit_calibrate_tsc() makes. */
uint64_t tsc_khz_from_pit(void)
{
	const uint16_t count = PIT_HZ * PIT_CAL_MS / 1000;

	outb(PORT_B, (inb(PORT_B) & ~PORT_B_SPEAKER) | PORT_B_GATE2);
	outb(PIT_CMD, PIT_CMD_CH2_LOHI_MODE0);
	outb(PIT_CH2, count & 0xFF);
	outb(PIT_CH2, count >> 8);

	uint64_t t0 = rdtsc();

	while (!(inb(PORT_B) & PORT_B_OUT2))
		cpu_relax();

	uint64_t t1 = rdtsc();

	outb(PORT_B, inb(PORT_B) & ~PORT_B_GATE2);
	return (t1 - t0) * PIT_HZ / count / 1000;
}

void tsc_delay_ms(uint64_t khz, uint64_t ms)
{
	uint64_t start = rdtsc();

	while (rdtsc() - start < khz * ms)
		cpu_relax();
}
