/* kernel/vdev/vlapic: the guest local APIC against Intel SDM Vol. 3A
 * chapter 11 (priorities, EOI, timers, x2APIC #GP rules, APIC_BASE
 * transitions, MSI decode) and its migration state (a hostile blob changes
 * nothing). Time is a guest TSC at 2 GHz: one APIC bus cycle (1 GHz) is two
 * TSC ticks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kernel/vdev/vlapic.h"

#define HZ 2000000000ull
#define BASE_MSR 0x1B
#define DEADLINE_MSR 0x6E0
#define X2(off) (0x800 + (off) / 16)
#define EN (1ull << 11)
#define EXTD (1ull << 10)
#define BSP (1ull << 8)

static struct vlapic l;
static int level_eois, last_level_eoi; /* what reached the "I/O APIC" */

void vlapic_level_eoi(struct vlapic *apic, uint8_t vector)
{
	assert_ptr_equal(apic, &l);
	level_eois++;
	last_level_eoi = vector;
}

static int setup(void **state)
{
	(void)state;
	vlapic_reset(&l, 0, HZ);
	level_eois = last_level_eoi = 0;
	return 0;
}

static uint64_t rd(uint32_t msr)
{
	uint64_t v = 0xdead;
	assert_true(vlapic_msr_read(&l, msr, 0, &v));
	return v;
}
static void wr(uint32_t msr, uint64_t v)
{
	assert_true(vlapic_msr_write(&l, msr, 0, v));
}
static void wr_at(uint32_t msr, uint64_t v, uint64_t now)
{
	assert_true(vlapic_msr_write(&l, msr, now, v));
}

/* x2APIC mode, software-enabled, spurious vector 0xFF */
static void x2_on(void)
{
	wr(BASE_MSR, VLAPIC_XAPIC_BASE | EN | EXTD);
	wr(X2(0xF0), 0x1FF);
}

static void test_reset_state_is_xapic_sw_disabled_all_masked(void **state)
{
	(void)state;
	assert_int_equal(rd(BASE_MSR), VLAPIC_XAPIC_BASE | EN | BSP);
	assert_true(vlapic_xapic_mode(&l));
	assert_int_equal(vlapic_mmio_read(&l, 0xF0, 0), 0xFF);
	assert_int_equal(vlapic_mmio_read(&l, 0x30, 0), 0x00050014);
	for (uint32_t off = 0x320; off <= 0x370; off += 0x10)
		assert_int_equal(vlapic_mmio_read(&l, off, 0), 0x10000);
	assert_int_equal(vlapic_mmio_read(&l, 0xE0, 0), 0xFFFFFFFFu);
	/* software-disabled: nothing is accepted nor delivered */
	vlapic_set_irq(&l, 0x40, false);
	assert_int_equal(vlapic_pending(&l), -1);
	/* x2APIC registers #GP while in xAPIC mode */
	uint64_t v;
	assert_false(vlapic_msr_read(&l, X2(0x20), 0, &v));
}

static void test_sw_disabled_lvts_cannot_be_unmasked(void **state)
{
	(void)state;
	vlapic_mmio_write(&l, 0x320, 0x30, 0);
	assert_int_equal(vlapic_mmio_read(&l, 0x320, 0), 0x10030);
	vlapic_mmio_write(&l, 0xF0, 0x1FF, 0);
	vlapic_mmio_write(&l, 0x320, 0x30, 0);
	assert_int_equal(vlapic_mmio_read(&l, 0x320, 0), 0x30);
	/* disabling again masks every LVT */
	vlapic_mmio_write(&l, 0xF0, 0xFF, 0);
	assert_int_equal(vlapic_mmio_read(&l, 0x320, 0), 0x10030);
}

static void test_pending_is_highest_irr_above_ppr_class(void **state)
{
	(void)state;
	x2_on();
	vlapic_set_irq(&l, 0x41, false);
	vlapic_set_irq(&l, 0x52, false);
	assert_int_equal(vlapic_pending(&l), 0x52);
	/* TPR 0x52: class 5 blocks 0x52 (same class) and 0x41 */
	wr(X2(0x80), 0x52);
	assert_int_equal(rd(X2(0xA0)), 0x52);
	assert_int_equal(vlapic_pending(&l), -1);
	wr(X2(0x80), 0x4F);
	assert_int_equal(vlapic_pending(&l), 0x52);
	wr(X2(0x80), 0);
	/* in service 0x52: PPR = 0x50, 0x41 waits, a class-6 vector preempts */
	vlapic_accept(&l, 0x52);
	assert_int_equal(rd(X2(0xA0)), 0x50);
	assert_int_equal(vlapic_pending(&l), -1);
	vlapic_set_irq(&l, 0x5F, false);
	assert_int_equal(vlapic_pending(&l), -1);
	vlapic_set_irq(&l, 0x60, false);
	assert_int_equal(vlapic_pending(&l), 0x60);
	/* TPR above the ISR class wins in PPR */
	wr(X2(0x80), 0x73);
	assert_int_equal(rd(X2(0xA0)), 0x73);
	assert_int_equal(vlapic_pending(&l), -1);
}

