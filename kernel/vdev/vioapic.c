/* The I/O APIC model (kernel/vdev/vioapic.h). Pin state is the line's
 * logical level: "up" means asserted whatever the entry's polarity, as in
 * KVM's ioapic.c, because the devices here report assertion, not a
 * voltage. */
#include <errno.h>
#include <string.h>
#include "kernel/vdev/vioapic.h"
#include "migrate/le.h"

/* Register indexes behind IOWIN (datasheet 3.1). */
#define REG_ID 0x00
#define REG_VER 0x01
#define REG_ARB 0x02
#define REG_RTE0 0x10 /* 0x10 + 2n: entry n bits 31:0, 0x11 + 2n: bits 63:32 */

/* Bits a guest may write: vector, delivery mode, destination mode,
 * polarity, trigger mode, mask, destination. */
#define RTE_WRITABLE                                                                       \
	(VIOAPIC_RTE_VECTOR | VIOAPIC_RTE_DELMODE | VIOAPIC_RTE_DESTMODE |                \
	 VIOAPIC_RTE_POLARITY | VIOAPIC_RTE_LEVEL | VIOAPIC_RTE_MASKED | (0xFFull << 56))

void vioapic_reset(struct vioapic *io)
{
	memset(io, 0, sizeof(*io));
	io->id = VIOAPIC_ID;
	for (unsigned i = 0; i < VIOAPIC_PINS; i++)
		io->rte[i] = VIOAPIC_RTE_MASKED;
}

/* The entry as the message a PCI device would send (SDM 11.11.1/11.11.2):
 * destination and destination mode in the address, vector, delivery mode
 * and trigger mode in the data, "assert" set. */
static void send(struct vioapic *io, unsigned pin)
{
	uint64_t e = io->rte[pin];
	uint64_t addr = 0xFEE00000ull | ((e >> VIOAPIC_RTE_DEST_SHIFT) << 12) |
			(e & VIOAPIC_RTE_DESTMODE ? 1u << 2 : 0);
	uint32_t data = (uint32_t)(e & (VIOAPIC_RTE_VECTOR | VIOAPIC_RTE_DELMODE)) | 1u << 14;

	if (e & VIOAPIC_RTE_LEVEL) {
		data |= 1u << 15;
		io->rte[pin] |= VIOAPIC_RTE_REMOTE_IRR;
	}
	if (vioapic_send(io, addr, data)) {
		io->sent++;
	} else {
		io->refused++;
		/* Nobody took it, so no EOI will come to clear Remote IRR. */
		io->rte[pin] &= ~VIOAPIC_RTE_REMOTE_IRR;
	}
}

/* A level entry whose line is up sends when nothing holds it back. */
static void level_check(struct vioapic *io, unsigned pin)
{
	uint64_t e = io->rte[pin];

	if ((e & VIOAPIC_RTE_LEVEL) && !(e & (VIOAPIC_RTE_MASKED | VIOAPIC_RTE_REMOTE_IRR)) &&
	    (io->asserted & (1u << pin)))
		send(io, pin);
}

void vioapic_set_pin(struct vioapic *io, unsigned pin, bool up)
{
	if (pin >= VIOAPIC_PINS)
		return;
	uint32_t bit = 1u << pin;
	bool was = io->asserted & bit;

	if (up)
		io->asserted |= bit;
	else
		io->asserted &= ~bit;
	uint64_t e = io->rte[pin];
	if (e & VIOAPIC_RTE_LEVEL)
		level_check(io, pin);
	else if (up && !was && !(e & VIOAPIC_RTE_MASKED))
		send(io, pin);
}

void vioapic_eoi(struct vioapic *io, uint8_t vector)
{
	for (unsigned pin = 0; pin < VIOAPIC_PINS; pin++) {
		uint64_t e = io->rte[pin];
		if (!(e & VIOAPIC_RTE_LEVEL) || (uint8_t)e != vector)
			continue;
		io->rte[pin] &= ~VIOAPIC_RTE_REMOTE_IRR;
		level_check(io, pin);
	}
}

