#include <errno.h>
#include <string.h>
#include "kernel/vm.h"
#include "kernel/vm_load.h"

#define MB1_MAGIC 0x1BADB002u
#define MB1_SEARCH 8192
#define MB1_INFO_MEM (1u << 0)
#define MB1_INFO_CMDLINE (1u << 2)
/* Where the Multiboot info and command line go: low memory, below any
 * image (images load at 1 MiB or above), as the loader contract allows. */
#define MBI_GPA 0x9000u
#define CMDLINE_GPA 0x9100u
#define CMDLINE_MAX 3840u

struct elf32_ehdr {
	uint8_t ident[16];
	uint16_t type, machine;
	uint32_t version, entry, phoff, shoff, flags;
	uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};

struct elf32_phdr {
	uint32_t type, offset, vaddr, paddr, filesz, memsz, flags, align;
};

struct mb1_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
	uint32_t rest[23];
};

/* Copies into guest RAM chunk by chunk (chunks are not contiguous in host memory). */
static void copy_to_guest(struct vm *vm, uint64_t gpa, const void *src, uint64_t n)
{
	while (n) {
		uint64_t room = VM_CHUNK - gpa % VM_CHUNK, k = n < room ? n : room;
		uint8_t *dst = vm_gpa_ptr(vm, gpa);
		if (src) {
			memcpy(dst, src, k);
			src = (const uint8_t *)src + k;
		} else {
			memset(dst, 0, k);
		}
		gpa += k;
		n -= k;
	}
}

static bool has_mb1_header(const uint8_t *img, uint64_t size)
{
	for (uint64_t off = 0; off + 12 <= size && off < MB1_SEARCH; off += 4) {
		const uint32_t *h = (const uint32_t *)(img + off);
		if (h[0] == MB1_MAGIC && h[0] + h[1] + h[2] == 0)
			return true;
	}
	return false;
}

int vm_load_multiboot(struct vm *vm, const struct boot_module *img, const char *cmdline,
		      uint32_t *entry, uint32_t *mbi, const char **why)
{
	const uint8_t *data = (const uint8_t *)img->base;
	const struct elf32_ehdr *eh = (const struct elf32_ehdr *)data;

	*why = NULL;
	if (img->size < sizeof(*eh) || memcmp(eh->ident, "\x7f" "ELF", 4) || eh->ident[4] != 1 ||
	    eh->ident[5] != 1 || eh->machine != 3 || eh->type != 2)
		return *why = "not a 32-bit x86 ELF executable", -ENOEXEC;
	if (!has_mb1_header(data, img->size))
		return *why = "no Multiboot header in its first 8 KiB", -ENOEXEC;
	if (eh->phentsize != sizeof(struct elf32_phdr) || eh->phnum == 0 ||
	    eh->phoff + (uint64_t)eh->phnum * sizeof(struct elf32_phdr) > img->size)
		return *why = "bad ELF program header table", -ENOEXEC;

	const struct elf32_phdr *ph = (const struct elf32_phdr *)(data + eh->phoff);
	/* Check every segment before writing any, so a bad image leaves
	 * nothing half-loaded. */
	for (int i = 0; i < eh->phnum; i++) {
		if (ph[i].type != 1) /* PT_LOAD */
			continue;
		if ((uint64_t)ph[i].offset + ph[i].filesz > img->size || ph[i].filesz > ph[i].memsz)
			return *why = "a segment lies outside the file", -ENOEXEC;
		if ((uint64_t)ph[i].paddr + ph[i].memsz > vm->mem_bytes)
			return *why = "a segment does not fit in the VM's RAM", -E2BIG;
		if (ph[i].paddr < CMDLINE_GPA + CMDLINE_MAX + 1)
			return *why = "a segment overlaps low memory Tern uses for boot data", -ENOEXEC;
	}
	for (int i = 0; i < eh->phnum; i++) {
		if (ph[i].type != 1)
			continue;
		copy_to_guest(vm, ph[i].paddr, data + ph[i].offset, ph[i].filesz);
		copy_to_guest(vm, (uint64_t)ph[i].paddr + ph[i].filesz, NULL, ph[i].memsz - ph[i].filesz);
	}

	struct mb1_info info = {0};
	info.flags = MB1_INFO_MEM | MB1_INFO_CMDLINE;
	info.mem_lower = 639;
	info.mem_upper = (uint32_t)((vm->mem_bytes >> 10) - 1024);
	info.cmdline = CMDLINE_GPA;
	copy_to_guest(vm, MBI_GPA, &info, sizeof(info));
	size_t n = strlen(cmdline);
	if (n >= CMDLINE_MAX)
		n = CMDLINE_MAX - 1;
	copy_to_guest(vm, CMDLINE_GPA, cmdline, n);
	copy_to_guest(vm, CMDLINE_GPA + n, NULL, 1);
	*entry = eh->entry;
	*mbi = MBI_GPA;
	return 0;
}
