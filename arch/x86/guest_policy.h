/* The guest CPU's architectural rules, written once for both backends:
 * which EFER/CR4 bits a guest may set (derived from the CPUID baseline it
 * sees, arch/x86/cpuid_guest.c), which values a state MSR accepts (else
 * #GP, as real hardware with that CPUID would answer), and the reset
 * state. vmx/ and svm/ hold only the encodings; docs/guest-cpu.md is the
 * operator's view of the same rules. Host-testable: nothing here touches
 * the machine except through cpuid_guest(). */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "kernel/hv.h"

/* Architectural bits (SDM Vol. 3A 2.5, APM Vol. 2 3.1). */
#define GP_CR0_PE (1ull << 0)
#define GP_CR0_NW (1ull << 29)
#define GP_CR0_CD (1ull << 30)
#define GP_CR0_PG (1ull << 31)
#define GP_CR4_TSD (1ull << 2)
#define GP_CR4_PAE (1ull << 5)
#define GP_EFER_SCE (1ull << 0)
#define GP_EFER_LME (1ull << 8)
#define GP_EFER_LMA (1ull << 10)
#define GP_EFER_NXE (1ull << 11)
#define GP_RFLAGS_IF (1ull << 9)

/* Intel's and AMD's reset PAT (SDM 11.12.4, APM 7.8.2). */
#define GUEST_PAT_DEFAULT 0x0007040600070406ull
/* A SLAT fault on an entry that already allows the access comes from a
 * stale TLB entry and is fixed by the flush; more than this many in a row
 * at one address is a broken table and stops the VM (both backends). */
#define GUEST_STALE_FAULT_MAX 4

/* Bits 63:47 all equal (48-bit linear addresses: the baseline). */
bool guest_policy_canonical(uint64_t a);
/* Every PAT entry is a defined memory type (0, 1, 4, 5, 6, 7). */
bool guest_policy_pat_valid(uint64_t pat);
/* EFER bits a WRMSR may set: those whose feature the guest's CPUID shows
 * (SCE: SYSCALL, NXE: NX, LME: LM). LMA is the CPU's, never writable. */
uint64_t guest_policy_efer_writable(const struct guest_cpu *c);
/* CR4 bits a MOV to CR4 may set: those whose feature the guest's CPUID
 * shows (VME/PVI, TSD, DE, PSE, PAE, MCE, PGE, PCE, OSFXSR, OSXMMEXCPT). */
uint64_t guest_policy_cr4_allowed(const struct guest_cpu *c);

/* WRMSR of EFER: 0 and the new EFER in *next (LMA kept from `cur`), or
 * -EINVAL for #GP: an unknown or hidden bit, or LME changed while
 * paging is on (SDM Vol. 4 IA32_EFER, APM 14.6.1). */
int guest_policy_efer_write(const struct guest_cpu *c, uint64_t cur, uint64_t val, uint64_t cr0, uint64_t *next);
/* WRMSR of any other state MSR: 0, or -EINVAL where the CPU raises #GP
 * (non-canonical address MSRs, SFMASK bits 63:32, invalid PAT). */
int guest_policy_msr_write_check(uint32_t msr, uint64_t val);
/* MOV to CR0 (SDM Vol. 2 "MOV to/from CR"): -EINVAL for #GP. */
int guest_policy_cr0_write_check(uint64_t val, uint64_t efer, uint64_t cr4);
/* MOV to CR4: -EINVAL for #GP (a bit outside guest_policy_cr4_allowed,
 * or PAE cleared in long mode). */
int guest_policy_cr4_write_check(const struct guest_cpu *c, uint64_t val, uint64_t efer);

/* The architectural state after RESET (SDM Vol. 3A 9.1.1, APM Table
 * 14-1), the same on both backends. */
void guest_policy_reset_state(struct vcpu_state *s);
