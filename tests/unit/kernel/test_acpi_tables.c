/* kernel/vdev/acpi_tables.c: the tables a Linux guest finds at 0xE0000.
 * Every checksum, the links RSDP -> XSDT -> MADT/FADT -> DSDT, the MADT
 * entry, the FADT fields Linux reads for a hardware-reduced platform, and
 * the DSDT's AML, walked by a small parser for exactly the constructs the
 * builder emits (ACPI 6.4 chapter 20). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "kernel/vdev/acpi_tables.h"

#define BASE ACPI_TABLES_GPA

static uint8_t buf[ACPI_TABLES_MAX];
static int used;

static uint32_t rd32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s += *p++;
	return s;
}

/* A table by guest-physical address, checked to lie inside what was built. */
static const uint8_t *at(uint64_t gpa, size_t need)
{
	assert_true(gpa >= BASE && gpa + need <= BASE + (uint64_t)used);
	return buf + (gpa - BASE);
}

static const uint8_t *table(uint64_t gpa, const char *sig)
{
	const uint8_t *t = at(gpa, 36);
	assert_memory_equal(t, sig, 4);
	uint32_t len = rd32(t + 4);
	at(gpa, len);
	assert_int_equal(sum(t, len), 0);
	return t;
}

static int setup(void **state)
{
	(void)state;
	used = acpi_tables_build(buf, sizeof(buf), BASE);
	assert_true(used > 0);
	return 0;
}

static const uint8_t *xsdt_entry(unsigned i)
{
	const uint8_t *x = table(rd64(buf + 24), "XSDT");
	assert_int_equal(rd32(x + 4), 36 + 16);
	return table(rd64(x + 36 + 8 * i), i ? "FACP" : "APIC");
}

static void test_rsdp_both_checksums_and_xsdt_link(void **state)
{
	(void)state;
	assert_memory_equal(buf, "RSD PTR ", 8);
	assert_int_equal(buf[15], 2);
	assert_int_equal(sum(buf, 20), 0);
	assert_int_equal(rd32(buf + 20), 36);
	assert_int_equal(sum(buf, 36), 0);
	table(rd64(buf + 24), "XSDT");
}

static void test_madt_one_enabled_lapic_one_ioapic_no_8259(void **state)
{
	(void)state;
	const uint8_t *m = xsdt_entry(0);
	uint32_t len = rd32(m + 4);
	assert_int_equal(rd32(m + 36), 0xFEE00000u);
	assert_int_equal(rd32(m + 40), 0); /* no PCAT_COMPAT */
	unsigned lapics = 0, ioapics = 0;
	for (uint32_t off = 44; off < len;) {
		const uint8_t *e = m + off;
		assert_true(e[1] >= 2 && off + e[1] <= len);
		assert_true(e[0] <= 1); /* no overrides, no NMI sources */
		if (e[0] == 0) {
			assert_int_equal(e[1], 8);
			assert_int_equal(e[3], 0);	  /* APIC ID 0 */
			assert_int_equal(rd32(e + 4), 1); /* enabled */
			lapics++;
		} else {
			assert_int_equal(e[1], 12);
			assert_int_equal(e[2], 1);		   /* I/O APIC ID: not the LAPIC's */
			assert_int_equal(rd32(e + 4), 0xFEC00000u); /* its window */
			assert_int_equal(rd32(e + 8), 0);	   /* GSI base: pin n is IRQ n */
			ioapics++;
		}
		off += e[1];
	}
	assert_int_equal(lapics, 1);
	assert_int_equal(ioapics, 1);
}

static void gas_is_io8(const uint8_t *g, uint16_t port)
{
	assert_int_equal(g[0], 1); /* system I/O */
	assert_int_equal(g[1], 8);
	assert_int_equal(g[2], 0);
	assert_int_equal(g[3], 1);
	assert_int_equal(rd64(g + 4), port);
}

static void test_fadt_hardware_reduced_with_reset_and_sleep_registers(void **state)
{
	(void)state;
	const uint8_t *f = xsdt_entry(1);
	assert_int_equal(rd32(f + 4), 276);
	assert_int_equal(f[8], 6);
	uint32_t flags = rd32(f + 112);
	assert_true(flags & (1u << 20));	    /* HW_REDUCED_ACPI */
	assert_true(flags & (1u << 10));	    /* RESET_REG_SUP */
	assert_int_equal(rd32(f + 46) & 0xFFFF, 0); /* SCI_INT unused */
	assert_int_equal(rd32(f + 56), 0);	    /* no PM1a event block */
	gas_is_io8(f + 116, 0xCF9);
	assert_int_equal(f[128], 0x06);
	gas_is_io8(f + 244, 0x600);
	gas_is_io8(f + 256, 0x601);
	assert_memory_equal(f + 268, "TERN", 4);
	assert_int_equal(f[108], 0x32);		       /* CENTURY: the CMOS clock's century byte */
	assert_int_equal(rd64(f + 140), rd32(f + 40)); /* X_DSDT == DSDT */
	table(rd64(f + 140), "DSDT");
}

