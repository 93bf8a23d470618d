/* Placeholder until the interrupt path lands. */
#include "kernel/vm.h"
#include "kernel/vm_irq.h"

uint64_t vcpu_guest_tsc(struct vcpu *v)
{
	(void)v;
	return 0;
}
int vcpu_irq_pending(struct vcpu *v)
{
	(void)v;
	return -1;
}
void vcpu_irq_delivered(struct vcpu *v, int vector)
{
	(void)v, (void)vector;
}
bool vcpu_lapic_msr(struct vcpu *v, uint32_t msr, bool write, uint64_t *val)
{
	(void)v, (void)msr, (void)write, (void)val;
	return false;
}
void vm_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	(void)vm, (void)addr, (void)data;
}
