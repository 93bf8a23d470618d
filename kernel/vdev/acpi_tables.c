/* See acpi_tables.h. Section numbers are ACPI 6.4's. Learned from the
 * layouts Firecracker (src/vmm/src/acpi) and Cloud Hypervisor write for a
 * hardware-reduced guest; the bytes here are assembled from the spec. */
#include <errno.h>
#include <string.h>
#include "kernel/vdev/acpi_tables.h"
#include "kernel/vdev/uart.h"
#include "kernel/vdev/vioapic.h"
#include "migrate/le.h"

#define SDT_HDR 36
#define RSDP_LEN 36
#define FADT_LEN 276 /* revision 6 (5.2.9, Table 5.9) */

/* FADT flags (5.2.9, Table 5.10). */
#define FADT_RESET_REG_SUP (1u << 10)
#define FADT_HW_REDUCED_ACPI (1u << 20)
/* IA-PC boot architecture flags (5.2.9.3): no VGA; keyboard controller
 * present (its 0xFE reset is one of the two ways a guest reboots). */
#define BOOT_ARCH_8042 (1u << 1)
#define BOOT_ARCH_VGA_NOT_PRESENT (1u << 2)

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s += *p++;
	return s;
}

/* System description table header (5.2.6); checksum set by sdt_close. */
static void sdt_open(uint8_t *t, const char *sig, uint8_t rev)
{
	memcpy(t, sig, 4);
	t[8] = rev;
	memcpy(t + 10, "TERN  ", 6);   /* OEMID */
	memcpy(t + 16, "TERNVM  ", 8); /* OEM table ID */
	le32_put(t + 24, 1);	       /* OEM revision */
	memcpy(t + 28, "TERN", 4);     /* creator ID */
	le32_put(t + 32, 1);	       /* creator revision */
}

static void sdt_close(uint8_t *t, uint32_t len)
{
	le32_put(t + 4, len);
	t[9] = 0;
	t[9] = (uint8_t)-sum(t, len);
}

/* Generic Address Structure (5.2.3.2): an 8-bit register in system I/O. */
static void gas_io8(uint8_t *g, uint16_t port)
{
	g[0] = 1; /* address space: system I/O */
	g[1] = 8; /* register bit width */
	g[2] = 0; /* bit offset */
	g[3] = 1; /* access size: byte */
	le64_put(g + 4, port);
}

/* ---- DSDT: AML (chapter 20) assembled by hand ----------------------------- */
struct aml {
	uint8_t *p;
	size_t len, cap;
	size_t open[8]; /* where each open PkgLength starts */
	int depth;
	int err;
};

static void emit(struct aml *a, const void *bytes, size_t n)
{
	if (a->len + n > a->cap) {
		a->err = -E2BIG;
		return;
	}
	memcpy(a->p + a->len, bytes, n);
	a->len += n;
}

static void emit1(struct aml *a, uint8_t b)
{
	emit(a, &b, 1);
}

/* PkgLength (20.2.4) counts itself and what follows up to the end of the
 * object: opened with one byte reserved, widened to two on close when the
 * length reaches 64 (enough for this DSDT; 4095 is the two-byte limit). */
static void pkg_open(struct aml *a)
{
	if (a->depth == 8) {
		a->err = -E2BIG;
		return;
	}
	a->open[a->depth++] = a->len;
	emit1(a, 0);
}

static void pkg_close(struct aml *a)
{
	if (a->err || !a->depth)
		return;
	size_t at = a->open[--a->depth], n = a->len - at; /* body + the one reserved byte */
	if (n < 64) {
		a->p[at] = (uint8_t)n;
		return;
	}
	n++; /* a second length byte */
	if (n > 4095 || a->len + 1 > a->cap) {
		a->err = -E2BIG;
		return;
	}
	memmove(a->p + at + 2, a->p + at + 1, a->len - at - 1);
	a->len++;
	a->p[at] = 0x40 | (n & 0xF); /* bits 7:6 = 1 following byte, 3:0 low nibble */
	a->p[at + 1] = (uint8_t)(n >> 4);
}