static void test_eoi_clears_highest_isr_in_nesting_order(void **state)
{
	(void)state;
	x2_on();
	vlapic_set_irq(&l, 0x30, false);
	vlapic_accept(&l, vlapic_pending(&l));
	vlapic_set_irq(&l, 0x80, false);
	assert_int_equal(vlapic_pending(&l), 0x80);
	vlapic_accept(&l, 0x80);
	vlapic_set_irq(&l, 0x31, false);
	assert_int_equal(vlapic_pending(&l), -1); /* below 0x80 in service */
	assert_int_equal(rd(X2(0x100 + 0x40)), 1u << 0); /* ISR word 4: 0x80 */
	wr(X2(0xB0), 0); /* EOI ends 0x80 */
	assert_int_equal(rd(X2(0x140)), 0);
	assert_int_equal(rd(X2(0x110)), 1u << 16); /* 0x30 still in service */
	assert_int_equal(vlapic_pending(&l), -1);  /* 0x31: same class as 0x30 */
	wr(X2(0xB0), 0);
	assert_int_equal(rd(X2(0x110)), 0);
	assert_int_equal(vlapic_pending(&l), 0x31);
}

static void test_level_irq_sets_tmr_and_eoi_clears_it_and_broadcasts(void **state)
{
	(void)state;
	x2_on();
	vlapic_set_irq(&l, 0x45, true);
	assert_int_equal(rd(X2(0x180 + 0x20)), 1u << 5);
	vlapic_accept(&l, 0x45);
	wr(X2(0xB0), 0);
	assert_int_equal(rd(X2(0x1A0)), 0);
	/* the EOI is broadcast to the I/O APIC, once, for that vector */
	assert_int_equal(level_eois, 1);
	assert_int_equal(last_level_eoi, 0x45);
	/* an edge vector's EOI is not */
	vlapic_set_irq(&l, 0x46, false);
	vlapic_accept(&l, 0x46);
	wr(X2(0xB0), 0);
	assert_int_equal(level_eois, 1);
}

static void test_illegal_vector_latches_esr_on_write(void **state)
{
	(void)state;
	x2_on();
	wr(X2(0x370), 0xEE); /* error LVT unmasked, vector 0xEE */
	vlapic_set_irq(&l, 7, false);
	assert_int_equal(vlapic_pending(&l), 0xEE);
	/* ESR reads the old latch until written */
	assert_int_equal(rd(X2(0x280)), 0);
	wr(X2(0x280), 0);
	assert_int_equal(rd(X2(0x280)), 0x40);
	wr(X2(0x280), 0);
	assert_int_equal(rd(X2(0x280)), 0);
	uint64_t v;
	(void)v;
	assert_false(vlapic_msr_write(&l, X2(0x280), 0, 1));
}

static void test_self_ipi_register_and_icr_self(void **state)
{
	(void)state;
	x2_on();
	wr(X2(0x3F0), 0x61);
	assert_int_equal(vlapic_pending(&l), 0x61);
	/* IRR is read-only */
	assert_false(vlapic_msr_write(&l, X2(0x230), 0, 0));
	/* ICR: shorthand self */
	wr(X2(0x300), (1u << 18) | 0x72);
	assert_int_equal(vlapic_pending(&l), 0x72);
	/* ICR: physical destination = own ID (0), fixed */
	wr(X2(0x300), 0x83);
	assert_int_equal(vlapic_pending(&l), 0x83);
	/* another destination, or INIT to self: dropped */
	wr(X2(0x300), (5ull << 32) | 0x94);
	wr(X2(0x300), (5u << 8) | 0x95 | (1u << 18));
	assert_int_equal(vlapic_pending(&l), 0x83);
	assert_int_equal(l.icr_dropped, 2);
	assert_int_equal(rd(X2(0x300)), (5u << 8) | 0x95 | (1u << 18));
}

static void test_xapic_icr_self_uses_high_dword_destination(void **state)
{
	(void)state;
	vlapic_reset(&l, 3, HZ);
	vlapic_mmio_write(&l, 0xF0, 0x1FF, 0);
	vlapic_mmio_write(&l, 0x310, 3u << 24, 0);
	vlapic_mmio_write(&l, 0x300, 0x66, 0);
	assert_int_equal(vlapic_pending(&l), 0x66);
	assert_int_equal(vlapic_mmio_read(&l, 0x20, 0), 3u << 24);
	/* no SELF_IPI register in the page */
	vlapic_mmio_write(&l, 0x3F0, 0x77, 0);
	assert_int_equal(vlapic_pending(&l), 0x66);
}

