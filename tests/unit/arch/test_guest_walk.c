/* arch/x86/guest_walk.c: guest-linear to guest-physical in each paging
 * mode, against page tables the test writes into a fake guest memory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "arch/x86/guest_walk.h"

#define MEM (4u << 20)
static uint8_t mem[MEM];

static int rd(void *ctx, uint64_t gpa, void *buf, uint64_t len)
{
	(void)ctx;
	if (gpa >= MEM || len > MEM - gpa)
		return -EFAULT;
	memcpy(buf, mem + gpa, len);
	return 0;
}

static void put64(uint64_t at, uint64_t v)
{
	memcpy(mem + at, &v, 8);
}
static void put32(uint64_t at, uint32_t v)
{
	memcpy(mem + at, &v, 4);
}

static void test_no_paging_is_identity_below_4g(void **st)
{
	(void)st;
	struct guest_paging p = {.cr0 = 1};
	uint64_t gpa;

	assert_int_equal(guest_walk(&p, 0x123456, rd, NULL, &gpa), 0);
	assert_int_equal(gpa, 0x123456);
}

static void test_four_level_4k_2m_and_not_present(void **st)
{
	(void)st;
	memset(mem, 0, MEM);
	/* PML4 at 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000 */
	struct guest_paging p = {.cr0 = 0x80000001, .cr3 = 0x1000, .cr4 = 0x20, .efer = 0x500};
	uint64_t la = 0xFFFF800000005000ull; /* PML4 index 256, PTE 5 */
	put64(0x1000 + 256 * 8, 0x2000 | 3);
	put64(0x2000, 0x3000 | 3);
	put64(0x3000, 0x4000 | 3);
	put64(0x4000 + 5 * 8, 0x9000 | 3);
	put64(0x3000 + 8, 0x200000 | 0x83); /* 2 MiB page for la + 2 MiB */
	uint64_t gpa;

	assert_int_equal(guest_walk(&p, la + 0x123, rd, NULL, &gpa), 0);
	assert_int_equal(gpa, 0x9123);
	assert_int_equal(guest_walk(&p, la + 0x200000 + 0x4567, rd, NULL, &gpa), 0);
	assert_int_equal(gpa, 0x204567 + 0x5000);
	assert_int_equal(guest_walk(&p, la + 0x1000, rd, NULL, &gpa), -EFAULT); /* PTE 6 absent */
	assert_int_equal(guest_walk(&p, 0x5000, rd, NULL, &gpa), -EFAULT);	/* PML4 0 absent */
	uint8_t b[2];
	mem[0x9FFF] = 0xAB;
	put64(0x4000 + 6 * 8, 0xA000 | 3);
	mem[0xA000] = 0xCD;
	assert_int_equal(guest_read_linear(&p, la + 0xFFF, b, 2, rd, NULL), 0); /* crosses a page */
	assert_int_equal(b[0], 0xAB);
	assert_int_equal(b[1], 0xCD);
}

static void test_pae_and_32bit_paging(void **st)
{
	(void)st;
	memset(mem, 0, MEM);
	uint64_t gpa;
	/* PAE: PDPT at 0x1020 (32-byte aligned), PD 0x2000, PT 0x3000 */
	struct guest_paging pae = {.cr0 = 0x80000001, .cr3 = 0x1020, .cr4 = 0x20};
	put64(0x1020 + 1 * 8, 0x2000 | 1);
	put64(0x2000 + 2 * 8, 0x3000 | 3);
	put64(0x3000 + 3 * 8, 0x7000 | 3);
	assert_int_equal(guest_walk(&pae, 0x40403ABC, rd, NULL, &gpa), 0);
	assert_int_equal(gpa, 0x7ABC);
	/* 32-bit: PD at 0x5000, a 4 MiB page (PSE) and a 4 KiB one */
	struct guest_paging p32 = {.cr0 = 0x80000001, .cr3 = 0x5000, .cr4 = 0x10};
	put32(0x5000 + 1 * 4, 0x00000083 | (0u << 22));
	put32(0x5000 + 2 * 4, 0x6000 | 3);
	put32(0x6000 + 4 * 4, 0x8000 | 3);
	assert_int_equal(guest_walk(&p32, 0x00412345, rd, NULL, &gpa), 0);
	assert_int_equal(gpa, 0x12345);
	assert_int_equal(guest_walk(&p32, 0x00804ABC, rd, NULL, &gpa), 0);
	assert_int_equal(gpa, 0x8ABC);
	p32.cr4 = 0; /* PS ignored without CR4.PSE: entry 1 is then a PT at 0 */
	assert_int_equal(guest_walk(&p32, 0x00412345, rd, NULL, &gpa), -EFAULT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_paging_is_identity_below_4g),
		cmocka_unit_test(test_four_level_4k_2m_and_not_present),
		cmocka_unit_test(test_pae_and_32bit_paging),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