static uint32_t reg_read(const struct vioapic *io, uint32_t reg)
{
	switch (reg) {
	case REG_ID:
	case REG_ARB:
		return (io->id & 0xF) << 24;
	case REG_VER:
		return (VIOAPIC_PINS - 1) << 16 | VIOAPIC_VERSION;
	}
	if (reg >= REG_RTE0 && reg < REG_RTE0 + 2 * VIOAPIC_PINS) {
		uint64_t e = io->rte[(reg - REG_RTE0) / 2];
		return (reg & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
	}
	return 0;
}

static void reg_write(struct vioapic *io, uint32_t reg, uint32_t val)
{
	if (reg == REG_ID) {
		io->id = (val >> 24) & 0xF;
		return;
	}
	if (reg < REG_RTE0 || reg >= REG_RTE0 + 2 * VIOAPIC_PINS)
		return; /* version, arbitration, reserved: read-only or nothing */
	unsigned pin = (reg - REG_RTE0) / 2;
	uint64_t e = io->rte[pin];
	uint64_t w = (reg & 1) ? ((uint64_t)val << 32) | (uint32_t)e
			       : (e & 0xFFFFFFFF00000000ull) | val;
	io->rte[pin] = (w & RTE_WRITABLE) | (e & VIOAPIC_RTE_REMOTE_IRR);
	/* Switching an entry to edge drops a Remote IRR only level uses. */
	if (!(io->rte[pin] & VIOAPIC_RTE_LEVEL))
		io->rte[pin] &= ~VIOAPIC_RTE_REMOTE_IRR;
	/* Unmasking a level entry whose line is up sends it now. */
	level_check(io, pin);
}

uint32_t vioapic_mmio_read(struct vioapic *io, uint32_t off)
{
	if (off == VIOAPIC_IOREGSEL)
		return io->regsel;
	if (off == VIOAPIC_IOWIN)
		return reg_read(io, io->regsel);
	return 0;
}

void vioapic_mmio_write(struct vioapic *io, uint32_t off, uint32_t val)
{
	if (off == VIOAPIC_IOREGSEL)
		io->regsel = val & 0xFF;
	else if (off == VIOAPIC_IOWIN)
		reg_write(io, io->regsel, val);
}

/* ---- migration ----------------------------------------------------------- */

#define STATE_VERSION 1

int vioapic_save(const struct vioapic *io, void *buf, size_t cap)
{
	uint8_t *p = buf;

	if (cap < VIOAPIC_STATE_LEN)
		return -ENOSPC;
	le32_put(p, STATE_VERSION);
	le32_put(p + 4, io->id);
	le32_put(p + 8, io->regsel);
	le32_put(p + 12, io->asserted);
	for (unsigned i = 0; i < VIOAPIC_PINS; i++)
		le64_put(p + 16 + 8 * i, io->rte[i]);
	return VIOAPIC_STATE_LEN;
}

static const char *state_check(const uint8_t *p, size_t len)
{
	if (len != VIOAPIC_STATE_LEN)
		return "wrong blob length";
	if (le32_get(p) != STATE_VERSION)
		return "unknown I/O APIC state version";
	if (le32_get(p + 4) > 0xF)
		return "ID wider than 4 bits";
	if (le32_get(p + 8) > 0xFF)
		return "IOREGSEL wider than 8 bits";
	if (le32_get(p + 12) >> VIOAPIC_PINS)
		return "a pin past 23 asserted";
	for (unsigned i = 0; i < VIOAPIC_PINS; i++) {
		uint64_t e = le64_get(p + 16 + 8 * i);
		if (e & ~(RTE_WRITABLE | VIOAPIC_RTE_REMOTE_IRR))
			return "reserved redirection-entry bits set";
		if ((e & VIOAPIC_RTE_REMOTE_IRR) && !(e & VIOAPIC_RTE_LEVEL))
			return "Remote IRR on an edge-triggered entry";
	}
	return NULL;
}

int vioapic_restore(struct vioapic *io, const void *buf, size_t len, const char **why)
{
	const uint8_t *p = buf;
	const char *bad = state_check(p, len);

	if (bad) {
		if (why)
			*why = bad;
		return -EINVAL;
	}
	io->id = le32_get(p + 4);
	io->regsel = le32_get(p + 8);
	io->asserted = le32_get(p + 12);
	for (unsigned i = 0; i < VIOAPIC_PINS; i++)
		io->rte[i] = le64_get(p + 16 + 8 * i);
	return 0;
}
