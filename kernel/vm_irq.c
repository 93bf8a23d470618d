/* Interrupts into a guest: the vCPU's virtual LAPIC seen from the backend
 * (what to inject, what was taken, the LAPIC's MSRs and CR8) and from the
 * devices (MSI). Time is the guest's TSC, so the LAPIC's deadlines are in
 * the same clock the guest programs them in and stay right across a
 * migration that carries the TSC over. */
#include <stddef.h>
#include "kernel/vm_irq.h"
#include "kernel/log.h"
#include "kernel/vm.h"

uint64_t vcpu_guest_tsc(struct vcpu *v)
{
	return hv->guest_tsc(v);
}

int vcpu_irq_pending(struct vcpu *v)
{
	vlapic_timer_poll(&v->lapic, vcpu_guest_tsc(v));
	return vlapic_pending(&v->lapic);
}

void vcpu_irq_delivered(struct vcpu *v, int vector)
{
	vlapic_accept(&v->lapic, vector);
}

bool vcpu_lapic_msr(struct vcpu *v, uint32_t msr, bool write, uint64_t *val)
{
	uint64_t now = vcpu_guest_tsc(v);

	if (write)
		return vlapic_msr_write(&v->lapic, msr, now, *val);
	return vlapic_msr_read(&v->lapic, msr, now, val);
}

uint64_t vcpu_cr8_read(struct vcpu *v)
{
	return (v->lapic.tpr >> 4) & 0xF;
}

void vcpu_cr8_write(struct vcpu *v, uint64_t val)
{
	v->lapic.tpr = (uint32_t)(val & 0xF) << 4;
}

void vm_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	/* One vCPU: a message for another CPU, an NMI or an SMI is dropped
	 * (vlapic.h); say so, rate-limited, since a guest driver chose it. */
	if (!vlapic_msi(&vm->vcpu.lapic, addr, data))
		log_guest(vm, LOG_WARN, "MSI address 0x%lx data 0x%x not delivered", addr, data);
}

void vm_uart_irq(struct vm *vm)
{
	vioapic_set_pin(&vm->ioapic, VUART_IRQ, vuart_intr(&vm->uart));
}

/* The I/O APIC's messages go where a PCI device's MSI goes. */
bool vioapic_send(struct vioapic *io, uint64_t addr, uint32_t data)
{
	struct vm *vm = (struct vm *)((char *)io - offsetof(struct vm, ioapic));
	return vlapic_msi(&vm->vcpu.lapic, addr, data);
}

void vlapic_level_eoi(struct vlapic *l, uint8_t vector)
{
	struct vcpu *v = (struct vcpu *)((char *)l - offsetof(struct vcpu, lapic));
	vioapic_eoi(&v->vm->ioapic, vector);
}
