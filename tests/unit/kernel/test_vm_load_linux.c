/* kernel/vm_load_linux.c: the setup-header checks, the command-line
 * merge, the E820 map, the placement plan and what the loader writes (a
 * fake VM whose RAM is one flat buffer). The entry state goes through the
 * same checker both backends use (arch/x86/vcpu_state_check.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "arch/x86/vcpu_state_check.h"
#include "kernel/vdev/acpi_tables.h"
#include "kernel/vm.h"
#include "kernel/vm_load.h"

#define MiB (1ull << 20)
#define RAM (64 * MiB)

static uint8_t *ram;
static struct vm fake_vm;

int vm_gpa_write(struct vm *vm, uint64_t gpa, const void *buf, uint64_t len)
{
	if (gpa > vm->mem_bytes || len > vm->mem_bytes - gpa)
		return -EFAULT;
	memcpy(ram + gpa, buf, len);
	return 0;
}

/* The guest CPUID baseline as far as the checker asks: PAE, FXSR, SSE,
 * SYSCALL, NX, LM, 48 physical address bits. */
static const struct guest_cpu cpu; /* the model: the stub below answers for both */

void cpuid_guest(const struct guest_cpu *c, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	(void)c;
	(void)subleaf;
	memset(out, 0, 16);
	if (leaf == 1)
		out[3] = (1u << 6) | (1u << 24) | (1u << 25);
	else if (leaf == 0x80000001)
		out[3] = (1u << 11) | (1u << 20) | (1u << 29);
	else if (leaf == 0x80000008)
		out[0] = 48;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = v, p[1] = v >> 8;
}

static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, v), wr16(p + 2, v >> 16);
}

/* A minimal bzImage as the kernel's build writes one: setup_sects 3
 * (0x800 bytes of setup), protocol 2.15, 64-bit, relocatable, 16 MiB. */
#define SETUP 0x800
#define PAYLOAD 0x3000
static uint8_t kimg[SETUP + PAYLOAD];

static struct boot_module kernel_mod(void)
{
	memset(kimg, 0, sizeof(kimg));
	kimg[0x1F1] = 3;
	wr16(kimg + 0x1FE, 0xAA55);
	kimg[0x200] = 0xEB;
	kimg[0x201] = 0x6A; /* header ends at 0x26C */
	memcpy(kimg + 0x202, "HdrS", 4);
	wr16(kimg + 0x206, 0x020F);
	kimg[0x211] = 0x01;		/* LOADED_HIGH */
	wr32(kimg + 0x22C, 0x7FFFFFFF); /* initrd_addr_max */
	kimg[0x234] = 1;		/* relocatable */
	wr16(kimg + 0x236, 0x7F);	/* XLF_KERNEL_64 and more */
	wr32(kimg + 0x238, 2047);	/* cmdline_size */
	wr32(kimg + 0x258, 16 * MiB);	/* pref_address */
	wr32(kimg + 0x260, 8 * MiB);	/* init_size */
	for (unsigned i = 0; i < PAYLOAD; i++)
		kimg[SETUP + i] = (uint8_t)(i * 7 + 1);
	return (struct boot_module){(uint64_t)(uintptr_t)kimg, sizeof(kimg), "linux"};
}

static int setup(void **state)
{
	(void)state;
	ram = calloc(1, RAM);
	assert_non_null(ram);
	memset(&fake_vm, 0, sizeof(fake_vm));
	fake_vm.mem_bytes = RAM;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(ram);
	return 0;
}

static void test_header_accepts_a_64bit_relocatable_bzimage(void **state)
{
	(void)state;
	struct boot_module k = kernel_mod();
	struct linux_hdr h;
	const char *why = NULL;
	assert_int_equal(linux_parse_hdr(kimg, k.size, &h, &why), 0);
	assert_int_equal(h.version, 0x020F);
	assert_int_equal(h.setup_bytes, SETUP);
	assert_int_equal(h.hdr_end, 0x26C);
	assert_int_equal(h.pref_address, 16 * MiB);
	assert_int_equal(h.cmdline_size, 2047);
}

