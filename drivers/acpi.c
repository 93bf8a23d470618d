#include <errno.h>
#include <string.h>
#include "arch/x86/asm.h"
#include "drivers/acpi.h"
#include "drivers/pci.h"
#include "kernel/kernel.h"
#include "kernel/log.h"
#include "kernel/time.h"

struct acpi_info acpi;

struct sdt_header {
	char sig[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem[6];
	char oem_table[8];
	uint32_t oem_rev;
	uint32_t creator, creator_rev;
} __attribute__((packed));

struct rsdp {
	char sig[8];
	uint8_t checksum;
	char oem[6];
	uint8_t revision;
	uint32_t rsdt;
	uint32_t length;
	uint64_t xsdt;
	uint8_t xchecksum;
	uint8_t reserved[3];
} __attribute__((packed));

#define MAX_TABLES 64
static struct sdt_header *tables[MAX_TABLES];

static bool checksum_ok(const void *p, size_t n)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += ((const uint8_t *)p)[i];
	return sum == 0;
}

static uint64_t find_rsdp_bios(void)
{
	/* ACPI 5.2.5.1: the first KiB of the EBDA, then 0xE0000-0xFFFFF. */
	uint64_t ebda = (uint64_t)(*(volatile uint16_t *)phys_ptr(0x40E)) << 4;
	uint64_t ranges[2][2] = {{ebda, ebda + 1024}, {0xE0000, 0x100000}};

	for (int r = 0; r < 2; r++)
		for (uint64_t a = ranges[r][0]; a && a < ranges[r][1]; a += 16)
			if (!memcmp((void *)a, "RSD PTR ", 8) && checksum_ok((void *)a, 20))
				return a;
	return 0;
}

static const struct sdt_header *find_table(const char *sig)
{
	for (unsigned i = 0; i < acpi.ntables; i++)
		if (!memcmp(tables[i]->sig, sig, 4))
			return tables[i];
	return NULL;
}

void acpi_list_tables(void (*fn)(const char sig[4], uint64_t, uint32_t, void *), void *ctx)
{
	for (unsigned i = 0; i < acpi.ntables; i++)
		fn(tables[i]->sig, (uint64_t)tables[i], tables[i]->length, ctx);
}

/* \_S5_ is a Name holding a Package whose first elements are SLP_TYPa and
 * SLP_TYPb (ACPI 7.4.2). Finding the name in the DSDT byte stream and
 * decoding the small integers is enough; we do not run AML. */
static void find_s5(const struct sdt_header *dsdt)
{
	const uint8_t *p = (const uint8_t *)dsdt + sizeof(*dsdt);
	const uint8_t *end = (const uint8_t *)dsdt + dsdt->length;

	for (; p + 12 < end; p++) {
		if (memcmp(p, "_S5_", 4) || p[4] != 0x12) /* PackageOp */
			continue;
		const uint8_t *q = p + 5;
		q += ((*q >> 6) & 3) + 1; /* PkgLength: lead byte plus 0-3 bytes */
		q++;                      /* NumElements */
		uint8_t v[2];
		for (int i = 0; i < 2; i++) {
			if (*q == 0x0A) { /* BytePrefix */
				v[i] = q[1];
				q += 2;
			} else { /* ZeroOp (0), OneOp (1), or a bare byte */
				v[i] = *q == 0xFF ? 0 : *q;
				q++;
			}
		}
		acpi.s5_found = true;
		acpi.s5_typa = v[0];
		acpi.s5_typb = v[1];
		return;
	}
}

static void parse_fadt(const struct sdt_header *h)
{
	const uint8_t *f = (const uint8_t *)h;
	uint32_t len = h->length;

	uint64_t dsdt = *(const uint32_t *)(f + 40);
	acpi.smi_cmd = *(const uint32_t *)(f + 48);
	acpi.acpi_enable = f[52];
	acpi.pm1a_cnt = (uint16_t) * (const uint32_t *)(f + 64);
	acpi.pm1b_cnt = (uint16_t) * (const uint32_t *)(f + 68);
	acpi.pm_timer = (uint16_t) * (const uint32_t *)(f + 76);
	if (len >= 129) {
		uint32_t flags = *(const uint32_t *)(f + 112);
		acpi.reset_supported = flags & (1u << 10); /* RESET_REG_SUP */
		acpi.reset_space = f[116];
		acpi.reset_addr = *(const uint64_t *)(f + 120);
		acpi.reset_value = f[128];
	}
	if (len >= 148 && *(const uint64_t *)(f + 140))
		dsdt = *(const uint64_t *)(f + 140); /* X_DSDT */
	const struct sdt_header *d = (const struct sdt_header *)dsdt;
	if (d && !memcmp(d->sig, "DSDT", 4) && checksum_ok(d, d->length))
		find_s5(d);
}

