/* Turns the Multiboot2 information (spec 3.6) into struct boot_info. */
#include <stdint.h>
#include <string.h>
#include "kernel/boot_info.h"

#define MB2_BOOTLOADER_MAGIC 0x36d76289
#define TAG_END 0
#define TAG_CMDLINE 1
#define TAG_MODULE 3
#define TAG_MMAP 6
#define TAG_ACPI_OLD 14
#define TAG_ACPI_NEW 15

struct tag {
	uint32_t type, size;
};

extern char __image_start[], __image_end[];
static struct boot_info bi;
/* GRUB hands a copy of the RSDP inside the info block, which is in free
 * memory; keep our own copy. */
static uint8_t rsdp_copy[64] __attribute__((aligned(16)));

static uint32_t e820_type(uint32_t t)
{
	switch (t) {
	case 1: return MEM_USABLE;
	case 3: return MEM_ACPI;
	case 4: return MEM_NVS;
	case 5: return MEM_BAD;
	default: return MEM_RESERVED;
	}
}

static void add_module(const uint8_t *p)
{
	uint32_t start = *(const uint32_t *)(p + 8), end = *(const uint32_t *)(p + 12);
	const char *str = (const char *)(p + 16);
	struct boot_module *m;

	if (bi.nmodules == BOOT_MAX_MODULES)
		return;
	m = &bi.modules[bi.nmodules++];
	m->base = start;
	m->size = end - start;
	/* The module string is its name, or a path whose base name is used. */
	const char *base = strrchr(str, '/') ? strrchr(str, '/') + 1 : str;
	strncpy(m->name, base, sizeof(m->name) - 1);
	char *cut = strpbrk(m->name, ". ");
	if (cut)
		*cut = 0;
}

_Noreturn void mb2_main(uint32_t magic, uint32_t mbi, uint64_t tsc);
_Noreturn void mb2_main(uint32_t magic, uint32_t mbi, uint64_t tsc)
{
	bi.firmware = "Multiboot2";
	bi.tsc_handoff = tsc;
	bi.image_base = (uint64_t)__image_start;
	bi.image_end = (uint64_t)__image_end;
	if (magic != MB2_BOOTLOADER_MAGIC)
		kernel_main(&bi); /* no information: kernel_main reports the empty map */

	const uint8_t *p = (const uint8_t *)(uint64_t)mbi + 8;
	const uint8_t *end = (const uint8_t *)(uint64_t)mbi + *(const uint32_t *)(uint64_t)mbi;
	for (; p < end; p += (((const struct tag *)p)->size + 7) & ~7u) {
		const struct tag *t = (const struct tag *)p;
		if (t->type == TAG_END)
			break;
		switch (t->type) {
		case TAG_CMDLINE:
			strncpy(bi.cmdline, (const char *)(p + 8), sizeof(bi.cmdline) - 1);
			break;
		case TAG_MODULE:
			add_module(p);
			break;
		case TAG_MMAP: {
			uint32_t esize = *(const uint32_t *)(p + 8);
			for (const uint8_t *e = p + 16; e + esize <= p + t->size && bi.nregions < BOOT_MAX_REGIONS;
			     e += esize)
				bi.regions[bi.nregions++] = (struct mem_region){
					*(const uint64_t *)e, *(const uint64_t *)(e + 8),
					e820_type(*(const uint32_t *)(e + 16)), 0};
			break;
		}
		case TAG_ACPI_OLD:
		case TAG_ACPI_NEW:
			if (t->size - 8 <= sizeof(rsdp_copy) && (t->type == TAG_ACPI_NEW || !bi.rsdp)) {
				memcpy(rsdp_copy, p + 8, t->size - 8);
				bi.rsdp = (uint64_t)rsdp_copy;
			}
			break;
		}
	}
	kernel_main(&bi);
}