/* NameOp NameSeg (20.2.5.1 DefName). */
static void aml_name(struct aml *a, const char *seg)
{
	emit1(a, 0x08);
	emit(a, seg, 4);
}

/* EISAID("PNPxxxx") (19.6.35): three 5-bit letters and four hex digits,
 * stored big-endian as a DWordConst (prefix 0x0C). */
static void aml_eisaid(struct aml *a, const char *id)
{
	uint16_t v = (uint16_t)(((id[0] - 0x40) << 10) | ((id[1] - 0x40) << 5) | (id[2] - 0x40));
	unsigned prod = 0;
	for (int i = 3; i < 7; i++)
		prod = prod << 4 | (unsigned)(id[i] <= '9' ? id[i] - '0' : id[i] - 'A' + 10);
	uint8_t b[5] = {0x0C, v >> 8, v & 0xFF, prod >> 8, prod & 0xFF};
	emit(a, b, 5);
}

/* String (20.2.3): StringPrefix 0x0D, ASCII, NUL. */
static void aml_string(struct aml *a, const char *s)
{
	emit1(a, 0x0D);
	emit(a, s, strlen(s) + 1);
}

/* Name(_CRS, ResourceTemplate() { IO(Decode16, port, port, 1, n)
 * [, IRQNoFlags() {irq}] }): BufferOp (0x11) PkgLength BufferSize
 * (ByteConst) then the resource data (6.4.2.5 I/O port descriptor, 6.4.2.1
 * IRQ descriptor without its information byte: edge, active high, as ISA
 * IRQs are; 6.4.2.9 End tag with its checksum). irq < 0: none. */
static void aml_crs_io(struct aml *a, uint16_t port, uint8_t n, int irq)
{
	uint8_t rd[13] = {
		0x47,			/* small item: I/O port descriptor, 7 bytes */
		0x01,			/* information: decodes 16 address bits */
		port & 0xFF, port >> 8, /* range minimum base */
		port & 0xFF, port >> 8, /* range maximum base */
		0x01,			/* base alignment */
		n,			/* range length */
	};
	size_t len = 8;

	if (irq >= 0) {
		rd[len++] = 0x22; /* small item: IRQ descriptor, 2 bytes */
		rd[len++] = (uint8_t)(1u << irq);
		rd[len++] = (uint8_t)((1u << irq) >> 8);
	}
	rd[len++] = 0x79; /* small item: End tag, 1 byte */
	rd[len] = (uint8_t)-sum(rd, len); /* the whole template sums to 0 */
	len++;
	aml_name(a, "_CRS");
	emit1(a, 0x11); /* BufferOp */
	pkg_open(a);
	emit1(a, 0x0A); /* BufferSize: ByteConst */
	emit1(a, (uint8_t)len);
	emit(a, rd, len);
	pkg_close(a);
}

/* Device (ExtOpPrefix 0x5B, DeviceOp 0x82, PkgLength, NameSeg, objects). */
static void device_open(struct aml *a, const char *seg)
{
	emit1(a, 0x5B);
	emit1(a, 0x82);
	pkg_open(a);
	emit(a, seg, 4);
}

