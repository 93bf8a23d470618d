/* The Linux x86 64-bit boot protocol (Documentation/x86/boot.rst, "64-bit
 * BOOT PROTOCOL"): Tern plays the boot loader and enters the kernel's
 * 64-bit entry in long mode with identity paging, RSI at the zero page.
 * The layout (docs/guests.md) is Firecracker's: GDT 0x500, zero page
 * 0x7000, page tables 0x9000, command line 0x20000, ACPI from 0xE0000. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "kernel/vdev/acpi_tables.h"
#include "migrate/le.h"
#include "kernel/vm.h"
#include "kernel/vm_load.h"

#define GDT_GPA 0x500u
#define ZERO_PAGE_GPA 0x7000u
#define PML4_GPA 0x9000u
#define PDPT_GPA 0xA000u
#define PD_GPA 0xB000u /* four page directories: 0xB000-0xEFFF, 4 GiB */
#define CMDLINE_GPA 0x20000u
#define EBDA_START 0x9FC00u
#define HIGH_RAM 0x100000u

#define BOOT_CS 0x10 /* __BOOT_CS, boot.rst */
#define BOOT_DS 0x18 /* __BOOT_DS */

/* Setup header fields: offsets in the file and in boot_params alike. */
#define H_SETUP_SECTS 0x1F1
#define H_VID_MODE 0x1FA
#define H_BOOT_FLAG 0x1FE
#define H_JUMP 0x200
#define H_MAGIC 0x202
#define H_VERSION 0x206
#define H_TYPE_OF_LOADER 0x210
#define H_LOADFLAGS 0x211
#define H_RAMDISK_IMAGE 0x218
#define H_RAMDISK_SIZE 0x21C
#define H_HEAP_END_PTR 0x224
#define H_CMD_LINE_PTR 0x228
#define H_INITRD_ADDR_MAX 0x22C
#define H_RELOCATABLE 0x234
#define H_XLOADFLAGS 0x236
#define H_CMDLINE_SIZE 0x238
#define H_PREF_ADDRESS 0x258
#define H_INIT_SIZE 0x260
#define H_MIN_END 0x264 /* protocol 2.12's header reaches init_size */

/* boot_params (arch/x86/include/uapi/asm/bootparam.h). */
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0C0
#define BP_EXT_RAMDISK_SIZE 0x0C4
#define BP_EXT_CMD_LINE_PTR 0x0C8
#define BP_E820_ENTRIES 0x1E8
#define BP_E820_TABLE 0x2D0

#define LOADED_HIGH 0x01
#define CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x01
#define VID_MODE_NORMAL 0xFFFF

int linux_parse_hdr(const uint8_t *img, uint64_t size, struct linux_hdr *h, const char **why)
{
	memset(h, 0, sizeof(*h));
	if (size < 0x400 || le16_get(img + H_BOOT_FLAG) != 0xAA55 || memcmp(img + H_MAGIC, "HdrS", 4))
		return *why = "not a Linux bzImage (no \"HdrS\" setup header)", -ENOEXEC;
	h->version = le16_get(img + H_VERSION);
	if (h->version < 0x020C)
		return *why = "Linux boot protocol older than 2.12", -ENOEXEC;
	h->hdr_end = 0x202u + img[H_JUMP + 1];
	if (h->hdr_end < H_MIN_END)
		return *why = "setup header shorter than protocol 2.12's", -ENOEXEC;
	if (!img[H_RELOCATABLE] || !(le16_get(img + H_XLOADFLAGS) & XLF_KERNEL_64))
		return *why = "not a relocatable kernel with a 64-bit entry", -ENOEXEC;
	unsigned sects = img[H_SETUP_SECTS] ? img[H_SETUP_SECTS] : 4; /* 0 means 4 (boot.rst) */
	h->setup_bytes = (sects + 1) * 512;
	if (h->setup_bytes < h->hdr_end || h->setup_bytes >= size)
		return *why = "setup code size beyond the file", -ENOEXEC;
	h->pref_address = le64_get(img + H_PREF_ADDRESS);
	h->init_size = le32_get(img + H_INIT_SIZE);
	h->initrd_addr_max = le32_get(img + H_INITRD_ADDR_MAX);
	h->cmdline_size = le32_get(img + H_CMDLINE_SIZE);
	if (h->pref_address < HIGH_RAM || h->pref_address % 0x200000 ||
	    h->init_size < size - h->setup_bytes)
		return *why = "setup header has an impossible load address or size", -ENOEXEC;
	return 0;
}

