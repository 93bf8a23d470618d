/* kernel/vdev/vioapic: the guest I/O APIC against the 82093AA datasheet:
 * the register window, what a guest may write in a redirection entry, the
 * message each entry sends (checked as the MSI address/data the LAPIC
 * decodes), edge and level semantics with Remote IRR and the EOI
 * broadcast, masking, and the UART's line as Linux's 8250 driver drives
 * it. vioapic_send is a recording fake that the LAPIC may refuse. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "kernel/vdev/uart.h"
#include "kernel/vdev/vioapic.h"

static struct vioapic io;
static struct {
	unsigned n;
	uint64_t addr;
	uint32_t data;
} sent;
static bool refuse;

bool vioapic_send(struct vioapic *a, uint64_t addr, uint32_t data)
{
	assert_ptr_equal(a, &io);
	sent.n++;
	sent.addr = addr;
	sent.data = data;
	return !refuse;
}

/* The UART prints nothing here. */
void vuart_emit(const char *s, unsigned n)
{
	(void)s, (void)n;
}
void vuart_line_start(void) {}

static int setup(void **state)
{
	(void)state;
	vioapic_reset(&io);
	memset(&sent, 0, sizeof(sent));
	refuse = false;
	return 0;
}

static uint32_t reg(uint32_t r)
{
	vioapic_mmio_write(&io, VIOAPIC_IOREGSEL, r);
	return vioapic_mmio_read(&io, VIOAPIC_IOWIN);
}

static void set_reg(uint32_t r, uint32_t v)
{
	vioapic_mmio_write(&io, VIOAPIC_IOREGSEL, r);
	vioapic_mmio_write(&io, VIOAPIC_IOWIN, v);
}

static void set_rte(unsigned pin, uint64_t e)
{
	set_reg(0x10 + 2 * pin + 1, (uint32_t)(e >> 32));
	set_reg(0x10 + 2 * pin, (uint32_t)e);
}

static uint64_t rte(unsigned pin)
{
	return reg(0x10 + 2 * pin) | (uint64_t)reg(0x11 + 2 * pin) << 32;
}

static void test_reset_id_version_and_all_masked(void **state)
{
	(void)state;
	assert_int_equal(reg(0), 1u << 24);
	/* version 0x11, 24 entries (maximum redirection entry 23) */
	assert_int_equal(reg(1), 0x00170011u);
	assert_int_equal(reg(2), 1u << 24);
	for (unsigned pin = 0; pin < VIOAPIC_PINS; pin++)
		assert_int_equal(rte(pin), VIOAPIC_RTE_MASKED);
	assert_int_equal(reg(0x10 + 2 * VIOAPIC_PINS), 0); /* past the table */
	assert_int_equal(vioapic_mmio_read(&io, 0x20), 0); /* not a register */
	assert_int_equal(vioapic_mmio_read(&io, VIOAPIC_IOREGSEL), 0x10 + 2 * VIOAPIC_PINS);
}

static void test_id_writable_version_and_arbitration_read_only(void **state)
{
	(void)state;
	set_reg(0, 0xFFFFFFFFu);
	assert_int_equal(reg(0), 0x0F000000u);
	set_reg(1, 0);
	set_reg(2, 0);
	assert_int_equal(reg(1), 0x00170011u);
	assert_int_equal(reg(2), 0x0F000000u);
}

static void test_rte_keeps_writable_bits_only(void **state)
{
	(void)state;
	set_rte(3, ~0ull);
	/* delivery status, Remote IRR and bits 55:17 stay 0 */
	assert_int_equal(rte(3), 0xFF0000000001AFFFull);
	set_rte(3, 0x0200000000000031ull);
	assert_int_equal(rte(3), 0x0200000000000031ull);
}

static void test_edge_sends_on_rising_edge_only_when_unmasked(void **state)
{
	(void)state;
	vioapic_set_pin(&io, 4, true); /* masked: lost */
	vioapic_set_pin(&io, 4, false);
	assert_int_equal(sent.n, 0);
	/* physical destination 0, fixed, vector 0x24 (what Linux writes) */
	set_rte(4, 0x24);
	assert_int_equal(sent.n, 0); /* unmasking an edge entry sends nothing */
	vioapic_set_pin(&io, 4, true);
	assert_int_equal(sent.n, 1);
	assert_int_equal(sent.addr, 0xFEE00000u);
	assert_int_equal(sent.data, 0x4024u); /* assert, edge, fixed, vector */
	vioapic_set_pin(&io, 4, true); /* still up: no new edge */
	assert_int_equal(sent.n, 1);
	vioapic_set_pin(&io, 4, false);
	vioapic_set_pin(&io, 4, true);
	assert_int_equal(sent.n, 2);
	assert_int_equal(io.sent, 2);
}

