/* x86 instruction wrappers. Tern's arch/x86/asm.h is self-contained
 * (stdint.h only), so the guests use it as is (outb, inb, rdtsc, cpuid,
 * read_cr2, cpu_relax, cpu_halt_forever) and add what only they need. */
#pragma once
#include "arch/x86/asm.h"

/* Keeps the compiler from caching memory across this point: pages are
 * checked against what a hypervisor (or a migration) may have done to them. */
static inline void compiler_barrier(void)
{
	__asm__ volatile("" ::: "memory");
}
