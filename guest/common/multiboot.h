/* Multiboot v1 (Multiboot Specification 0.6.96): the header a loader looks
 * for in the first 8 KiB of the image, and the information it passes in EBX.
 * Only what the guests use; shared by entry.S and boot.c. */
#pragma once

#define MB_HEADER_MAGIC 0x1BADB002
/* Spec 3.1.2 flag bit 1: the loader must fill mem_lower/mem_upper. */
#define MB_HEADER_MEMORY_INFO 0x00000002
#define MB_HEADER_FLAGS MB_HEADER_MEMORY_INFO

/* Spec 3.2: EAX at entry. */
#define MB_BOOTLOADER_MAGIC 0x2BADB002

/* Spec 3.3: bits of mb_info.flags. */
#define MB_INFO_MEMORY 0x00000001
#define MB_INFO_CMDLINE 0x00000004

#ifndef __ASSEMBLER__
#include <stdint.h>

struct mb_info {
	uint32_t flags;
	uint32_t mem_lower; /* KiB from 0 */
	uint32_t mem_upper; /* KiB from 1 MiB to the first hole */
	uint32_t boot_device;
	uint32_t cmdline; /* physical address of a NUL-terminated string */
};
#endif
