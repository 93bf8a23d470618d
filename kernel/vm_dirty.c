/* One VM's dirty log, guest writes and device writes together
 * (kernel/vm_dirty.h). */
#include <errno.h>
#include <stdlib.h>
#include "kernel/vm.h"
#include "kernel/vm_dirty.h"

const char *vm_dirty_name(enum dirty_mode m)
{
	static const char *const n[] = {"off", "ad", "pml", "wp"};
	return (unsigned)m < sizeof(n) / sizeof(n[0]) ? n[m] : "?";
}

enum dirty_mode vm_dirty_best(void)
{
	static const enum dirty_mode order[] = {DIRTY_PML, DIRTY_AD, DIRTY_WP};

	for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (hv->dirty_supported(order[i]))
			return order[i];
	return DIRTY_OFF;
}

int vm_dirty_start(struct vm *vm, enum dirty_mode m)
{
	if (vm->dirty)
		return -EBUSY; /* one log per VM: never steal it from its owner */
	if (m == DIRTY_OFF || !hv->dirty_supported(m))
		return -ENOTSUP;
	/* What the devices write is logged from now on as well (vm_gpa_write
	 * records it while dev_dirty exists). */
	free(vm->dev_dirty);
	vm->dev_dirty = calloc((vm->npages + 63) / 64, sizeof(uint64_t));
	if (!vm->dev_dirty)
		return -ENOMEM;
	int rc = hv->dirty_start(&vm->vcpu, m);
	if (rc) {
		free(vm->dev_dirty);
		vm->dev_dirty = NULL;
		return rc;
	}
	vm->dirty = m;
	return 0;
}

long vm_dirty_harvest(struct vm *vm, uint64_t *bitmap, uint64_t npages)
{
	if (!vm->dirty)
		return -EINVAL;
	long n = hv->dirty_harvest(&vm->vcpu, bitmap, npages);
	if (n < 0)
		return n;
	/* Device writes happen only from the main loop, as this does: none
	 * can slip between the copy and the clear. */
	if (npages > vm->npages)
		npages = vm->npages;
	for (uint64_t w = 0; w < (npages + 63) / 64; w++) {
		uint64_t bits = vm->dev_dirty[w];
		if (w == npages / 64 && npages % 64)
			bits &= (1ull << (npages % 64)) - 1;
		n += __builtin_popcountll(bits & ~bitmap[w]);
		bitmap[w] |= bits;
		vm->dev_dirty[w] &= ~bits;
	}
	vm->dirty_pages_total += (uint64_t)n;
	return n;
}

void vm_dirty_stop(struct vm *vm)
{
	if (vm->dirty)
		hv->dirty_stop(&vm->vcpu);
	vm->dirty = DIRTY_OFF;
	free(vm->dev_dirty);
	vm->dev_dirty = NULL;
}
