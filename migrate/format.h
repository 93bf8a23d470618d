/* The numbers of docs/migration-stream.md (version 2). Change the spec
 * first, then this file. */
#pragma once
#include <stdint.h>

#define MIG_MAGIC "TERN-MIG"
#define MIG_MAGIC_LEN 8
#define MIG_VERSION 2u
#define MIG_HEADER_LEN 16u
#define MIG_REC_HDR_LEN 8u
#define MIG_REC_ALIGN 8u

#define MIG_PAGE_SHIFT 12u
#define MIG_PAGE_SIZE 4096u

/* Set on types a receiver may skip when it does not know them. */
#define MIG_REC_OPTIONAL 0x80000000u

enum mig_rec_type {
	MIG_REC_HELLO = 0x01,
	MIG_REC_AUTH = 0x02,
	MIG_REC_GUEST_CONFIG = 0x03,
	MIG_REC_PAGE_DATA = 0x04,
	MIG_REC_VCPU_STATE = 0x05,
	MIG_REC_DEVICE_STATE = 0x06,
	MIG_REC_END_OF_ROUND = 0x07,
	MIG_REC_END = 0x08,
	MIG_REC_ERROR = 0x09,
	MIG_REC_PAGE_DELTA = 0x0A,
	MIG_REC_ACCEPT = 0x10,
	MIG_REC_REFUSE = 0x11,
	MIG_REC_HANDOFF_DONE = 0x12,
	MIG_REC_HELD_FRAMES = 0x13,
	MIG_REC_DISK_DATA = 0x14,
	MIG_REC_DISK_BITMAP = 0x15,
};

/* ERROR and REFUSE codes. */
enum mig_code {
	MIG_CODE_PROTOCOL = 1,
	MIG_CODE_VERSION = 2,
	MIG_CODE_AUTH = 3,
	MIG_CODE_CPUID = 4,
	MIG_CODE_NO_MEMORY = 5,
	MIG_CODE_IN_USE = 6,
	MIG_CODE_LIMIT = 7,
	MIG_CODE_GUEST = 8,
	MIG_CODE_CANCELLED = 9,
	MIG_CODE_TIMEOUT = 10,
	MIG_CODE_CHECKSUM = 11,
	MIG_CODE_UNSUPPORTED = 12,
	MIG_CODE_NO_SPACE = 13,
	MIG_CODE_NO_BASE = 14,
};

/* Receiver limits. */
/* The longest PAGE_DELTA encoding: three quarters of a page. A page whose
 * delta would be longer goes whole, cheaper to decode and hardly longer. */
#define MIG_DELTA_MAX 3072u
#define MIG_MAX_BATCH_PAGES 256u
#define MIG_PAGE_ENTRY_LEN 16u
#define MIG_BATCH_HDR_LEN 8u
#define MIG_MAX_RECORD_LEN                                                                         \
	(MIG_BATCH_HDR_LEN + MIG_MAX_BATCH_PAGES * (MIG_PAGE_ENTRY_LEN + MIG_PAGE_SIZE))
#define MIG_DELTA_ENTRY_LEN 16u
#define MIG_MAX_DELTA_RECORD_LEN                                                                   \
	(MIG_BATCH_HDR_LEN + MIG_MAX_BATCH_PAGES * (MIG_DELTA_ENTRY_LEN + MIG_DELTA_MAX))
#define MIG_MAX_RAM_BYTES (64ull << 30)
/* A disk moves in blocks of a page's size (DISK_DATA entries are PAGE_DATA
 * entries with block numbers for gfns), so the source's dirty bitmap for
 * it is 32 KiB a GiB: 2 MiB at this limit. */
#define MIG_DISK_BLOCK 4096u
#define MIG_MAX_DISK_BYTES (64ull << 30)
#define MIG_MAX_VCPUS 64u
#define MIG_MAX_DEVICES 32u
#define MIG_MAX_BLOB 65536u
#define MIG_MAX_CPUID_BLOB 8192u
#define MIG_MAX_TEXT 256u
#define MIG_NAME_FIELD 32u /* 31 characters and a NUL */
#define MIG_DEVNAME_FIELD 24u

