/* Intel 8254x (e1000) registers, bits and descriptors, as named in the
 * "PCI/PCI-X Family of Gigabit Ethernet Controllers Software Developer's
 * Manual" (Intel 317453, "8254x SDM" below), and the driver's entry point.
 * Only what Tern's polled driver (drivers/e1000.c) uses is listed. */
#pragma once
#include <stdint.h>

#include "drivers/nic.h"

/* --- registers (SDM 13.3, Table 13-2), offsets into BAR0 ----------------- */
#define E1000_CTRL 0x0000   /* device control */
#define E1000_STATUS 0x0008 /* device status */
#define E1000_EECD 0x0010   /* EEPROM/flash control */
#define E1000_EERD 0x0014   /* EEPROM read (82540 and later) */
#define E1000_ICR 0x00C0    /* interrupt cause read (clears on read) */
#define E1000_IMS 0x00D0    /* interrupt mask set */
#define E1000_IMC 0x00D8    /* interrupt mask clear */
#define E1000_RCTL 0x0100   /* receive control */
#define E1000_TCTL 0x0400   /* transmit control */
#define E1000_TIPG 0x0410   /* transmit inter-packet gap */
#define E1000_RDBAL 0x2800  /* receive descriptor base, low 32 bits */
#define E1000_RDBAH 0x2804  /* ... high 32 bits */
#define E1000_RDLEN 0x2808  /* receive ring length in bytes */
#define E1000_RDH 0x2810    /* receive head (hardware's next descriptor) */
#define E1000_RDT 0x2818    /* receive tail (one past the last one software gave) */
#define E1000_RDTR 0x2820   /* receive interrupt delay */
#define E1000_TDBAL 0x3800
#define E1000_TDBAH 0x3804
#define E1000_TDLEN 0x3808
#define E1000_TDH 0x3810
#define E1000_TDT 0x3818
#define E1000_TIDV 0x3820 /* transmit interrupt delay */
#define E1000_MTA 0x5200  /* multicast table, 128 32-bit entries */
#define E1000_MTA_WORDS 128
#define E1000_RAL0 0x5400 /* receive address 0, low: MAC bytes 0..3 */
#define E1000_RAH0 0x5404 /* receive address 0, high: MAC bytes 4..5, AV */

/* Statistics (SDM 13.7): 32-bit, cleared on read. */
#define E1000_CRCERRS 0x4000  /* CRC errors */
#define E1000_ALGNERRC 0x4004 /* alignment errors */
#define E1000_RXERRC 0x400C   /* RX errors (symbol, sequence, carrier extension) */
#define E1000_MPC 0x4010      /* missed packets: no room in the FIFO or the ring */
#define E1000_ECOL 0x4018     /* excessive collisions (frame not sent) */
#define E1000_LATECOL 0x4020  /* late collisions (frame not sent) */
#define E1000_RLEC 0x4040     /* receive length errors */

/* --- CTRL (SDM 13.4.1) ----------------------------------------------------- */
#define E1000_CTRL_FD (1u << 0)	  /* full duplex */
#define E1000_CTRL_LRST (1u << 3) /* link reset */
#define E1000_CTRL_ASDE (1u << 5) /* auto-speed detection */
#define E1000_CTRL_SLU (1u << 6)  /* set link up */
#define E1000_CTRL_ILOS (1u << 7) /* invert loss-of-signal */
#define E1000_CTRL_RST (1u << 26) /* device reset, self-clearing */
#define E1000_CTRL_VME (1u << 30) /* VLAN mode */
#define E1000_CTRL_PHY_RST (1u << 31)

/* --- STATUS (SDM 13.4.2) --------------------------------------------------- */
#define E1000_STATUS_FD (1u << 0)
#define E1000_STATUS_LU (1u << 1) /* link up */
#define E1000_STATUS_SPEED_SHIFT 6
#define E1000_STATUS_SPEED_MASK (3u << 6) /* 00: 10, 01: 100, 1x: 1000 Mb/s */

