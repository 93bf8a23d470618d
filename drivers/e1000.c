/* Intel 8254x (e1000) driver: QEMU's `-device e1000` (82540EM), Bochs'
 * e1000 and the real 82540/82545/82546 parts. Polled from the main loop,
 * interrupts masked; legacy descriptors, one 2 KiB buffer per descriptor,
 * frames copied in and out so callers never see DMA memory ownership.
 * Register and bit names: drivers/e1000.h (8254x SDM). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86/paging.h"
#include "drivers/e1000.h"
#include "drivers/pci.h"
#include "kernel/log.h"
#include "kernel/mm/frame.h"
#include "kernel/time.h"

#define E1000_RX_DESCS 256
#define E1000_TX_DESCS 256
/* RCTL.BSIZE 2048 holds any frame up to NIC_FRAME_MAX plus the FCS. */
#define E1000_BUF_SIZE 2048
#define E1000_BAR_SIZE 0x20000 /* SDM 13.1: 128 KiB of register space */
#define E1000_MAX 4
/* Frames queued before the tail register is written anyway: each TDT
 * write is a register access that runs the device's whole transmit loop
 * (under QEMU a trap into the emulator), so one write per batch instead
 * of per frame. The rest go at flush(), once per main-loop pass. */
#define E1000_TX_BATCH 32
/* Hardware statistics are folded into the counters every this many polls:
 * a few MMIO reads, not on every pass of the main loop. */
#define E1000_STATS_EVERY 64

/* The 8254x parts whose registers Tern uses are laid out alike. QEMU offers
 * 0x100e (e1000), 0x100f (e1000-82545em) and 0x100c (e1000-82544gc); Bochs
 * 0x100e. The 82544 has no EERD (SDM 13.4.4: 82540 and later): its MAC
 * comes from RAL0/RAH0 only. */
static const struct {
	uint16_t device;
	const char *model;
	bool eerd;
} e1000_ids[] = {
	{0x100e, "82540EM", true},  {0x1015, "82540EM", true},	{0x1016, "82540EP", true},
	{0x1017, "82540EP", true},  {0x101e, "82540EP", true},	{0x100f, "82545EM", true},
	{0x1011, "82545EM", true},  {0x1026, "82545GM", true},	{0x1027, "82545GM", true},
	{0x1028, "82545GM", true},  {0x1010, "82546EB", true},	{0x1012, "82546EB", true},
	{0x100c, "82544GC", false}, {0x100d, "82544GC", false}, {0x1008, "82544EI", false},
	{0x1009, "82544EI", false},
};

struct e1000 {
	struct nic nic;
	volatile uint32_t *regs;
	const struct pci_dev *pci;
	bool eerd; /* the EEPROM can be read through EERD */
	struct e1000_rx_desc *rx;
	struct e1000_tx_desc *tx;
	uint8_t *rx_buf, *tx_buf;
	unsigned rx_next;  /* next RX descriptor the hardware may have completed */
	bool rx_dropping;  /* inside a frame spanning descriptors: dropped up to EOP */
	unsigned tx_tail;  /* next TX descriptor to fill */
	unsigned tx_tdt;   /* what TDT was last set to: tx_tail at a flush */
	unsigned tx_clean; /* oldest TX descriptor not yet reclaimed */
	unsigned polls;
	uint32_t rctl;
};

static struct e1000 e1000_devs[E1000_MAX];
static unsigned e1000_count;

static inline uint32_t e1000_rd(struct e1000 *e, uint32_t reg)
{
	return e->regs[reg / 4];
}

static inline void e1000_wr(struct e1000 *e, uint32_t reg, uint32_t v)
{
	e->regs[reg / 4] = v;
}

/* Descriptor writes must reach memory before the tail write that hands
 * them to the device. x86 keeps stores in order, also between write-back
 * RAM and uncached MMIO (Intel SDM vol. 3, 8.2.2), so only the compiler
 * must not reorder them. */
static inline void e1000_dma_barrier(void)
{
	__asm__ volatile("" ::: "memory");
}

static bool e1000_link_up(struct nic *nic)
{
	struct e1000 *e = nic->priv;

	return e1000_rd(e, E1000_STATUS) & E1000_STATUS_LU;
}