static void test_x2apic_gp_rules(void **state)
{
	(void)state;
	vlapic_reset(&l, 0x25, HZ);
	x2_on();
	uint64_t v;
	/* ID is the full 32 bits and read-only; LDR is derived from it */
	assert_int_equal(rd(X2(0x20)), 0x25);
	assert_false(vlapic_msr_write(&l, X2(0x20), 0, 0));
	assert_int_equal(rd(X2(0xD0)), (2u << 16) | (1u << 5));
	assert_false(vlapic_msr_write(&l, X2(0xD0), 0, 1));
	/* no DFR, APR, ICR high in x2APIC */
	assert_false(vlapic_msr_read(&l, X2(0xE0), 0, &v));
	assert_false(vlapic_msr_read(&l, X2(0x90), 0, &v));
	assert_false(vlapic_msr_read(&l, X2(0x310), 0, &v));
	/* reserved MSRs in the range */
	assert_false(vlapic_msr_read(&l, 0x801, 0, &v));
	assert_false(vlapic_msr_read(&l, 0x840, 0, &v));
	assert_false(vlapic_msr_write(&l, 0x8FF, 0, 0));
	/* EOI and SELF_IPI are write-only; non-zero EOI #GPs */
	assert_false(vlapic_msr_read(&l, X2(0xB0), 0, &v));
	assert_false(vlapic_msr_read(&l, X2(0x3F0), 0, &v));
	assert_false(vlapic_msr_write(&l, X2(0xB0), 0, 1));
	assert_false(vlapic_msr_write(&l, X2(0x3F0), 0, 0x100));
	/* bits 63:32 reserved except in ICR; ICR reserved bits */
	assert_false(vlapic_msr_write(&l, X2(0x80), 0, 1ull << 32));
	assert_false(vlapic_msr_write(&l, X2(0x300), 0, 1u << 13));
	/* current count is read-only; timer mode 3 reserved */
	assert_false(vlapic_msr_write(&l, X2(0x390), 0, 5));
	assert_false(vlapic_msr_write(&l, X2(0x320), 0, 3u << 17));
	/* the xAPIC page does not decode in x2APIC mode */
	assert_false(vlapic_xapic_mode(&l));
	assert_int_equal(vlapic_mmio_read(&l, 0x20, 0), 0);
}

static void test_xapic_off_register_reads_zero(void **state)
{
	(void)state;
	vlapic_mmio_write(&l, 0x80, 0x20, 0);
	assert_int_equal(vlapic_mmio_read(&l, 0x80, 0), 0x20);
	assert_int_equal(vlapic_mmio_read(&l, 0x84, 0), 0);
	assert_int_equal(vlapic_mmio_read(&l, 0x400, 0), 0);
	assert_int_equal(vlapic_mmio_read(&l, 0x10, 0), 0);
	assert_int_equal(vlapic_mmio_read(&l, 0x1000, 0), 0);
	vlapic_mmio_write(&l, 0x84, 0x30, 0);
	assert_int_equal(vlapic_mmio_read(&l, 0x80, 0), 0x20);
	/* ID and version ignore writes */
	vlapic_mmio_write(&l, 0x20, 0x7u << 24, 0);
	assert_int_equal(vlapic_mmio_read(&l, 0x20, 0), 0);
}

static void test_apic_base_transitions(void **state)
{
	(void)state;
	uint64_t x = VLAPIC_XAPIC_BASE;
	/* invalid state EN=0 EXTD=1 */
	assert_false(vlapic_msr_write(&l, BASE_MSR, 0, x | EXTD));
	/* reserved bits */
	assert_false(vlapic_msr_write(&l, BASE_MSR, 0, x | EN | 1));
	assert_false(vlapic_msr_write(&l, BASE_MSR, 0, x | EN | (1ull << 9)));
	/* xAPIC -> x2APIC */
	wr(BASE_MSR, x | EN | EXTD);
	assert_int_equal(rd(BASE_MSR), x | EN | EXTD | BSP);
	/* x2APIC -> xAPIC directly: #GP, state unchanged */
	assert_false(vlapic_msr_write(&l, BASE_MSR, 0, x | EN));
	assert_int_equal(rd(BASE_MSR), x | EN | EXTD | BSP);
	/* state set up in x2APIC is lost on disable */
	wr(X2(0xF0), 0x1FF);
	wr(X2(0x80), 0x30);
	vlapic_set_irq(&l, 0x50, false);
	wr(BASE_MSR, x);
	assert_int_equal(vlapic_pending(&l), -1);
	/* disabled -> x2APIC: #GP */
	assert_false(vlapic_msr_write(&l, BASE_MSR, 0, x | EN | EXTD));
	/* disabled -> xAPIC: the reset state */
	wr(BASE_MSR, x | EN);
	assert_true(vlapic_xapic_mode(&l));
	assert_int_equal(vlapic_mmio_read(&l, 0xF0, 0), 0xFF);
	assert_int_equal(vlapic_mmio_read(&l, 0x80, 0), 0);
	assert_int_equal(vlapic_mmio_read(&l, 0x200 + 0x20, 0), 0);
	assert_int_equal(vlapic_mmio_read(&l, 0x320, 0), 0x10000);
}