/* --- EERD (SDM 13.4.4, 82540/82545/82546 layout) ------------------------- */
#define E1000_EERD_START (1u << 0)
#define E1000_EERD_DONE (1u << 4)
#define E1000_EERD_ADDR_SHIFT 8
#define E1000_EERD_DATA_SHIFT 16

/* --- RCTL (SDM 13.4.22) ---------------------------------------------------- */
#define E1000_RCTL_EN (1u << 1)
#define E1000_RCTL_SBP (1u << 2) /* store bad packets */
#define E1000_RCTL_UPE (1u << 3) /* unicast promiscuous */
#define E1000_RCTL_MPE (1u << 4) /* multicast promiscuous */
#define E1000_RCTL_LPE (1u << 5) /* long packets (> 1522 bytes) */
#define E1000_RCTL_RDMTS_HALF (0u << 8)
#define E1000_RCTL_BAM (1u << 15)	 /* accept broadcast */
#define E1000_RCTL_BSIZE_2048 (0u << 16) /* with BSEX 0 */
#define E1000_RCTL_SECRC (1u << 26)	 /* strip the Ethernet CRC */

/* --- TCTL (SDM 13.4.33) and TIPG (13.4.34) -------------------------------- */
#define E1000_TCTL_EN (1u << 1)
#define E1000_TCTL_PSP (1u << 3) /* pad short packets to 64 bytes */
#define E1000_TCTL_CT_SHIFT 4	 /* collision threshold */
#define E1000_TCTL_COLD_SHIFT 12 /* collision distance */
#define E1000_TCTL_CT_DEFAULT 0x0F
#define E1000_TCTL_COLD_FD 0x40	  /* 64-byte time, full duplex */
#define E1000_TIPG_IPGT_COPPER 10 /* SDM Table 13-77, 82540/82545 copper */
#define E1000_TIPG_IPGR1_SHIFT 10
#define E1000_TIPG_IPGR1 8
#define E1000_TIPG_IPGR2_SHIFT 20
#define E1000_TIPG_IPGR2 6

/* --- RAH (SDM 13.4.28) ------------------------------------------------------ */
#define E1000_RAH_AV (1u << 31) /* address valid */

/* --- legacy descriptors (SDM 3.2.3 receive, 3.3.3 transmit) --------------- */
struct e1000_rx_desc {
	uint64_t addr;
	uint16_t length;
	uint16_t csum;
	uint8_t status;
	uint8_t errors;
	uint16_t special;
} __attribute__((packed));

struct e1000_tx_desc {
	uint64_t addr;
	uint16_t length;
	uint8_t cso;
	uint8_t cmd;
	uint8_t status;
	uint8_t css;
	uint16_t special;
} __attribute__((packed));

_Static_assert(sizeof(struct e1000_rx_desc) == 16, "SDM 3.2.3: 16-byte RX descriptor");
_Static_assert(sizeof(struct e1000_tx_desc) == 16, "SDM 3.3.3: 16-byte TX descriptor");

#define E1000_RXD_STAT_DD (1u << 0)  /* descriptor done */
#define E1000_RXD_STAT_EOP (1u << 1) /* end of packet */
/* CE, SE, SEQ, CXE, RXE: the frame itself is bad (SDM 3.2.3.2). TCPE/IPE are
 * checksum-offload results, which Tern does not enable. */
#define E1000_RXD_ERR_FRAME 0x97u

#define E1000_TXD_CMD_EOP (1u << 0)  /* end of packet */
#define E1000_TXD_CMD_IFCS (1u << 1) /* insert FCS */
#define E1000_TXD_CMD_RS (1u << 3)   /* report status (sets DD) */
#define E1000_TXD_STAT_DD (1u << 0)
#define E1000_TXD_STAT_EC (1u << 1) /* excess collisions */
#define E1000_TXD_STAT_LC (1u << 2) /* late collision */

/* --- the driver ---------------------------------------------------------- */

/* The index-th supported 8254x function on the PCI bus (0 = first), brought
 * up: reset, MAC read, rings allocated, receiver and transmitter on, polled
 * (interrupts masked). NULL when there is no such function; NULL with
 * *err set (negative errno) when one was found but could not be brought up.
 * err may be NULL. */
struct nic *e1000_probe(unsigned index, int *err);
