/* Placeholder until the model lands: an APIC that never interrupts. */
#include <errno.h>
#include <string.h>
#include "kernel/vdev/vlapic.h"

void vlapic_reset(struct vlapic *l, uint32_t id, uint64_t tsc_hz)
{
	memset(l, 0, sizeof(*l));
	l->apic_base = VLAPIC_XAPIC_BASE | (1u << 11) | (1u << 8);
	l->id = id;
	l->tsc_hz = tsc_hz;
}
bool vlapic_msr_read(struct vlapic *l, uint32_t msr, uint64_t now, uint64_t *val)
{
	(void)now;
	if (msr != 0x1B)
		return false;
	*val = l->apic_base;
	return true;
}
bool vlapic_msr_write(struct vlapic *l, uint32_t msr, uint64_t now, uint64_t val)
{
	(void)l, (void)msr, (void)now, (void)val;
	return msr == 0x1B;
}
bool vlapic_xapic_mode(const struct vlapic *l)
{
	(void)l;
	return false;
}
uint32_t vlapic_mmio_read(struct vlapic *l, uint32_t off, uint64_t now)
{
	(void)l, (void)off, (void)now;
	return 0;
}
void vlapic_mmio_write(struct vlapic *l, uint32_t off, uint32_t val, uint64_t now)
{
	(void)l, (void)off, (void)val, (void)now;
}
void vlapic_set_irq(struct vlapic *l, uint8_t vector, bool level)
{
	(void)l, (void)vector, (void)level;
}
bool vlapic_msi(struct vlapic *l, uint64_t addr, uint32_t data)
{
	(void)l, (void)addr, (void)data;
	return false;
}
uint64_t vlapic_timer_poll(struct vlapic *l, uint64_t now)
{
	(void)l, (void)now;
	return UINT64_MAX;
}
int vlapic_pending(const struct vlapic *l)
{
	(void)l;
	return -1;
}
void vlapic_accept(struct vlapic *l, int v)
{
	(void)l, (void)v;
}
int vlapic_save(const struct vlapic *l, void *buf, size_t cap)
{
	(void)l, (void)buf, (void)cap;
	return 0;
}
int vlapic_restore(struct vlapic *l, const void *buf, size_t len, const char **why)
{
	(void)l, (void)buf, (void)len, (void)why;
	return 0;
}
