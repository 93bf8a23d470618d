/* Loading a guest image into guest RAM. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kernel/boot_info.h"

struct vm;

/* A Multiboot v1 ELF32 image (guest/README.md gives the contract): loads
 * its PT_LOAD segments, writes the Multiboot information with the command
 * line, and sets *entry and *mbi. -ENOEXEC with *why set if the image is
 * not one, -E2BIG if it does not fit the VM's RAM. */
int vm_load_multiboot(struct vm *vm, const struct boot_module *img, const char *cmdline,
		      uint32_t *entry, uint32_t *mbi, const char **why);

/* ---- Linux x86 64-bit boot protocol (Documentation/x86/boot.rst) -------
 * kernel/vm_load_linux.c; docs/guests.md gives the guest-physical layout.
 * The checks and the plan are pure (host-tested); vm_load_linux_write is
 * the only part that touches the VM. */
#define LINUX_MEM_MAX_MIB 3072u /* RAM stays below the PCI memory window */
#define LINUX_E820_MAX 8

struct linux_e820 {
	uint64_t addr, size;
	uint32_t type; /* 1 RAM, 2 reserved */
};

/* What the setup header (at 0x1F1) says, checked. */
struct linux_hdr {
	uint16_t version;
	uint32_t setup_bytes;     /* real-mode part: (setup_sects + 1) * 512 */
	uint32_t hdr_end;         /* the header ends at 0x202 + byte 0x201 */
	uint64_t pref_address;    /* where the protected-mode kernel goes */
	uint32_t init_size;       /* bytes it needs from there */
	uint32_t initrd_addr_max; /* highest address the initrd may occupy */
	uint32_t cmdline_size;    /* longest command line, without the NUL */
};

/* Where everything goes, decided before anything is written. */
struct linux_plan {
	struct linux_hdr hdr;
	uint64_t mem_bytes;
	uint64_t kernel_gpa, entry;
	uint64_t initrd_gpa, initrd_size; /* 0, 0 without an initrd */
	unsigned ne820;
	struct linux_e820 e820[LINUX_E820_MAX];
	char cmdline[4096];
};

/* Checks the bzImage's setup header: -ENOEXEC (not a bzImage, protocol
 * older than 2.12, not relocatable or no 64-bit entry) with *why. */
int linux_parse_hdr(const uint8_t *img, uint64_t size, struct linux_hdr *h, const char **why);
/* Does the command line hold a parameter named `key` (with its '=',
 * e.g. "console=")? Matches whole words only. */
bool linux_cmdline_has(const char *args, const char *key);
/* Tern's additions ("console=ttyS0 tsc_early_khz=K tsc=reliable pci=lastbus=1", each
 * unless args sets it) then args, into out. Length, or -E2BIG. */
int linux_cmdline_merge(char *out, size_t cap, const char *args, uint64_t tsc_khz);
/* The E820 map for mem_bytes of RAM (docs/guests.md). Number of entries. */
unsigned linux_e820_build(struct linux_e820 *e, uint64_t mem_bytes);
/* Every check, and the plan: -ENOEXEC / -E2BIG / -ERANGE (mem) with *why. */
int linux_plan(const struct boot_module *kernel, const struct boot_module *initrd,
	       uint64_t mem_bytes, const char *args, uint64_t tsc_khz, struct linux_plan *p,
	       const char **why);

struct vcpu_state;
/* Writes the plan into the VM's (zeroed) RAM: GDT, page tables, zero
 * page, command line, kernel, initrd, ACPI tables, and fills *st with the
 * 64-bit entry state. 0 or a negative errno (a bug: the plan was checked). */
int vm_load_linux_write(struct vm *vm, const struct linux_plan *p,
			const struct boot_module *kernel, const struct boot_module *initrd,
			struct vcpu_state *st);