/* --- timers --- */

static void deadline_mode(uint8_t vector)
{
	x2_on();
	wr(X2(0x320), (2u << 17) | vector);
}

static void test_tsc_deadline_fires_at_deadline_and_clears(void **state)
{
	(void)state;
	deadline_mode(0xEC);
	wr_at(DEADLINE_MSR, 5000, 1000);
	assert_int_equal(rd(DEADLINE_MSR), 5000);
	assert_int_equal(vlapic_timer_poll(&l, 4999), 5000);
	assert_int_equal(vlapic_pending(&l), -1);
	assert_int_equal(vlapic_timer_poll(&l, 5000), UINT64_MAX);
	assert_int_equal(vlapic_pending(&l), 0xEC);
	assert_int_equal(l.timer_fired, 1);
	assert_int_equal(rd(DEADLINE_MSR), 0);
	/* no second fire */
	vlapic_accept(&l, 0xEC);
	wr(X2(0xB0), 0);
	assert_int_equal(vlapic_timer_poll(&l, 9000), UINT64_MAX);
	assert_int_equal(vlapic_pending(&l), -1);
}

static void test_tsc_deadline_in_past_fires_at_once(void **state)
{
	(void)state;
	deadline_mode(0xEC);
	wr_at(DEADLINE_MSR, 100, 1000);
	assert_int_equal(vlapic_pending(&l), 0xEC);
	assert_int_equal(rd(DEADLINE_MSR), 0);
}

static void test_tsc_deadline_zero_disarms(void **state)
{
	(void)state;
	deadline_mode(0xEC);
	wr_at(DEADLINE_MSR, 5000, 0);
	wr_at(DEADLINE_MSR, 0, 10);
	assert_int_equal(vlapic_timer_poll(&l, 6000), UINT64_MAX);
	assert_int_equal(vlapic_pending(&l), -1);
}

static void test_tsc_deadline_ignored_in_other_modes_and_mode_switch_disarms(void **state)
{
	(void)state;
	x2_on();
	wr(X2(0x320), 0xEC); /* one-shot */
	wr_at(DEADLINE_MSR, 5000, 0);
	assert_int_equal(rd(DEADLINE_MSR), 0);
	wr(X2(0x320), (2u << 17) | 0xEC);
	assert_int_equal(vlapic_timer_poll(&l, 6000), UINT64_MAX);
	assert_int_equal(vlapic_pending(&l), -1);
	/* armed deadline, then back to one-shot: disarmed */
	wr_at(DEADLINE_MSR, 8000, 6000);
	wr(X2(0x320), 0xEC);
	wr(X2(0x320), (2u << 17) | 0xEC);
	assert_int_equal(rd(DEADLINE_MSR), 0);
	assert_int_equal(vlapic_timer_poll(&l, 9000), UINT64_MAX);
	/* the initial count is ignored in TSC-deadline mode */
	wr_at(X2(0x380), 1000, 0);
	assert_int_equal(rd(X2(0x380)), 0);
	assert_int_equal(vlapic_timer_poll(&l, 1000000), UINT64_MAX);
	assert_int_equal(vlapic_pending(&l), -1);
}

static void test_masked_deadline_expires_without_interrupt(void **state)
{
	(void)state;
	deadline_mode(0xEC);
	wr(X2(0x320), (2u << 17) | 0x10000 | 0xEC);
	wr_at(DEADLINE_MSR, 5000, 0);
	assert_int_equal(vlapic_timer_poll(&l, 5000), UINT64_MAX);
	assert_int_equal(vlapic_pending(&l), -1);
	assert_int_equal(l.timer_fired, 0);
}

static void test_oneshot_current_count_and_expiry(void **state)
{
	(void)state;
	x2_on();
	wr(X2(0x3E0), 0xB); /* divide by 1 */
	wr(X2(0x320), 0xE0);
	wr_at(X2(0x380), 1000, 10000); /* 1000 bus cycles = 2000 TSC ticks */
	assert_int_equal(rd(X2(0x380)), 1000);
	uint64_t v;
	assert_true(vlapic_msr_read(&l, X2(0x390), 10000 + 600, &v));
	assert_int_equal(v, 700);
	assert_int_equal(vlapic_timer_poll(&l, 11999), 12000);
	assert_int_equal(vlapic_pending(&l), -1);
	assert_int_equal(vlapic_timer_poll(&l, 12000), UINT64_MAX);
	assert_int_equal(vlapic_pending(&l), 0xE0);
	assert_true(vlapic_msr_read(&l, X2(0x390), 13000, &v));
	assert_int_equal(v, 0);
	/* a count of 0 stops the timer */
	wr_at(X2(0x380), 50, 20000);
	wr_at(X2(0x380), 0, 20010);
	assert_int_equal(vlapic_timer_poll(&l, 30000), UINT64_MAX);
}

