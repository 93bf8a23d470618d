/* Running the VMs: one slice each per main-loop pass, their port I/O, and
 * what a guest's reboot, poweroff or crash does (kernel/vm_run.c). The
 * lifecycle (create, restart, destroy) is kernel/vm.c's. */
#pragma once
#include <stdbool.h>
#include "kernel/vm.h"

/* The main loop's "vm" poll: true when any VM ran or took frames. */
bool vm_poll(void);
/* The VM whose vCPU runs now (vm_current()), NULL between slices. */
void vm_current_set(struct vm *vm);
/* Frees everything the VM holds, its slot included (kernel/vm.c). */
void vm_release(struct vm *vm);
