/* TSC calibration against the PIT (or the ACPI PM timer if there is no PIT). */
#pragma once
#include <stdint.h>

/* Calibrates, and makes time_ns() count from `origin_tsc`. Returns the
 * reference used ("PIT" or "ACPI PM timer"). */
const char *tsc_calibrate(uint64_t origin_tsc, uint16_t pm_timer_port);
