/* kernel/vm_mmio.c: which device an MMIO access reaches. The LAPIC and
 * the PCI bus are fakes that record what they were asked, so the test
 * checks the routing (xAPIC page while in xAPIC mode, where
 * IA32_APIC_BASE puts it; the I/O APIC's window; else a PCI BAR; else
 * -ENOENT) and the xAPIC
 * access-size rules, whatever the models behind them do. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "kernel/log.h"
#include "kernel/vm.h"
#include "kernel/vm_irq.h"
#include "kernel/vm_mmio.h"

#define EN (1ull << 11)
#define EXTD (1ull << 10)

static struct vm vm;
static struct {
	unsigned reads, writes, pci, io_reads, io_writes;
	uint32_t off, val, io_off, io_val;
	uint64_t now, pci_gpa;
} seen;
static bool pci_claims;

bool vlapic_xapic_mode(const struct vlapic *l)
{
	return (l->apic_base & EN) && !(l->apic_base & EXTD);
}
uint32_t vlapic_mmio_read(struct vlapic *l, uint32_t off, uint64_t now)
{
	assert_ptr_equal(l, &vm.vcpu.lapic);
	seen.reads++;
	seen.off = off;
	seen.now = now;
	return 0x44332211; /* every register reads this */
}
void vlapic_mmio_write(struct vlapic *l, uint32_t off, uint32_t val, uint64_t now)
{
	assert_ptr_equal(l, &vm.vcpu.lapic);
	seen.writes++;
	seen.off = off;
	seen.val = val;
	seen.now = now;
}
uint32_t vioapic_mmio_read(struct vioapic *io, uint32_t off)
{
	assert_ptr_equal(io, &vm.ioapic);
	seen.io_reads++;
	seen.io_off = off;
	return 0x00170011;
}
void vioapic_mmio_write(struct vioapic *io, uint32_t off, uint32_t val)
{
	assert_ptr_equal(io, &vm.ioapic);
	seen.io_writes++;
	seen.io_off = off;
	seen.io_val = val;
}
bool vpci_mem_access(struct vpci *p, uint64_t gpa, unsigned size, bool write, uint64_t *val)
{
	(void)size, (void)write;
	assert_ptr_equal(p, &vm.pci);
	seen.pci++;
	seen.pci_gpa = gpa;
	if (pci_claims && !write)
		*val = 0xBA;
	return pci_claims;
}
uint64_t vcpu_guest_tsc(struct vcpu *v)
{
	assert_ptr_equal(v, &vm.vcpu);
	return 12345;
}
void log_guest(struct vm *v, enum log_level level, const char *fmt, ...)
{
	(void)v, (void)level, (void)fmt;
}

static int setup(void **st)
{
	(void)st;
	memset(&vm, 0, sizeof(vm));
	memset(&seen, 0, sizeof(seen));
	pci_claims = false;
	vm.vcpu.vm = &vm;
	vm.vcpu.lapic.apic_base = 0xFEE00000ull | EN | (1ull << 8);
	return 0;
}

static void test_xapic_page_reaches_the_lapic_with_guest_tsc(void **st)
{
	(void)st;
	uint64_t v = 0;

	assert_int_equal(vm_mmio_access(&vm, 0xFEE00030, 4, false, &v), 0);
	assert_int_equal(v, 0x44332211);
	assert_int_equal(seen.off, 0x30);
	assert_int_equal(seen.now, 12345);
	v = 0xFFFFFFFF00000020ull;
	assert_int_equal(vm_mmio_access(&vm, 0xFEE00080, 4, true, &v), 0);
	assert_int_equal(seen.writes, 1);
	assert_int_equal(seen.off, 0x80);
	assert_int_equal(seen.val, 0x20);
	assert_int_equal(seen.pci, 0);
}

