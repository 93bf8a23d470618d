/* NVMe driver: QEMU's `-device nvme` and real controllers (PCI class
 * 01/08/02). Polled from the caller, interrupts off: an admin queue pair
 * and one I/O queue pair, one command in flight at a time, namespace 1
 * served as a struct blkdev. Caller buffers are used for DMA as they are
 * (Tern is identity-mapped, so a buffer is physically contiguous); PRPs
 * describe them, a PRP list when a command spans more than two pages.
 * Register and field names: drivers/nvme_regs.h (NVMe 1.4). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86/asm.h"
#include "arch/x86/paging.h"
#include "drivers/nvme.h"
#include "drivers/nvme_regs.h"
#include "drivers/pci.h"
#include "kernel/log.h"
#include "kernel/mm/frame.h"
#include "kernel/time.h"

#define NVME_MAX 2
#define NVME_ADMIN_DEPTH 32
#define NVME_IO_DEPTH 64
#define NVME_IO_QID 1
#define NVME_NSID 1
/* CC.MPS 0: 4 KiB memory pages, which every controller supports
 * (CAP.MPSMIN 0); PRP entries after the first are page aligned. */
#define NVME_PAGE 4096u
/* The most one command carries, whatever MDTS allows: 32 pages plus a
 * partial one fit one PRP list page (512 entries) with room to spare, and
 * the main loop is not held long by one command. */
#define NVME_MAX_XFER (128u << 10)
/* A command the controller does not complete in this time is given up
 * and the controller reset (Linux waits 30 s; a hypervisor's main loop
 * cannot wait that long). */
#define NVME_CMD_TIMEOUT_MS 5000
#define NVME_STR2(x) #x
#define NVME_STR(x) NVME_STR2(x)
/* PCI 3.0 6.2.2: the command register's Interrupt Disable bit (INTx). */
#define NVME_PCI_COMMAND_INTX_DISABLE (1u << 10)

struct nvme_queue {
	struct nvme_sqe *sq;
	volatile struct nvme_cqe *cq;
	volatile uint32_t *sq_db, *cq_db;
	uint16_t qid, depth;
	uint16_t sq_tail, cq_head;
	uint16_t phase; /* the phase tag of entries not yet consumed (4.6.1) */
	uint16_t next_cid;
};

struct nvme {
	struct blkdev blk;
	const struct pci_dev *pci;
	volatile uint8_t *regs;
	uint64_t cap;
	uint32_t ready_ms; /* CAP.TO: how long CSTS.RDY may take to follow CC.EN */
	struct nvme_queue admin, io;
	uint8_t *ident;	    /* one page: Identify data */
	uint64_t *prp_list; /* one page: PRP list of the command in flight */
	uint64_t dma;	    /* the frames above, for frame_free */
	bool dead;	    /* a reset failed: every command is -ENODEV */
	bool write_zeroes;  /* ONCS says the controller has Write Zeroes */
	char why[96];	    /* what the last failed step said, for the one log line */
	char model[41], serial[21], fw[9];
};

#define NVME_FRAMES 6 /* admin SQ, admin CQ, I/O SQ, I/O CQ, identify, PRP list */

static struct nvme nvme_devs[NVME_MAX];
static unsigned nvme_count;

static inline uint32_t nvme_rd(struct nvme *n, uint32_t off)
{
	return *(volatile uint32_t *)(n->regs + off);
}

static inline void nvme_wr(struct nvme *n, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(n->regs + off) = v;
}

/* 3.1: 64-bit registers may be accessed as two 32-bit halves, low first. */
static inline uint64_t nvme_rd64(struct nvme *n, uint32_t off)
{
	uint64_t lo = nvme_rd(n, off);
	return lo | (uint64_t)nvme_rd(n, off + 4) << 32;
}

static inline void nvme_wr64(struct nvme *n, uint32_t off, uint64_t v)
{
	nvme_wr(n, off, (uint32_t)v);
	nvme_wr(n, off + 4, (uint32_t)(v >> 32));
}

/* Queue entries must reach memory before the doorbell write that hands
 * them over, and a completion's fields are read only after its phase tag.
 * x86 keeps stores in order and loads in order, also between write-back
 * RAM and uncached MMIO (Intel SDM vol. 3, 8.2.2): only the compiler must
 * not reorder them. */
