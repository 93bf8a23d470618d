/* The guest's TSC (struct guest_tsc, kernel/hv.h): at the host's rate the
 * CPU adds an offset; at any other rate RDTSC and RDMSR of the TSC exit and
 * Tern computes it from the host's TSC. No emulator Tern runs in has TSC
 * scaling, and a pool guest (cpu=pool) keeps the rate it was created with
 * on every host, so a guest created on a 100 MHz host reads 100 MHz on a
 * 2 GHz one. Pure arithmetic on a host TSC value: unit-tested on the host. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "kernel/hv.h"

/* A TSC of guest_hz that reads 0 now... until guest_tsc_set: trap says
 * whether the backend must make RDTSC exit (guest_hz is not host_hz). */
void guest_tsc_init(struct guest_tsc *t, uint64_t guest_hz, uint64_t host_hz, bool trap);
/* The guest's TSC at host TSC value host. */
uint64_t guest_tsc_at(const struct guest_tsc *t, uint64_t host);
/* Makes the guest's TSC read value at host TSC value host (WRMSR of the
 * TSC, a vCPU state loaded after a migration). Without trap, t->offset is
 * what the backend gives the CPU. */
void guest_tsc_set(struct guest_tsc *t, uint64_t host, uint64_t value);
