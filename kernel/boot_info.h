/* What a boot loader hands to kernel_main(). Both the UEFI and the
 * Multiboot2 entry fill it, so nothing after kernel_main() knows which
 * firmware booted Tern. Fixed-size so loaders need no allocator. */
#pragma once
#include <stdint.h>

#define BOOT_MAX_REGIONS 256
#define BOOT_MAX_MODULES 16
#define BOOT_CMDLINE_MAX 512
#define BOOT_MODULE_NAME_MAX 32

enum mem_type {
	MEM_USABLE = 1, /* free RAM, handed to the frame allocator */
	MEM_LOADER,     /* RAM holding Tern's image, modules and boot data */
	MEM_RECLAIMABLE, /* firmware boot-time RAM, free once Tern runs on its own tables */
	MEM_FIRMWARE,   /* RAM kept by firmware runtime services */
	MEM_ACPI,       /* RAM holding ACPI tables (kept: we parse them) */
	MEM_NVS,        /* RAM the firmware needs across sleep states */
	MEM_RESERVED,   /* not RAM, or RAM nobody may touch */
	MEM_MMIO,       /* device memory */
	MEM_BAD,
};

struct mem_region {
	uint64_t base;
	uint64_t size;
	uint32_t type;
	uint32_t pad;
};

struct boot_module {
	uint64_t base;
	uint64_t size;
	char name[BOOT_MODULE_NAME_MAX]; /* file name without extension */
};

struct boot_info {
	const char *firmware; /* "UEFI" or "Multiboot2" */
	uint64_t rsdp;        /* physical address of the ACPI RSDP, 0 if none */
	uint64_t tsc_handoff; /* TSC when the firmware gave us control */
	uint64_t image_base, image_end;
	uint32_t nregions;
	uint32_t nmodules;
	struct mem_region regions[BOOT_MAX_REGIONS];
	struct boot_module modules[BOOT_MAX_MODULES];
	char cmdline[BOOT_CMDLINE_MAX];
};

static inline int mem_type_is_ram(uint32_t type)
{
	return type >= MEM_USABLE && type <= MEM_NVS;
}

_Noreturn void kernel_main(const struct boot_info *bi);
