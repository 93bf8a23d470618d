/* What the console commands (and later migration) use of kernel/vm.c. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "kernel/boot_info.h"
#include "kernel/vm.h"

/* disk: a volume of the host's NVMe disk for the guest's virtio-blk disk
 * (kernel/vm_disk.h), or NULL. */
int vm_create(const char *name, const char *image, uint64_t mem_mib, const char *args, bool paused,
	      enum guest_cpu_model cpu, const char *disk, const char **why);
int vm_create_linux(const char *name, const char *kernel, const char *initrd, uint64_t mem_mib,
		    const char *args, bool paused, enum guest_cpu_model cpu, const char *disk,
		    const char **why);
/* A VM, paused, with zeroed RAM and reset devices. Its vCPU is of model
 * cpu with a TSC of tsc_hz (0: this host's rate; a host-model guest always
 * has this host's rate). */
int vm_alloc(const char *name, uint64_t mem_bytes, enum guest_cpu_model cpu, uint64_t tsc_hz,
	     struct vm **out, const char **why);
int vm_destroy(struct vm *vm);
/* Reloads a VM from its images, as after a reset (kernel/vm.c says what
 * stays); on failure it is left stopped. */
int vm_restart(struct vm *vm, const char **why);
const char *vm_action_name(enum vm_action a);
int vm_action_parse(const char *s, enum vm_action *a);
void vm_stop(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct vm *vm_at(int i);
struct vm *vm_find_mac(const uint8_t *mac);
const char *vm_state_name(enum vm_state s);
const char *vm_backend(void);
const struct boot_module *vm_image_find(const char *name);
void vm_register_commands(void);