bool linux_cmdline_has(const char *args, const char *key)
{
	size_t n = strlen(key);

	for (const char *p = args; p && *p;) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, key, n))
			return true;
		while (*p && *p != ' ')
			p++;
	}
	return false;
}

int linux_cmdline_merge(char *out, size_t cap, const char *args, uint64_t tsc_khz)
{
	size_t len = 0;
	int n;

	if (!cap)
		return -E2BIG;
	out[0] = 0;
#define ADD(...)                                                                                   \
	do {                                                                                       \
		n = snprintf(out + len, cap - len, __VA_ARGS__);                                   \
		if (n < 0 || (size_t)n >= cap - len)                                               \
			return -E2BIG;                                                             \
		len += (size_t)n;                                                                  \
	} while (0)
	if (!linux_cmdline_has(args, "console="))
		ADD("console=ttyS0 ");
	if (!linux_cmdline_has(args, "tsc_early_khz="))
		ADD("tsc_early_khz=%lu ", (unsigned long)tsc_khz);
	if (!linux_cmdline_has(args, "tsc="))
		ADD("tsc=reliable ");
	/* Not pci=noacpi: it sets acpi_noirq, and a kernel without MP-table
	 * support (Debian's, no X86_MPPARSE) then disables its local APIC
	 * (arch/x86/kernel/acpi/boot.c, acpi_mps_check). lastbus=1 makes
	 * Linux scan bus 0 itself (pcibios_fixup_peer_bridges), since the
	 * DSDT has no PCI host bridge yet. */
	if (!linux_cmdline_has(args, "pci="))
		ADD("pci=lastbus=1 ");
	ADD("%s", args ? args : "");
#undef ADD
	while (len && out[len - 1] == ' ')
		out[--len] = 0;
	return (int)len;
}

unsigned linux_e820_build(struct linux_e820 *e, uint64_t mem_bytes)
{
	/* Low RAM up to the EBDA; the EBDA, VGA hole and BIOS area reserved
	 * (the ACPI tables at 0xE0000 live there); RAM from 1 MiB. */
	e[0] = (struct linux_e820){0, EBDA_START, 1};
	e[1] = (struct linux_e820){EBDA_START, HIGH_RAM - EBDA_START, 2};
	e[2] = (struct linux_e820){HIGH_RAM, mem_bytes - HIGH_RAM, 1};
	return 3;
}

int linux_plan(const struct boot_module *kernel, const struct boot_module *initrd,
	       uint64_t mem_bytes, const char *args, uint64_t tsc_khz, struct linux_plan *p,
	       const char **why)
{
	int rc;

	memset(p, 0, sizeof(*p));
	if (mem_bytes > (uint64_t)LINUX_MEM_MAX_MIB << 20)
		return *why = "a Linux guest has at most 3072 MiB of RAM (below the PCI window)",
		       -ERANGE; /* not -EINVAL: the console would print the usage too */
	if ((rc = linux_parse_hdr((const uint8_t *)kernel->base, kernel->size, &p->hdr, why)))
		return rc;
	p->mem_bytes = mem_bytes;
	p->kernel_gpa = p->hdr.pref_address;
	p->entry = p->kernel_gpa + 0x200; /* 64-bit entry: startup_64 (boot.rst) */
	uint64_t kernel_end = (p->kernel_gpa + p->hdr.init_size + 0xFFF) & ~0xFFFull;
	if (kernel_end > mem_bytes)
		return *why = "the kernel does not fit in the VM's RAM", -E2BIG;
	if (initrd && initrd->size) {
		uint64_t top = mem_bytes;
		if (top > (uint64_t)p->hdr.initrd_addr_max + 1)
			top = (uint64_t)p->hdr.initrd_addr_max + 1;
		top &= ~0xFFFull;
		if (initrd->size > top || ((top - initrd->size) & ~0xFFFull) < kernel_end)
			return *why = "the initrd does not fit in the VM's RAM above the kernel",
			       -E2BIG;
		p->initrd_gpa = (top - initrd->size) & ~0xFFFull;
		p->initrd_size = initrd->size;
	}
	size_t cap = sizeof(p->cmdline);
	if (p->hdr.cmdline_size + 1 < cap)
		cap = p->hdr.cmdline_size + 1;
	if (linux_cmdline_merge(p->cmdline, cap, args, tsc_khz) < 0)
		return *why = "the command line is longer than the kernel accepts", -E2BIG;
	p->ne820 = linux_e820_build(p->e820, mem_bytes);
	return 0;
}

