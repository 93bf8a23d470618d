/* Dirty-page logging of one VM: the only code that drives hv->dirty_*.
 * `vm dirty` (kernel/vm_cmd.c) and migration (kernel/vm_migrate.c) both
 * use it, so the command tests exactly the path a migration takes: the
 * pages the guest wrote (EPT/NPT D bits, PML, write-protect) together with
 * the pages Tern's devices wrote into guest RAM (virtio-net receive
 * buffers, used rings), which no CPU dirty log can see. */
#pragma once
#include <stdint.h>
#include "kernel/vm.h"

/* "off", "ad", "pml", "wp". */
const char *vm_dirty_name(enum dirty_mode m);
/* The cheapest exact method this CPU has: PML, then A/D bits, then
 * write-protection; DIRTY_OFF when there is none. */
enum dirty_mode vm_dirty_best(void);
/* Starts logging with m (not DIRTY_OFF): -EBUSY when logging is already
 * on, -ENOTSUP when the CPU lacks m, -ENOMEM, or the backend's error.
 * Nothing is left on after a failure. */
int vm_dirty_start(struct vm *vm, enum dirty_mode m);
/* Sets bit gfn in bitmap (npages bits) for every page the guest or a
 * device wrote since the start or the previous harvest, and clears that
 * record; returns how many bits it set (bits already set in bitmap are
 * not counted), or a negative errno (-EINVAL when logging is off). */
long vm_dirty_harvest(struct vm *vm, uint64_t *bitmap, uint64_t npages);
/* Stops logging; harmless when it is off. */
void vm_dirty_stop(struct vm *vm);