static void test_narrow_reads_take_bytes_of_one_register(void **st)
{
	(void)st;
	uint64_t v;

	assert_int_equal(vm_mmio_access(&vm, 0xFEE00030, 1, false, &v), 0);
	assert_int_equal(v, 0x11);
	assert_int_equal(vm_mmio_access(&vm, 0xFEE00032, 2, false, &v), 0);
	assert_int_equal(v, 0x4433);
	assert_int_equal(seen.off, 0x30);
	assert_int_equal(vm_mmio_access(&vm, 0xFEE00033, 1, false, &v), 0);
	assert_int_equal(v, 0x44);
	/* across two 32-bit words, or 8 bytes: 0, and no register read */
	unsigned reads = seen.reads;
	v = 7;
	assert_int_equal(vm_mmio_access(&vm, 0xFEE00032, 4, false, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(vm_mmio_access(&vm, 0xFEE00030, 8, false, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(seen.reads, reads);
}

static void test_only_aligned_32bit_writes_reach_the_lapic(void **st)
{
	(void)st;
	uint64_t v = 0x10;

	assert_int_equal(vm_mmio_access(&vm, 0xFEE00080, 1, true, &v), 0);
	assert_int_equal(vm_mmio_access(&vm, 0xFEE00080, 2, true, &v), 0);
	assert_int_equal(vm_mmio_access(&vm, 0xFEE00080, 8, true, &v), 0);
	assert_int_equal(vm_mmio_access(&vm, 0xFEE00082, 4, true, &v), 0);
	assert_int_equal(seen.writes, 0);
	assert_int_equal(seen.pci, 0); /* dropped, not passed on */
}

static void test_page_follows_apic_base_and_mode(void **st)
{
	(void)st;
	uint64_t v;

	/* relocated: the old page is no longer the LAPIC's */
	vm.vcpu.lapic.apic_base = 0xFED00000ull | EN;
	assert_int_equal(vm_mmio_access(&vm, 0xFEE00030, 4, false, &v), -ENOENT);
	assert_int_equal(seen.pci, 1);
	assert_int_equal(vm_mmio_access(&vm, 0xFED00FF0, 4, false, &v), 0);
	assert_int_equal(seen.off, 0xFF0);
	/* x2APIC mode, or disabled: the page decodes nothing (SDM 11.12) */
	vm.vcpu.lapic.apic_base = 0xFEE00000ull | EN | EXTD;
	assert_int_equal(vm_mmio_access(&vm, 0xFEE00030, 4, false, &v), -ENOENT);
	vm.vcpu.lapic.apic_base = 0xFEE00000ull;
	assert_int_equal(vm_mmio_access(&vm, 0xFEE00030, 4, false, &v), -ENOENT);
	assert_int_equal(seen.reads, 1);
	/* just past the page */
	vm.vcpu.lapic.apic_base = 0xFEE00000ull | EN;
	assert_int_equal(vm_mmio_access(&vm, 0xFEE01000, 4, false, &v), -ENOENT);
	assert_int_equal(vm_mmio_access(&vm, 0xFEDFFFFC, 4, false, &v), -ENOENT);
}

static void test_other_addresses_go_to_pci_bars(void **st)
{
	(void)st;
	uint64_t v = 0;

	pci_claims = true;
	assert_int_equal(vm_mmio_access(&vm, 0xE0000010, 2, false, &v), 0);
	assert_int_equal(v, 0xBA);
	assert_int_equal(seen.pci_gpa, 0xE0000010);
	assert_int_equal(seen.reads, 0);
}

static void test_ioapic_window_takes_aligned_32bit_accesses(void **st)
{
	(void)st;
	uint64_t v = 0x14;

	assert_int_equal(vm_mmio_access(&vm, 0xFEC00000, 4, true, &v), 0);
	assert_int_equal(seen.io_writes, 1);
	assert_int_equal(seen.io_off, 0);
	assert_int_equal(seen.io_val, 0x14);
	assert_int_equal(vm_mmio_access(&vm, 0xFEC00010, 4, false, &v), 0);
	assert_int_equal(v, 0x00170011);
	assert_int_equal(seen.io_off, 0x10);
	/* other sizes and misaligned: read 0 or dropped, never elsewhere */
	assert_int_equal(vm_mmio_access(&vm, 0xFEC00010, 1, false, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(vm_mmio_access(&vm, 0xFEC00012, 4, true, &v), 0);
	assert_int_equal(vm_mmio_access(&vm, 0xFEC00010, 8, true, &v), 0);
	assert_int_equal(seen.io_reads, 1);
	assert_int_equal(seen.io_writes, 1);
	assert_int_equal(seen.pci, 0);
	/* the whole 4 KiB page, and not beyond */
	assert_int_equal(vm_mmio_access(&vm, 0xFEC00FFC, 4, false, &v), 0);
	assert_int_equal(seen.io_reads, 2);
	assert_int_equal(vm_mmio_access(&vm, 0xFEC01000, 4, false, &v), -ENOENT);
	assert_int_equal(vm_mmio_access(&vm, 0xFEBFFFFC, 4, false, &v), -ENOENT);
	assert_int_equal(seen.io_reads, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_xapic_page_reaches_the_lapic_with_guest_tsc, setup),
		cmocka_unit_test_setup(test_narrow_reads_take_bytes_of_one_register, setup),
		cmocka_unit_test_setup(test_only_aligned_32bit_writes_reach_the_lapic, setup),
		cmocka_unit_test_setup(test_page_follows_apic_base_and_mode, setup),
		cmocka_unit_test_setup(test_other_addresses_go_to_pci_bars, setup),
		cmocka_unit_test_setup(test_ioapic_window_takes_aligned_32bit_accesses, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