static void refused(const char *want)
{
	struct linux_hdr h;
	const char *why = NULL;
	assert_int_equal(linux_parse_hdr(kimg, sizeof(kimg), &h, &why), -ENOEXEC);
	assert_non_null(why);
	assert_non_null(strstr(why, want));
}

static void test_header_refusals_name_the_reason(void **state)
{
	(void)state;
	kernel_mod();
	memcpy(kimg + 0x202, "HdrX", 4);
	refused("not a Linux bzImage");
	kernel_mod();
	wr16(kimg + 0x1FE, 0);
	refused("not a Linux bzImage");
	kernel_mod();
	wr16(kimg + 0x206, 0x020B);
	refused("older than 2.12");
	kernel_mod();
	wr16(kimg + 0x236, 0x02); /* above 4G but no 64-bit entry */
	refused("64-bit entry");
	kernel_mod();
	kimg[0x234] = 0;
	refused("relocatable");
	kernel_mod();
	kimg[0x1F1] = 60; /* setup beyond the file */
	refused("setup code");
	kernel_mod();
	wr32(kimg + 0x260, 0x1000); /* init_size smaller than the payload */
	refused("impossible");

	/* A Multiboot ELF given as kernel=: too short / no HdrS. */
	static const uint8_t elf[64] = {0x7f, 'E', 'L', 'F', 1, 1};
	struct linux_hdr h;
	const char *why = NULL;
	assert_int_equal(linux_parse_hdr(elf, sizeof(elf), &h, &why), -ENOEXEC);
}

static void test_cmdline_adds_what_tern_knows_first(void **state)
{
	(void)state;
	char out[256];
	assert_int_equal(linux_cmdline_merge(out, sizeof(out), "quiet", 2096046),
			 (int)strlen("console=ttyS0 tsc_early_khz=2096046 tsc=reliable pci=lastbus=1 quiet"));
	assert_string_equal(out, "console=ttyS0 tsc_early_khz=2096046 tsc=reliable pci=lastbus=1 quiet");
	linux_cmdline_merge(out, sizeof(out), "", 1000);
	assert_string_equal(out, "console=ttyS0 tsc_early_khz=1000 tsc=reliable pci=lastbus=1");
}

static void test_cmdline_keeps_the_operators_keys(void **state)
{
	(void)state;
	char out[256];
	linux_cmdline_merge(out, sizeof(out), "console=hvc0 pci=nomsi tsc_early_khz=5", 1000);
	assert_string_equal(out, "tsc=reliable console=hvc0 pci=nomsi tsc_early_khz=5");
	linux_cmdline_merge(out, sizeof(out), "rdinit=/init  console=ttyS1,9600", 1000);
	assert_string_equal(out, "tsc_early_khz=1000 tsc=reliable pci=lastbus=1 rdinit=/init  console=ttyS1,9600");
	/* Only whole parameters count: "netconsole=" is not "console=". */
	assert_false(linux_cmdline_has("netconsole=6665@10.0.0.1/eth0", "console="));
	assert_true(linux_cmdline_has("a console=tty0", "console="));
}

static void test_cmdline_too_long_is_refused(void **state)
{
	(void)state;
	char out[32];
	assert_int_equal(linux_cmdline_merge(out, sizeof(out), "0123456789", 1000), -E2BIG);
	assert_int_equal(linux_cmdline_merge(out, 0, "", 1000), -E2BIG);
}

