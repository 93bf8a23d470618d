/* ACPI tables Tern uses: FADT (reset, power-off, PM timer), MADT (local
 * APICs), MCFG (PCI ECAM). Tables are read in place (identity map). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

struct acpi_info {
	bool present;
	uint8_t revision;      /* RSDP revision: 0 = ACPI 1.0 (RSDT), 2+ = XSDT */
	char oem[7];
	unsigned ntables;
	/* FADT */
	uint16_t pm1a_cnt, pm1b_cnt, pm_timer;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	bool reset_supported;
	uint8_t reset_space; /* GAS address space: 0 memory, 1 I/O, 2 PCI config */
	uint64_t reset_addr;
	uint8_t reset_value;
	bool s5_found;
	uint8_t s5_typa, s5_typb;
	/* MADT */
	uint64_t lapic_addr;
	unsigned ncpus;
	/* MCFG: first ECAM segment group */
	uint64_t ecam_base;
	uint8_t ecam_bus_start, ecam_bus_end;
};

extern struct acpi_info acpi;

/* Parses the tables reachable from the RSDP (0: search the BIOS areas). */
int acpi_init(uint64_t rsdp);
void acpi_list_tables(void (*fn)(const char sig[4], uint64_t addr, uint32_t len, void *ctx), void *ctx);
/* Never return on success; return a negative errno if no method worked. */
int acpi_poweroff(void);
int acpi_reboot(void);
