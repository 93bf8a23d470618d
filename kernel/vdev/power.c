/* Power and panic ports (power.h). */
#include <string.h>
#include "kernel/vdev/power.h"

/* i8042 status (port 0x64): output buffer empty (bit 0 clear), input
 * buffer empty (bit 1 clear, so Linux's kb_wait() before its 0xFE ends
 * at once), system flag set (bit 2: self-test passed). */
#define KBD_STATUS 0x04

void vpower_init(struct vdev_power *p)
{
	memset(p, 0, sizeof(*p));
}

bool vpower_handles(uint16_t port, unsigned size)
{
	switch (port) {
	case VPOWER_RESET_PORT:
		return size == 1;
	case VPOWER_KBD_DATA:
	case VPOWER_KBD_CMD:
	case VPOWER_SLP_CNT:
	case VPOWER_SLP_STS:
	case VPOWER_PVPANIC:
		return true;
	default:
		return false;
	}
}

uint32_t vpower_in(struct vdev_power *p, uint16_t port)
{
	(void)p;
	switch (port) {
	case VPOWER_KBD_CMD:
		return KBD_STATUS;
	case VPOWER_PVPANIC:
		return PVPANIC_PANICKED | PVPANIC_CRASH_LOADED; /* the events it reports */
	default:
		return 0; /* 0x60 no data; 0xCF9, 0x600 as last reset; 0x601 no wake status */
	}
}

static void request(struct vdev_power *p, enum vpower_request r, const char *how)
{
	if (p->request == VPOWER_NONE) /* the first request of an exit wins */
		p->request = r, p->how = how;
}

void vpower_out(struct vdev_power *p, uint16_t port, uint32_t val)
{
	switch (port) {
	case VPOWER_RESET_PORT:
		if (val & VPOWER_RESET_CPU)
			request(p, VPOWER_REBOOT, "reset port 0xcf9");
		break;
	case VPOWER_KBD_CMD:
		if ((val & 0xFF) == VPOWER_KBD_PULSE)
			request(p, VPOWER_REBOOT, "i8042 reset");
		break;
	case VPOWER_SLP_CNT:
		if ((val & VPOWER_SLP_EN) && VPOWER_SLP_TYP(val) == VPOWER_S5)
			request(p, VPOWER_POWEROFF, "ACPI S5");
		break;
	case VPOWER_PVPANIC:
		if (val & PVPANIC_PANICKED)
			request(p, VPOWER_PANIC, "pvpanic");
		break;
	default:
		break; /* 0x60 data, 0x601 status (write-1-to-clear, nothing set) */
	}
}
