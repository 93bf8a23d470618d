/* The ACPI tables Tern writes into a Linux guest's RAM (ACPI 6.x chapter
 * 5): RSDP, XSDT, MADT, a hardware-reduced FADT and a DSDT in hand-built
 * AML. docs/guests.md says what they describe and why (an I/O APIC for
 * COM1's IRQ 4, no 8259, PCI devices by MSI-X). Pure: builds into a buffer, host-tested in
 * tests/unit/kernel/test_acpi_tables.c. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define ACPI_TABLES_GPA 0xE0000u /* the RSDP; the other tables follow it */
#define ACPI_TABLES_MAX 0x1000u	 /* bytes reserved for them (inside the E820 hole) */

/* Fixed ports the device models answer (kernel/briefs: decisions). */
#define ACPI_RESET_PORT 0xCF9u
#define ACPI_RESET_VALUE 0x06u
#define ACPI_SLEEP_CONTROL_PORT 0x600u
#define ACPI_SLEEP_STATUS_PORT 0x601u
#define ACPI_PVPANIC_PORT 0x505u
#define ACPI_RTC_PORT 0x70u    /* CMOS index; data at 0x71 */
#define ACPI_RTC_CENTURY 0x32u /* the CMOS byte holding the century */
#define ACPI_LAPIC_ADDR 0xFEE00000u

/* Builds the tables as they must appear at guest-physical `base` into
 * buf (len bytes, zeroed first). Returns the bytes used, or -E2BIG. */
int acpi_tables_build(uint8_t *buf, size_t len, uint32_t base);

/* The firmware's reset vector, 16 bytes of real-mode code for physical
 * 0xFFFF0 (F000:FFF0): it writes RESET_VALUE to the FADT's RESET_REG.
 * Linux on a hardware-reduced ACPI machine reboots "through EFI"
 * (efi_reboot_required); with no EFI it then jumps here, as into a PC
 * BIOS (machine_real_restart), and a PC's firmware resets the machine
 * from here (SeaBIOS: tryReboot, the ACPI reset register first). */
#define ACPI_RESET_VECTOR_GPA 0xFFFF0u
#define ACPI_RESET_VECTOR_LEN 16u
void acpi_reset_vector(uint8_t code[ACPI_RESET_VECTOR_LEN]);
