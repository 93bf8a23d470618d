/* Subsystems that register commands and poll functions of their own.
 * Weak defaults keep the kernel linkable while a subsystem is absent. */
#include "kernel/loop.h"

void net_init(void) __attribute__((weak, visibility("hidden")));
void vm_init(void) __attribute__((weak, visibility("hidden")));
void migrate_init(void) __attribute__((weak, visibility("hidden")));
void mgmt_init(void) __attribute__((weak, visibility("hidden")));

void subsystems_init(void)
{
	if (net_init)
		net_init();
	if (vm_init)
		vm_init();
	if (migrate_init)
		migrate_init();
	if (mgmt_init)
		mgmt_init();
}
