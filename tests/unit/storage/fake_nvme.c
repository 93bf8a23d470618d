/* The fake NVMe controller (fake_nvme.h) and the driver's stubs. It
 * checks what the driver hands it as a controller would (queue sizes, PRP
 * alignment, PRP list bounds) and fails the test when a rule is broken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/paging.h"
#include "drivers/nvme_regs.h"
#include "drivers/pci.h"
#include "kernel/mm/frame.h"
#include "kernel/time.h"
#include "tests/unit/storage/fake_nvme.h"

struct fake_nvme fake;
uint64_t fake_clock_ns;

/* --- stubs: the PCI bus holds the fake controller only ---------------------- */
struct pci_dev pci_devs[PCI_MAX_DEVS];
unsigned pci_ndevs;
static uint16_t pci_command;

uint64_t pci_bar(const struct pci_dev *d, int bar, bool *is_io)
{
	(void)d;
	assert_int_equal(bar, 0);
	*is_io = false;
	return (uint64_t)(uintptr_t)fake.bar;
}

uint16_t pci_read16(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off)
{
	(void)bus, (void)dev, (void)fn;
	assert_int_equal(off, PCI_COMMAND);
	return pci_command;
}

void pci_write16(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off, uint16_t v)
{
	(void)bus, (void)dev, (void)fn;
	assert_int_equal(off, PCI_COMMAND);
	pci_command = v;
}

int paging_map_mmio(uint64_t pa, uint64_t size)
{
	assert_int_equal(pa, (uint64_t)(uintptr_t)fake.bar);
	assert_true(size <= FAKE_NVME_BAR_BYTES);
	return 0;
}

uint64_t frame_alloc(size_t count, size_t align)
{
	assert_int_equal(align, 1);
	return (uint64_t)(uintptr_t)aligned_alloc(FRAME_SIZE, count * FRAME_SIZE);
}

void frame_free(uint64_t pa, size_t count)
{
	(void)count;
	free((void *)(uintptr_t)pa);
}

/* --- the controller -------------------------------------------------------- */

static uint32_t reg32(uint32_t off)
{
	return *(volatile uint32_t *)(fake.bar + off);
}

static void set_reg32(uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(fake.bar + off) = v;
}

static uint64_t reg64(uint32_t off)
{
	return reg32(off) | (uint64_t)reg32(off + 4) << 32;
}

static void post(int qid, const struct nvme_sqe *c, uint16_t status, uint32_t dw0)
{
	struct nvme_cqe *q = (struct nvme_cqe *)(uintptr_t)fake.cq[qid].base;
	struct nvme_cqe *e = &q[fake.cq[qid].tail];

	e->dw0 = dw0;
	e->dw1 = 0;
	e->sqhd = fake.sq[qid].head;
	e->sqid = (uint16_t)qid;
	e->cid = c->cid;
	e->status = (uint16_t)(status << 1 | fake.cq[qid].phase);
	if (++fake.cq[qid].tail == fake.cq[qid].size) {
		fake.cq[qid].tail = 0;
		fake.cq[qid].phase ^= 1;
	}
}

/* NVMe 1.4 4.3: PRP1 may carry an offset (dword aligned), every later
 * entry is page aligned; past two pages PRP2 points at a list that stays
 * inside its page (the driver never chains lists). */
static void move_data(const struct nvme_sqe *c, uint8_t *disk, uint32_t bytes, bool to_host)
{
	uint64_t addr[64];
	unsigned n = 0;
	uint32_t first = 4096 - (uint32_t)(c->prp1 & 4095);

	assert_int_equal(c->prp1 & 3, 0);
	addr[n++] = c->prp1;
	if (bytes > first) {
		uint32_t rest = bytes - first, pages = (rest + 4095) / 4096;
		if (pages == 1) {
			addr[n++] = c->prp2;
		} else {
			const uint64_t *list = (const uint64_t *)(uintptr_t)c->prp2;
			assert_int_equal(c->prp2 & 7, 0);
			assert_true((c->prp2 & 4095) + pages * 8 <= 4096);
			assert_true(pages < 64);
			for (uint32_t i = 0; i < pages; i++)
				addr[n++] = list[i];
			fake.prp_lists++;
			if (pages > fake.max_prp_entries)
				fake.max_prp_entries = pages;
		}
	}
	for (unsigned i = 0; i < n && bytes; i++) {
		uint32_t len = i ? 4096 : first;
		if (i)
			assert_int_equal(addr[i] & 4095, 0);
		if (len > bytes)
			len = bytes;
		uint8_t *host = (uint8_t *)(uintptr_t)addr[i];
		if (to_host)
			memcpy(host, disk, len);
		else
			memcpy(disk, host, len);
		disk += len;
		bytes -= len;
	}
}

