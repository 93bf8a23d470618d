/* A guest's local APIC (Intel SDM Vol. 3A chapter 11; ACRN's vlapic.c and
 * KVM's lapic.c are the models read first). One per vCPU, arch-neutral and
 * host-unit-tested: every function takes the guest's TSC "now" instead of
 * reading a clock, so tests drive time.
 *
 * Both register interfaces: x2APIC (MSRs 0x800 + offset/16, ICR as one
 * 64-bit MSR 0x830, SELF_IPI 0x83F) and xAPIC (the 4 KiB page at
 * IA32_APIC_BASE, reached through kernel/vm_mmio.c; what Linux keeps, as
 * it uses x2APIC next to an I/O APIC only on hypervisors it knows), switched by
 * IA32_APIC_BASE.EXTD as on hardware (11.12.5). Timers: TSC-deadline
 * (IA32_TSC_DEADLINE, 11.5.4.1) and the one-shot/periodic count timer.
 * Interrupts come from the timer, self-IPIs and devices (MSI, and the I/O
 * APIC's messages in the same form); there is one
 * vCPU, so an ICR to another destination is dropped (logged once).
 *
 * Not modelled: LINT0/LINT1 sources (no 8259, no NMI button), the thermal,
 * performance and CMCI LVTs (masked, never fire), logical destinations other
 * than "this CPU", lowest-priority arbitration between CPUs. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VLAPIC_XAPIC_BASE 0xFEE00000ull /* IA32_APIC_BASE after reset */
#define VLAPIC_PAGE 0x1000

struct vlapic {
	uint64_t apic_base; /* IA32_APIC_BASE: BSP (8), EXTD (10), EN (11), base */
	uint32_t id;
	uint32_t tpr, svr, ldr, dfr, esr, icr_lo, icr_hi;
	uint32_t irr[8], isr[8], tmr[8]; /* 256-bit vectors, 32 bits per word */
	uint32_t lvt_timer, lvt_thermal, lvt_perf, lvt_lint0, lvt_lint1, lvt_error, lvt_cmci;
	uint32_t timer_icr, timer_dcr; /* initial count, divide configuration */
	uint64_t timer_start;          /* guest TSC when the count was loaded */
	uint64_t tsc_deadline;         /* IA32_TSC_DEADLINE; 0: disarmed */
	uint64_t tsc_hz;               /* the guest's TSC rate: converts counts to TSC */
	uint64_t timer_fired;          /* timer interrupts delivered (for tests and stats) */
	uint32_t esr_pending;          /* errors since the last ESR write (11.5.3) */
	bool timer_armed;              /* one-shot/periodic count running */
	uint64_t timer_next;           /* guest TSC of the count timer's next expiry */
	uint64_t icr_dropped;          /* IPIs to nobody here (other CPUs, INIT, SIPI...) */
};

/* The state after RESET (11.4.7.1): xAPIC mode, enabled, BSP, software-
 * disabled (SVR 0xFF), every LVT masked. */
void vlapic_reset(struct vlapic *l, uint32_t id, uint64_t tsc_hz);

/* IA32_APIC_BASE (0x1B), IA32_TSC_DEADLINE (0x6E0) and the x2APIC range
 * 0x800-0x8FF. false: the access raises #GP (reserved register, x2APIC
 * register while not in x2APIC mode, write of a read-only one, reserved
 * bits, a non-zero EOI, an illegal APIC_BASE transition, 11.12.5). */
bool vlapic_msr_read(struct vlapic *l, uint32_t msr, uint64_t now, uint64_t *val);
bool vlapic_msr_write(struct vlapic *l, uint32_t msr, uint64_t now, uint64_t val);

/* The xAPIC page decodes: EN set and EXTD clear. */
bool vlapic_xapic_mode(const struct vlapic *l);
/* Register access through the page: off in 0..0xFFF. Registers are 32 bits
 * at 16-byte aligned offsets; other offsets and sizes read 0 and ignore
 * writes (11.4.1: only aligned 32-bit accesses are defined). */
uint32_t vlapic_mmio_read(struct vlapic *l, uint32_t off, uint64_t now);
void vlapic_mmio_write(struct vlapic *l, uint32_t off, uint32_t val, uint64_t now);

/* A device interrupt with fixed delivery to this CPU: sets the IRR bit
 * (and TMR for level). Vectors 0-15 are illegal: ESR "received illegal
 * vector", nothing pending (11.5.3). */
void vlapic_set_irq(struct vlapic *l, uint8_t vector, bool level);
/* A message-signalled interrupt (11.11): address 0xFEExxxxx, data. Fixed
 * and lowest-priority delivery to this CPU's ID (physical) or to a logical
 * destination that includes it become vlapic_set_irq; anything else
 * (another CPU, SMI, NMI, INIT, ExtINT, a bad address) returns false and
 * nothing happens. */
bool vlapic_msi(struct vlapic *l, uint64_t addr, uint32_t data);

/* The EOI of a level-triggered vector, broadcast to the I/O APIC
 * (11.8.5): provided by the kernel (kernel/vm_irq.c), replaced in unit
 * tests. */
void vlapic_level_eoi(struct vlapic *l, uint8_t vector);

/* Fires the timers due at now (sets IRR for an unmasked LVT timer, rearms
 * a periodic one). Returns the guest TSC of the next expiry, or UINT64_MAX
 * when no timer is armed. */
uint64_t vlapic_timer_poll(struct vlapic *l, uint64_t now);

/* The vector the LAPIC would deliver now: the highest IRR above the
 * processor priority (11.8.3.1), or -1. No state change. -1 while the
 * APIC is disabled (hardware or software). */
int vlapic_pending(const struct vlapic *l);
/* The CPU took vector v (the backend injected it): IRR -> ISR. */
void vlapic_accept(struct vlapic *l, int v);

/* Migration: every register and the timers, little-endian, versioned; the
 * deadline and the count's start are guest-TSC values, so they stay right
 * when the guest's TSC is carried over. save: length or -ENOSPC. restore:
 * 0, or -EINVAL with *why for a state no guest could reach (reserved bits,
 * an EXTD without EN, a vector under 16 in IRR/ISR), nothing changed. */
#define VLAPIC_STATE_MAX 256
int vlapic_save(const struct vlapic *l, void *buf, size_t cap);
int vlapic_restore(struct vlapic *l, const void *buf, size_t len, const char **why);