/* Payload layouts. */
#define MIG_NONCE_LEN 32u
#define MIG_PROOF_LEN 32u
#define MIG_SOFTWARE_LEN 32u
#define MIG_HELLO_LEN 80u
#define MIG_CONFIG_FIXED_LEN 72u
/* GUEST_CONFIG with MIG_CONFIG_DISK: after the CPUID blob, the volume's
 * name (32, NUL-padded), its size in bytes (u64) and 8 bytes of zeros. */
#define MIG_CONFIG_DISK_LEN 48u
/* With MIG_CONFIG_DISK_BASE too, after that: the base volume's name (32,
 * NUL-padded) and the SHA-256 of its content (32). */
#define MIG_CONFIG_BASE_LEN 64u
#define MIG_DEVICE_ENTRY_LEN 32u
#define MIG_CONFIG_MAX_LEN                                                                         \
	(MIG_CONFIG_FIXED_LEN + MIG_MAX_DEVICES * MIG_DEVICE_ENTRY_LEN + MIG_MAX_CPUID_BLOB +    \
	 MIG_CONFIG_DISK_LEN + MIG_CONFIG_BASE_LEN)
#define MIG_BLOB_HDR_LEN 8u
#define MIG_EOR_LEN 16u
#define MIG_END_LEN 32u
#define MIG_TEXT_HDR_LEN 8u
#define MIG_HANDOFF_LEN 8u
/* DISK_BITMAP: name (32, NUL-padded), u32 granularity, u32 flags, u64
 * bits, then the bits (bit i in bit i % 8 of byte i / 8). */
#define MIG_BITMAP_HDR_LEN 48u
#define MIG_BITMAP_PERSISTENT 0x1u
#define MIG_BITMAP_INCONSISTENT 0x2u
#define MIG_BITMAP_GRAN_MIN 4096u
#define MIG_BITMAP_GRAN_MAX (16u << 20)
#define MIG_MAX_BITMAPS 16u /* of one disk */
/* What the receive buffer holds: 8 Mi bits, 512 GiB at 64 KiB granules
 * (32 GiB at 4 KiB: a finer bitmap of a larger disk cannot move). */
#define MIG_MAX_BITMAP_LEN MIG_MAX_RECORD_LEN
/* HELD_FRAMES: u32 count, u32 0, then per frame u16 length and the frame. */
#define MIG_HELD_HDR_LEN 8u
#define MIG_HELD_MAX_FRAMES 64u
#define MIG_FRAME_MIN 14u   /* an Ethernet header */
#define MIG_FRAME_MAX 1518u /* 1500-byte MTU, an 802.1Q tag, no FCS */
#define MIG_HELD_MAX_LEN (MIG_HELD_HDR_LEN + MIG_HELD_MAX_FRAMES * (2u + MIG_FRAME_MAX))

#define MIG_CAP_DELTA 0x1ull   /* HELLO caps: PAGE_DELTA sent (source), accepted (destination) */
#define MIG_CAP_HELD 0x2ull    /* HELLO caps: HELD_FRAMES follows HANDOFF_DONE (both offer it) */
#define MIG_CAP_DISK 0x4ull    /* HELLO caps: a guest's disk moves (DISK_DATA, MIG_CONFIG_DISK) */
#define MIG_CAP_DISK_BASE 0x8ull /* HELLO caps: a clone's disk moves as what differs from its base */
#define MIG_PAGE_ZERO 0x1u     /* page entry flag */
#define MIG_CONFIG_IPV4 0x1u   /* GUEST_CONFIG flag */
#define MIG_CONFIG_PAUSED 0x2u /* GUEST_CONFIG flag: the operator paused the guest */
#define MIG_CONFIG_DISK 0x4u   /* GUEST_CONFIG flag: a disk section follows the CPUID blob */
#define MIG_CONFIG_DISK_BASE 0x8u /* GUEST_CONFIG flag: the disk is a clone; a base section follows */
#define MIG_EOR_FINAL 0x1u     /* END_OF_ROUND flag */
