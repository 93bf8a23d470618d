/* PCI configuration access (ECAM from the ACPI MCFG, else ports 0xCF8/0xCFC)
 * and the list of functions found at boot. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_CLASS_REV 0x08
#define PCI_HEADER_TYPE 0x0E
#define PCI_BAR0 0x10
#define PCI_SECONDARY_BUS 0x19
#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4

struct pci_dev {
	uint8_t bus, dev, fn;
	uint16_t vendor, device;
	uint8_t class, subclass, progif, revision;
};

#define PCI_MAX_DEVS 128
extern struct pci_dev pci_devs[PCI_MAX_DEVS];
extern unsigned pci_ndevs;
extern const char *pci_access_method;

void pci_init(void);
uint32_t pci_read32(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off);
void pci_write32(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off, uint32_t v);
uint16_t pci_read16(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off);
void pci_write16(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off, uint16_t v);
uint8_t pci_read8(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off);
void pci_write8(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off, uint8_t v);
/* The n-th function (from 0) with this vendor:device, or NULL. */
const struct pci_dev *pci_find(uint16_t vendor, uint16_t device, unsigned n);
/* A BAR's base address (memory or I/O), with 64-bit BARs combined. */
uint64_t pci_bar(const struct pci_dev *d, int bar, bool *is_io);
const char *pci_device_name(uint16_t vendor, uint16_t device, uint8_t class, uint8_t subclass);
void pci_register_commands(void);