/* Transmit descriptors the device has finished with (DD, SDM 3.3.3.2). */
static void e1000_tx_reclaim(struct e1000 *e)
{
	while (e->tx_clean != e->tx_tail) {
		volatile struct e1000_tx_desc *d = &e->tx[e->tx_clean];
		uint8_t st = d->status;

		if (!(st & E1000_TXD_STAT_DD))
			break;
		if (st & (E1000_TXD_STAT_EC | E1000_TXD_STAT_LC)) {
			e->nic.counters.tx_errors++;
		} else {
			e->nic.counters.tx_packets++;
			e->nic.counters.tx_bytes += d->length;
		}
		e->tx_clean = (e->tx_clean + 1) % E1000_TX_DESCS;
	}
}

static void e1000_flush(struct nic *nic)
{
	struct e1000 *e = nic->priv;

	if (e->tx_tdt == e->tx_tail)
		return;
	e1000_dma_barrier();
	e1000_wr(e, E1000_TDT, e->tx_tail);
	e->tx_tdt = e->tx_tail;
}

static int e1000_tx(struct nic *nic, const uint8_t *frame, size_t len)
{
	struct e1000 *e = nic->priv;
	unsigned next = (e->tx_tail + 1) % E1000_TX_DESCS;

	if (len < 14 || len > NIC_FRAME_MAX)
		return -EINVAL;
	/* One descriptor always stays empty: TDT == TDH means "ring empty". */
	if (next == e->tx_clean) {
		e1000_flush(nic); /* held frames cannot complete */
		e1000_tx_reclaim(e);
		if (next == e->tx_clean) {
			nic->counters.tx_drops++;
			return -EAGAIN;
		}
	}
	struct e1000_tx_desc *d = &e->tx[e->tx_tail];
	memcpy(e->tx_buf + (size_t)e->tx_tail * E1000_BUF_SIZE, frame, len);
	d->length = (uint16_t)len;
	d->cso = 0;
	d->css = 0;
	d->special = 0;
	d->status = 0;
	/* IFCS: the device appends the FCS; TCTL.PSP pads short frames. RS on
	 * every frame, so every descriptor reports DD and can be reclaimed. */
	d->cmd = E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS;
	e->tx_tail = next;
	if ((e->tx_tail + E1000_TX_DESCS - e->tx_tdt) % E1000_TX_DESCS >= E1000_TX_BATCH)
		e1000_flush(nic);
	return 0;
}

/* The statistics registers clear on read (SDM 13.7), so they are added up. */
static void e1000_fold_stats(struct e1000 *e)
{
	struct nic_counters *c = &e->nic.counters;

	c->rx_drops += e1000_rd(e, E1000_MPC);
	c->rx_errors += e1000_rd(e, E1000_CRCERRS) + e1000_rd(e, E1000_ALGNERRC) +
			e1000_rd(e, E1000_RXERRC) + e1000_rd(e, E1000_RLEC);
}

static int e1000_rx_poll(struct nic *nic, nic_rx_fn fn, void *ctx, unsigned budget)
{
	struct e1000 *e = nic->priv;
	int delivered = 0;
	int last = -1;

	e1000_tx_reclaim(e);
	for (unsigned n = 0; n < budget; n++) {
		volatile struct e1000_rx_desc *d = &e->rx[e->rx_next];
		uint8_t st = d->status;

		if (!(st & E1000_RXD_STAT_DD))
			break;
		/* The rest of the descriptor and the buffer are read after DD:
		 * x86 does not reorder loads (SDM vol. 3, 8.2.2); the compiler
		 * must not either. */
		e1000_dma_barrier();
		uint16_t len = d->length;
		uint8_t errs = d->errors;
		if (e->rx_dropping || !(st & E1000_RXD_STAT_EOP)) {
			/* Longer than one buffer: cannot happen without RCTL.LPE,
			 * dropped whole if it does. */
			if (!e->rx_dropping)
				nic->counters.rx_errors++;
			e->rx_dropping = !(st & E1000_RXD_STAT_EOP);
		} else if (errs & E1000_RXD_ERR_FRAME) {
			nic->counters.rx_errors++;
		} else if (len < 14 || len > NIC_FRAME_MAX) {
			nic->counters.rx_errors++;
		} else {
			nic->counters.rx_packets++;
			nic->counters.rx_bytes += len;
			fn(ctx, e->rx_buf + (size_t)e->rx_next * E1000_BUF_SIZE, len);
			delivered++;
		}
		d->status = 0;
		last = (int)e->rx_next;
		e->rx_next = (e->rx_next + 1) % E1000_RX_DESCS;
	}
	/* The descriptor at RDT stays software's (SDM 3.2.6: head == tail
	 * means no free descriptors): handing back everything up to the last
	 * one processed keeps exactly that one spare. */
	if (last >= 0) {
		e1000_dma_barrier();
		e1000_wr(e, E1000_RDT, (uint32_t)last);
	}
	if (++e->polls % E1000_STATS_EVERY == 0)
		e1000_fold_stats(e);
	return delivered;
}

