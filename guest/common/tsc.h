/* The TSC as the guests' only clock. Its rate comes from CPUID when the
 * (virtual) CPU states it, from a PIT channel 2 measurement when asked, or
 * from the command line; see guest/README.md "Time". */
#pragma once
#include <stdint.h>

/* kHz from CPUID leaf 0x40000010 (hypervisor timing leaf, EAX = TSC kHz),
 * 0x15 (TSC/crystal ratio) or 0x16 (base MHz), in that order; 0 if none.
 * *source names the leaf used. */
uint64_t tsc_khz_from_cpuid(const char **source);
/* kHz measured over 50 ms of PIT channel 2 (ports 0x42, 0x43, 0x61). */
uint64_t tsc_khz_from_pit(void);
/* Busy-waits; khz as above. */
void tsc_delay_ms(uint64_t khz, uint64_t ms);