static void test_e820_low_ram_hole_high_ram(void **state)
{
	(void)state;
	struct linux_e820 e[LINUX_E820_MAX];
	assert_int_equal(linux_e820_build(e, 256 * MiB), 3);
	assert_int_equal(e[0].addr, 0);
	assert_int_equal(e[0].size, 0x9FC00);
	assert_int_equal(e[0].type, 1);
	assert_int_equal(e[1].addr, 0x9FC00);
	assert_int_equal(e[1].addr + e[1].size, 0x100000);
	assert_int_equal(e[1].type, 2);
	assert_int_equal(e[2].addr, 0x100000);
	assert_int_equal(e[2].addr + e[2].size, 256 * MiB);
	assert_int_equal(e[2].type, 1);
	/* The ACPI tables and the reset vector lie in the reserved range. */
	assert_true(ACPI_TABLES_GPA >= e[1].addr &&
		    ACPI_TABLES_GPA + ACPI_TABLES_MAX <= e[1].addr + e[1].size);
	assert_true(ACPI_RESET_VECTOR_GPA >= ACPI_TABLES_GPA + ACPI_TABLES_MAX &&
		    ACPI_RESET_VECTOR_GPA + ACPI_RESET_VECTOR_LEN == e[1].addr + e[1].size);
}

static uint8_t rd_blob[3 * 4096 + 100];

static void test_plan_places_kernel_and_initrd_at_the_top(void **state)
{
	(void)state;
	struct boot_module k = kernel_mod();
	struct boot_module i = {(uint64_t)(uintptr_t)rd_blob, sizeof(rd_blob), "linux-initrd"};
	static struct linux_plan p;
	const char *why = NULL;
	assert_int_equal(linux_plan(&k, &i, RAM, "x", 1000, &p, &why), 0);
	assert_int_equal(p.kernel_gpa, 16 * MiB);
	assert_int_equal(p.entry, 16 * MiB + 0x200);
	assert_int_equal(p.initrd_gpa % 4096, 0);
	assert_true(p.initrd_gpa + p.initrd_size <= RAM);
	assert_true(p.initrd_gpa >= RAM - sizeof(rd_blob) - 4096);
	/* Below initrd_addr_max when RAM reaches higher. */
	wr32(kimg + 0x22C, 48 * MiB - 1);
	assert_int_equal(linux_plan(&k, &i, RAM, "x", 1000, &p, &why), 0);
	assert_true(p.initrd_gpa + p.initrd_size <= 48 * MiB);
}

static void test_plan_refusals(void **state)
{
	(void)state;
	struct boot_module k = kernel_mod();
	static struct linux_plan p;
	const char *why = NULL;

	assert_int_equal(linux_plan(&k, NULL, 3074 * MiB, "", 1000, &p, &why), -ERANGE);
	assert_non_null(strstr(why, "3072"));
	assert_int_equal(linux_plan(&k, NULL, 3072 * MiB, "", 1000, &p, &why), 0);
	/* Kernel: 16 MiB + 8 MiB init_size does not fit 20 MiB. */
	assert_int_equal(linux_plan(&k, NULL, 20 * MiB, "", 1000, &p, &why), -E2BIG);
	assert_non_null(strstr(why, "kernel"));
	/* Initrd: 30 MiB does not fit between the kernel's end and 32 MiB. */
	struct boot_module big = {(uint64_t)(uintptr_t)ram, 30 * MiB, "big"};
	assert_int_equal(linux_plan(&k, &big, 32 * MiB, "", 1000, &p, &why), -E2BIG);
	assert_non_null(strstr(why, "initrd"));
	/* Command line longer than the kernel's cmdline_size. */
	wr32(kimg + 0x238, 40);
	assert_int_equal(linux_plan(&k, NULL, RAM, "0123456789", 1000, &p, &why), -E2BIG);
	assert_non_null(strstr(why, "command line"));
	/* Not a bzImage. */
	kimg[0x202] = 'X';
	assert_int_equal(linux_plan(&k, NULL, RAM, "", 1000, &p, &why), -ENOEXEC);
}