static int dsdt_body(uint8_t *p, size_t cap)
{
	struct aml a = {.p = p, .cap = cap};

	/* Scope (\_SB) { ... }: ScopeOp 0x10, PkgLength, RootChar '\' + NameSeg. */
	emit1(&a, 0x10);
	pkg_open(&a);
	emit(&a, "\\_SB_", 5);

	/* Device (COM1): the 16550 at 0x3F8 on ISA IRQ 4, which the MADT's
	 * I/O APIC takes on pin 4 (no override). Without an IRQ here Linux's
	 * 8250_pnp registers the port with irq 0 and polls it from a timer,
	 * about 90 wake-ups a second on an idle guest. */
	device_open(&a, "COM1");
	aml_name(&a, "_HID");
	aml_eisaid(&a, "PNP0501");
	aml_name(&a, "_UID");
	emit1(&a, 0x01); /* OneOp */
	aml_crs_io(&a, 0x3F8, 8, VUART_IRQ);
	pkg_close(&a);

	/* Device (RTC): the MC146818 CMOS clock at 0x70-0x71 (kernel/vdev/
	 * rtc.c). Linux's rtc_cmos binds to PNP0B00 through PNP-ACPI; with no
	 * such device it registers a fallback platform device with IRQ 8,
	 * which has no line on a hardware-reduced machine, and the probe
	 * fails (-EINVAL). No IRQ resource here: cmos_pnp_probe then takes
	 * irq 0 when there is no legacy PIC and runs without alarm
	 * interrupts, as the model has none. */
	device_open(&a, "RTC_");
	aml_name(&a, "_HID");
	aml_eisaid(&a, "PNP0B00");
	aml_crs_io(&a, ACPI_RTC_PORT, 2, -1);
	pkg_close(&a);

	/* Device (PEVT): pvpanic, one I/O byte at 0x505 (QEMU's _HID, which
	 * Linux's pvpanic-mmio driver matches). */
	device_open(&a, "PEVT");
	aml_name(&a, "_HID");
	aml_string(&a, "QEMU0001");
	aml_crs_io(&a, ACPI_PVPANIC_PORT, 1, -1);
	pkg_close(&a);

	pkg_close(&a); /* \_SB */

	/* Name (_S5, Package () { 5, 5 }) at the root: PackageOp 0x12,
	 * PkgLength, NumElements 2, two ByteConst (0x0A) integers. ACPICA's
	 * acpi_get_sleep_type_data takes elements 0 and 1 as SLP_TYPa/b;
	 * poweroff then writes (5 << 2) | SLP_EN to SLEEP_CONTROL_REG. */
	aml_name(&a, "_S5_");
	emit1(&a, 0x12);
	pkg_open(&a);
	emit1(&a, 2);
	emit1(&a, 0x0A);
	emit1(&a, 5);
	emit1(&a, 0x0A);
	emit1(&a, 5);
	pkg_close(&a);

	if (!a.err && a.depth)
		a.err = -EINVAL;
	return a.err ? a.err : (int)a.len;
}

static size_t align16(size_t v)
{
	return (v + 15) & ~(size_t)15;
}