static void test_periodic_rearms_and_counts_from_start(void **state)
{
	(void)state;
	x2_on();
	wr(X2(0x3E0), 0x0); /* divide by 2: 1 count = 4 TSC ticks */
	wr(X2(0x320), (1u << 17) | 0xE1);
	wr_at(X2(0x380), 100, 0); /* period 400 ticks */
	assert_int_equal(vlapic_timer_poll(&l, 399), 400);
	assert_int_equal(vlapic_timer_poll(&l, 400), 800);
	assert_int_equal(vlapic_pending(&l), 0xE1);
	uint64_t v;
	assert_true(vlapic_msr_read(&l, X2(0x390), 400 + 40, &v));
	assert_int_equal(v, 90);
	/* three periods missed: one interrupt, next expiry on the grid */
	assert_int_equal(vlapic_timer_poll(&l, 2050), 2400);
	assert_int_equal(l.timer_fired, 2);
	assert_true(vlapic_msr_read(&l, X2(0x390), 2050, &v));
	assert_int_equal(v, 100 - (2050 / 2 / 2) % 100); /* 512 counts in */
}

static void test_divide_configuration_encoding(void **state)
{
	(void)state;
	/* DCR bits 3,1,0 -> divisor (11.5.4 figure 11-10) */
	static const struct {
		uint32_t dcr, div;
	} t[] = {{0x0, 2}, {0x1, 4}, {0x2, 8}, {0x3, 16}, {0x8, 32}, {0x9, 64}, {0xA, 128}, {0xB, 1}};
	x2_on();
	wr(X2(0x320), 0xE0);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		wr(X2(0x3E0), t[i].dcr);
		wr_at(X2(0x380), 10, 1000);
		assert_int_equal(vlapic_timer_poll(&l, 1000), 1000 + 10 * t[i].div * 2);
	}
	/* reserved bits are dropped */
	wr(X2(0x3E0), 0xFF);
	assert_int_equal(rd(X2(0x3E0)), 0xB);
}

static void test_timer_to_other_mode_switch_clears_count(void **state)
{
	(void)state;
	x2_on();
	wr(X2(0x320), 0xE0);
	wr_at(X2(0x380), 1000, 0);
	wr(X2(0x320), (1u << 17) | 0xE0);
	assert_int_equal(rd(X2(0x380)), 0);
	assert_int_equal(vlapic_timer_poll(&l, 1000000), UINT64_MAX);
}

/* --- MSI --- */

static void test_msi_decode_accepts_this_cpu(void **state)
{
	(void)state;
	vlapic_reset(&l, 2, HZ);
	x2_on();
	/* physical, dest 2, fixed, edge */
	assert_true(vlapic_msi(&l, 0xFEE02000, 0x0041));
	assert_int_equal(vlapic_pending(&l), 0x41);
	/* lowest priority, level */
	assert_true(vlapic_msi(&l, 0xFEE02000, 0x8000 | 0x100 | 0x51));
	assert_int_equal(rd(X2(0x1A0)), 1u << 17);
	/* broadcast */
	assert_true(vlapic_msi(&l, 0xFEEFF000, 0x61));
	/* logical: x2APIC LDR of ID 2 is bit 2 of cluster 0 */
	assert_true(vlapic_msi(&l, 0xFEE04004, 0x71));
	assert_int_equal(vlapic_pending(&l), 0x71);
}

static void test_msi_decode_refuses(void **state)
{
	(void)state;
	vlapic_reset(&l, 2, HZ);
	x2_on();
	assert_false(vlapic_msi(&l, 0xFEE03000, 0x41));       /* another CPU */
	assert_false(vlapic_msi(&l, 0xFED02000, 0x41));       /* not 0xFEE */
	assert_false(vlapic_msi(&l, 0x1FEE02000ull, 0x41));   /* above 4 GiB */
	assert_false(vlapic_msi(&l, 0xFEE02000, 0x200 | 0x41)); /* SMI */
	assert_false(vlapic_msi(&l, 0xFEE02000, 0x400 | 0x41)); /* NMI */
	assert_false(vlapic_msi(&l, 0xFEE02000, 0x500));       /* INIT */
	assert_false(vlapic_msi(&l, 0xFEE02000, 0x700));       /* ExtINT */
	assert_false(vlapic_msi(&l, 0xFEE08004, 0x41));        /* logical, not us */
	assert_int_equal(vlapic_pending(&l), -1);
	/* accepted but illegal vector: ESR, nothing pending */
	assert_true(vlapic_msi(&l, 0xFEE02000, 0x05));
	assert_int_equal(vlapic_pending(&l), -1);
	wr(X2(0x280), 0);
	assert_int_equal(rd(X2(0x280)), 0x40);
}

static void test_msi_xapic_flat_logical(void **state)
{
	(void)state;
	vlapic_mmio_write(&l, 0xF0, 0x1FF, 0);
	vlapic_mmio_write(&l, 0xD0, 0x04u << 24, 0);
	assert_false(vlapic_msi(&l, 0xFEE03004, 0x41));
	assert_true(vlapic_msi(&l, 0xFEE05004, 0x41));
	assert_int_equal(vlapic_pending(&l), 0x41);
}