static inline void nvme_dma_barrier(void)
{
	__asm__ volatile("" ::: "memory");
}

/* Records why a step failed; returns rc. The caller that gives up logs
 * n->why in one line, so one failure is one line, whatever the depth. */
static int __attribute__((format(printf, 3, 4)))
nvme_fail(struct nvme *n, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(n->why, sizeof(n->why), fmt, ap);
	va_end(ap);
	return rc;
}

/* 3.1.6: waits until CSTS.RDY equals `ready`, at most CAP.TO. */
static int nvme_wait_ready(struct nvme *n, bool ready)
{
	uint64_t deadline = time_ms() + n->ready_ms;

	for (;;) {
		uint32_t csts = nvme_rd(n, NVME_CSTS);
		if (csts == 0xffffffff) /* nothing answers at the BAR: the device is gone */
			return -ENODEV;
		if (!!(csts & NVME_CSTS_RDY) == ready)
			return 0;
		if (ready && csts & NVME_CSTS_CFS)
			return -EIO;
		if (time_ms() > deadline)
			return -ETIMEDOUT;
		udelay(1000);
	}
}

static void nvme_queue_init(struct nvme *n, struct nvme_queue *q)
{
	uint32_t stride = 4u << NVME_CAP_DSTRD(n->cap);

	memset(q->sq, 0, (size_t)q->depth * sizeof(struct nvme_sqe));
	memset((void *)q->cq, 0, (size_t)q->depth * sizeof(struct nvme_cqe));
	q->sq_tail = q->cq_head = 0;
	q->phase = 1; /* 4.6.1: the controller's first pass writes P = 1 */
	q->sq_db = (volatile uint32_t *)(n->regs + NVME_DBL_BASE + 2u * q->qid * stride);
	q->cq_db = (volatile uint32_t *)(n->regs + NVME_DBL_BASE + (2u * q->qid + 1) * stride);
}

/* Submits one command and polls its completion. 0 with *status (the
 * completion's status field without the phase tag: 0 is success), or
 * -ETIMEDOUT when it did not complete in NVME_CMD_TIMEOUT_MS, -EIO when
 * the controller reported a fatal error (CSTS.CFS) or vanished (all ones):
 * either way it needs a reset. */
static int nvme_submit_wait(struct nvme *n, struct nvme_queue *q, struct nvme_sqe *cmd,
			    uint16_t *status, uint32_t *dw0)
{
	cmd->cid = q->next_cid++;
	q->sq[q->sq_tail] = *cmd;
	q->sq_tail = (uint16_t)((q->sq_tail + 1) % q->depth);
	nvme_dma_barrier();
	*q->sq_db = q->sq_tail;

	uint64_t deadline = time_ms() + NVME_CMD_TIMEOUT_MS;
	for (unsigned polls = 1;; polls++) {
		volatile struct nvme_cqe *e = &q->cq[q->cq_head];
		uint16_t st = e->status;
		if ((st & NVME_CQE_PHASE) == q->phase) {
			nvme_dma_barrier();
			uint16_t cid = e->cid;
			uint32_t d0 = e->dw0;
			q->cq_head = (uint16_t)((q->cq_head + 1) % q->depth);
			if (!q->cq_head)
				q->phase ^= 1; /* 4.6.1: the tag inverts on each pass */
			*q->cq_db = q->cq_head;
			if (cid != cmd->cid) {
				/* Only one command is ever in flight: a completion
				 * for another one is the controller's confusion. */
				log_warn("nvme", "%s: completion for unknown command %u ignored",
					 n->blk.name, cid);
				continue;
			}
			*status = st >> 1;
			if (dw0)
				*dw0 = d0;
			return 0;
		}
		/* CSTS every so often: a dead controller completes nothing,
		 * and uncached reads are slow under emulation. */
		if (polls % 1024 == 0) {
			uint32_t csts = nvme_rd(n, NVME_CSTS);
			if (csts == 0xffffffff || csts & NVME_CSTS_CFS)
				return -EIO;
		}
		if (time_ms() > deadline)
			return -ETIMEDOUT;
		cpu_relax();
	}
}