static void identify(const struct nvme_sqe *c)
{
	uint8_t *d = (uint8_t *)(uintptr_t)c->prp1;

	assert_int_equal(c->prp1 & 4095, 0);
	memset(d, 0, 4096);
	if (c->cdw10 == NVME_ID_CNS_CTRL) {
		memcpy(d + NVME_IDC_SN, "FAKE0001            ", 20);
		memcpy(d + NVME_IDC_MN, "Tern fake NVMe                          ", 40);
		memcpy(d + NVME_IDC_FR, "1.0     ", 8);
		d[NVME_IDC_MDTS] = fake.mdts;
		d[NVME_IDC_SQES] = 0x66;
		d[NVME_IDC_CQES] = 0x44;
		d[NVME_IDC_NN] = 1;
		d[NVME_IDC_ONCS] = fake.no_write_zeroes ? 0 : NVME_ONCS_WRITE_ZEROES;
	} else {
		assert_int_equal(c->cdw10, NVME_ID_CNS_NS);
		assert_int_equal(c->nsid, 1);
		for (int i = 0; i < 8; i++)
			d[NVME_IDNS_NSZE + i] = (uint8_t)(fake.blocks >> (8 * i));
		d[NVME_IDNS_NLBAF] = 0;
		d[NVME_IDNS_FLBAS] = 0;
		uint32_t lbaf = fake.lbads << 16 | fake.ms;
		memcpy(d + NVME_IDNS_LBAF, &lbaf, 4);
	}
}

static void admin(const struct nvme_sqe *c)
{
	uint16_t qid = (uint16_t)c->cdw10, size = (uint16_t)((c->cdw10 >> 16) + 1);

	switch (c->opcode) {
	case NVME_ADM_IDENTIFY:
		identify(c);
		break;
	case NVME_ADM_SET_FEATURES:
		assert_int_equal(c->cdw10, NVME_FEAT_NUM_QUEUES);
		break;
	case NVME_ADM_CREATE_CQ:
		assert_int_equal(qid, 1);
		assert_false(fake.cq[1].live);
		assert_true(size >= 2 && size <= NVME_CAP_MQES(fake.cap) + 1);
		assert_int_equal(c->cdw11 & 3, NVME_QUEUE_PC); /* contiguous, no interrupts */
		fake.cq[1].base = c->prp1;
		fake.cq[1].size = size;
		fake.cq[1].tail = 0;
		fake.cq[1].phase = 1;
		fake.cq[1].live = true;
		break;
	case NVME_ADM_CREATE_SQ:
		assert_int_equal(qid, 1);
		assert_true(fake.cq[1].live); /* 5.4: its CQ exists first */
		assert_int_equal(c->cdw11 >> 16, 1);
		fake.sq[1].base = c->prp1;
		fake.sq[1].size = size;
		fake.sq[1].head = 0;
		fake.sq[1].live = true;
		break;
	default:
		post(0, c, 0x01, 0); /* invalid opcode */
		return;
	}
	post(0, c, 0, 0);
}

static void io(const struct nvme_sqe *c)
{
	uint32_t bs = 1u << fake.lbads;

	fake.io_commands++;
	if (fake.swallow_io) {
		fake.swallow_io = false;
		return;
	}
	if (fake.fatal_io) {
		fake.fatal_io = false;
		set_reg32(NVME_CSTS, reg32(NVME_CSTS) | NVME_CSTS_CFS);
		return;
	}
	if (fake.status_io) {
		post(1, c, fake.status_io, 0);
		fake.status_io = 0;
		return;
	}
	assert_int_equal(c->nsid, 1);
	if (c->opcode == NVME_CMD_FLUSH) {
		post(1, c, 0, 0);
		return;
	}
	uint64_t lba = c->cdw10 | (uint64_t)c->cdw11 << 32;
	uint32_t nlb = (c->cdw12 & 0xffff) + 1;
	fake.last_nlb = nlb;
	uint32_t max = fake.mdts && c->opcode != NVME_CMD_WRITE_ZEROES ? (4096u << fake.mdts) / bs : ~0u;
	assert_true(nlb <= max);
	assert_true(lba + nlb <= fake.blocks);
	if (c->opcode == NVME_CMD_WRITE_ZEROES) {
		assert_false(fake.no_write_zeroes);
		assert_int_equal(c->prp1, 0); /* no data */
		memset(fake.disk + lba * bs, 0, (size_t)nlb * bs);
		fake.write_zeroes++;
		post(1, c, 0, 0);
		return;
	}
	move_data(c, fake.disk + lba * bs, nlb * bs, c->opcode == NVME_CMD_READ);
	post(1, c, 0, 0);
}