static int e1000_set_promisc(struct nic *nic, bool on)
{
	struct e1000 *e = nic->priv;

	if (on)
		e->rctl |= E1000_RCTL_UPE | E1000_RCTL_MPE;
	else
		e->rctl &= ~(E1000_RCTL_UPE | E1000_RCTL_MPE);
	e1000_wr(e, E1000_RCTL, e->rctl);
	return 0;
}

static const struct nic_ops e1000_ops = {
	.link_up = e1000_link_up,
	.tx = e1000_tx,
	.flush = e1000_flush,
	.rx_poll = e1000_rx_poll,
	.set_promisc = e1000_set_promisc,
};

/* SDM 5.3.1 / 13.4.4: one 16-bit EEPROM word through EERD. */
static int e1000_eeprom_read(struct e1000 *e, uint8_t word, uint16_t *out)
{
	e1000_wr(e, E1000_EERD, (uint32_t)word << E1000_EERD_ADDR_SHIFT | E1000_EERD_START);
	for (int i = 0; i < 10000; i++) {
		uint32_t v = e1000_rd(e, E1000_EERD);
		if (v & E1000_EERD_DONE) {
			*out = (uint16_t)(v >> E1000_EERD_DATA_SHIFT);
			return 0;
		}
		udelay(1);
	}
	return -ETIMEDOUT;
}

/* RAL0/RAH0 are loaded from the EEPROM at reset (SDM 13.4.27); the EEPROM
 * itself (words 0-2, SDM 5.6.1) is read only when they are not valid. */
static int e1000_read_mac(struct e1000 *e)
{
	uint32_t ral = e1000_rd(e, E1000_RAL0), rah = e1000_rd(e, E1000_RAH0);
	uint8_t *m = e->nic.mac;

	if (rah & E1000_RAH_AV && (ral || (rah & 0xffff))) {
		for (int i = 0; i < 4; i++)
			m[i] = (uint8_t)(ral >> (8 * i));
		m[4] = (uint8_t)rah;
		m[5] = (uint8_t)(rah >> 8);
	} else if (!e->eerd) {
		return -EIO;
	} else {
		for (int i = 0; i < 3; i++) {
			uint16_t w;
			int rc = e1000_eeprom_read(e, (uint8_t)i, &w);
			if (rc)
				return rc;
			m[2 * i] = (uint8_t)w;
			m[2 * i + 1] = (uint8_t)(w >> 8);
		}
	}
	if (m[0] & 1 || !(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]))
		return -EIO;
	return 0;
}

/* SDM 14.5: global reset. The device clears CTRL.RST when done; the EEPROM
 * reload that follows takes a few ms on real parts. */
static int e1000_reset(struct e1000 *e)
{
	e1000_wr(e, E1000_IMC, 0xffffffff);
	e1000_wr(e, E1000_RCTL, 0);
	e1000_wr(e, E1000_TCTL, E1000_TCTL_PSP);
	(void)e1000_rd(e, E1000_STATUS); /* flush the writes before the reset */
	udelay(10000);
	e1000_wr(e, E1000_CTRL, e1000_rd(e, E1000_CTRL) | E1000_CTRL_RST);
	udelay(5000);
	for (int i = 0; e1000_rd(e, E1000_CTRL) & E1000_CTRL_RST; i++) {
		if (i == 1000)
			return -ETIMEDOUT;
		udelay(100);
	}
	/* Interrupts stay masked: Tern polls. */
	e1000_wr(e, E1000_IMC, 0xffffffff);
	(void)e1000_rd(e, E1000_ICR);
	return 0;
}

