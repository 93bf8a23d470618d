/* Tern's wall clock: the host's CMOS RTC (an MC146818 at ports 0x70/0x71
 * on every PC, QEMU's and Bochs's included, booted by UEFI or by GRUB),
 * read once, then carried forward by Tern's monotonic time. The RTC is
 * taken to hold UTC, as QEMU's does by default (-rtc base=utc). */
#pragma once
#include <stdint.h>

/* Nanoseconds since 1970-01-01 00:00 UTC. The first call reads the RTC
 * (at most about a second, waiting out an update) and logs the date. */
uint64_t wallclock_ns(void);
