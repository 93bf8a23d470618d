/* The harness of the virtio-blk tests (test_virtio_blk.c, test_virtio_blk_state.c): a fake VM whose
 * RAM is a host buffer of exactly RAM bytes (so ASan sees any access past
 * it), a RAM-backed block device that counts its calls and fails on
 * request, every MSI recorded, and a test "driver" that builds requests the
 * way Linux's virtio_blk does (header, data segments, status, one
 * descriptor each). setup/teardown give each test a fresh VM with a disk
 * at 00:02.0: a window of WIN_BLOCKS blocks starting at WIN_START of a
 * DISK_BLOCKS-block, 512-byte device. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/blkdev.h"
#include "kernel/vdev/virtio_blk.h"
#include "kernel/vm.h"

#define RAM (4u << 20)
#define DEV VBLK_PCI_DEV
#define BAR VBLK_IO_BASE(VBLK_PCI_DEV)
#define MSIX VBLK_MSIX_BASE(VBLK_PCI_DEV)
#define QSIZE 256 /* what Linux uses: the size the device offers */
#define DISK_BLOCKS 4096
#define WIN_START 1024
#define WIN_BLOCKS 2048
#define SERIAL "tern-vol-0001"
/* Where the test's "driver" keeps its ring and buffers. */
#define RQ_DESC 0x10000
#define RQ_AVAIL 0x11000
#define RQ_USED 0x12000
#define HDRS 0x13000	 /* request slot i's header at HDRS + 16 * i */
#define STATUSES 0x14000 /* and its status byte at STATUSES + i */
#define DATA 0x100000	 /* data buffers from here to the end of RAM */

/* virtio-blk's request types, status bytes and feature bits (virtio 1.1
 * 5.2), as the test driver writes and reads them. */
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define S_OK 0
#define S_IOERR 1
#define S_UNSUPP 2
#define F_SIZE_MAX (1u << 1)
#define F_SEG_MAX (1u << 2)
#define F_RO (1u << 5)
#define F_BLK_SIZE (1u << 6)
#define F_FLUSH (1u << 9)
#define F_ALL (F_SIZE_MAX | F_SEG_MAX | F_BLK_SIZE | F_FLUSH)

/* A block device in host memory. */
struct ramdisk {
	struct blkdev bd;
	uint8_t *data;
	unsigned reads, writes, flushes; /* calls */
	unsigned out_of_range;		 /* calls past the device's end (must stay 0) */
	uint32_t largest;		 /* the most blocks one call carried */
	bool fail;			 /* every call fails with -EIO */
};

/* A data segment of a request: guest-physical address and length. */
struct seg {
	uint64_t gpa;
	uint32_t len;
};

/* Every MSI the device sent, in order. */
struct vblk_msi {
	int n;
	uint64_t addr[16];
	uint32_t data[16];
};

extern struct vm vm, vm2;
extern uint8_t *ram, *ram2;
extern struct vdev_vblk blk, blk2;
extern struct ramdisk disk, disk2;
extern struct vblk_msi msi;

/* A ramdisk of blocks of block_size, filled with a pattern that differs in
 * every 4 bytes, at most max_blocks per call. */
void ramdisk_make(struct ramdisk *r, uint32_t block_size, uint64_t blocks, uint32_t max_blocks);
void ramdisk_free(struct ramdisk *r);
/* The disk vblk_init takes: the test window of r. */
struct vblk_disk window_of(struct ramdisk *r, bool read_only);
/* A running VM with RAM bytes at *mem and, when r is given, its disk d on
 * the test window of r at 00:02.0. */
void make_vm(struct vm *v, uint8_t **mem, struct vdev_vblk *d, struct ramdisk *r);

/* Configuration space, BAR0 ports, the MSI-X BAR, guest memory. */
uint32_t cfg_in(struct vm *v, unsigned dev, unsigned off, unsigned size);
void cfg_out(struct vm *v, unsigned dev, unsigned off, unsigned size, uint32_t val);
uint32_t in(struct vm *v, unsigned off, unsigned size);
void out(struct vm *v, unsigned off, unsigned size, uint32_t val);
void mem_out(struct vm *v, uint64_t gpa, unsigned size, uint64_t val);
uint8_t *gpa(struct vm *v, uint64_t addr); /* the test's own view of guest RAM */
uint16_t get16(struct vm *v, uint64_t addr);
uint32_t get32(struct vm *v, uint64_t addr);

/* The driver's start-up (virtio 1.1 3.1.1) with features lo/hi and the
 * request queue at RQ_*; returns the status read back. */
uint8_t driver_up(struct vm *v, uint32_t lo, uint32_t hi);
/* As Linux with MSI-X: configuration on vector 0 (data 0x40), the request
 * queue on vector 1 (data 0x41), MSI-X enabled, then driver_up with every
 * feature offered. */
void msix_up(struct vm *v);
/* A descriptor at index i of the request queue's table. */
void desc(struct vm *v, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
/* Makes chain head available and notifies the request queue. */
void offer(struct vm *v, uint16_t head);
void notify(struct vm *v);
/* A request as Linux builds it, in slot (0..255, its header and status
 * byte): header, n data segments (device-writable for IN and GET_ID),
 * status byte (set to 0xFF first), on descriptors taken in turn from a
 * cursor that wraps around the table; offered, not notified. Returns the
 * chain head. blk_request also notifies. */
uint16_t blk_prepare(struct vm *v, unsigned slot, uint32_t type, uint64_t sector,
		     const struct seg *data, unsigned n);
uint16_t blk_request(struct vm *v, unsigned slot, uint32_t type, uint64_t sector,
		     const struct seg *data, unsigned n);
/* The next descriptor the cursor hands out, and taking it. */
uint16_t take_desc(void);
uint8_t status_of(struct vm *v, unsigned slot);
/* The used ring: its index, and entry i's id and length. */
uint16_t used_idx(struct vm *v);
uint32_t used_id(struct vm *v, unsigned i);
uint32_t used_len(struct vm *v, unsigned i);

int setup(void **state);
int teardown(void **state);