int acpi_tables_build(uint8_t *buf, size_t len, uint32_t base)
{
	const size_t xsdt = 0x40, madt = 0x80;
	const size_t madt_len = SDT_HDR + 8 + 8 + 12;
	const size_t fadt = align16(madt + madt_len), dsdt = align16(fadt + FADT_LEN);

	if (len < dsdt + SDT_HDR)
		return -E2BIG;
	memset(buf, 0, len);

	/* DSDT (5.2.11.1), revision 2: integers are 64 bits. */
	uint8_t *t = buf + dsdt;
	int body = dsdt_body(t + SDT_HDR, len - dsdt - SDT_HDR);
	if (body < 0)
		return body;
	sdt_open(t, "DSDT", 2);
	sdt_close(t, SDT_HDR + (uint32_t)body);
	size_t end = dsdt + SDT_HDR + (size_t)body;

	/* MADT (5.2.12): the LAPIC address, flags 0 (no PC-AT 8259 pair),
	 * one Processor Local APIC (5.2.12.2) for vCPU 0, enabled, and one
	 * I/O APIC (5.2.12.3) whose GSIs 0-23 are the ISA IRQs one to one. */
	t = buf + madt;
	sdt_open(t, "APIC", 5);
	le32_put(t + 36, ACPI_LAPIC_ADDR);
	le32_put(t + 40, 0);
	uint8_t *e = t + 44;
	e[0] = 0;	 /* type: Processor Local APIC */
	e[1] = 8;	 /* length */
	e[2] = 0;	 /* ACPI processor UID */
	e[3] = 0;	 /* APIC ID */
	le32_put(e + 4, 1); /* flags: enabled */
	e += 8;
	e[0] = 1;  /* type: I/O APIC */
	e[1] = 12; /* length */
	e[2] = VIOAPIC_ID;
	le32_put(e + 4, (uint32_t)VIOAPIC_BASE);
	le32_put(e + 8, 0); /* global system interrupt base */
	sdt_close(t, (uint32_t)madt_len);

	/* FADT revision 6 (5.2.9), hardware-reduced (4.1): no PM1/GPE
	 * blocks, no SCI, no SMI; reset and sleep through the registers
	 * below. */
	t = buf + fadt;
	sdt_open(t, "FACP", 6);
	le32_put(t + 40, base + (uint32_t)dsdt);			    /* DSDT (32-bit) */
	t[108] = ACPI_RTC_CENTURY;					    /* CENTURY (CMOS index) */
	le16_put(t + 109, BOOT_ARCH_8042 | BOOT_ARCH_VGA_NOT_PRESENT); /* IAPC_BOOT_ARCH */
	le32_put(t + 112, FADT_HW_REDUCED_ACPI | FADT_RESET_REG_SUP);  /* Flags */
	gas_io8(t + 116, ACPI_RESET_PORT);			    /* RESET_REG */
	t[128] = ACPI_RESET_VALUE;				    /* RESET_VALUE */
	t[131] = 0;						    /* FADT minor version: 6.0 */
	le64_put(t + 140, base + dsdt);				    /* X_DSDT */
	gas_io8(t + 244, ACPI_SLEEP_CONTROL_PORT);		    /* SLEEP_CONTROL_REG */
	gas_io8(t + 256, ACPI_SLEEP_STATUS_PORT);		    /* SLEEP_STATUS_REG */
	memcpy(t + 268, "TERN\0\0\0\0", 8);			    /* hypervisor vendor identity */
	sdt_close(t, FADT_LEN);

	/* XSDT (5.2.8): 64-bit pointers to the MADT and the FADT (the FADT
	 * points at the DSDT). */
	t = buf + xsdt;
	sdt_open(t, "XSDT", 1);
	le64_put(t + 36, base + madt);
	le64_put(t + 44, base + fadt);
	sdt_close(t, SDT_HDR + 16);

	/* RSDP (5.2.5.3), revision 2: the first checksum covers the ACPI 1.0
	 * part (20 bytes), the extended one all 36. No RSDT: an ACPI 2.0+
	 * OS uses the XSDT. */
	t = buf;
	memcpy(t, "RSD PTR ", 8);
	memcpy(t + 9, "TERN  ", 6);
	t[15] = 2;
	le32_put(t + 16, 0);
	le32_put(t + 20, RSDP_LEN);
	le64_put(t + 24, base + xsdt);
	t[8] = (uint8_t)-sum(t, 20);
	t[32] = (uint8_t)-sum(t, RSDP_LEN);
	return (int)end;
}

void acpi_reset_vector(uint8_t code[ACPI_RESET_VECTOR_LEN])
{
	/* 16-bit code; the OUT ends the guest's run (kernel/vdev/power.c),
	 * the HLT loop only catches a machine that ignored it. */
	const uint8_t stub[] = {
		0xBA, ACPI_RESET_PORT & 0xFF, ACPI_RESET_PORT >> 8, /* mov dx, RESET_REG */
		0xB0, ACPI_RESET_VALUE,				     /* mov al, RESET_VALUE */
		0xEE,						     /* out dx, al */
		0xFA,						     /* cli */
		0xF4,						     /* hlt */
		0xEB, 0xFD,					     /* jmp to the hlt */
	};
	memset(code, 0xF4, ACPI_RESET_VECTOR_LEN);
	memcpy(code, stub, sizeof(stub));
}
