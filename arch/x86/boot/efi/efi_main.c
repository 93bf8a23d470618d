/* UEFI entry: collect what Tern needs while boot services still exist
 * (command line, guest modules from the ESP, ACPI RSDP, memory map), exit
 * boot services, move to Tern's own stack and call kernel_main(). Uses
 * only gnu-efi's headers and self-relocation, not libefi, so nothing here
 * clashes with newlib. */
#include <efi.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "arch/x86/asm.h"
#include "kernel/boot_info.h"

#define STACK_PAGES 16 /* 64 KiB */
#define MAX_MMAP_BYTES (64 * 1024)

static EFI_SYSTEM_TABLE *ST;
static EFI_BOOT_SERVICES *BS;

static EFI_GUID loaded_image_guid = EFI_LOADED_IMAGE_PROTOCOL_GUID;
static EFI_GUID fs_guid = EFI_SIMPLE_FILE_SYSTEM_PROTOCOL_GUID;
static EFI_GUID acpi20_guid = ACPI_20_TABLE_GUID;
static EFI_GUID acpi10_guid = ACPI_TABLE_GUID;

/* Early messages go to the firmware console (which OVMF mirrors to serial). */
static void say(const CHAR16 *s)
{
	ST->ConOut->OutputString(ST->ConOut, (CHAR16 *)s);
}

static void *alloc_pages(UINTN bytes)
{
	EFI_PHYSICAL_ADDRESS pa = 0;
	if (BS->AllocatePages(AllocateAnyPages, EfiLoaderData, (bytes + 4095) / 4096, &pa))
		return NULL;
	return (void *)pa;
}

static UINTN ascii_from_ucs2(char *dst, UINTN cap, const CHAR16 *src, UINTN nchars)
{
	UINTN n = 0;
	for (UINTN i = 0; i < nchars && src[i] && n + 1 < cap; i++)
		dst[n++] = src[i] < 0x80 ? (char)src[i] : '?';
	dst[n] = 0;
	return n;
}

/* Reads a whole file into fresh LoaderData pages. */
static void *read_file(EFI_FILE_HANDLE dir, CHAR16 *name, UINT64 *size)
{
	EFI_FILE_HANDLE f;
	UINT8 info_buf[512];
	UINTN info_size = sizeof(info_buf);
	EFI_GUID info_guid = EFI_FILE_INFO_ID;

	if (dir->Open(dir, &f, name, EFI_FILE_MODE_READ, 0))
		return NULL;
	void *data = NULL;
	if (!f->GetInfo(f, &info_guid, &info_size, info_buf)) {
		UINTN n = ((EFI_FILE_INFO *)info_buf)->FileSize;
		data = alloc_pages(n + 1);
		if (data && !f->Read(f, &n, data)) {
			((char *)data)[n] = 0;
			*size = n;
		} else {
			data = NULL;
		}
	}
	f->Close(f);
	return data;
}

/* Guest images: every file in \tern\modules, named by its base name. */
static void load_modules(EFI_FILE_HANDLE root, struct boot_info *bi)
{
	EFI_FILE_HANDLE dir;
	UINT8 buf[1024];

	if (root->Open(root, &dir, L"\\tern\\modules", EFI_FILE_MODE_READ, 0))
		return;
	for (;;) {
		UINTN n = sizeof(buf);
		if (dir->Read(dir, &n, buf) || n == 0)
			break;
		EFI_FILE_INFO *fi = (EFI_FILE_INFO *)buf;
		if ((fi->Attribute & EFI_FILE_DIRECTORY) || bi->nmodules == BOOT_MAX_MODULES)
			continue;
		UINT64 size = 0;
		void *data = read_file(dir, fi->FileName, &size);
		if (!data)
			continue;
		struct boot_module *m = &bi->modules[bi->nmodules++];
		m->base = (uint64_t)data;
		m->size = size;
		ascii_from_ucs2(m->name, sizeof(m->name), fi->FileName, 256);
		char *dot = strrchr(m->name, '.');
		if (dot)
			*dot = 0;
	}
	dir->Close(dir);
}

/* The command line: the image's load options when they are text (set by
 * a boot entry or the shell), else \tern\cmdline.txt on the ESP. */
static void load_cmdline(EFI_LOADED_IMAGE *li, EFI_FILE_HANDLE root, struct boot_info *bi)
{
	const CHAR16 *opt = li->LoadOptions;
	UINTN nchars = li->LoadOptionsSize / 2;
	bool text = opt && nchars > 0;

	for (UINTN i = 0; text && i < nchars && opt[i]; i++)
		text = opt[i] >= 0x20 && opt[i] < 0x7f;
	if (text) {
		ascii_from_ucs2(bi->cmdline, sizeof(bi->cmdline), opt, nchars);
		return;
	}
	UINT64 size = 0;
	char *s = root ? read_file(root, L"\\tern\\cmdline.txt", &size) : NULL;
	if (!s)
		return;
	UINTN n = 0;
	for (; n < size && n + 1 < sizeof(bi->cmdline) && s[n] != '\n' && s[n] != '\r'; n++)
		bi->cmdline[n] = s[n];
	bi->cmdline[n] = 0;
}

