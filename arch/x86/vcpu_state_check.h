/* The one check of a portable vCPU state (kernel/hv.h) before either
 * backend loads it: a blob from a peer or the console is hostile until it
 * passes. It accepts what the guest could have reached on a CPU with the
 * guest's CPUID baseline (arch/x86/guest_policy.c) and that both VM entry
 * (SDM 26.3.1, "Checks on the Guest State Area") and VMRUN (APM 15.5.1,
 * "Canonicalization and Consistency Checks") take. Host-testable. */
#pragma once
#include "kernel/hv.h"

/* 0, or -EINVAL (checked against the CPU model c, whose CPUID decides
 * which EFER and CR4 bits exist) with *why naming the first refused field, e.g.
 * "efer: LMA disagrees with LME and CR0.PG". */
int vcpu_state_check(const struct guest_cpu *c, const struct vcpu_state *s, const char **why);
