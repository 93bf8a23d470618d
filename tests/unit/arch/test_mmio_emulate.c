/* arch/x86/mmio_emulate.c: fetch at CS:RIP, decode, one device access,
 * register write-back and the next RIP; and the outcomes that must not
 * touch a device (a refused instruction, a page-crossing access, a fetch
 * that runs off RAM). Guest memory and the device are fakes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "arch/x86/mmio_emulate.h"
#include "kernel/log.h"
#include "kernel/vm.h"
#include "kernel/vm_mmio.h"

#define RAM 0x10000u
#define DEV 0xFEE00000ull /* the fake device's page */
static uint8_t ram[RAM];
static struct vm the_vm;

static struct {
	unsigned calls, size[2];
	bool write[2];
	uint64_t gpa[2], val[2];
	uint32_t reg; /* what the device holds */
} dev;
static unsigned logged;

int vm_gpa_read(struct vm *vm, uint64_t gpa, void *buf, uint64_t len)
{
	assert_ptr_equal(vm, &the_vm);
	if (gpa >= RAM || len > RAM - gpa)
		return -EFAULT;
	memcpy(buf, ram + gpa, len);
	return 0;
}

int vm_mmio_access(struct vm *vm, uint64_t gpa, unsigned size, bool write, uint64_t *val)
{
	assert_ptr_equal(vm, &the_vm);
	if (gpa - DEV >= 0x1000)
		return -ENOENT;
	unsigned k = dev.calls++;
	assert_true(k < 2);
	dev.gpa[k] = gpa;
	dev.size[k] = size;
	dev.write[k] = write;
	if (write) {
		dev.val[k] = *val;
		dev.reg = (uint32_t)*val;
	} else {
		*val = dev.reg;
	}
	return 0;
}

void log_guest(struct vm *vm, enum log_level level, const char *fmt, ...)
{
	(void)vm, (void)level, (void)fmt;
	logged++;
}

static uint64_t gpr[16];

static int setup(void **st)
{
	(void)st;
	memset(ram, 0xCC, sizeof(ram));
	memset(&dev, 0, sizeof(dev));
	memset(gpr, 0, sizeof(gpr));
	logged = 0;
	return 0;
}

/* Paging off, protected mode (CR0.PE): linear = physical. */
static struct mmio_vcpu cpu(enum mmio_mode mode, uint64_t cs_base, uint64_t rip)
{
	return (struct mmio_vcpu){
		.paging = {.cr0 = 1}, .cs_base = cs_base, .rip = rip, .mode = mode, .gpr = gpr};
}

static void put(uint64_t at, const uint8_t *b, size_t n)
{
	memcpy(ram + at, b, n);
}

static void test_load_goes_to_the_register_and_rip_moves_on(void **st)
{
	(void)st;
	/* movzbl 0x20(%rax),%ecx at CS base 0x1000 + EIP 0x234 (32-bit code) */
	put(0x1234, (const uint8_t[]){0x0F, 0xB6, 0x48, 0x20}, 4);
	struct mmio_vcpu c = cpu(MMIO_MODE32, 0x1000, 0x234);
	uint64_t next = 0;
	dev.reg = 0x50014;
	gpr[1] = ~0ull;

	assert_int_equal(mmio_emulate(&the_vm, &c, DEV + 0x30, &next), 0);
	assert_int_equal(next, 0x238);
	assert_int_equal(gpr[1], 0x14);
	assert_int_equal(dev.calls, 1);
	assert_false(dev.write[0]);
	assert_int_equal(dev.size[0], 1);
	assert_int_equal(dev.gpa[0], DEV + 0x30);
}

static void test_store_writes_the_register_once(void **st)
{
	(void)st;
	/* mov %r8,%fs:(%rax) in 64-bit code: CS base ignored */
	put(0x2000, (const uint8_t[]){0x64, 0x4C, 0x89, 0x00}, 4);
	struct mmio_vcpu c = cpu(MMIO_MODE64, 0x5000, 0x2000);
	uint64_t next;
	gpr[8] = 0x1122334455667788ull;

	assert_int_equal(mmio_emulate(&the_vm, &c, DEV + 0x80, &next), 0);
	assert_int_equal(next, 0x2004);
	assert_int_equal(dev.calls, 1);
	assert_true(dev.write[0]);
	assert_int_equal(dev.size[0], 8);
	assert_int_equal(dev.val[0], 0x1122334455667788ull);
}

static void test_xchg_reads_then_writes_the_old_register(void **st)
{
	(void)st;
	/* xchg %eax,0x300(%rbx) */
	put(0x3000, (const uint8_t[]){0x87, 0x83, 0, 3, 0, 0}, 6);
	struct mmio_vcpu c = cpu(MMIO_MODE64, 0, 0x3000);
	uint64_t next;
	gpr[0] = 0xFFFFFFFF00000040ull;
	dev.reg = 0x30;

	assert_int_equal(mmio_emulate(&the_vm, &c, DEV + 0x80, &next), 0);
	assert_int_equal(dev.calls, 2);
	assert_false(dev.write[0]);
	assert_true(dev.write[1]);
	assert_int_equal(dev.val[1], 0x40);
	assert_int_equal(gpr[0], 0x30); /* 32-bit destination: upper half cleared */
	assert_int_equal(next, 0x3006);
}

static void test_refused_instruction_touches_nothing(void **st)
{
	(void)st;
	/* lock orl $0x10,(%rdx) */
	put(0x4000, (const uint8_t[]){0xF0, 0x83, 0x0A, 0x10}, 4);
	struct mmio_vcpu c = cpu(MMIO_MODE64, 0, 0x4000);
	uint64_t next = 0x1234;

	assert_int_equal(mmio_emulate(&the_vm, &c, DEV + 0x80, &next), -EINVAL);
	assert_int_equal(dev.calls, 0);
	assert_int_equal(next, 0x1234);
	assert_int_equal(logged, 1);
}

