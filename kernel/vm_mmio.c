/* Placeholder until guest MMIO lands: nothing decodes. */
#include <errno.h>
#include "kernel/vm.h"
#include "kernel/vm_mmio.h"

int vm_mmio_access(struct vm *vm, uint64_t gpa, unsigned size, bool write, uint64_t *val)
{
	(void)vm, (void)gpa, (void)size, (void)write, (void)val;
	return -ENOENT;
}