static const char *nvme_no_completion(int rc)
{
	return rc == -ETIMEDOUT ? "no completion in " NVME_STR(NVME_CMD_TIMEOUT_MS) " ms"
				: "controller fatal status (CSTS.CFS)";
}

/* One admin command; a failure says which in n->why. */
static int nvme_admin(struct nvme *n, struct nvme_sqe *cmd, const char *what, uint32_t *dw0)
{
	uint16_t st;
	int rc = nvme_submit_wait(n, &n->admin, cmd, &st, dw0);

	if (rc)
		return nvme_fail(n, -ETIMEDOUT, "%s: %s", what, nvme_no_completion(rc));
	if (st)
		return nvme_fail(n, -EIO, "%s failed: status type %u code 0x%02x", what,
				 NVME_CQE_SCT(st << 1), NVME_CQE_SC(st << 1));
	return 0;
}

/* 7.6.1: controller initialization, from a disabled controller to one
 * with its I/O queue pair created. Also the recovery path: a reset drops
 * every queue, so everything after CC.EN = 0 is done again. */
static int nvme_start(struct nvme *n)
{
	struct nvme_sqe c;
	int rc;

	uint32_t cc = nvme_rd(n, NVME_CC);
	if (cc & NVME_CC_EN)
		nvme_wr(n, NVME_CC, cc & ~NVME_CC_EN);
	rc = nvme_wait_ready(n, false);
	if (rc)
		return nvme_fail(n, rc, "not disabled within CAP.TO (%u ms)", n->ready_ms);
	/* 3.1.3: interrupts masked (pin-based/MSI); the I/O CQ has IEN = 0. */
	nvme_wr(n, NVME_INTMS, 0xffffffff);
	nvme_queue_init(n, &n->admin);
	nvme_queue_init(n, &n->io);
	nvme_wr(n, NVME_AQA,
		(uint32_t)(n->admin.depth - 1) << NVME_AQA_ACQS_SHIFT | (n->admin.depth - 1u));
	nvme_wr64(n, NVME_ASQ, (uint64_t)(uintptr_t)n->admin.sq);
	nvme_wr64(n, NVME_ACQ, (uint64_t)(uintptr_t)n->admin.cq);
	nvme_wr(n, NVME_CC,
		NVME_CC_CSS_NVM | 0u << NVME_CC_MPS_SHIFT | NVME_CC_AMS_RR |
			NVME_SQES_LOG2 << NVME_CC_IOSQES_SHIFT |
			NVME_CQES_LOG2 << NVME_CC_IOCQES_SHIFT | NVME_CC_EN);
	rc = nvme_wait_ready(n, true);
	if (rc)
		return nvme_fail(n, rc, "not ready within CAP.TO (%u ms) after enable%s",
				 n->ready_ms, rc == -EIO ? ": fatal status" : "");

	/* 5.21.1.7: ask for one I/O queue pair before creating it (0-based
	 * counts). A controller always grants at least one. */
	memset(&c, 0, sizeof(c));
	c.opcode = NVME_ADM_SET_FEATURES;
	c.cdw10 = NVME_FEAT_NUM_QUEUES;
	c.cdw11 = 0;
	rc = nvme_admin(n, &c, "Set Features (Number of Queues)", NULL);
	if (rc)
		return rc;

	/* 5.3, 5.4: the completion queue first, then the submission queue
	 * that posts to it. Physically contiguous (PC), no interrupts. */
	memset(&c, 0, sizeof(c));
	c.opcode = NVME_ADM_CREATE_CQ;
	c.prp1 = (uint64_t)(uintptr_t)n->io.cq;
	c.cdw10 = (uint32_t)(n->io.depth - 1) << 16 | NVME_IO_QID;
	c.cdw11 = NVME_QUEUE_PC;
	rc = nvme_admin(n, &c, "Create I/O Completion Queue", NULL);
	if (rc)
		return rc;
	memset(&c, 0, sizeof(c));
	c.opcode = NVME_ADM_CREATE_SQ;
	c.prp1 = (uint64_t)(uintptr_t)n->io.sq;
	c.cdw10 = (uint32_t)(n->io.depth - 1) << 16 | NVME_IO_QID;
	c.cdw11 = (uint32_t)NVME_IO_QID << 16 | NVME_QUEUE_PC;
	return nvme_admin(n, &c, "Create I/O Submission Queue", NULL);
}