/* 3.1.5, 7.6.1, 7.3.1: CC.EN 0 -> 1 brings the admin queue up from
 * AQA/ASQ/ACQ; 1 -> 0 is a controller reset that drops every queue. */
static void follow_cc(void)
{
	uint32_t cc = reg32(NVME_CC);
	bool en = cc & NVME_CC_EN;

	if (en == fake.enabled)
		return;
	fake.enabled = en;
	memset(fake.sq, 0, sizeof(fake.sq));
	memset(fake.cq, 0, sizeof(fake.cq));
	if (!en) {
		/* The reset forgets the queues' doorbell values too. */
		fake.disables++;
		set_reg32(NVME_CSTS, 0);
		memset(fake.bar + NVME_DBL_BASE, 0, 16);
		return;
	}
	fake.enables++;
	assert_int_equal((cc >> NVME_CC_IOSQES_SHIFT) & 0xf, NVME_SQES_LOG2);
	assert_int_equal((cc >> NVME_CC_IOCQES_SHIFT) & 0xf, NVME_CQES_LOG2);
	assert_int_equal((cc >> NVME_CC_MPS_SHIFT) & 0xf, 0);
	uint32_t aqa = reg32(NVME_AQA);
	fake.sq[0].base = reg64(NVME_ASQ);
	fake.sq[0].size = (uint16_t)((aqa & 0xfff) + 1);
	fake.sq[0].live = true;
	fake.cq[0].base = reg64(NVME_ACQ);
	fake.cq[0].size = (uint16_t)((aqa >> 16 & 0xfff) + 1);
	fake.cq[0].phase = 1;
	fake.cq[0].live = true;
	assert_int_equal(fake.sq[0].base & 4095, 0);
	assert_int_equal(fake.cq[0].base & 4095, 0);
	if (!fake.never_ready)
		set_reg32(NVME_CSTS, NVME_CSTS_RDY);
}

static void fake_step(void)
{
	if (!fake.bar)
		return;
	follow_cc();
	if (!fake.enabled || reg32(NVME_CSTS) & NVME_CSTS_CFS ||
	    !(reg32(NVME_CSTS) & NVME_CSTS_RDY))
		return;
	for (int q = 0; q < 2; q++) {
		if (!fake.sq[q].live)
			continue;
		uint32_t tail = reg32(NVME_DBL_BASE + 8 * q);
		assert_true(tail < fake.sq[q].size);
		while (fake.sq[q].head != tail) {
			struct nvme_sqe c =
				((struct nvme_sqe *)(uintptr_t)fake.sq[q].base)[fake.sq[q].head];
			fake.sq[q].head = (uint16_t)((fake.sq[q].head + 1) % fake.sq[q].size);
			if (q == 0)
				admin(&c);
			else
				io(&c);
		}
	}
}

uint64_t time_ns(void)
{
	fake_clock_ns += 10000; /* 10 us a look: timeouts pass quickly */
	fake_step();
	return fake_clock_ns;
}

void udelay(uint64_t us)
{
	fake_clock_ns += us * 1000;
	fake_step();
}

void fake_nvme_reset(uint64_t blocks, uint32_t lbads)
{
	fake_nvme_free();
	memset(&fake, 0, sizeof(fake));
	fake.bar = aligned_alloc(4096, FAKE_NVME_BAR_BYTES);
	memset(fake.bar, 0, FAKE_NVME_BAR_BYTES);
	/* MQES 2047, CQR, TO 2 (1 s), DSTRD 0, NVM command set, MPSMIN 0, MPSMAX 4 */
	fake.cap = 2047 | 1ull << 16 | 2ull << 24 | 1ull << 37 | 4ull << 52;
	memcpy(fake.bar + NVME_CAP, &fake.cap, 8);
	set_reg32(NVME_VS, 0x00010400);
	fake.blocks = blocks;
	fake.lbads = lbads;
	fake.mdts = 5; /* 128 KiB */
	fake.disk = calloc(blocks, 1u << lbads);
	memset(pci_devs, 0, sizeof(pci_devs));
	pci_devs[0] = (struct pci_dev){.bus = 0,
				       .dev = 3,
				       .fn = 0,
				       .vendor = 0x1b36,
				       .device = 0x10,
				       .class = 0x01,
				       .subclass = 0x08,
				       .progif = 0x02};
	pci_ndevs = 1;
	pci_command = 0;
}

void fake_nvme_free(void)
{
	free(fake.bar);
	free(fake.disk);
	fake.bar = NULL;
	fake.disk = NULL;
}