static void test_page_crossing_access_is_refused(void **st)
{
	(void)st;
	/* mov (%rax),%rax at the page's last 4 bytes */
	put(0x4100, (const uint8_t[]){0x48, 0x8B, 0x00}, 3);
	struct mmio_vcpu c = cpu(MMIO_MODE64, 0, 0x4100);
	uint64_t next;

	assert_int_equal(mmio_emulate(&the_vm, &c, DEV + 0xFFC, &next), -EINVAL);
	assert_int_equal(dev.calls, 0);
	assert_int_equal(logged, 1);
}

static void test_unclaimed_gpa_changes_nothing(void **st)
{
	(void)st;
	put(0x4200, (const uint8_t[]){0x8B, 0x00}, 2);
	struct mmio_vcpu c = cpu(MMIO_MODE64, 0, 0x4200);
	uint64_t next;
	gpr[0] = 0xABCD;

	assert_int_equal(mmio_emulate(&the_vm, &c, 0xC0000000ull, &next), -ENOENT);
	assert_int_equal(gpr[0], 0xABCD);
	assert_int_equal(logged, 0);
}

static void test_fetch_off_the_end_of_ram_is_efault(void **st)
{
	(void)st;
	/* mov 0x30(%rip),%eax whose last 2 bytes would lie past RAM */
	put(RAM - 4, (const uint8_t[]){0x8B, 0x05, 0x30, 0x00}, 4);
	struct mmio_vcpu c = cpu(MMIO_MODE64, 0, RAM - 4);
	uint64_t next;

	assert_int_equal(mmio_emulate(&the_vm, &c, DEV + 0x30, &next), -EFAULT);
	assert_int_equal(dev.calls, 0);
	/* one that ends right at the end of RAM is fine */
	put(RAM - 2, (const uint8_t[]){0x8B, 0x00}, 2);
	c.rip = RAM - 2;
	assert_int_equal(mmio_emulate(&the_vm, &c, DEV + 0x30, &next), 0);
	assert_int_equal(next, RAM);
}

static void put64(uint64_t at, uint64_t v)
{
	memcpy(ram + at, &v, 8);
}

/* An instruction across two 4 KiB pages that are far apart in
 * guest-physical memory: each page is walked on its own. */
static void test_fetch_walks_each_page_of_the_instruction(void **st)
{
	(void)st;
	/* 4-level paging: PML4 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000;
	 * la 0x400000 -> 0x5000, la 0x401000 -> 0x9000 */
	put64(0x1000, 0x2000 | 3);
	put64(0x2000, 0x3000 | 3);
	put64(0x3000 + 2 * 8, 0x4000 | 3);
	put64(0x4000, 0x5000 | 3);
	put64(0x4000 + 8, 0x9000 | 3);
	/* mov 0x30(%rip),%eax: 8b 05 | 30 00 00 00 */
	put(0x5FFE, (const uint8_t[]){0x8B, 0x05}, 2);
	put(0x9000, (const uint8_t[]){0x30, 0, 0, 0}, 4);
	put(0x6000, (const uint8_t[]){0xF0, 0xF0, 0xF0, 0xF0}, 4); /* not the next page */
	struct mmio_vcpu c = {
		.paging = {.cr0 = 0x80000001, .cr3 = 0x1000, .cr4 = 0x20, .efer = 0x500},
		.rip = 0x400FFE,
		.mode = MMIO_MODE64,
		.gpr = gpr};
	uint64_t next;
	dev.reg = 0x77;

	assert_int_equal(mmio_emulate(&the_vm, &c, DEV + 0x30, &next), 0);
	assert_int_equal(next, 0x401004);
	assert_int_equal(gpr[0], 0x77);
	/* the second page not present: the fetch fails, nothing is done */
	put64(0x4000 + 8, 0);
	dev.calls = 0;
	assert_int_equal(mmio_emulate(&the_vm, &c, DEV + 0x30, &next), -EFAULT);
	assert_int_equal(dev.calls, 0);
}

static void test_16bit_ip_wraps(void **st)
{
	(void)st;
	/* mov (%si),%cl at CS 0x0000:0xFFFE (real-mode-like flat base 0) */
	put(0xFFFE, (const uint8_t[]){0x8A, 0x0C}, 2);
	struct mmio_vcpu c = cpu(MMIO_MODE16, 0, 0xFFFE);
	uint64_t next;
	dev.reg = 0x5A;

	assert_int_equal(mmio_emulate(&the_vm, &c, DEV, &next), 0);
	assert_int_equal(next, 0);
	assert_int_equal(gpr[1] & 0xFF, 0x5A);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_load_goes_to_the_register_and_rip_moves_on, setup),
		cmocka_unit_test_setup(test_store_writes_the_register_once, setup),
		cmocka_unit_test_setup(test_xchg_reads_then_writes_the_old_register, setup),
		cmocka_unit_test_setup(test_refused_instruction_touches_nothing, setup),
		cmocka_unit_test_setup(test_page_crossing_access_is_refused, setup),
		cmocka_unit_test_setup(test_unclaimed_gpa_changes_nothing, setup),
		cmocka_unit_test_setup(test_fetch_off_the_end_of_ram_is_efault, setup),
		cmocka_unit_test_setup(test_fetch_walks_each_page_of_the_instruction, setup),
		cmocka_unit_test_setup(test_16bit_ip_wraps, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