/* SDM 14.4: receive initialization. */
static void e1000_rx_init(struct e1000 *e)
{
	for (unsigned i = 0; i < E1000_RX_DESCS; i++) {
		e->rx[i].addr = (uint64_t)(uintptr_t)(e->rx_buf + (size_t)i * E1000_BUF_SIZE);
		e->rx[i].status = 0;
	}
	uint64_t base = (uint64_t)(uintptr_t)e->rx;
	e1000_wr(e, E1000_RDBAL, (uint32_t)base);
	e1000_wr(e, E1000_RDBAH, (uint32_t)(base >> 32));
	e1000_wr(e, E1000_RDLEN, E1000_RX_DESCS * sizeof(struct e1000_rx_desc));
	e1000_wr(e, E1000_RDH, 0);
	e1000_wr(e, E1000_RDT, E1000_RX_DESCS - 1);
	e1000_wr(e, E1000_RDTR, 0);
	e->rx_next = 0;
	/* Broadcast on, CRC stripped (nic.h: frames without FCS), 2 KiB buffers,
	 * no long frames; unicast/multicast promiscuous per set_promisc. */
	e->rctl = E1000_RCTL_EN | E1000_RCTL_BAM | E1000_RCTL_SECRC | E1000_RCTL_BSIZE_2048 |
		  E1000_RCTL_RDMTS_HALF;
	e1000_wr(e, E1000_RCTL, e->rctl);
}

/* SDM 14.5: transmit initialization. */
static void e1000_tx_init(struct e1000 *e)
{
	for (unsigned i = 0; i < E1000_TX_DESCS; i++) {
		e->tx[i].addr = (uint64_t)(uintptr_t)(e->tx_buf + (size_t)i * E1000_BUF_SIZE);
		e->tx[i].cmd = 0;
		e->tx[i].status = E1000_TXD_STAT_DD;
	}
	uint64_t base = (uint64_t)(uintptr_t)e->tx;
	e1000_wr(e, E1000_TDBAL, (uint32_t)base);
	e1000_wr(e, E1000_TDBAH, (uint32_t)(base >> 32));
	e1000_wr(e, E1000_TDLEN, E1000_TX_DESCS * sizeof(struct e1000_tx_desc));
	e1000_wr(e, E1000_TDH, 0);
	e1000_wr(e, E1000_TDT, 0);
	e1000_wr(e, E1000_TIDV, 0);
	e->tx_tail = e->tx_clean = e->tx_tdt = 0;
	e1000_wr(e, E1000_TIPG,
		 E1000_TIPG_IPGT_COPPER | E1000_TIPG_IPGR1 << E1000_TIPG_IPGR1_SHIFT |
			 E1000_TIPG_IPGR2 << E1000_TIPG_IPGR2_SHIFT);
	e1000_wr(e, E1000_TCTL,
		 E1000_TCTL_EN | E1000_TCTL_PSP | E1000_TCTL_CT_DEFAULT << E1000_TCTL_CT_SHIFT |
			 E1000_TCTL_COLD_FD << E1000_TCTL_COLD_SHIFT);
}

/* Rings and buffers in frames: physical = virtual, so descriptors take the
 * pointers as they are. Ring bases are page aligned (SDM wants 16 bytes). */
static int e1000_alloc_rings(struct e1000 *e)
{
	size_t rx_frames = E1000_RX_DESCS * E1000_BUF_SIZE / FRAME_SIZE;
	size_t tx_frames = E1000_TX_DESCS * E1000_BUF_SIZE / FRAME_SIZE;
	uint64_t rx = frame_alloc(1, 1), tx = frame_alloc(1, 1);
	uint64_t rxb = frame_alloc(rx_frames, 1), txb = frame_alloc(tx_frames, 1);

	if (!rx || !tx || !rxb || !txb) {
		if (rx)
			frame_free(rx, 1);
		if (tx)
			frame_free(tx, 1);
		if (rxb)
			frame_free(rxb, rx_frames);
		if (txb)
			frame_free(txb, tx_frames);
		return -ENOMEM;
	}
	_Static_assert(E1000_RX_DESCS * sizeof(struct e1000_rx_desc) <= FRAME_SIZE, "one frame");
	_Static_assert(E1000_TX_DESCS * sizeof(struct e1000_tx_desc) <= FRAME_SIZE, "one frame");
	e->rx = (struct e1000_rx_desc *)(uintptr_t)rx;
	e->tx = (struct e1000_tx_desc *)(uintptr_t)tx;
	e->rx_buf = (uint8_t *)(uintptr_t)rxb;
	e->tx_buf = (uint8_t *)(uintptr_t)txb;
	memset(e->rx, 0, FRAME_SIZE);
	memset(e->tx, 0, FRAME_SIZE);
	return 0;
}