/* After a timeout: the command's fate is unknown and the controller may
 * be wedged. A controller reset aborts everything in flight (7.3.1), then
 * the queues are built again. If that fails the disk goes offline; the
 * host carries on. */
static int nvme_recover(struct nvme *n)
{
	n->blk.counters.resets++;
	int rc = nvme_start(n);
	if (rc)
		n->dead = true;
	return rc;
}

/* 4.3: PRP1 is the buffer (dword aligned, any offset); PRP2 the second
 * page when the data ends there, else a PRP list of every page after the
 * first. The buffer is contiguous: Tern is identity-mapped. */
static void nvme_set_prps(struct nvme *n, struct nvme_sqe *c, uint64_t buf, uint32_t bytes)
{
	uint32_t first = NVME_PAGE - (uint32_t)(buf & (NVME_PAGE - 1));

	c->prp1 = buf;
	c->prp2 = 0;
	if (bytes <= first)
		return;
	if (bytes <= first + NVME_PAGE) {
		c->prp2 = buf + first;
		return;
	}
	unsigned i = 0;
	for (uint64_t pa = buf + first; pa < buf + bytes; pa += NVME_PAGE)
		n->prp_list[i++] = pa;
	c->prp2 = (uint64_t)(uintptr_t)n->prp_list;
}

static const char *const nvme_op_names[] = {
	[NVME_CMD_FLUSH] = "flush", [NVME_CMD_WRITE] = "write", [NVME_CMD_READ] = "read",
	[NVME_CMD_WRITE_ZEROES] = "write zeroes"};

/* One I/O command, with the counters, the error line and, after a
 * timeout, the controller reset: one log line says all of it. */
static int nvme_exec_io(struct nvme *n, struct nvme_sqe *c, uint64_t lba, uint32_t count)
{
	struct blkdev_counters *k = &n->blk.counters;
	const char *op = nvme_op_names[c->opcode];
	uint16_t st;

	c->nsid = NVME_NSID;
	int rc = nvme_submit_wait(n, &n->io, c, &st, NULL);
	if (rc) {
		k->timeouts++;
		const char *what = nvme_no_completion(rc);
		if (nvme_recover(n))
			log_err("nvme",
				"%s: %s lba %lu+%u: %s; controller reset failed (%s); the disk is "
				"offline",
				n->blk.name, op, lba, count, what, n->why);
		else
			log_err("nvme", "%s: %s lba %lu+%u: %s; controller reset, queues recreated",
				n->blk.name, op, lba, count, what);
		return -ETIMEDOUT;
	}
	if (st) {
		k->errors++;
		log_err("nvme", "%s: %s lba %lu+%u failed: status type %u code 0x%02x", n->blk.name,
			op, lba, count, NVME_CQE_SCT(st << 1), NVME_CQE_SC(st << 1));
		return -EIO;
	}
	if (c->opcode == NVME_CMD_READ) {
		k->reads++;
		k->read_blocks += count;
	} else if (c->opcode == NVME_CMD_WRITE || c->opcode == NVME_CMD_WRITE_ZEROES) {
		k->writes++;
		k->written_blocks += count;
	} else {
		k->flushes++;
	}
	return 0;
}

/* Read or write, split into commands of at most max_blocks. */
static int nvme_rw(struct blkdev *d, uint8_t opc, uint64_t lba, uint32_t count, uintptr_t buf)
{
	struct nvme *n = d->priv;

	if (n->dead)
		return -ENODEV;
	if (lba > d->blocks || count > d->blocks - lba || buf & 3)
		return -EINVAL;
	while (count) {
		uint32_t now = count < d->max_blocks ? count : d->max_blocks;
		struct nvme_sqe c;
		memset(&c, 0, sizeof(c));
		c.opcode = opc;
		nvme_set_prps(n, &c, buf, now * d->block_size);
		c.cdw10 = (uint32_t)lba; /* SLBA */
		c.cdw11 = (uint32_t)(lba >> 32);
		c.cdw12 = now - 1; /* NLB, 0-based */
		int rc = nvme_exec_io(n, &c, lba, now);
		if (rc)
			return rc;
		lba += now;
		count -= now;
		buf += (uintptr_t)now * d->block_size;
	}
	return 0;
}

