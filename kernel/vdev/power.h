/* The guest's power and panic ports, where the ACPI tables Tern gives a
 * Linux guest point (docs/guests.md, "Clock, reboot and poweroff"):
 *   0xCF9  reset control: a byte with bit 2 (reset CPU) set, the FADT's
 *          RESET_REG with RESET_VALUE 0x06;
 *   0x60, 0x64  the i8042's data and status/command ports, reduced to its
 *          "pulse reset line" command 0xFE (what Linux falls back to);
 *   0x600, 0x601  the FADT's SLEEP_CONTROL_REG and SLEEP_STATUS_REG
 *          (ACPI 6.x 4.8.3.7): SLP_EN with SLP_TYP 5 (\_S5) powers off;
 *   0x505  pvpanic (QEMU's device, Linux's pvpanic driver).
 * A write only records the guest's request; kernel/vm.c acts on it after
 * the exit, by the VM's on_reboot / on_poweroff / on_crash. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define VPOWER_RESET_PORT 0xCF9
#define VPOWER_KBD_DATA 0x60
#define VPOWER_KBD_CMD 0x64
#define VPOWER_SLP_CNT 0x600
#define VPOWER_SLP_STS 0x601
#define VPOWER_PVPANIC 0x505

#define VPOWER_RESET_CPU 0x04 /* 0xCF9 bit 2 */
#define VPOWER_KBD_PULSE 0xFE /* i8042: pulse output line 0 (CPU reset) */
#define VPOWER_SLP_EN 0x20    /* ACPI PM1_CNT bit 13, byte-wide here: bit 5 */
#define VPOWER_SLP_TYP(v) (((v) >> 2) & 7)
#define VPOWER_S5 5 /* the DSDT's \_S5 package {5, 5} */
#define PVPANIC_PANICKED 0x01
#define PVPANIC_CRASH_LOADED 0x02

enum vpower_request {
	VPOWER_NONE,
	VPOWER_REBOOT,
	VPOWER_POWEROFF,
	VPOWER_PANIC,
};

struct vdev_power {
	enum vpower_request request; /* set by a write; the VM takes and clears it */
	const char *how;	     /* which port asked, for the console line */
};

void vpower_init(struct vdev_power *p);
/* size: the access width. 0xCF9 is a byte register: a wider access at
 * 0xCF8 is PCI's CONFIG_ADDRESS and not this device's. */
bool vpower_handles(uint16_t port, unsigned size);
uint32_t vpower_in(struct vdev_power *p, uint16_t port);
void vpower_out(struct vdev_power *p, uint16_t port, uint32_t val);