static uint32_t mem_type(UINT32 efi_type)
{
	switch (efi_type) {
	case EfiConventionalMemory: return MEM_USABLE;
	case EfiBootServicesCode:
	case EfiBootServicesData: return MEM_RECLAIMABLE;
	case EfiLoaderCode:
	case EfiLoaderData: return MEM_LOADER;
	case EfiRuntimeServicesCode:
	case EfiRuntimeServicesData:
	case EfiPalCode: return MEM_FIRMWARE;
	case EfiACPIReclaimMemory: return MEM_ACPI;
	case EfiACPIMemoryNVS: return MEM_NVS;
	case EfiMemoryMappedIO:
	case EfiMemoryMappedIOPortSpace: return MEM_MMIO;
	case EfiUnusableMemory: return MEM_BAD;
	default: return MEM_RESERVED;
	}
}

static void add_region(struct boot_info *bi, uint64_t base, uint64_t size, uint32_t type)
{
	struct mem_region *last = bi->nregions ? &bi->regions[bi->nregions - 1] : NULL;

	/* Merge neighbours of one type: firmware maps are very fragmented. */
	if (last && last->type == type && last->base + last->size == base) {
		last->size += size;
		return;
	}
	if (bi->nregions < BOOT_MAX_REGIONS)
		bi->regions[bi->nregions++] = (struct mem_region){base, size, type, 0};
}

/* gnu-efi's crt0 calls efi_main with the SysV ABI, after self-relocation. */
EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab);
EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
	uint64_t tsc = rdtsc();
	EFI_LOADED_IMAGE *li = NULL;
	EFI_FILE_IO_INTERFACE *fs = NULL;
	EFI_FILE_HANDLE root = NULL;

	ST = systab;
	BS = systab->BootServices;
	struct boot_info *bi = alloc_pages(sizeof(*bi));
	void *stack = alloc_pages(STACK_PAGES * 4096);
	UINT8 *mmap = alloc_pages(MAX_MMAP_BYTES);
	if (!bi || !stack || !mmap) {
		say(L"Tern: out of memory in the UEFI loader\r\n");
		return EFI_OUT_OF_RESOURCES;
	}
	memset(bi, 0, sizeof(*bi));
	bi->firmware = "UEFI";
	bi->tsc_handoff = tsc;

	if (!BS->HandleProtocol(image, &loaded_image_guid, (void **)&li)) {
		bi->image_base = (uint64_t)li->ImageBase;
		bi->image_end = bi->image_base + li->ImageSize;
		if (!BS->HandleProtocol(li->DeviceHandle, &fs_guid, (void **)&fs))
			fs->OpenVolume(fs, &root);
		load_cmdline(li, root, bi);
		if (root)
			load_modules(root, bi);
	}
	for (UINTN i = 0; i < ST->NumberOfTableEntries; i++) {
		EFI_CONFIGURATION_TABLE *t = &ST->ConfigurationTable[i];
		if (!memcmp(&t->VendorGuid, &acpi20_guid, sizeof(EFI_GUID)))
			bi->rsdp = (uint64_t)t->VendorTable;
		else if (!bi->rsdp && !memcmp(&t->VendorGuid, &acpi10_guid, sizeof(EFI_GUID)))
			bi->rsdp = (uint64_t)t->VendorTable;
	}

	/* ExitBootServices fails if the map changed since GetMemoryMap (UEFI
	 * 7.4): allocate nothing in between, and retry once on a stale key. */
	UINTN size, key, desc_size;
	UINT32 desc_ver;
	EFI_STATUS st = EFI_LOAD_ERROR;
	for (int tries = 0; tries < 2 && st; tries++) {
		size = MAX_MMAP_BYTES;
		if (BS->GetMemoryMap(&size, (EFI_MEMORY_DESCRIPTOR *)mmap, &key, &desc_size, &desc_ver))
			break;
		st = BS->ExitBootServices(image, key);
	}
	if (st) {
		say(L"Tern: ExitBootServices failed\r\n");
		return st;
	}

	for (UINTN off = 0; off + desc_size <= size; off += desc_size) {
		EFI_MEMORY_DESCRIPTOR *d = (EFI_MEMORY_DESCRIPTOR *)(mmap + off);
		add_region(bi, d->PhysicalStart, d->NumberOfPages * 4096, mem_type(d->Type));
	}

	uint64_t top = (uint64_t)stack + STACK_PAGES * 4096;
	__asm__ volatile("movq %0, %%rsp\n\t"
			 "xorl %%ebp, %%ebp\n\t"
			 "call *%1"
			 :
			 : "r"(top), "r"(kernel_main), "D"(bi)
			 : "memory");
	__builtin_unreachable();
}