static int nvme_read(struct blkdev *d, uint64_t lba, uint32_t count, void *buf)
{
	return nvme_rw(d, NVME_CMD_READ, lba, count, (uintptr_t)buf);
}

static int nvme_write(struct blkdev *d, uint64_t lba, uint32_t count, const void *buf)
{
	return nvme_rw(d, NVME_CMD_WRITE, lba, count, (uintptr_t)buf);
}

/* Zeros without a transfer: the disk (or QEMU, with a hole or a zeroed
 * range in its image) writes them itself, so a bulk of zero blocks costs
 * neither the bus nor a later flush. */
static int nvme_write_zeroes(struct blkdev *d, uint64_t lba, uint32_t count)
{
	struct nvme *n = d->priv;

	if (n->dead)
		return -ENODEV;
	if (!n->write_zeroes)
		return -EOPNOTSUPP;
	if (lba > d->blocks || count > d->blocks - lba)
		return -EINVAL;
	while (count) {
		uint32_t now = count < NVME_WZ_MAX_BLOCKS ? count : NVME_WZ_MAX_BLOCKS;
		struct nvme_sqe c;
		memset(&c, 0, sizeof(c));
		c.opcode = NVME_CMD_WRITE_ZEROES;
		c.cdw10 = (uint32_t)lba;
		c.cdw11 = (uint32_t)(lba >> 32);
		c.cdw12 = now - 1;
		int rc = nvme_exec_io(n, &c, lba, now);
		if (rc)
			return rc;
		lba += now;
		count -= now;
	}
	return 0;
}

static int nvme_flush(struct blkdev *d)
{
	struct nvme *n = d->priv;
	struct nvme_sqe c;

	if (n->dead)
		return -ENODEV;
	memset(&c, 0, sizeof(c));
	c.opcode = NVME_CMD_FLUSH;
	return nvme_exec_io(n, &c, 0, 0);
}

static const struct blkdev_ops nvme_ops = {
	.read = nvme_read,
	.write = nvme_write,
	.flush = nvme_flush,
	.write_zeroes = nvme_write_zeroes,
};

/* An Identify string: ASCII, padded with spaces (1.5 "ASCII string"). */
static void nvme_id_string(char *out, const uint8_t *in, unsigned len)
{
	unsigned n = len;

	while (n && (in[n - 1] == ' ' || in[n - 1] == 0))
		n--;
	for (unsigned i = 0; i < n; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f ? (char)in[i] : '?';
	out[n] = 0;
}

static int nvme_identify(struct nvme *n, uint32_t cns, uint32_t nsid, const char *what)
{
	struct nvme_sqe c;

	memset(&c, 0, sizeof(c));
	memset(n->ident, 0, NVME_PAGE);
	c.opcode = NVME_ADM_IDENTIFY;
	c.nsid = nsid;
	c.prp1 = (uint64_t)(uintptr_t)n->ident;
	c.cdw10 = cns;
	return nvme_admin(n, &c, what, NULL);
}

static uint64_t nvme_le(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = bytes; i--;)
		v = v << 8 | p[i];
	return v;
}