/* --- migration --- */

static void busy_state(void)
{
	vlapic_reset(&l, 0, HZ);
	deadline_mode(0xEC);
	wr(X2(0x80), 0x20);
	wr(X2(0x370), 0xEE);
	vlapic_set_irq(&l, 0x41, false);
	vlapic_set_irq(&l, 0x91, true);
	vlapic_accept(&l, 0x91);
	wr_at(DEADLINE_MSR, 123456789, 5);
}

static void test_save_restore_round_trip(void **state)
{
	(void)state;
	busy_state();
	uint8_t buf[VLAPIC_STATE_MAX];
	int n = vlapic_save(&l, buf, sizeof(buf));
	assert_true(n > 0 && n <= VLAPIC_STATE_MAX);
	assert_int_equal(vlapic_save(&l, buf, (size_t)n - 1), -ENOSPC);
	struct vlapic dst;
	vlapic_reset(&dst, 0, HZ);
	const char *why = "x";
	assert_int_equal(vlapic_restore(&dst, buf, (size_t)n, &why), 0);
	assert_null(why);
	uint8_t again[VLAPIC_STATE_MAX];
	assert_int_equal(vlapic_save(&dst, again, sizeof(again)), n);
	assert_memory_equal(buf, again, (size_t)n);
	assert_int_equal(dst.apic_base, l.apic_base);
	assert_int_equal(dst.tsc_deadline, 123456789);
	assert_int_equal(dst.isr[4], 1u << 17);
	assert_int_equal(dst.tmr[4], 1u << 17);
	/* and it behaves the same */
	assert_int_equal(vlapic_timer_poll(&dst, 123456789), UINT64_MAX);
	assert_int_equal(vlapic_pending(&dst), 0xEC);
}

static void corrupt_and_refuse(size_t at, uint8_t val, const char *expect)
{
	busy_state();
	uint8_t buf[VLAPIC_STATE_MAX];
	int n = vlapic_save(&l, buf, sizeof(buf));
	assert_true(n > 0);
	buf[at] = val;
	struct vlapic dst;
	vlapic_reset(&dst, 0, HZ);
	uint8_t orig[VLAPIC_STATE_MAX], now[VLAPIC_STATE_MAX];
	assert_int_equal(vlapic_save(&dst, orig, sizeof(orig)), n);
	const char *why = NULL;
	assert_int_equal(vlapic_restore(&dst, buf, (size_t)n, &why), -EINVAL);
	assert_non_null(why);
	assert_string_equal(why, expect);
	assert_int_equal(vlapic_save(&dst, now, sizeof(now)), n);
	assert_memory_equal(orig, now, (size_t)n);
}

/* offsets in the fixed layout (vlapic.c) */
#define O_VERSION 0
#define O_BASE 4
#define O_ID 12
#define O_TPR 16
#define O_SVR 20
#define O_LDR 24
#define O_DFR 28
#define O_ESR 32
#define O_ICR_LO 40
#define O_IRR 48
#define O_ISR 80
#define O_LVT 144
#define O_DCR (O_LVT + 32)
#define O_ARMED 204

static void test_restore_refuses_hostile_blobs(void **state)
{
	(void)state;
	corrupt_and_refuse(O_VERSION, 2, "unknown version");
	corrupt_and_refuse(O_BASE, 0x01, "reserved bits in IA32_APIC_BASE");
	corrupt_and_refuse(O_BASE + 1, 0x04, "x2APIC mode without the APIC enabled");
	corrupt_and_refuse(O_BASE + 1, 0x0C, "BSP flag differs");
	corrupt_and_refuse(O_ID, 1, "APIC ID differs");
	corrupt_and_refuse(O_TPR + 1, 1, "reserved bits in TPR");
	corrupt_and_refuse(O_SVR + 2, 1, "reserved bits in SVR");
	corrupt_and_refuse(O_LDR, 2, "x2APIC LDR not derived from the ID");
	corrupt_and_refuse(O_DFR, 0, "reserved bits in DFR");
	corrupt_and_refuse(O_ESR + 1, 0x01, "reserved bits in ESR");
	corrupt_and_refuse(O_ICR_LO + 1, 0x20, "reserved bits in ICR");
	corrupt_and_refuse(O_IRR, 0x01, "a vector under 16 in IRR, ISR or TMR");
	corrupt_and_refuse(O_ISR + 1, 0x80, "a vector under 16 in IRR, ISR or TMR");
	corrupt_and_refuse(O_LVT + 2, 0x06, "bad timer LVT");
	corrupt_and_refuse(O_LVT + 4 + 3, 0x01, "reserved bits in an LVT");
	corrupt_and_refuse(O_LVT + 12 + 1, 0x40, "reserved bits in a LINT LVT");
	corrupt_and_refuse(O_LVT + 20 + 1, 0x01, "reserved bits in the error LVT");
	corrupt_and_refuse(O_SVR + 1, 0x00, "an unmasked LVT while software-disabled");
	corrupt_and_refuse(O_DCR, 0x04, "reserved bits in the divide configuration");
	corrupt_and_refuse(O_ARMED, 2, "bad timer flags");
	corrupt_and_refuse(O_ARMED + 1, 1, "bad timer flags");
	corrupt_and_refuse(O_ARMED, 1, "timer armed with a zero count");

	/* wrong lengths */
	uint8_t buf[VLAPIC_STATE_MAX];
	busy_state();
	int n = vlapic_save(&l, buf, sizeof(buf));
	const char *why;
	assert_int_equal(vlapic_restore(&l, buf, (size_t)n - 1, &why), -EINVAL);
	assert_int_equal(vlapic_restore(&l, buf, (size_t)n + 1, &why), -EINVAL);
	assert_int_equal(vlapic_restore(&l, buf, 0, &why), -EINVAL);
}