static int e1000_id(const struct pci_dev *d)
{
	if (d->vendor != 0x8086)
		return -1;
	for (unsigned i = 0; i < sizeof(e1000_ids) / sizeof(e1000_ids[0]); i++)
		if (e1000_ids[i].device == d->device)
			return (int)i;
	return -1;
}

static int e1000_bring_up(struct e1000 *e)
{
	const struct pci_dev *d = e->pci;
	bool is_io;
	uint64_t bar = pci_bar(d, 0, &is_io);
	int rc;

	if (is_io || !bar)
		return -ENODEV;
	rc = paging_map_mmio(bar, E1000_BAR_SIZE);
	if (rc)
		return rc;
	e->regs = (volatile uint32_t *)(uintptr_t)bar;
	/* Memory decoding for the registers, bus mastering for descriptor and
	 * buffer DMA. */
	uint16_t cmd = pci_read16(d->bus, d->dev, d->fn, PCI_COMMAND);
	pci_write16(d->bus, d->dev, d->fn, PCI_COMMAND,
		    cmd | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	rc = e1000_reset(e);
	if (rc)
		return rc;
	/* SDM 14.3: link set up by the internal PHY's auto-negotiation. */
	uint32_t ctrl = e1000_rd(e, E1000_CTRL);
	ctrl &= ~(E1000_CTRL_LRST | E1000_CTRL_PHY_RST | E1000_CTRL_ILOS | E1000_CTRL_VME);
	e1000_wr(e, E1000_CTRL, ctrl | E1000_CTRL_SLU | E1000_CTRL_ASDE);
	rc = e1000_read_mac(e);
	if (rc)
		return rc;
	const uint8_t *m = e->nic.mac;
	e1000_wr(e, E1000_RAL0, (uint32_t)m[0] | m[1] << 8 | m[2] << 16 | (uint32_t)m[3] << 24);
	e1000_wr(e, E1000_RAH0, (uint32_t)m[4] | m[5] << 8 | E1000_RAH_AV);
	for (unsigned i = 0; i < E1000_MTA_WORDS; i++)
		e1000_wr(e, E1000_MTA + 4 * i, 0);
	rc = e1000_alloc_rings(e);
	if (rc)
		return rc;
	e1000_rx_init(e);
	e1000_tx_init(e);
	/* Counters start from zero: drop what the device counted before. */
	e1000_fold_stats(e);
	memset(&e->nic.counters, 0, sizeof(e->nic.counters));
	return 0;
}

struct nic *e1000_probe(unsigned index, int *err)
{
	unsigned seen = 0;

	if (err)
		*err = 0;
	for (unsigned i = 0; i < pci_ndevs; i++) {
		const struct pci_dev *d = &pci_devs[i];
		int id = e1000_id(d);
		if (id < 0 || seen++ != index)
			continue;
		const char *model = e1000_ids[id].model;
		for (unsigned k = 0; k < e1000_count; k++)
			if (e1000_devs[k].pci == d)
				return &e1000_devs[k].nic;
		if (e1000_count == E1000_MAX) {
			if (err)
				*err = -ENOSPC;
			return NULL;
		}
		struct e1000 *e = &e1000_devs[e1000_count];
		memset(e, 0, sizeof(*e));
		e->pci = d;
		e->eerd = e1000_ids[id].eerd;
		e->nic.ops = &e1000_ops;
		e->nic.priv = e;
		snprintf(e->nic.name, sizeof(e->nic.name), "e1000.%u", e1000_count);
		int rc = e1000_bring_up(e);
		if (rc) {
			log_err("e1000", "%02x:%02x.%x %s: bring-up failed (%d)", d->bus, d->dev,
				d->fn, model, rc);
			if (err)
				*err = rc;
			return NULL;
		}
		e1000_count++;
		log_info("e1000", "%s: %s at %02x:%02x.%x, MAC %02x:%02x:%02x:%02x:%02x:%02x",
			 e->nic.name, model, d->bus, d->dev, d->fn, e->nic.mac[0], e->nic.mac[1],
			 e->nic.mac[2], e->nic.mac[3], e->nic.mac[4], e->nic.mac[5]);
		return &e->nic;
	}
	return NULL;
}