/* Identify Controller and Namespace 1: the geometry the blkdev shows. */
static int nvme_identify_all(struct nvme *n)
{
	const uint8_t *id = n->ident;
	int rc = nvme_identify(n, NVME_ID_CNS_CTRL, 0, "Identify Controller");

	if (rc)
		return rc;
	nvme_id_string(n->serial, id + NVME_IDC_SN, 20);
	nvme_id_string(n->model, id + NVME_IDC_MN, 40);
	nvme_id_string(n->fw, id + NVME_IDC_FR, 8);
	/* 5.15.2.2: SQES/CQES give the required (3:0) and largest (7:4)
	 * entry sizes; Tern uses the NVM command set's 64 and 16 bytes. */
	uint8_t sqes = id[NVME_IDC_SQES], cqes = id[NVME_IDC_CQES];
	if ((sqes & 0xf) > NVME_SQES_LOG2 || (sqes >> 4) < NVME_SQES_LOG2 ||
	    (cqes & 0xf) > NVME_CQES_LOG2 || (cqes >> 4) < NVME_CQES_LOG2)
		return nvme_fail(n, -ENOTSUP, "queue entry sizes other than 64/16 bytes");
	uint32_t xfer = NVME_MAX_XFER;
	uint8_t mdts = id[NVME_IDC_MDTS];
	if (mdts) {
		uint64_t max = (uint64_t)NVME_PAGE << NVME_CAP_MPSMIN(n->cap) << mdts;
		if (max < xfer)
			xfer = (uint32_t)max;
	}
	n->write_zeroes = nvme_le(id + NVME_IDC_ONCS, 2) & NVME_ONCS_WRITE_ZEROES;
	if (nvme_le(id + NVME_IDC_NN, 4) < NVME_NSID)
		return nvme_fail(n, -ENODEV, "no namespaces");

	rc = nvme_identify(n, NVME_ID_CNS_NS, NVME_NSID, "Identify Namespace 1");
	if (rc)
		return rc;
	uint64_t nsze = nvme_le(id + NVME_IDNS_NSZE, 8);
	uint8_t flbas = id[NVME_IDNS_FLBAS];
	unsigned fmt = NVME_IDNS_FLBAS_FMT(flbas);
	if (!nsze)
		return nvme_fail(n, -ENODEV, "namespace 1 is not active");
	if (fmt > id[NVME_IDNS_NLBAF])
		return nvme_fail(n, -EIO, "namespace 1 names an LBA format it does not have");
	uint32_t lbaf = (uint32_t)nvme_le(id + NVME_IDNS_LBAF + 4 * fmt, 4);
	uint32_t lbads = (lbaf >> 16) & 0xff, ms = lbaf & 0xffff;
	if (ms)
		return nvme_fail(n, -ENOTSUP,
				 "namespace 1 has per-block metadata (format it without)");
	if (lbads != 9 && lbads != 12)
		return nvme_fail(n, -ENOTSUP, "namespace 1 blocks are neither 512 nor 4096 bytes");
	n->blk.block_size = 1u << lbads;
	n->blk.blocks = nsze;
	n->blk.max_blocks = xfer / n->blk.block_size;
	return 0;
}

static int nvme_bring_up(struct nvme *n)
{
	const struct pci_dev *d = n->pci;
	bool is_io;
	uint64_t bar = pci_bar(d, 0, &is_io);
	int rc;

	if (is_io || !bar)
		return nvme_fail(n, -ENODEV, "BAR0 is not a memory BAR");
	rc = paging_map_mmio(bar, 2 * NVME_PAGE);
	if (rc)
		return nvme_fail(n, rc, "cannot map BAR0");
	n->regs = (volatile uint8_t *)(uintptr_t)bar;
	/* Memory decoding for the registers, bus mastering for queue and data
	 * DMA; INTx off: Tern polls. */
	uint16_t cmd = pci_read16(d->bus, d->dev, d->fn, PCI_COMMAND);
	pci_write16(d->bus, d->dev, d->fn, PCI_COMMAND,
		    cmd | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | NVME_PCI_COMMAND_INTX_DISABLE);
	n->cap = nvme_rd64(n, NVME_CAP);
	if (n->cap == ~0ull)
		return nvme_fail(n, -ENODEV, "the controller does not answer");
	if (!NVME_CAP_CSS_NVM(n->cap))
		return nvme_fail(n, -ENOTSUP, "no NVM command set");
	if (NVME_CAP_MPSMIN(n->cap) > 0)
		return nvme_fail(n, -ENOTSUP, "4 KiB memory pages not supported (CAP.MPSMIN)");
	/* 3.1.1: CAP.TO in 500 ms units; 0 would leave no time at all. */
	n->ready_ms = NVME_CAP_TO(n->cap) ? NVME_CAP_TO(n->cap) * 500 : 500;
	uint32_t stride = 4u << NVME_CAP_DSTRD(n->cap);
	rc = paging_map_mmio(bar, NVME_DBL_BASE + 4 * stride);
	if (rc)
		return nvme_fail(n, rc, "cannot map the doorbells");

	uint64_t dma = frame_alloc(NVME_FRAMES, 1);
	if (!dma)
		return nvme_fail(n, -ENOMEM, "no memory for the queues");
	n->dma = dma;
	uint8_t *p = (uint8_t *)(uintptr_t)dma;
	memset(p, 0, NVME_FRAMES * FRAME_SIZE);
	_Static_assert(NVME_ADMIN_DEPTH * sizeof(struct nvme_sqe) <= FRAME_SIZE, "one frame");
	_Static_assert(NVME_IO_DEPTH * sizeof(struct nvme_sqe) <= FRAME_SIZE, "one frame");
	_Static_assert((NVME_MAX_XFER / NVME_PAGE + 1) * 8 <= FRAME_SIZE, "one PRP list page");
	n->admin.sq = (struct nvme_sqe *)p;
	n->admin.cq = (volatile struct nvme_cqe *)(p + FRAME_SIZE);
	n->io.sq = (struct nvme_sqe *)(p + 2 * FRAME_SIZE);
	n->io.cq = (volatile struct nvme_cqe *)(p + 3 * FRAME_SIZE);
	n->ident = p + 4 * FRAME_SIZE;
	n->prp_list = (uint64_t *)(p + 5 * FRAME_SIZE);
	n->admin.qid = 0;
	n->admin.depth = NVME_ADMIN_DEPTH;
	n->io.qid = NVME_IO_QID;
	/* CAP.MQES is 0-based and at least 1 (two entries). */
	uint32_t mqes = NVME_CAP_MQES(n->cap) + 1;
	n->io.depth = (uint16_t)(mqes < NVME_IO_DEPTH ? mqes : NVME_IO_DEPTH);

	rc = nvme_start(n);
	if (!rc)
		rc = nvme_identify_all(n);
	if (rc) {
		/* Leave it disabled: no DMA into frames that go back to the pool. */
		nvme_wr(n, NVME_CC, nvme_rd(n, NVME_CC) & ~NVME_CC_EN);
		(void)nvme_wait_ready(n, false);
		frame_free(dma, NVME_FRAMES);
		n->dma = 0;
	}
	return rc;
}