static void test_message_carries_destination_and_modes(void **state)
{
	(void)state;
	/* logical destination 0x01, lowest priority, vector 0x31 */
	set_rte(9, 0x0100000000000931ull);
	vioapic_set_pin(&io, 9, true);
	assert_int_equal(sent.addr, 0xFEE01004u);
	assert_int_equal(sent.data, 0x4131u);
}

static void test_level_holds_remote_irr_until_eoi(void **state)
{
	(void)state;
	set_rte(10, VIOAPIC_RTE_LEVEL | 0x40);
	vioapic_set_pin(&io, 10, true);
	assert_int_equal(sent.n, 1);
	assert_int_equal(sent.data, 0xC040u); /* assert, level */
	assert_true(rte(10) & VIOAPIC_RTE_REMOTE_IRR);
	/* the line stays up: no second message before the EOI */
	vioapic_set_pin(&io, 10, true);
	assert_int_equal(sent.n, 1);
	vioapic_eoi(&io, 0x41); /* another vector's EOI changes nothing */
	assert_true(rte(10) & VIOAPIC_RTE_REMOTE_IRR);
	/* EOI with the line still up: sent again */
	vioapic_eoi(&io, 0x40);
	assert_int_equal(sent.n, 2);
	assert_true(rte(10) & VIOAPIC_RTE_REMOTE_IRR);
	/* the device lowers it, then the EOI: nothing more */
	vioapic_set_pin(&io, 10, false);
	vioapic_eoi(&io, 0x40);
	assert_int_equal(sent.n, 2);
	assert_false(rte(10) & VIOAPIC_RTE_REMOTE_IRR);
}

static void test_level_masked_then_unmasked_sends(void **state)
{
	(void)state;
	set_rte(11, VIOAPIC_RTE_LEVEL | VIOAPIC_RTE_MASKED | 0x50);
	vioapic_set_pin(&io, 11, true);
	assert_int_equal(sent.n, 0);
	set_rte(11, VIOAPIC_RTE_LEVEL | 0x50);
	assert_int_equal(sent.n, 1);
	/* a guest cannot clear or set Remote IRR by writing the entry */
	set_rte(11, VIOAPIC_RTE_LEVEL | 0x50);
	assert_true(rte(11) & VIOAPIC_RTE_REMOTE_IRR);
	assert_int_equal(sent.n, 1);
}

static void test_refused_level_message_does_not_wedge_the_pin(void **state)
{
	(void)state;
	refuse = true; /* e.g. a destination that is no CPU */
	set_rte(12, VIOAPIC_RTE_LEVEL | 0x0500000000000060ull);
	vioapic_set_pin(&io, 12, true);
	assert_int_equal(io.refused, 1);
	assert_false(rte(12) & VIOAPIC_RTE_REMOTE_IRR);
	refuse = false;
	set_rte(12, VIOAPIC_RTE_LEVEL | 0x60); /* the guest fixes the entry */
	assert_int_equal(sent.n, 2);
}

static void test_out_of_range_pin_is_ignored(void **state)
{
	(void)state;
	for (unsigned pin = 0; pin < VIOAPIC_PINS; pin++)
		set_rte(pin, 0x30 + pin);
	vioapic_set_pin(&io, VIOAPIC_PINS, true);
	vioapic_set_pin(&io, 255, true);
	assert_int_equal(sent.n, 0);
}

/* Linux's 8250 driver with the UART on pin 4, edge: enabling the THR
 * interrupt raises INTR, the handler reads IIR (INTR falls), writes the
 * next bytes (INTR rises again: the next interrupt), and turns ETBEI off
 * when its buffer is empty; a received byte raises INTR until read. */
