/* What a guest gets from the common boot code: its memory, its command line
 * and where its own image lies. boot_main() (boot.c) fills this from the
 * Multiboot info and calls the guest's guest_main(). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define PAGE_SIZE 4096u
#define PAGE_SHIFT 12
#define BOOT_CMDLINE_MAX 4096
/* entry.S maps this much, identity, in 2 MiB pages. */
#define BOOT_MAPPED_TOP (4ull << 30)

struct boot_info {
	bool has_memory;     /* the loader gave mem_lower/mem_upper */
	uint64_t low_top;    /* end of RAM below 1 MiB (mem_lower) */
	uint64_t ram_top;    /* end of RAM from 1 MiB on (1 MiB + mem_upper) */
	const char *cmdline; /* a copy owned by boot.c; "" if none */
	bool cmdline_truncated;
	uint64_t image_start; /* first byte of the loaded image */
	uint64_t data_start;  /* first page the guest writes: .data, .bss, stack, page tables */
	uint64_t image_end;   /* page-aligned end of the image, .bss included */
};

/* Each guest defines these two. */
extern const char guest_name[];
void guest_main(const struct boot_info *boot);