/* Long mode with 2 MiB identity pages over the first 4 GiB (boot.rst:
 * "the range with setup_header.init_size from start address of loaded
 * kernel and zero page and command line buffer get ident mapping"). */
static int write_page_tables(struct vm *vm)
{
	static uint64_t t[512];
	int rc;

	memset(t, 0, sizeof(t));
	t[0] = PDPT_GPA | 0x3; /* present, writable */
	if ((rc = vm_gpa_write(vm, PML4_GPA, t, 4096)))
		return rc;
	for (unsigned i = 0; i < 4; i++)
		t[i] = (PD_GPA + 0x1000ull * i) | 0x3;
	if ((rc = vm_gpa_write(vm, PDPT_GPA, t, 4096)))
		return rc;
	for (unsigned d = 0; d < 4; d++) {
		for (unsigned i = 0; i < 512; i++)
			t[i] = ((uint64_t)(d * 512 + i) << 21) |
			       0x83; /* present, writable, 2 MiB */
		if ((rc = vm_gpa_write(vm, PD_GPA + 0x1000ull * d, t, 4096)))
			return rc;
	}
	return 0;
}

static int write_zero_page(struct vm *vm, const struct linux_plan *p, const uint8_t *img)
{
	static uint8_t zp[4096];

	memset(zp, 0, sizeof(zp));
	/* The setup header as the image has it, then what the loader sets
	 * (boot.rst "Details of header fields", protocol 2.12). */
	memcpy(zp + H_SETUP_SECTS, img + H_SETUP_SECTS, p->hdr.hdr_end - H_SETUP_SECTS);
	le16_put(zp + H_VID_MODE, VID_MODE_NORMAL);
	zp[H_TYPE_OF_LOADER] = 0xFF; /* undefined loader */
	zp[H_LOADFLAGS] = (zp[H_LOADFLAGS] & ~CAN_USE_HEAP) | LOADED_HIGH | CAN_USE_HEAP;
	le16_put(zp + H_HEAP_END_PTR, 0xFE00); /* the conventional real-mode heap end - 0x200 */
	le32_put(zp + H_CMD_LINE_PTR, CMDLINE_GPA);
	le32_put(zp + BP_EXT_CMD_LINE_PTR, 0);
	le32_put(zp + H_RAMDISK_IMAGE, (uint32_t)p->initrd_gpa);
	le32_put(zp + H_RAMDISK_SIZE, (uint32_t)p->initrd_size);
	le32_put(zp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(p->initrd_gpa >> 32));
	le32_put(zp + BP_EXT_RAMDISK_SIZE, (uint32_t)(p->initrd_size >> 32));
	le64_put(zp + BP_ACPI_RSDP_ADDR, ACPI_TABLES_GPA);
	zp[BP_E820_ENTRIES] = (uint8_t)p->ne820;
	for (unsigned i = 0; i < p->ne820; i++) {
		uint8_t *e = zp + BP_E820_TABLE + 20 * i;
		le64_put(e, p->e820[i].addr);
		le64_put(e + 8, p->e820[i].size);
		le32_put(e + 16, p->e820[i].type);
	}
	return vm_gpa_write(vm, ZERO_PAGE_GPA, zp, sizeof(zp));
}

