/* Loading a guest image into guest RAM. */
#pragma once
#include <stdint.h>
#include "kernel/boot_info.h"

struct vm;

/* A Multiboot v1 ELF32 image (guest/README.md gives the contract): loads
 * its PT_LOAD segments, writes the Multiboot information with the command
 * line, and sets *entry and *mbi. -ENOEXEC with *why set if the image is
 * not one, -E2BIG if it does not fit the VM's RAM. */
int vm_load_multiboot(struct vm *vm, const struct boot_module *img, const char *cmdline,
		      uint32_t *entry, uint32_t *mbi, const char **why);
