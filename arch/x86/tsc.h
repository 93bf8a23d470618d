/* TSC calibration against the PIT (or the ACPI PM timer if there is no
 * PIT), refined over a second against the ACPI PM timer when there is one. */
#pragma once
#include <stdint.h>

#define PM_TIMER_WRAP (1ull << 24)

/* PM timer ticks from `from` to `to` (24-bit readings) when about
 * `expected` ticks passed: the wraps the readings cannot show are the
 * ones that bring the count nearest to `expected` (right as long as the
 * estimate is within half a wrap, 2.3 s). */
static inline uint64_t tsc_pm_ticks(uint32_t from, uint32_t to, uint64_t expected)
{
	uint64_t seen = (to - from) & (PM_TIMER_WRAP - 1);
	uint64_t wraps = expected + PM_TIMER_WRAP / 2 > seen
				 ? (expected + PM_TIMER_WRAP / 2 - seen) / PM_TIMER_WRAP
				 : 0;
	return seen + wraps * PM_TIMER_WRAP;
}

/* Calibrates, and makes time_ns() count from `origin_tsc`. Returns the
 * reference used ("PIT" or "ACPI PM timer"). */
const char *tsc_calibrate(uint64_t origin_tsc, uint16_t pm_timer_port);

/* Starts the refinement (a main-loop poll); once the loop runs. */
void tsc_refine_start(void);
