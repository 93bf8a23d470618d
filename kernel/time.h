/* Monotonic time since boot, from the TSC (calibrated at boot). */
#pragma once
#include <stdint.h>

extern uint64_t tsc_hz;
uint64_t time_ns(void);
static inline uint64_t time_us(void) { return time_ns() / 1000; }
static inline uint64_t time_ms(void) { return time_ns() / 1000000; }
void udelay(uint64_t us);
/* Waits (at most a second after boot) until the TSC rate is refined:
 * guests are told the rate when they are created. */
void time_refine_finish(void);
/* Milliseconds between the firmware hand-off TSC and now. */
uint64_t time_since_tsc_ms(uint64_t tsc);
