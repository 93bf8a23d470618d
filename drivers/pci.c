#include <string.h>
#include "arch/x86/asm.h"
#include "arch/x86/paging.h"
#include "drivers/acpi.h"
#include "drivers/pci.h"
#include "kernel/console/cmd.h"
#include "kernel/kprintf.h"
#include "kernel/log.h"

struct pci_dev pci_devs[PCI_MAX_DEVS];
unsigned pci_ndevs;
const char *pci_access_method = "none";
static uint64_t ecam;
static uint8_t ecam_bus_start, ecam_bus_end;

static volatile void *ecam_ptr(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off)
{
	return (volatile void *)(ecam + (((uint64_t)(bus - ecam_bus_start) << 20) | (dev << 15) |
					 (fn << 12) | off));
}

static bool use_ecam(uint8_t bus, uint16_t off)
{
	return ecam && bus >= ecam_bus_start && bus <= ecam_bus_end && off < 4096;
}

static void cf8_select(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off)
{
	outl(0xCF8, 0x80000000u | (bus << 16) | (dev << 11) | (fn << 8) | (off & 0xFC));
}

uint32_t pci_read32(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off)
{
	if (use_ecam(bus, off))
		return *(volatile uint32_t *)ecam_ptr(bus, dev, fn, off);
	if (off >= 256)
		return 0xFFFFFFFF;
	cf8_select(bus, dev, fn, off);
	return inl(0xCFC);
}

void pci_write32(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off, uint32_t v)
{
	if (use_ecam(bus, off)) {
		*(volatile uint32_t *)ecam_ptr(bus, dev, fn, off) = v;
	} else if (off < 256) {
		cf8_select(bus, dev, fn, off);
		outl(0xCFC, v);
	}
}

uint16_t pci_read16(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off)
{
	return pci_read32(bus, dev, fn, off & ~3) >> ((off & 2) * 8);
}

uint8_t pci_read8(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off)
{
	return pci_read32(bus, dev, fn, off & ~3) >> ((off & 3) * 8);
}

void pci_write16(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off, uint16_t v)
{
	if (use_ecam(bus, off)) {
		*(volatile uint16_t *)ecam_ptr(bus, dev, fn, off) = v;
	} else if (off < 256) {
		cf8_select(bus, dev, fn, off);
		outw(0xCFC + (off & 2), v);
	}
}

void pci_write8(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off, uint8_t v)
{
	if (use_ecam(bus, off)) {
		*(volatile uint8_t *)ecam_ptr(bus, dev, fn, off) = v;
	} else if (off < 256) {
		cf8_select(bus, dev, fn, off);
		outb(0xCFC + (off & 3), v);
	}
}

static void scan_bus(uint8_t bus, int depth);

static void add_function(uint8_t bus, uint8_t dev, uint8_t fn, int depth)
{
	uint32_t id = pci_read32(bus, dev, fn, PCI_VENDOR_ID);
	uint32_t cr = pci_read32(bus, dev, fn, PCI_CLASS_REV);

	if (pci_ndevs < PCI_MAX_DEVS)
		pci_devs[pci_ndevs++] = (struct pci_dev){
			.bus = bus, .dev = dev, .fn = fn,
			.vendor = id & 0xFFFF, .device = id >> 16,
			.class = cr >> 24, .subclass = cr >> 16, .progif = cr >> 8, .revision = cr,
		};
	/* PCI-to-PCI bridge: walk the bus behind it. */
	if ((cr >> 16) == 0x0604 && depth < 8) {
		uint8_t sec = pci_read8(bus, dev, fn, PCI_SECONDARY_BUS);
		if (sec > bus)
			scan_bus(sec, depth + 1);
	}
}

static void scan_bus(uint8_t bus, int depth)
{
	for (uint8_t dev = 0; dev < 32; dev++) {
		if ((pci_read32(bus, dev, 0, PCI_VENDOR_ID) & 0xFFFF) == 0xFFFF)
			continue;
		bool multi = pci_read8(bus, dev, 0, PCI_HEADER_TYPE) & 0x80;
		for (uint8_t fn = 0; fn < (multi ? 8 : 1); fn++)
			if ((pci_read32(bus, dev, fn, PCI_VENDOR_ID) & 0xFFFF) != 0xFFFF)
				add_function(bus, dev, fn, depth);
	}
}