/* ---- a walker for the AML the builder emits --------------------------- */
struct walk {
	const uint8_t *p, *end;
	unsigned devices, crs, hid_eisa, hid_str, s5;
	char last_hid_str[16];
	uint32_t eisa[4]; /* each EISAID _HID, in order */
	uint16_t io_ports[4];
	unsigned nio;
	uint16_t irq_masks[4];	/* IRQ descriptors' masks, in order */
	unsigned irq_after_io[4]; /* each one's device: I/O descriptors seen so far */
	unsigned nirq;
};

/* PkgLength (20.2.4): returns the object's end. */
static const uint8_t *pkglen(struct walk *w)
{
	const uint8_t *start = w->p;
	uint8_t b0 = *w->p++;
	unsigned follow = b0 >> 6;
	uint32_t len = follow ? b0 & 0xF : b0 & 0x3F;
	assert_true(follow <= 3);
	if (follow == 0)
		assert_true(b0 < 64);
	for (unsigned i = 0; i < follow; i++)
		len |= (uint32_t)*w->p++ << (4 + 8 * i);
	assert_true(start + len <= w->end);
	return start + len;
}

static void nameseg(struct walk *w, char out[5])
{
	for (int i = 0; i < 4; i++) {
		char c = (char)w->p[i];
		assert_true((c >= 'A' && c <= 'Z') || c == '_' || (i && c >= '0' && c <= '9'));
		out[i] = c;
	}
	out[4] = 0;
	w->p += 4;
}

/* ResourceTemplate in a Buffer: small items, End tag, checksum 0 total. */
static void resource_template(struct walk *w, const uint8_t *rt, uint32_t n)
{
	uint32_t off = 0;
	for (;;) {
		assert_true(off < n);
		uint8_t tag = rt[off];
		assert_false(tag & 0x80); /* only small items */
		unsigned len = tag & 7, type = tag >> 3;
		assert_true(off + 1 + len <= n);
		if (type == 0x0F) { /* End tag */
			assert_int_equal(len, 1);
			assert_int_equal(off + 2, n);
			assert_int_equal(sum(rt, n), 0);
			return;
		}
		if (type == 0x04) { /* IRQ descriptor without information byte */
			assert_int_equal(len, 2);
			assert_true(w->nirq < 4);
			w->irq_masks[w->nirq] = (uint16_t)(rt[off + 1] | rt[off + 2] << 8);
			w->irq_after_io[w->nirq++] = w->nio;
			off += 1 + len;
			continue;
		}
		assert_int_equal(type, 0x08); /* I/O port descriptor */
		assert_int_equal(len, 7);
		const uint8_t *d = rt + off + 1;
		assert_int_equal(d[0], 1);			      /* Decode16 */
		assert_int_equal(d[1] | d[2] << 8, d[3] | d[4] << 8); /* fixed range */
		assert_true(w->nio < 4);
		w->io_ports[w->nio++] = (uint16_t)(d[1] | d[2] << 8);
		off += 1 + len;
	}
}

static void data_object(struct walk *w, const char *name)
{
	uint8_t op = *w->p++;
	switch (op) {
	case 0x01: /* OneOp */
		break;
	case 0x0A: /* ByteConst */
		w->p++;
		break;
	case 0x0C: /* DWordConst: EISAID */
		if (!strcmp(name, "_HID")) {
			assert_true(w->hid_eisa < 4);
			w->eisa[w->hid_eisa++] = rd32(w->p);
		}
		w->p += 4;
		break;
	case 0x0D: { /* String */
		size_t n = strnlen((const char *)w->p, (size_t)(w->end - w->p));
		assert_true(w->p + n < w->end && n < sizeof(w->last_hid_str));
		memcpy(w->last_hid_str, w->p, n + 1);
		w->hid_str += !strcmp(name, "_HID");
		w->p += n + 1;
		break;
	}
	case 0x11: { /* Buffer */
		const uint8_t *end = pkglen(w);
		assert_int_equal(*w->p++, 0x0A);
		uint8_t n = *w->p++;
		assert_true(w->p + n == end);
		resource_template(w, w->p, n);
		w->crs += !strcmp(name, "_CRS");
		w->p = end;
		break;
	}
	case 0x12: { /* Package */
		const uint8_t *end = pkglen(w);
		uint8_t n = *w->p++;
		for (uint8_t i = 0; i < n; i++) {
			assert_int_equal(*w->p++, 0x0A);
			if (!strcmp(name, "_S5_"))
				assert_int_equal(*w->p, 5);
			w->p++;
		}
		assert_ptr_equal(w->p, end);
		w->s5 += !strcmp(name, "_S5_") && n == 2;
		break;
	}
	default:
		fail_msg("unexpected data object opcode 0x%02x", op);
	}
}