static bool nvme_is_nvme(const struct pci_dev *d)
{
	/* PCI Code and ID Assignment: mass storage, non-volatile memory
	 * controller, NVM Express programming interface. */
	return d->class == 0x01 && d->subclass == 0x08 && d->progif == 0x02;
}

struct blkdev *nvme_probe(unsigned index, int *err)
{
	unsigned seen = 0;

	if (err)
		*err = 0;
	for (unsigned i = 0; i < pci_ndevs; i++) {
		const struct pci_dev *d = &pci_devs[i];
		if (!nvme_is_nvme(d) || seen++ != index)
			continue;
		for (unsigned k = 0; k < nvme_count; k++)
			if (nvme_devs[k].pci == d)
				return &nvme_devs[k].blk;
		if (nvme_count == NVME_MAX) {
			if (err)
				*err = -ENOSPC;
			return NULL;
		}
		struct nvme *n = &nvme_devs[nvme_count];
		memset(n, 0, sizeof(*n));
		n->pci = d;
		n->blk.ops = &nvme_ops;
		n->blk.priv = n;
		snprintf(n->blk.name, sizeof(n->blk.name), "nvme%un%u", nvme_count, NVME_NSID);
		int rc = nvme_bring_up(n);
		if (rc) {
			log_err("nvme", "%02x:%02x.%x: %s (%d)", d->bus, d->dev, d->fn, n->why, rc);
			if (err)
				*err = rc;
			return NULL;
		}
		nvme_count++;
		uint32_t vs = nvme_rd(n, NVME_VS);
		log_info("nvme",
			 "%s: %s (serial %s, fw %s, NVMe %u.%u) at %02x:%02x.%x, %lu blocks of %u "
			 "bytes",
			 n->blk.name, n->model, n->serial, n->fw, vs >> 16, (vs >> 8) & 0xff,
			 d->bus, d->dev, d->fn, n->blk.blocks, n->blk.block_size);
		return &n->blk;
	}
	return NULL;
}

void nvme_describe(const struct blkdev *d, char *out, unsigned size)
{
	const struct nvme *n = d->priv;

	snprintf(out, size, "%s, serial %s, fw %s, %02x:%02x.%x%s", n->model, n->serial, n->fw,
		 n->pci->bus, n->pci->dev, n->pci->fn, n->dead ? ", offline" : "");
}