static void parse_madt(const struct sdt_header *h)
{
	const uint8_t *p = (const uint8_t *)h + 44, *end = (const uint8_t *)h + h->length;

	acpi.lapic_addr = *(const uint32_t *)((const uint8_t *)h + 36);
	for (; p + 2 <= end && p[1] >= 2; p += p[1]) {
		if (p[0] == 0 && (p[4] & 1)) /* processor local APIC, enabled */
			acpi.ncpus++;
		else if (p[0] == 9 && (*(const uint32_t *)(p + 12) & 1)) /* local x2APIC */
			acpi.ncpus++;
		else if (p[0] == 5) /* local APIC address override */
			acpi.lapic_addr = *(const uint64_t *)(p + 4);
	}
}

static void parse_mcfg(const struct sdt_header *h)
{
	const uint8_t *e = (const uint8_t *)h + 44;
	if (h->length < 44 + 16)
		return;
	acpi.ecam_base = *(const uint64_t *)e;
	acpi.ecam_bus_start = e[10];
	acpi.ecam_bus_end = e[11];
}

static void add_table(uint64_t addr)
{
	struct sdt_header *h = (struct sdt_header *)addr;
	if (!addr || acpi.ntables == MAX_TABLES)
		return;
	if (!checksum_ok(h, h->length)) {
		log_warn("acpi", "table %.4s at 0x%lx: bad checksum, ignored", h->sig, addr);
		return;
	}
	tables[acpi.ntables++] = h;
}

int acpi_init(uint64_t rsdp_addr)
{
	if (!rsdp_addr)
		rsdp_addr = find_rsdp_bios();
	const struct rsdp *r = (const struct rsdp *)rsdp_addr;
	if (!r || memcmp(r->sig, "RSD PTR ", 8) || !checksum_ok(r, 20)) {
		log_warn("acpi", "no valid RSDP: no ACPI reset/power-off, no ECAM");
		return -ENOENT;
	}
	acpi.present = true;
	acpi.revision = r->revision;
	memcpy(acpi.oem, r->oem, 6);

	bool use_xsdt = r->revision >= 2 && r->xsdt && checksum_ok(r, r->length);
	const struct sdt_header *root =
		(const struct sdt_header *)(use_xsdt ? r->xsdt : (uint64_t)r->rsdt);
	if (!checksum_ok(root, root->length)) {
		log_warn("acpi", "root table %.4s has a bad checksum", root->sig);
		return -EBADMSG;
	}
	unsigned n = (root->length - sizeof(*root)) / (use_xsdt ? 8 : 4);
	const uint8_t *ents = (const uint8_t *)(root + 1);
	for (unsigned i = 0; i < n; i++)
		add_table(use_xsdt ? ((const uint64_t *)ents)[i] : ((const uint32_t *)ents)[i]);

	const struct sdt_header *h;
	if ((h = find_table("FACP")))
		parse_fadt(h);
	if ((h = find_table("APIC")))
		parse_madt(h);
	if ((h = find_table("MCFG")))
		parse_mcfg(h);
	log_info("acpi", "%s %s: %u tables, %u CPUs, ECAM %s", use_xsdt ? "XSDT" : "RSDT", acpi.oem,
		 acpi.ntables, acpi.ncpus, acpi.ecam_base ? "yes" : "no");
	return 0;
}

int acpi_poweroff(void)
{
	if (!acpi.pm1a_cnt || !acpi.s5_found)
		return -ENOTSUP;
	/* Switch to ACPI mode first if the firmware left us in legacy mode
	 * (ACPI 4.8.2.1: SCI_EN is bit 0 of PM1_CNT). */
	if (!(inw(acpi.pm1a_cnt) & 1) && acpi.smi_cmd && acpi.acpi_enable) {
		outb(acpi.smi_cmd, acpi.acpi_enable);
		for (int i = 0; i < 300 && !(inw(acpi.pm1a_cnt) & 1); i++)
			udelay(10000);
	}
	outw(acpi.pm1a_cnt, (acpi.s5_typa << 10) | (1 << 13)); /* SLP_TYP, SLP_EN */
	if (acpi.pm1b_cnt)
		outw(acpi.pm1b_cnt, (acpi.s5_typb << 10) | (1 << 13));
	udelay(100000);
	return -EIO;
}

int acpi_reboot(void)
{
	if (acpi.reset_supported) {
		if (acpi.reset_space == 1)
			outb(acpi.reset_addr, acpi.reset_value);
		else if (acpi.reset_space == 0)
			*(volatile uint8_t *)acpi.reset_addr = acpi.reset_value;
		else if (acpi.reset_space == 2) /* addr: device << 32 | function << 16 | offset */
			pci_write8(0, (acpi.reset_addr >> 32) & 0x1f, (acpi.reset_addr >> 16) & 7,
				   acpi.reset_addr & 0xfff, acpi.reset_value);
		udelay(100000);
	}
	outb(0xCF9, 0x02); /* PCI reset control: hard reset */
	outb(0xCF9, 0x06);
	udelay(100000);
	for (int i = 0; i < 1000 && (inb(0x64) & 2); i++) /* keyboard controller pulse */
		udelay(100);
	outb(0x64, 0xFE);
	udelay(100000);
	return -EIO;
}