static void test_write_fills_zero_page_tables_and_entry_state(void **state)
{
	(void)state;
	struct boot_module k = kernel_mod();
	for (unsigned i = 0; i < sizeof(rd_blob); i++)
		rd_blob[i] = (uint8_t)(i ^ 0x5A);
	struct boot_module i = {(uint64_t)(uintptr_t)rd_blob, sizeof(rd_blob), "linux-initrd"};
	static struct linux_plan p;
	struct vcpu_state st;
	const char *why = NULL;

	assert_int_equal(linux_plan(&k, &i, RAM, "rdinit=/init", 3000000, &p, &why), 0);
	assert_int_equal(vm_load_linux_write(&fake_vm, &p, &k, &i, &st), 0);

	const uint8_t *zp = ram + 0x7000;
	assert_memory_equal(zp + 0x202, "HdrS", 4); /* header copied */
	assert_int_equal(rd16(zp + 0x206), 0x020F);
	assert_int_equal(rd16(zp + 0x1FA), 0xFFFF);  /* vid_mode normal */
	assert_int_equal(zp[0x210], 0xFF);	     /* type_of_loader */
	assert_int_equal(zp[0x211] & 0x81, 0x81);    /* LOADED_HIGH | CAN_USE_HEAP */
	assert_int_not_equal(rd16(zp + 0x224), 0);   /* heap_end_ptr */
	assert_int_equal(rd32(zp + 0x228), 0x20000); /* cmd_line_ptr */
	assert_int_equal(rd32(zp + 0x218), p.initrd_gpa);
	assert_int_equal(rd32(zp + 0x21C), sizeof(rd_blob));
	assert_int_equal(rd64(zp + 0x070), 0xE0000); /* acpi_rsdp_addr */
	assert_int_equal(zp[0x1E8], 3);		     /* e820_entries */
	assert_int_equal(rd64(zp + 0x2D0 + 20 * 2), 0x100000);
	assert_int_equal(rd64(zp + 0x2D0 + 20 * 2 + 8), RAM - 0x100000);
	assert_string_equal((const char *)ram + 0x20000,
			    "console=ttyS0 tsc_early_khz=3000000 tsc=reliable pci=lastbus=1 rdinit=/init");
	assert_memory_equal(ram + 16 * MiB, kimg + SETUP, PAYLOAD);
	assert_memory_equal(ram + p.initrd_gpa, rd_blob, sizeof(rd_blob));
	assert_memory_equal(ram + 0xE0000, "RSD PTR ", 8);
	/* The firmware reset vector Linux's BIOS reboot jumps to. */
	uint8_t reset[ACPI_RESET_VECTOR_LEN];
	acpi_reset_vector(reset);
	assert_memory_equal(ram + 0xFFFF0, reset, sizeof(reset));

	/* GDT: __BOOT_CS 64-bit code, __BOOT_DS data. */
	assert_int_equal(rd64(ram + 0x500 + 0x10), 0x00AF9B000000FFFFull);
	assert_int_equal(rd64(ram + 0x500 + 0x18), 0x00CF93000000FFFFull);
	/* Identity map: PML4 -> PDPT -> PDs, 2 MiB leaves; 3 GiB + 2 MiB maps to itself. */
	assert_int_equal(rd64(ram + 0x9000) & ~0xFFFull, 0xA000);
	uint64_t pdpte = rd64(ram + 0xA000 + 8 * 3);
	uint64_t pde = rd64(ram + (pdpte & ~0xFFFull) + 8 * 1);
	assert_int_equal(pde, (3ull << 30) + (2ull << 20) + 0x83);

	assert_int_equal(st.rip, 16 * MiB + 0x200);
	assert_int_equal(st.gpr[R_RSI], 0x7000);
	assert_int_equal(st.cr3, 0x9000);
	assert_int_equal(st.cs.sel, 0x10);
	assert_int_equal(st.ds.sel, 0x18);
	assert_int_equal(st.ss.sel, 0x18);
	assert_int_equal(st.rflags, 2);
	assert_int_equal(vcpu_state_check(&cpu, &st, &why), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_accepts_a_64bit_relocatable_bzimage),
		cmocka_unit_test(test_header_refusals_name_the_reason),
		cmocka_unit_test(test_cmdline_adds_what_tern_knows_first),
		cmocka_unit_test(test_cmdline_keeps_the_operators_keys),
		cmocka_unit_test(test_cmdline_too_long_is_refused),
		cmocka_unit_test(test_e820_low_ram_hole_high_ram),
		cmocka_unit_test_setup_teardown(test_plan_places_kernel_and_initrd_at_the_top,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_fills_zero_page_tables_and_entry_state,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
