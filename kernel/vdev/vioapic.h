/* A guest's I/O APIC (Intel 82093AA datasheet; ACRN's vioapic.c, KVM's
 * ioapic.c and Cloud Hypervisor's ioapic.rs read first): 24 pins at
 * guest-physical 0xFEC00000, each with a redirection entry that turns a
 * pin into a message to the local APIC. Tern's ISA devices that raise an
 * interrupt line (the UART on pin 4) go through it; PCI devices use MSI-X
 * and never touch it.
 *
 * Arch-neutral and host-unit-tested. A message leaves through
 * vioapic_send(), which the kernel provides (kernel/vm_irq.c: into the
 * vCPU's LAPIC) and the unit tests replace. The version is 0x11, as the
 * 82093AA and KVM's: no EOI register; a level-triggered entry's Remote
 * IRR is cleared by the LAPIC's EOI broadcast (vioapic_eoi). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VIOAPIC_BASE 0xFEC00000ull
#define VIOAPIC_PAGE 0x1000
#define VIOAPIC_PINS 24
#define VIOAPIC_VERSION 0x11
#define VIOAPIC_ID 1 /* MADT's I/O APIC ID: not the vCPU's LAPIC ID 0 */

/* Register window (datasheet 3.0): IOREGSEL at 0x00, IOWIN at 0x10. */
#define VIOAPIC_IOREGSEL 0x00
#define VIOAPIC_IOWIN 0x10

/* Redirection entry fields (datasheet 3.2.4). */
#define VIOAPIC_RTE_VECTOR 0xFFull
#define VIOAPIC_RTE_DELMODE (7ull << 8)
#define VIOAPIC_RTE_DESTMODE (1ull << 11)
#define VIOAPIC_RTE_STATUS (1ull << 12) /* delivery status: read-only */
#define VIOAPIC_RTE_POLARITY (1ull << 13)
#define VIOAPIC_RTE_REMOTE_IRR (1ull << 14) /* read-only */
#define VIOAPIC_RTE_LEVEL (1ull << 15)
#define VIOAPIC_RTE_MASKED (1ull << 16)
#define VIOAPIC_RTE_DEST_SHIFT 56

struct vioapic {
	uint32_t id;                   /* bits 27:24 of the ID register */
	uint32_t regsel;               /* IOREGSEL */
	uint64_t rte[VIOAPIC_PINS];    /* redirection table */
	uint32_t asserted;             /* pins whose line is up, a bit each */
	uint64_t sent;                 /* messages delivered (for tests and stats) */
	uint64_t refused;              /* messages the LAPIC would not take */
};

/* After reset every entry is masked, edge, vector 0 (datasheet 3.2.4). */
void vioapic_reset(struct vioapic *io);

/* The register window: off in 0..VIOAPIC_PAGE-1, 32-bit accesses only
 * (the caller drops other sizes). Unknown offsets read 0, writes to them
 * and to read-only registers are ignored. */
uint32_t vioapic_mmio_read(struct vioapic *io, uint32_t off);
void vioapic_mmio_write(struct vioapic *io, uint32_t off, uint32_t val);

/* A device's line on pin: up (asserted) or down. Edge entries send on
 * the rising edge while unmasked (an edge while masked is lost, as on the
 * 82093AA); level entries send while the line is up, unmasked and Remote
 * IRR is clear. */
void vioapic_set_pin(struct vioapic *io, unsigned pin, bool up);
/* The LAPIC's EOI of a level-triggered vector: clears Remote IRR of the
 * entries with that vector and sends again where the line is still up. */
void vioapic_eoi(struct vioapic *io, uint8_t vector);

/* Where messages go: an MSI-format address and data (SDM 11.11), the
 * form the LAPIC already takes from PCI devices. false: refused. */
bool vioapic_send(struct vioapic *io, uint64_t addr, uint32_t data);

/* Migration: u32 version (1), u32 id, u32 IOREGSEL, u32 asserted pins,
 * then the 24 entries as u64, little-endian. save: the length or -ENOSPC.
 * restore: 0, or -EINVAL and *why for a state no guest could make (bits a
 * write cannot set, Remote IRR on an edge entry, a pin past 23), nothing
 * changed then. */
#define VIOAPIC_STATE_LEN (16 + 8 * VIOAPIC_PINS)
int vioapic_save(const struct vioapic *io, void *buf, size_t cap);
int vioapic_restore(struct vioapic *io, const void *buf, size_t len, const char **why);