/* The state boot.rst's 64-bit protocol asks for: long mode, paging on
 * with the identity map, CS = __BOOT_CS (64-bit code), DS/ES/SS =
 * __BOOT_DS, interrupts off, RSI = the zero page. */
static void linux_state(struct vcpu_state *s, const struct linux_plan *p)
{
	const struct vcpu_seg code = {BOOT_CS, 0xA9B, 0xFFFFFFFF,
				      0}; /* P S exec/read accessed, L G */
	const struct vcpu_seg data = {BOOT_DS, 0xC93, 0xFFFFFFFF,
				      0}; /* P S read/write accessed, B G */

	memset(s, 0, sizeof(*s));
	s->version = VCPU_STATE_VERSION;
	s->gpr[R_RSI] = ZERO_PAGE_GPA;
	s->rip = p->entry;
	s->rflags = 0x2;
	s->cs = code;
	s->ds = s->es = s->ss = s->fs = s->gs = data;
	s->tr = (struct vcpu_seg){0, 0x8B, 0xFFFF, 0}; /* busy TSS, as after reset */
	s->ldtr = (struct vcpu_seg){0, 0x82, 0xFFFF, 0};
	s->gdtr = (struct vcpu_dtable){GDT_GPA, 4 * 8 - 1, 0};
	s->idtr.limit = 0;
	s->cr0 = 0x80000011; /* PG, ET, PE */
	s->cr3 = PML4_GPA;
	s->cr4 = 0x20;	 /* PAE */
	s->efer = 0x500; /* LME, LMA */
	s->dr6 = 0xFFFF0FF0;
	s->dr7 = 0x400;
	s->pat = 0x0007040600070406ull;
	s->fxsave[0] = 0x7F; /* FCW 0x37F */
	s->fxsave[1] = 0x03;
	s->fxsave[24] = 0x80; /* MXCSR 0x1F80 */
	s->fxsave[25] = 0x1F;
}

int vm_load_linux_write(struct vm *vm, const struct linux_plan *p, const struct boot_module *kernel,
			const struct boot_module *initrd, struct vcpu_state *st)
{
	/* GDT (boot.rst): 0x10 __BOOT_CS 64-bit code, 0x18 __BOOT_DS data. */
	static const uint64_t gdt[4] = {0, 0, 0x00AF9B000000FFFFull, 0x00CF93000000FFFFull};
	static uint8_t acpi[ACPI_TABLES_MAX];
	uint8_t reset[ACPI_RESET_VECTOR_LEN];
	const uint8_t *img = (const uint8_t *)kernel->base;
	int rc, n;

	if ((n = acpi_tables_build(acpi, sizeof(acpi), ACPI_TABLES_GPA)) < 0)
		return n;
	acpi_reset_vector(reset);
	if ((rc = vm_gpa_write(vm, GDT_GPA, gdt, sizeof(gdt))) || (rc = write_page_tables(vm)) ||
	    (rc = write_zero_page(vm, p, img)) ||
	    (rc = vm_gpa_write(vm, CMDLINE_GPA, p->cmdline, strlen(p->cmdline) + 1)) ||
	    (rc = vm_gpa_write(vm, ACPI_TABLES_GPA, acpi, (uint64_t)n)) ||
	    (rc = vm_gpa_write(vm, ACPI_RESET_VECTOR_GPA, reset, sizeof(reset))) ||
	    (rc = vm_gpa_write(vm, p->kernel_gpa, img + p->hdr.setup_bytes,
			       kernel->size - p->hdr.setup_bytes)))
		return rc;
	if (p->initrd_size &&
	    (rc = vm_gpa_write(vm, p->initrd_gpa, (const void *)initrd->base, p->initrd_size)))
		return rc;
	linux_state(st, p);
	return 0;
}
