/* From entry.S to the guest: copy what the Multiboot info says before any
 * memory outside the image is touched (the loader put the info and the
 * cmdline somewhere in RAM), bring up the UART and the IDT, call the guest. */
#include "boot.h"
#include "cpu.h"
#include "idt.h"
#include "multiboot.h"
#include "uart.h"

extern char __image_start[], __data_start[], __image_end[];

static char boot_cmdline[BOOT_CMDLINE_MAX];
static struct boot_info boot;

void boot_main(uint32_t magic, uint32_t info) __attribute__((noreturn));

static void boot_copy_info(const struct mb_info *mbi)
{
	if (mbi->flags & MB_INFO_MEMORY) {
		boot.has_memory = true;
		boot.low_top = (uint64_t)mbi->mem_lower << 10;
		boot.ram_top = (1ull << 20) + ((uint64_t)mbi->mem_upper << 10);
	}
	if (mbi->flags & MB_INFO_CMDLINE) {
		const char *s = (const char *)(uintptr_t)mbi->cmdline;
		unsigned n = 0;

		while (s[n] && n < BOOT_CMDLINE_MAX - 1) {
			boot_cmdline[n] = s[n];
			n++;
		}
		boot.cmdline_truncated = s[n] != '\0';
	}
}

void boot_main(uint32_t magic, uint32_t info)
{
	boot.cmdline = boot_cmdline;
	boot.image_start = (uintptr_t)__image_start;
	boot.data_start = (uintptr_t)__data_start;
	boot.image_end = (uintptr_t)__image_end;
	if (magic == MB_BOOTLOADER_MAGIC)
		boot_copy_info((const struct mb_info *)(uintptr_t)info);

	uart_init();
	idt_init();
	if (magic != MB_BOOTLOADER_MAGIC) {
		uart_printf("%s: error: not started by a Multiboot loader (EAX=%#x, want %#x)\n",
			    guest_name, magic, MB_BOOTLOADER_MAGIC);
		cpu_halt_forever();
	}
	guest_main(&boot);
	cpu_halt_forever();
}