/* --- Linux 6.1's boot sequence in x2APIC mode (arch/x86/kernel/apic/apic.c:
 * setup_local_APIC, lapic_setup_esr, the TSC-deadline clockevent), as Tern
 * starts a Linux guest: APIC_BASE = base | EN | EXTD | BSP (decisions.md).
 * Every access must succeed (a #GP here would kill the guest's boot). --- */

#define LOCAL_TIMER_VECTOR 0xEC
#define IRQ_WORK_VECTOR 0xF6
#define ERROR_APIC_VECTOR 0xFE
#define SPURIOUS_APIC_VECTOR 0xFF

/* the CPU: takes what the APIC delivers, runs the handler, which EOIs */
static int cpu_take(uint64_t now)
{
	int v = vlapic_pending(&l);
	if (v < 0)
		return -1;
	vlapic_accept(&l, v);
	assert_int_equal(rd(X2(0xA0)), (uint32_t)v & 0xF0); /* PPR: in service */
	assert_true(vlapic_msr_write(&l, X2(0xB0), now, 0));
	return v;
}

static void test_linux_boot_sequence_x2apic_tsc_deadline(void **state)
{
	(void)state;
	uint64_t t = 1000000;
	/* Tern's start state for a Linux guest */
	wr(BASE_MSR, VLAPIC_XAPIC_BASE | EN | EXTD);
	/* check_x2apic, then the IDs and version */
	assert_int_equal(rd(BASE_MSR) & (EN | EXTD), EN | EXTD);
	assert_int_equal(rd(X2(0x20)), 0);
	uint64_t ver = rd(X2(0x30));
	assert_int_equal(ver & 0xFF, 0x14);
	assert_int_equal((ver >> 16) & 0xFF, 5); /* maxlvt: CMCI not advertised */
	/* init_x2apic_ldr reads the LDR */
	assert_int_equal(rd(X2(0xD0)), 1);
	/* TPR: accept all but vectors 0-31 */
	wr(X2(0x80), (rd(X2(0x80)) & ~0xFFull) | 0x10);
	/* apic_pending_intr_clear: ISR, TMR, IRR words read, nothing set */
	for (uint32_t i = 0; i < 8; i++) {
		assert_int_equal(rd(X2(0x100) + i), 0);
		assert_int_equal(rd(X2(0x180) + i), 0);
		assert_int_equal(rd(X2(0x200) + i), 0);
	}
	/* SVR: enable, focus disabled, spurious 0xFF */
	uint64_t svr = rd(X2(0xF0));
	wr(X2(0xF0), (svr & ~0xFFull) | 0x100 | 0x200 | SPURIOUS_APIC_VECTOR);
	/* perf counter LVT as NMI, LINT0 ExtINT, LINT1 NMI */
	wr(X2(0x340), 0x400);
	(void)rd(X2(0x350));
	wr(X2(0x350), 0x700);
	wr(X2(0x360), 0x400);
	/* lapic_setup_esr */
	wr(X2(0x280), 0);
	assert_int_equal(rd(X2(0x280)), 0);
	wr(X2(0x370), ERROR_APIC_VECTOR);
	wr(X2(0x280), 0);
	assert_int_equal(rd(X2(0x280)), 0);
	/* the clockevent: LVTT in TSC-deadline mode, then one deadline per tick */
	wr(X2(0x320), (2u << 17) | LOCAL_TIMER_VECTOR);
	const uint64_t tick = HZ / 250; /* CONFIG_HZ=250 */
	for (int i = 0; i < 5; i++) {
		wr_at(DEADLINE_MSR, t + tick, t);
		assert_int_equal(vlapic_timer_poll(&l, t), t + tick);
		assert_int_equal(cpu_take(t), -1);
		t += tick;
		assert_int_equal(vlapic_timer_poll(&l, t), UINT64_MAX);
		assert_int_equal(cpu_take(t), LOCAL_TIMER_VECTOR);
		assert_int_equal(rd(X2(0xA0)), 0x10); /* back to the TPR */
	}
	assert_int_equal(l.timer_fired, 5);
	/* irq_work raises a self-IPI from inside the timer handler: it nests
	 * above the timer (class 0xF > 0xE) and ends first */
	wr_at(DEADLINE_MSR, t, t);
	int v = vlapic_pending(&l);
	assert_int_equal(v, LOCAL_TIMER_VECTOR);
	vlapic_accept(&l, v);
	wr(X2(0x3F0), IRQ_WORK_VECTOR);
	assert_int_equal(cpu_take(t), IRQ_WORK_VECTOR);
	assert_int_equal(rd(X2(0xA0)), 0xE0);
	wr(X2(0xB0), 0);
	assert_int_equal(rd(X2(0xA0)), 0x10);
	/* lapic_timer_shutdown: mask, TMICT 0 (ignored in this mode) */
	wr(X2(0x320), rd(X2(0x320)) | 0x10000 | LOCAL_TIMER_VECTOR);
	wr(X2(0x380), 0);
	wr_at(DEADLINE_MSR, t + tick, t);
	assert_int_equal(vlapic_timer_poll(&l, t + tick), UINT64_MAX);
	assert_int_equal(vlapic_pending(&l), -1);
	/* no error along the way */
	wr(X2(0x280), 0);
	assert_int_equal(rd(X2(0x280)), 0);
	assert_int_equal(l.icr_dropped, 0);
}

