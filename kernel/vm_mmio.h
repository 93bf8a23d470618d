/* Guest MMIO: where an access to guest-physical memory that is not RAM
 * goes. The backends decode the instruction (arch/x86/mmio_decode.c, shared)
 * and call vm_mmio_access(); the kernel routes it to the xAPIC page (while
 * the LAPIC is in xAPIC mode), the I/O APIC or a PCI function's memory BAR. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

struct vm;

/* size 1, 2, 4 or 8; *val holds the value to write, or receives the value
 * read (zero-extended). 0: a device decoded it. -ENOENT: nothing is there
 * (the caller stops the VM with the usual "outside its RAM" line). */
int vm_mmio_access(struct vm *vm, uint64_t gpa, unsigned size, bool write, uint64_t *val);