void pci_init(void)
{
	if (acpi.ecam_base && !paging_map_mmio(acpi.ecam_base,
					       (uint64_t)(acpi.ecam_bus_end - acpi.ecam_bus_start + 1) << 20)) {
		ecam = acpi.ecam_base;
		ecam_bus_start = acpi.ecam_bus_start;
		ecam_bus_end = acpi.ecam_bus_end;
		pci_access_method = "ECAM";
	} else {
		pci_access_method = "port 0xCF8";
	}
	scan_bus(0, 0);
	log_info("pci", "%u functions (config access: %s)", pci_ndevs, pci_access_method);
}

const struct pci_dev *pci_find(uint16_t vendor, uint16_t device, unsigned n)
{
	for (unsigned i = 0; i < pci_ndevs; i++)
		if (pci_devs[i].vendor == vendor && pci_devs[i].device == device && n-- == 0)
			return &pci_devs[i];
	return NULL;
}

uint64_t pci_bar(const struct pci_dev *d, int bar, bool *is_io)
{
	uint16_t off = PCI_BAR0 + 4 * bar;
	uint32_t lo = pci_read32(d->bus, d->dev, d->fn, off);

	*is_io = lo & 1;
	if (lo & 1)
		return lo & ~3u;
	uint64_t base = lo & ~0xFu;
	if (((lo >> 1) & 3) == 2) /* 64-bit memory BAR */
		base |= (uint64_t)pci_read32(d->bus, d->dev, d->fn, off + 4) << 32;
	return base;
}

static const struct {
	uint16_t vendor, device;
	const char *name;
} known[] = {
	{0x8086, 0x100e, "Intel 82540EM Gigabit Ethernet (e1000)"},
	{0x8086, 0x100f, "Intel 82545EM Gigabit Ethernet (e1000)"},
	{0x8086, 0x10d3, "Intel 82574L Gigabit Ethernet (e1000e)"},
	{0x8086, 0x1237, "Intel 440FX host bridge"},
	{0x8086, 0x7000, "Intel PIIX3 ISA bridge"},
	{0x8086, 0x7010, "Intel PIIX3 IDE"},
	{0x8086, 0x7020, "Intel PIIX3 USB"},
	{0x8086, 0x7110, "Intel PIIX4 ISA bridge"},
	{0x8086, 0x7111, "Intel PIIX4 IDE"},
	{0x8086, 0x7113, "Intel PIIX4 ACPI"},
	{0x8086, 0x29c0, "Intel Q35 host bridge"},
	{0x8086, 0x2918, "Intel ICH9 LPC bridge"},
	{0x8086, 0x2922, "Intel ICH9 AHCI"},
	{0x8086, 0x2930, "Intel ICH9 SMBus"},
	{0x1234, 0x1111, "QEMU/Bochs VGA"},
	{0x1af4, 0x1000, "virtio network (legacy)"},
	{0x1af4, 0x1041, "virtio network"},
	{0x1b36, 0x000d, "QEMU XHCI"},
	{0x1b36, 0x0010, "QEMU NVMe"},
};

static const char *class_name(uint8_t class, uint8_t subclass)
{
	switch (class) {
	case 0x01: return "storage controller";
	case 0x02: return "network controller";
	case 0x03: return "display controller";
	case 0x04: return "multimedia controller";
	case 0x05: return "memory controller";
	case 0x06: return subclass == 0x04 ? "PCI-to-PCI bridge" : "bridge";
	case 0x07: return "communication controller";
	case 0x08: return "system peripheral";
	case 0x0c: return "serial bus controller";
	default: return "device";
	}
}

const char *pci_device_name(uint16_t vendor, uint16_t device, uint8_t class, uint8_t subclass)
{
	for (unsigned i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (known[i].vendor == vendor && known[i].device == device)
			return known[i].name;
	return class_name(class, subclass);
}

static int cmd_pci(int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return CMD_USAGE;
	for (unsigned i = 0; i < pci_ndevs; i++) {
		const struct pci_dev *d = &pci_devs[i];
		kprintf("%02x:%02x.%x %04x:%04x %02x%02x  %s\n", d->bus, d->dev, d->fn, d->vendor,
			d->device, d->class, d->subclass,
			pci_device_name(d->vendor, d->device, d->class, d->subclass));
	}
	kprintf("%u functions, config access: %s\n", pci_ndevs, pci_access_method);
	return 0;
}

static const struct cmd pci_cmd = {
	.name = "pci",
	.summary = "list PCI functions: bus:dev.fn vendor:device class name",
	.usage = "pci",
	.run = cmd_pci,
};

void pci_register_commands(void)
{
	cmd_register(&pci_cmd);
}
