/* The CPU's sources of unpredictable bits (rng.c): RDSEED, RDRAND, and
 * timing jitter of the TSC around port reads when neither exists. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rng_source {
	RNG_RDSEED,
	RNG_RDRAND,
	RNG_JITTER,
};

/* The best source this CPU has (CPUID, probed once). */
enum rng_source rng_best_source(void);
const char *rng_source_name(enum rng_source s);
/* Fills buf from source s; false if the CPU kept failing (RDSEED and
 * RDRAND may run dry for a while; jitter never fails). */
bool rng_fill(enum rng_source s, void *buf, size_t len);
