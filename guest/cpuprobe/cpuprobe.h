/* cpuprobe: what the guest CPU answers, one line per probe, so that the
 * same image on two hypervisors (Tern's SVM and VMX backends) can be
 * compared line for line (tests/integration/test_cpu_policy.py). */
#pragma once

/* Selectors of cpuprobe's own GDT (cpu.c). */
#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UDATA 0x1B /* 0x18 | RPL 3 */
#define SEL_UCODE 0x23 /* 0x20 | RPL 3 */
#define SEL_TSS 0x28

#define PROBE_RETURNED (-1)

#ifndef __ASSEMBLER__
#include <stdbool.h>
#include <stdint.h>

/* trap.S: runs fn; returns PROBE_RETURNED if it returned, else the
 * vector of the exception it raised (probe_error, probe_rip and probe_cs
 * then say more). Any exception outside probe_try is fatal. */
long probe_try(void (*fn)(void));
extern uint64_t probe_error, probe_fault_rip, probe_fault_cs;
/* Enters CPL 3 at rip with stack rsp and RFLAGS.AC set (for #AC). */
void probe_enter_user(uint64_t rip, uint64_t rsp) __attribute__((noreturn));
/* CPL-3 code: a misaligned 4-byte load, then ud2. */
void probe_user_misaligned(void);
extern const uint64_t trap_stubs[32];

/* cpu.c: GDT with user segments, a TSS, the IDT of trap.S, user pages. */
void cpu_setup(void);
/* Points #DB at IST1 (stack top given), for mode=dbstorm. */
void cpu_db_on_ist(uint64_t stack_top);

/* probes.c */
/* spin: how long (ms of guest TSC) the SWAPGS probe waits before it
 * reads KERNEL_GS_BASE back, for another guest to run meanwhile. */
void probes_run(uint64_t spin);
void probes_dbstorm(void) __attribute__((noreturn));
/* mmio.c: mode=mmio, the xAPIC page through the MMIO decoder. */
void probes_mmio(void);
#endif
