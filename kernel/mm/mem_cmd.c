/* The `mem` command: RAM, free and reserved memory, and the boot map. */
#include <stdbool.h>
#include <string.h>
#include "kernel/console/cmd.h"
#include "kernel/kprintf.h"
#include "kernel/mm/frame.h"
#include "kernel/mm/heap.h"
#include "kernel/sys.h"

static const char *type_name(uint32_t t)
{
	static const char *const names[] = {
		[MEM_USABLE] = "usable", [MEM_LOADER] = "tern/loader", [MEM_RECLAIMABLE] = "boot (reclaimed)",
		[MEM_FIRMWARE] = "firmware runtime", [MEM_ACPI] = "ACPI tables", [MEM_NVS] = "ACPI NVS",
		[MEM_RESERVED] = "reserved", [MEM_MMIO] = "MMIO", [MEM_BAD] = "bad",
	};
	return t < sizeof(names) / sizeof(names[0]) && names[t] ? names[t] : "?";
}

static int cmd_mem(int argc, char **argv)
{
	bool verbose = argc == 2 && !strcmp(argv[1], "-v");
	struct frame_stats st;
	uint64_t heap_size, heap_used;

	if (argc > 2 || (argc == 2 && !verbose))
		return CMD_USAGE;
	frame_get_stats(&st);
	heap_stats(&heap_size, &heap_used);
	kprintf("total:    %lu MiB\n", st.ram_bytes >> 20);
	kprintf("free:     %lu MiB (%lu KiB)\n", st.free_bytes >> 20, st.free_bytes >> 10);
	kprintf("reserved: %lu MiB (firmware, Tern image, heap, page tables, guests)\n",
		(st.ram_bytes - st.free_bytes) >> 20);
	kprintf("heap:     %lu KiB used of %lu MiB\n", heap_used >> 10, heap_size >> 20);
	if (!verbose)
		return 0;
	const struct boot_info *bi = boot_info_get();
	kprintf("regions (%s memory map):\n", bi->firmware);
	for (unsigned i = 0; i < bi->nregions; i++) {
		const struct mem_region *r = &bi->regions[i];
		kprintf("  %016lx-%016lx %10lu KiB  %s\n", r->base, r->base + r->size - 1,
			r->size >> 10, type_name(r->type));
	}
	for (unsigned i = 0; i < bi->nmodules; i++)
		kprintf("  module %-12s at %016lx, %lu bytes\n", bi->modules[i].name,
			bi->modules[i].base, bi->modules[i].size);
	return 0;
}

static const struct cmd mem_cmd = {
	.name = "mem",
	.summary = "total, free and reserved memory (MiB); -v lists the memory map",
	.usage = "mem [-v]",
	.run = cmd_mem,
};

void mem_register_commands(void);
void mem_register_commands(void)
{
	cmd_register(&mem_cmd);
}
