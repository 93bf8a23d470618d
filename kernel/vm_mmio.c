/* Where a guest's MMIO goes (kernel/vm_mmio.h): its xAPIC page while the
 * LAPIC decodes it, else its I/O APIC's window, else a PCI function's
 * memory BAR, else nothing. */
#include <errno.h>
#include "kernel/log.h"
#include "kernel/vm.h"
#include "kernel/vm_irq.h"
#include "kernel/vm_mmio.h"

#define APIC_BASE_ADDR 0x000FFFFFFFFFF000ull /* IA32_APIC_BASE bits 51:12 */

/* SDM Vol. 3A 11.4.1: registers are 32 bits at 16-byte offsets and only
 * aligned 32-bit accesses are defined. Smaller reads inside one 32-bit
 * word read those bytes of it (what KVM's lapic.c does too); any other
 * read gives 0 and any other write is dropped, logged. */
static void xapic_access(struct vm *vm, uint32_t off, unsigned size, bool write, uint64_t *val)
{
	struct vlapic *l = &vm->vcpu.lapic;
	uint64_t now = vcpu_guest_tsc(&vm->vcpu);
	unsigned shift = 8 * (off & 3);

	if (write) {
		if (size == 4 && !(off & 3))
			vlapic_mmio_write(l, off, (uint32_t)*val, now);
		else
			log_guest(vm, LOG_WARN, "xAPIC: %u-byte write at offset 0x%x dropped", size,
				  off);
		return;
	}
	if (size > 4 || (off & 3) + size > 4) {
		*val = 0;
		return;
	}
	uint64_t word = vlapic_mmio_read(l, off & ~3u, now) >> shift;
	*val = size == 4 ? word : word & ((1ull << (8 * size)) - 1);
}

/* The 82093AA's window takes 32-bit accesses; others read 0 and are
 * dropped, logged, as on the xAPIC page. */
static void ioapic_access(struct vm *vm, uint32_t off, unsigned size, bool write, uint64_t *val)
{
	if (size != 4 || (off & 3)) {
		if (write)
			log_guest(vm, LOG_WARN, "IOAPIC: %u-byte write at offset 0x%x dropped", size,
				  off);
		else
			*val = 0;
		return;
	}
	if (write)
		vioapic_mmio_write(&vm->ioapic, off, (uint32_t)*val);
	else
		*val = vioapic_mmio_read(&vm->ioapic, off);
}

int vm_mmio_access(struct vm *vm, uint64_t gpa, unsigned size, bool write, uint64_t *val)
{
	const struct vlapic *l = &vm->vcpu.lapic;
	uint64_t base = l->apic_base & APIC_BASE_ADDR;

	if (vlapic_xapic_mode(l) && gpa - base < VLAPIC_PAGE) {
		xapic_access(vm, (uint32_t)(gpa - base), size, write, val);
		return 0;
	}
	if (gpa - VIOAPIC_BASE < VIOAPIC_PAGE) {
		ioapic_access(vm, (uint32_t)(gpa - VIOAPIC_BASE), size, write, val);
		return 0;
	}
	if (vpci_mem_access(&vm->pci, gpa, size, write, val))
		return 0;
	return -ENOENT;
}
