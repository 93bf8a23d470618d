/* kernel_main: bring up the machine in dependency order, then run the
 * main loop. Each step logs one line so a failed boot shows where. */
#include <string.h>
#include "arch/x86/asm.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpufeat.h"
#include "arch/x86/lapic.h"
#include "arch/x86/paging.h"
#include "arch/x86/tsc.h"
#include "drivers/acpi.h"
#include "drivers/pci.h"
#include "drivers/uart16550.h"
#include "kernel/console/console.h"
#include "kernel/kernel.h"
#include "kernel/kprintf.h"
#include "kernel/log.h"
#include "kernel/loop.h"
#include "kernel/mm/frame.h"
#include "kernel/mm/heap.h"
#include "kernel/sys.h"
#include "kernel/time.h"
#include "storage/storage.h"

#define HEAP_BYTES (32ull << 20)

uint64_t kernel_image_base, kernel_image_end;
const char *kernel_image_file;
static struct boot_info boot; /* kept: `mem -v` lists the regions */

const struct boot_info *boot_info_get(void)
{
	return &boot;
}

/* Carves the frame bitmap out of the first usable region that fits
 * above 1 MiB (the allocator cannot allocate its own storage). */
static void mm_init(void)
{
	size_t bytes = frame_bitmap_bytes(boot.regions, boot.nregions);
	uint64_t *bm = NULL;

	for (unsigned i = 0; i < boot.nregions && !bm; i++) {
		const struct mem_region *r = &boot.regions[i];
		uint64_t base = r->base < FRAME_LOW_RESERVED ? FRAME_LOW_RESERVED : r->base;
		bool clash = base < kernel_image_end && base + bytes > kernel_image_base;
		for (unsigned m = 0; m < boot.nmodules; m++)
			clash |= base < boot.modules[m].base + boot.modules[m].size &&
				 base + bytes > boot.modules[m].base;
		if (r->type == MEM_USABLE && base + bytes <= r->base + r->size && !clash &&
		    base + bytes <= (4ull << 30))
			bm = (uint64_t *)base;
	}
	if (!bm)
		panic("mm: no room for the frame bitmap (%zu bytes)", bytes);
	frame_init(boot.regions, boot.nregions, bm, bytes);
	frame_reserve(kernel_image_base, kernel_image_end - kernel_image_base);
	for (unsigned i = 0; i < boot.nmodules; i++)
		frame_reserve(boot.modules[i].base, boot.modules[i].size);
}

void kernel_main(const struct boot_info *bi)
{
	memcpy(&boot, bi, sizeof(boot));
	kernel_image_base = boot.image_base;
	kernel_image_end = boot.image_end;
	kernel_image_file = strcmp(boot.firmware, "UEFI") ? "tern.elf" : "tern.so";
	uart_init(COM1_PORT, 115200);
	console_init();
	kprintf("\nTern %s (%s) booting via %s\n", tern_version, tern_git, boot.firmware);

	cpu_init();
	mm_init();
	paging_init(&boot);
	/* Only now, on Tern's own page tables and stacks, is the firmware's
	 * boot-services memory free to reuse. */
	frame_release_type(boot.regions, boot.nregions, MEM_RECLAIMABLE);
	if (heap_init(HEAP_BYTES))
		panic("mm: no memory for the %llu MiB heap", HEAP_BYTES >> 20);

	acpi_init(boot.rsdp);
	const char *ref = tsc_calibrate(boot.tsc_handoff, acpi.pm_timer);
	log_info("time", "TSC %lu.%03lu MHz (calibrated against %s)", tsc_hz / 1000000,
		 tsc_hz / 1000 % 1000, ref);
	tsc_refine_start();
	lapic_init();
	cpufeat_probe();
	pci_init();

	struct frame_stats st;
	frame_get_stats(&st);
	log_info("mem", "%lu MiB RAM, %lu MiB free", st.ram_bytes >> 20, st.free_bytes >> 20);

	log_init();
	sys_register_commands();
	cpufeat_register_commands();
	pci_register_commands();
	storage_init();
	subsystems_init();

	log_info("boot", "ready %lu ms after firmware hand-off", time_since_tsc_ms(boot.tsc_handoff));
	log_boot_done();
	console_prompt();
	loop_run();
}
