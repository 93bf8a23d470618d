/* PCI configuration mechanism #1 (PCI Local Bus 3.0, 3.2.2.3.2): the
 * address at 0xCF8, the data at 0xCFC-0xCFF. Bus 0 only: netecho's device
 * sits there under Tern and under QEMU alike. */
#include "netecho.h"
#include "common/cpu.h"

#define CONFIG_ADDRESS 0xCF8
#define CONFIG_DATA 0xCFC
#define PCI_COMMAND 0x04
#define PCI_BAR0 0x10
#define CMD_IO 0x1
#define CMD_MEMORY 0x2
#define CMD_MASTER 0x4

static void select_reg(const struct ne_pci *p, unsigned off)
{
	outl(CONFIG_ADDRESS, 0x80000000u | (uint32_t)p->dev << 11 | (off & 0xFC));
}

uint32_t ne_pci_read(const struct ne_pci *p, unsigned off, unsigned size)
{
	uint16_t port = CONFIG_DATA + (off & 3);

	select_reg(p, off);
	return size == 1 ? inb(port) : size == 2 ? inw(port) : inl(port);
}

void ne_pci_write(const struct ne_pci *p, unsigned off, unsigned size, uint32_t val)
{
	uint16_t port = CONFIG_DATA + (off & 3);

	select_reg(p, off);
	if (size == 1)
		outb(port, (uint8_t)val);
	else if (size == 2)
		outw(port, (uint16_t)val);
	else
		outl(port, val);
}

bool ne_pci_find(uint16_t vendor, uint16_t device, struct ne_pci *p)
{
	for (unsigned dev = 0; dev < 32; dev++) {
		p->dev = (uint8_t)dev;
		uint32_t id = ne_pci_read(p, 0, 4);
		if (id == ((uint32_t)device << 16 | vendor))
			return true;
	}
	return false;
}

/* PCI 3.0 6.2.5.1: write all-ones, read back, restore; the lowest address
 * bit left writable is the size. Decoding stays off while probing. */
uint64_t ne_pci_bar(const struct ne_pci *p, int bar, bool *io, uint32_t *size)
{
	unsigned off = PCI_BAR0 + 4 * bar;
	uint16_t cmd = (uint16_t)ne_pci_read(p, PCI_COMMAND, 2);
	uint32_t orig = ne_pci_read(p, off, 4);
	uint64_t base;

	ne_pci_write(p, PCI_COMMAND, 2, cmd & ~(CMD_IO | CMD_MEMORY));
	ne_pci_write(p, off, 4, 0xFFFFFFFFu);
	uint32_t mask = ne_pci_read(p, off, 4);
	ne_pci_write(p, off, 4, orig);
	*io = orig & 1;
	if (*io) {
		mask &= 0xFFFC;
		base = orig & 0xFFFC;
		if (mask && !base) { /* no firmware assigned it: take a free range */
			base = NE_IO_BASE;
			ne_pci_write(p, off, 4, (uint32_t)base);
		}
		if (mask)
			cmd |= CMD_IO;
	} else {
		mask &= ~0xFu;
		base = orig & ~0xFull;
		if ((orig & 6) == 4) /* 64-bit BAR: the next one holds the high half */
			base |= (uint64_t)ne_pci_read(p, off + 4, 4) << 32;
		if (mask)
			cmd |= CMD_MEMORY;
	}
	*size = mask ? (~mask + 1) & (*io ? 0xFFFF : 0xFFFFFFFF) : 0;
	/* The device reads and writes the rings itself: bus master. */
	ne_pci_write(p, PCI_COMMAND, 2, cmd | CMD_MASTER);
	if (!*size || !base || base >= (4ull << 30))
		return 0; /* missing, or outside the identity-mapped 4 GiB */
	return base;
}