static void term_list(struct walk *w, const uint8_t *end)
{
	char name[5];
	while (w->p < end) {
		uint8_t op = *w->p++;
		if (op == 0x08) { /* NameOp */
			nameseg(w, name);
			data_object(w, name);
		} else if (op == 0x10) { /* ScopeOp */
			const uint8_t *e = pkglen(w);
			assert_int_equal(*w->p++, '\\');
			nameseg(w, name);
			assert_string_equal(name, "_SB_");
			term_list(w, e);
		} else if (op == 0x5B && *w->p == 0x82) { /* DeviceOp */
			w->p++;
			const uint8_t *e = pkglen(w);
			nameseg(w, name);
			w->devices++;
			term_list(w, e);
		} else {
			fail_msg("unexpected opcode 0x%02x", op);
		}
		assert_true(w->p <= end);
	}
	assert_ptr_equal(w->p, end);
}

static void test_dsdt_aml_parses_com1_with_irq4_rtc_pvpanic_and_s5(void **state)
{
	(void)state;
	const uint8_t *f = xsdt_entry(1);
	const uint8_t *d = table(rd64(f + 140), "DSDT");
	struct walk w = {.p = d + 36, .end = d + rd32(d + 4)};

	term_list(&w, w.end);
	assert_int_equal(w.devices, 3);
	assert_int_equal(w.crs, 3);
	assert_int_equal(w.hid_eisa, 2);
	assert_int_equal(w.eisa[0], 0x0105D041u); /* EISAID("PNP0501") */
	assert_int_equal(w.eisa[1], 0x000BD041u); /* EISAID("PNP0B00"): what rtc_cmos binds to */
	assert_int_equal(w.hid_str, 1);
	assert_string_equal(w.last_hid_str, "QEMU0001");
	assert_int_equal(w.nio, 3);
	assert_int_equal(w.io_ports[0], 0x3F8);
	assert_int_equal(w.io_ports[1], 0x70);
	assert_int_equal(w.io_ports[2], 0x505);
	/* one IRQ resource: COM1's IRQ 4, after its I/O range */
	assert_int_equal(w.nirq, 1);
	assert_int_equal(w.irq_masks[0], 1u << 4);
	assert_int_equal(w.irq_after_io[0], 1);
	assert_int_equal(w.s5, 1);
}

/* The reset vector is "mov dx, imm16; mov al, imm8; out dx, al" with the
 * port and value the FADT's RESET_REG and RESET_VALUE name, then a halt
 * loop, in 16 bytes (F000:FFF0 up to the 1 MiB line). */
static void test_reset_vector_writes_the_fadt_reset_register(void **state)
{
	(void)state;
	const uint8_t *f = xsdt_entry(1);
	uint8_t c[ACPI_RESET_VECTOR_LEN];
	memset(c, 0xAA, sizeof(c));
	acpi_reset_vector(c);
	assert_int_equal(ACPI_RESET_VECTOR_GPA + ACPI_RESET_VECTOR_LEN, 0x100000);
	assert_int_equal(c[0], 0xBA); /* mov dx, imm16 */
	assert_int_equal(c[1] | c[2] << 8, rd64(f + 116 + 4));
	assert_int_equal(c[3], 0xB0); /* mov al, imm8 */
	assert_int_equal(c[4], f[128]);
	assert_int_equal(c[5], 0xEE); /* out dx, al */
	assert_int_equal(c[6], 0xFA); /* cli */
	assert_int_equal(c[7], 0xF4); /* hlt */
	assert_int_equal(c[8], 0xEB); /* jmp rel8 ... */
	assert_int_equal(8 + 2 + (int8_t)c[9], 7); /* ... back to the hlt */
	for (unsigned i = 10; i < sizeof(c); i++)
		assert_int_equal(c[i], 0xF4);
}

static void test_tables_fit_below_the_bios_area_end(void **state)
{
	(void)state;
	/* The E820 hole [0x9FC00, 0x100000) must cover them. */
	assert_true(BASE >= 0x9FC00 && BASE + (uint64_t)used <= 0x100000);
	assert_true((size_t)used <= ACPI_TABLES_MAX);
}

static void test_too_small_buffer_is_refused(void **state)
{
	(void)state;
	static uint8_t small[256];
	assert_true(acpi_tables_build(small, sizeof(small), BASE) < 0);
	static uint8_t almost[0x240];
	assert_true(acpi_tables_build(almost, sizeof(almost), BASE) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_rsdp_both_checksums_and_xsdt_link, setup),
		cmocka_unit_test_setup(test_madt_one_enabled_lapic_one_ioapic_no_8259, setup),
		cmocka_unit_test_setup(test_fadt_hardware_reduced_with_reset_and_sleep_registers,
				       setup),
		cmocka_unit_test_setup(test_dsdt_aml_parses_com1_with_irq4_rtc_pvpanic_and_s5, setup),
		cmocka_unit_test_setup(test_reset_vector_writes_the_fadt_reset_register, setup),
		cmocka_unit_test_setup(test_tables_fit_below_the_bios_area_end, setup),
		cmocka_unit_test(test_too_small_buffer_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