static void test_uart_line_drives_pin_4_as_linux_uses_it(void **state)
{
	(void)state;
	struct vdev_uart u;
	vuart_init(&u, "g");
	set_rte(VUART_IRQ, 0x24);
#define LINE() vioapic_set_pin(&io, VUART_IRQ, vuart_intr(&u))
	assert_false(vuart_intr(&u));
	vuart_out(&u, VUART_BASE + 1, 0x02); /* IER: ETBEI */
	LINE();
	assert_int_equal(sent.n, 1);
	assert_int_equal(vuart_in(&u, VUART_BASE + 2) & 0x0F, 0x02); /* IIR: THRE */
	LINE();
	assert_false(vuart_intr(&u));
	vuart_out(&u, VUART_BASE, 'x');
	LINE();
	assert_int_equal(sent.n, 2);
	vuart_out(&u, VUART_BASE + 1, 0x00); /* done: IER off */
	LINE();
	assert_false(vuart_intr(&u));
	assert_int_equal(sent.n, 2);
	/* receive: ERBFI on, a byte arrives, the driver reads it */
	vuart_out(&u, VUART_BASE + 1, 0x01);
	LINE();
	assert_int_equal(sent.n, 2);
	assert_true(vuart_rx_push(&u, 'a'));
	LINE();
	assert_int_equal(sent.n, 3);
	assert_int_equal(vuart_in(&u, VUART_BASE + 2) & 0x0F, 0x04); /* IIR: data */
	assert_int_equal(vuart_in(&u, VUART_BASE), 'a');
	LINE();
	assert_false(vuart_intr(&u));
#undef LINE
}

/* The migration blob: entries, Remote IRR, asserted pins and the window
 * arrive; a blob no guest could make changes nothing. */
static void test_save_restore(void **state)
{
	(void)state;
	uint8_t blob[VIOAPIC_STATE_LEN], bad[VIOAPIC_STATE_LEN];
	struct vioapic b, before;
	const char *why = NULL;

	set_rte(4, 0x0100000000000824ull);
	set_rte(10, VIOAPIC_RTE_LEVEL | 0x40);
	vioapic_set_pin(&io, 10, true); /* Remote IRR set, line up */
	set_reg(0, 5u << 24);
	vioapic_mmio_write(&io, VIOAPIC_IOREGSEL, 0x19);
	assert_int_equal(vioapic_save(&io, blob, sizeof(blob) - 1), -ENOSPC);
	assert_int_equal(vioapic_save(&io, blob, sizeof(blob)), VIOAPIC_STATE_LEN);
	vioapic_reset(&b);
	assert_int_equal(vioapic_restore(&b, blob, sizeof(blob), &why), 0);
	assert_memory_equal(b.rte, io.rte, sizeof(io.rte));
	assert_int_equal(b.id, 5);
	assert_int_equal(b.regsel, 0x19);
	assert_int_equal(b.asserted, 1u << 10);
	assert_true(b.rte[10] & VIOAPIC_RTE_REMOTE_IRR);

	const struct {
		unsigned off;
		uint8_t val;
		const char *why;
	} cases[] = {
		{0, 2, "unknown I/O APIC state version"},
		{4, 0x10, "ID wider than 4 bits"},
		{9, 1, "IOREGSEL wider than 8 bits"},
		{15, 1, "a pin past 23 asserted"},
		{16 + 8 * 4 + 1, 0x10, "reserved redirection-entry bits set"}, /* delivery status */
		{16 + 8 * 4 + 4, 1, "reserved redirection-entry bits set"},    /* bit 32 */
		{16 + 8 * 4 + 1, 0x40, "Remote IRR on an edge-triggered entry"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(bad, blob, sizeof(bad));
		bad[cases[i].off] |= cases[i].val;
		vioapic_reset(&b);
		before = b;
		why = NULL;
		assert_int_equal(vioapic_restore(&b, bad, sizeof(bad), &why), -EINVAL);
		assert_string_equal(why, cases[i].why);
		assert_memory_equal(&b, &before, sizeof(b));
	}
	assert_int_equal(vioapic_restore(&b, blob, sizeof(blob) - 1, &why), -EINVAL);
	assert_string_equal(why, "wrong blob length");
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_reset_id_version_and_all_masked),
		T(test_id_writable_version_and_arbitration_read_only),
		T(test_rte_keeps_writable_bits_only),
		T(test_edge_sends_on_rising_edge_only_when_unmasked),
		T(test_message_carries_destination_and_modes),
		T(test_level_holds_remote_irr_until_eoi),
		T(test_level_masked_then_unmasked_sends),
		T(test_refused_level_message_does_not_wedge_the_pin),
		T(test_out_of_range_pin_is_ignored),
		T(test_uart_line_drives_pin_4_as_linux_uses_it),
		T(test_save_restore),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
