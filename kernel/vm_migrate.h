/* migrate/'s view of a VM: source and destination ops (migrate/migrate.h). */
#pragma once
#include <stdbool.h>
#include "kernel/vm.h"
#include "kernel/vm_disk_incoming.h"
#include "migrate/migrate.h"

/* One incoming guest being received. */
struct vm_incoming {
	struct vm *vm;	 /* set by create; NULL once destroyed */
	bool halted;	 /* the vCPU blob said HLT with IF = 0: nothing wakes it */
	bool blocked;	 /* the vCPU blob said HLT with IF = 1: it waits for an interrupt */
	bool paused;	 /* GUEST_CONFIG said the operator paused it: start it paused */
	enum guest_cpu_model cpu; /* its CPU model, from GUEST_CONFIG's CPUID id */
	const char *why; /* why the last state blob or the CPUID was refused, for the error line */
	char why_buf[160];
	struct disk_incoming disk; /* copy-storage: the volume its disk arrives in */
};

/* copy_storage: the guest's disk moves with it (`--copy-storage all`),
 * or a clone's as the blocks that differ from its base (`inc`); without
 * it a guest with a disk cannot be migrated (get_config refuses). */
enum vm_copy_storage { VM_COPY_NONE, VM_COPY_ALL, VM_COPY_INC };
void vm_migrate_src_ops(struct vm *vm, enum vm_copy_storage copy_storage,
			struct mig_src_guest *ops);
void vm_migrate_dst_ops(struct vm_incoming *in, struct mig_dst_guest *ops);