static void test_xapic_ldr_dfr_cluster_and_shorthands(void **state)
{
	(void)state;
	vlapic_mmio_write(&l, 0xF0, 0x1FF, 0);
	/* LDR keeps bits 31:24, DFR only 31:28 */
	vlapic_mmio_write(&l, 0xD0, 0x12345678, 0);
	assert_int_equal(vlapic_mmio_read(&l, 0xD0, 0), 0x12000000);
	vlapic_mmio_write(&l, 0xE0, 0x0, 0);
	assert_int_equal(vlapic_mmio_read(&l, 0xE0, 0), 0x0FFFFFFF);
	/* cluster model: cluster 1, member bit 1 */
	assert_false(vlapic_msi(&l, 0xFEE22004, 0x41)); /* cluster 2 */
	assert_false(vlapic_msi(&l, 0xFEE14004, 0x41)); /* member 4 */
	assert_true(vlapic_msi(&l, 0xFEE13004, 0x41));
	/* a non-zero ESR write is fine in xAPIC mode */
	vlapic_mmio_write(&l, 0x280, 0xFF, 0);
	assert_int_equal(vlapic_mmio_read(&l, 0x280, 0), 0);
	/* shorthands: all-including-self delivers, all-excluding-self does not */
	vlapic_mmio_write(&l, 0x300, (3u << 18) | 0x90, 0);
	assert_int_equal(vlapic_pending(&l), 0x41);
	vlapic_mmio_write(&l, 0x300, (2u << 18) | 0x91, 0);
	assert_int_equal(vlapic_pending(&l), 0x91);
	/* APIC_BASE above bit 51 is reserved */
	assert_false(vlapic_msr_write(&l, BASE_MSR, 0, (1ull << 52) | VLAPIC_XAPIC_BASE | EN));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, setup)
		T(test_reset_state_is_xapic_sw_disabled_all_masked),
		T(test_sw_disabled_lvts_cannot_be_unmasked),
		T(test_pending_is_highest_irr_above_ppr_class),
		T(test_eoi_clears_highest_isr_in_nesting_order),
		T(test_level_irq_sets_tmr_and_eoi_clears_it_and_broadcasts),
		T(test_illegal_vector_latches_esr_on_write),
		T(test_self_ipi_register_and_icr_self),
		T(test_xapic_icr_self_uses_high_dword_destination),
		T(test_x2apic_gp_rules),
		T(test_xapic_off_register_reads_zero),
		T(test_xapic_ldr_dfr_cluster_and_shorthands),
		T(test_apic_base_transitions),
		T(test_tsc_deadline_fires_at_deadline_and_clears),
		T(test_tsc_deadline_in_past_fires_at_once),
		T(test_tsc_deadline_zero_disarms),
		T(test_tsc_deadline_ignored_in_other_modes_and_mode_switch_disarms),
		T(test_masked_deadline_expires_without_interrupt),
		T(test_oneshot_current_count_and_expiry),
		T(test_periodic_rearms_and_counts_from_start),
		T(test_divide_configuration_encoding),
		T(test_timer_to_other_mode_switch_clears_count),
		T(test_msi_decode_accepts_this_cpu),
		T(test_msi_decode_refuses),
		T(test_msi_xapic_flat_logical),
		T(test_save_restore_round_trip),
		T(test_restore_refuses_hostile_blobs),
		T(test_linux_boot_sequence_x2apic_tsc_deadline),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
