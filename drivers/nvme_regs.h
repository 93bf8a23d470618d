/* NVMe controller registers, queue entries and the Identify data Tern
 * reads, named as in the NVM Express Base Specification 1.4 ("NVMe 1.4"
 * below). Only what the polled driver (drivers/nvme.c) uses is listed. */
#pragma once
#include <stdint.h>

/* --- controller registers (NVMe 1.4 3.1, Figure 78), offsets into BAR0 ---- */
#define NVME_CAP 0x00	/* controller capabilities, 64-bit */
#define NVME_VS 0x08	/* version */
#define NVME_INTMS 0x0C /* interrupt mask set */
#define NVME_INTMC 0x10 /* interrupt mask clear */
#define NVME_CC 0x14	/* controller configuration */
#define NVME_CSTS 0x1C	/* controller status */
#define NVME_AQA 0x24	/* admin queue attributes */
#define NVME_ASQ 0x28	/* admin submission queue base, 64-bit */
#define NVME_ACQ 0x30	/* admin completion queue base, 64-bit */
/* 3.1.24/3.1.25: SQyTDBL at 0x1000 + 2y * (4 << CAP.DSTRD), CQyHDBL right after. */
#define NVME_DBL_BASE 0x1000

/* CAP (3.1.1) */
#define NVME_CAP_MQES(c) ((uint32_t)((c)&0xffff))	  /* max queue entries, 0-based */
#define NVME_CAP_CQR(c) (((c) >> 16) & 1)		  /* queues must be physically contiguous */
#define NVME_CAP_TO(c) ((uint32_t)(((c) >> 24) & 0xff))	  /* worst ready time, 500 ms units */
#define NVME_CAP_DSTRD(c) ((uint32_t)(((c) >> 32) & 0xf)) /* doorbell stride */
#define NVME_CAP_CSS_NVM(c) (((c) >> 37) & 1)		  /* NVM command set supported */
#define NVME_CAP_MPSMIN(c) ((uint32_t)(((c) >> 48) & 0xf)) /* min page 2^(12+n) */
#define NVME_CAP_MPSMAX(c) ((uint32_t)(((c) >> 52) & 0xf))

/* CC (3.1.5) */
#define NVME_CC_EN (1u << 0)
#define NVME_CC_CSS_NVM (0u << 4)
#define NVME_CC_MPS_SHIFT 7 /* memory page size 2^(12+MPS) */
#define NVME_CC_AMS_RR (0u << 11)
#define NVME_CC_SHN_MASK (3u << 14)
#define NVME_CC_IOSQES_SHIFT 16 /* I/O SQ entry size, 2^n bytes */
#define NVME_CC_IOCQES_SHIFT 20 /* I/O CQ entry size, 2^n bytes */

/* CSTS (3.1.6) */
#define NVME_CSTS_RDY (1u << 0)
#define NVME_CSTS_CFS (1u << 1) /* controller fatal status */

/* AQA (3.1.8): both sizes 0-based */
#define NVME_AQA_ACQS_SHIFT 16

/* --- queue entries (4.2, 4.6) --------------------------------------------- */
struct nvme_sqe {
	uint8_t opcode;
	uint8_t flags; /* FUSE 1:0, PSDT 7:6: 0 = PRPs */
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2, cdw3;
	uint64_t mptr;
	uint64_t prp1, prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
} __attribute__((packed));

struct nvme_cqe {
	uint32_t dw0; /* command specific */
	uint32_t dw1;
	uint16_t sqhd; /* the SQ head the controller has reached */
	uint16_t sqid;
	uint16_t cid;
	uint16_t status; /* P bit 0, SC 8:1, SCT 11:9, CRD 13:12, M 14, DNR 15 */
} __attribute__((packed));

_Static_assert(sizeof(struct nvme_sqe) == 64, "NVMe 1.4 4.2: 64-byte submission entry");
_Static_assert(sizeof(struct nvme_cqe) == 16, "NVMe 1.4 4.6: 16-byte completion entry");

#define NVME_SQES_LOG2 6
#define NVME_CQES_LOG2 4
#define NVME_CQE_PHASE 1u
#define NVME_CQE_SC(s) (((s) >> 1) & 0xff)
#define NVME_CQE_SCT(s) (((s) >> 9) & 0x7)

/* --- admin commands (5, Figure 139) ---------------------------------------- */
#define NVME_ADM_DELETE_SQ 0x00
#define NVME_ADM_CREATE_SQ 0x01
#define NVME_ADM_DELETE_CQ 0x04
#define NVME_ADM_CREATE_CQ 0x05
#define NVME_ADM_IDENTIFY 0x06
#define NVME_ADM_SET_FEATURES 0x09

#define NVME_ID_CNS_NS 0x00	  /* Identify Namespace data structure (5.15.2.1) */
#define NVME_ID_CNS_CTRL 0x01	  /* Identify Controller data structure (5.15.2.2) */
#define NVME_FEAT_NUM_QUEUES 0x07 /* 5.21.1.7 */

/* Create I/O Completion/Submission Queue (5.3, 5.4): CDW10 QSIZE 31:16
 * (0-based) | QID 15:0; CDW11 PC bit 0, CQ: IEN bit 1, SQ: CQID 31:16. */
#define NVME_QUEUE_PC (1u << 0)

/* --- NVM command set I/O commands (NVM Command Set 6, Figure 346) --------- */
#define NVME_CMD_FLUSH 0x00
#define NVME_CMD_WRITE 0x01
#define NVME_CMD_READ 0x02
/* Write Zeroes (6.16): CDW10/11 SLBA, CDW12 NLB 15:0 (0-based); no data. */
#define NVME_CMD_WRITE_ZEROES 0x08
#define NVME_WZ_MAX_BLOCKS 65536u

/* --- Identify data, byte offsets ------------------------------------------ */
/* Identify Controller (Figure 247) */
#define NVME_IDC_SN 4	  /* serial number, 20 ASCII bytes */
#define NVME_IDC_MN 24	  /* model number, 40 ASCII bytes */
#define NVME_IDC_FR 64	  /* firmware revision, 8 ASCII bytes */
#define NVME_IDC_MDTS 77  /* max data transfer, 2^n units of CAP.MPSMIN; 0 = none */
#define NVME_IDC_SQES 512 /* required 3:0, maximum 7:4 (log2 bytes) */
#define NVME_IDC_CQES 513
#define NVME_IDC_NN 516 /* number of namespaces, 32-bit */
#define NVME_IDC_ONCS 520 /* optional NVM commands, 16-bit */
#define NVME_ONCS_WRITE_ZEROES (1u << 3)
/* Identify Namespace (Figure 245) */
#define NVME_IDNS_NSZE 0   /* namespace size in logical blocks, 64-bit */
#define NVME_IDNS_NLBAF 25 /* number of LBA formats, 0-based */
#define NVME_IDNS_FLBAS 26 /* LBA format in use 3:0, metadata at the LBA's end 4 */
#define NVME_IDNS_LBAF 128 /* 16 LBA formats, 4 bytes each: MS 15:0, LBADS 23:16 */
#define NVME_IDNS_FLBAS_FMT(v) ((v)&0xf)
