/* Tern's host page tables: an identity map of RAM and device memory. */
#pragma once
#include <stdint.h>
#include "kernel/boot_info.h"

/* Identity-maps [0, max(4 GiB, end of the memory map)) with 2 MiB pages,
 * write-back where there is RAM and uncached elsewhere, and loads CR3. */
void paging_init(const struct boot_info *bi);
/* Makes sure a device range above that is mapped (uncached). */
int paging_map_mmio(uint64_t pa, uint64_t size);
