/* A guest's disk: a virtio-blk device (virtio 1.1, 5.2) on the modern PCI
 * transport (virtio_pci.h), backed by a window of a host block device
 * (drivers/blkdev.h): blocks [start, start + blocks) of one volume on the
 * host's NVMe. The guest sees a disk of exactly that size and nothing of
 * the rest of the device.
 *
 * Features: VIRTIO_F_VERSION_1, SIZE_MAX and SEG_MAX (the largest request
 * Linux then builds is VBLK_SEG_MAX * VBLK_SIZE_MAX bytes, which bounds the
 * time one request holds the main loop), BLK_SIZE (the backing device's
 * block size: 512, or 4096 on a 4K-native namespace, where requests must be
 * 4096-aligned rather than read-modify-written), FLUSH (a write-back cache
 * as far as the guest knows: its flushes reach blkdev_flush), RO for a
 * read-only window. One request queue (0), split rings, no indirect
 * descriptors, no EVENT_IDX. Requests: IN, OUT, FLUSH, GET_ID (the serial);
 * anything else is VIRTIO_BLK_S_UNSUPP.
 *
 * Requests are served synchronously when the driver notifies the queue:
 * each available chain is checked, carried out with blkdev calls through a
 * bounce buffer, and returned, and the batch interrupts once (MSI-X, or the
 * ISR for a polling driver). One call serves at most a budget (below), so
 * a guest that queues a ring of the largest requests cannot hold the main
 * loop (consoles, network, other guests) for long; vblk_poll, from the
 * main loop, serves the rest a budget at a time. A request the device can answer but not serve
 * (out of the window, misshapen, too large, the disk failed) ends with
 * VIRTIO_BLK_S_IOERR and no data moved outside what it names; a chain the
 * device cannot even answer (a broken ring, no writable status byte) sets
 * DEVICE_NEEDS_RESET, as virtio-net does. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "drivers/blkdev.h"
#include "kernel/vdev/virtio_pci.h"

struct vm;

#define VBLK_PCI_DEV 2 /* 00:02.0: a VM's first disk; 00:03.0 the second */
/* BAR0 and BAR1 as Tern leaves them for the device at 00:dev.0: I/O after
 * virtio-net's (0xC000), MSI-X in the PCI window's page for the device
 * number (docs/guests.md). */
#define VBLK_IO_BASE(dev) (0xC000u + 0x100u * ((dev)-1))
#define VBLK_MSIX_BASE(dev) (0xE0000000u + 0x1000u * (dev))

#define VBLK_SECTOR 512	 /* virtio-blk's unit for capacity and sectors (5.2.4) */
#define VBLK_ID_BYTES 20 /* GET_ID's answer (5.2.6) */
/* seg_max and size_max: QEMU's default segment count (two of the largest
 * requests fit the 256-entry ring) and Linux's own default segment size.
 * A driver that keeps to both never builds more than VBLK_DATA_MAX bytes
 * in one request; the device refuses more (or more segments) from any. */
#define VBLK_SEG_MAX 126
#define VBLK_SIZE_MAX 0x10000
#define VBLK_DATA_MAX ((uint64_t)VBLK_SEG_MAX * VBLK_SIZE_MAX)
#define VBLK_BOUNCE 0x10000 /* bytes per blkdev call */
/* What one notification or one vblk_poll serves at most: requests are
 * taken while fewer than VBLK_BUDGET_REQS were served and less than
 * VBLK_BUDGET_BYTES of data was asked for, so one call moves at most
 * VBLK_BUDGET_BYTES + VBLK_DATA_MAX bytes (the request that crosses the
 * budget is finished). 1 MiB is a few milliseconds on an NVMe disk; the
 * request count bounds flushes, which move nothing but can be slow. */
#define VBLK_BUDGET_BYTES (1u << 20)
#define VBLK_BUDGET_REQS 64

/* What a disk is made of; vblk_init copies it. */
struct vblk_disk {
	struct blkdev *dev;
	uint64_t start;	 /* first block of the window, in the device's blocks */
	uint64_t blocks; /* its length, in the device's blocks */
	bool read_only;
	char serial[VBLK_ID_BYTES]; /* GET_ID: NUL-padded, or all 20 bytes used */
};

struct vblk_stats {
	uint64_t reads, writes, flushes;  /* requests that succeeded */
	uint64_t read_bytes, write_bytes; /* what they moved */
	uint64_t refused;		  /* IOERR: out of the window, misshapen, too large */
	uint64_t unsupported;		  /* UNSUPP: a type this device does not serve */
	uint64_t errors;		  /* IOERR: the backing device failed */
};

struct vdev_vblk {
	struct vm *vm; /* NULL until vblk_init */
	struct vpci *bus;
	unsigned devnum;
	struct virtio_pci vp;
	struct virtio_dev_ops ops; /* per disk: RO is offered or not */
	struct vblk_disk disk;
	uint64_t capacity;	    /* in 512-byte sectors */
	uint32_t sectors_per_block; /* 1 or 8 */
	uint8_t *bounce;	    /* VBLK_BOUNCE bytes */
	struct vq_chain chain;
	struct vblk_stats stats;
};

/* Creates the device in its reset state and attaches it to bus at
 * 00:devnum.0. 0, or -EINVAL (no device, a block size other than 512..4096,
 * an empty window or one past the device's end), -EBUSY or -EINVAL from
 * vpci_attach, -ENOMEM; on failure nothing stays allocated or attached. */
int vblk_init(struct vdev_vblk *d, struct vm *vm, struct vpci *bus, unsigned devnum,
	      const struct vblk_disk *disk);
/* Serves what the last budget left in the request queue (the main loop
 * calls it for every running guest with a disk): true when a request was
 * returned, so the loop does not idle while some wait. */
bool vblk_poll(struct vdev_vblk *d);
/* Detaches the device and frees its buffer (VM destroyed or migrated away). */
void vblk_destroy(struct vdev_vblk *d);

/* Migration: the transport's state (virtio_pci.h), then the disk as the
 * guest sees it (block size, capacity, read-only, segment limit, serial)
 * and the counters. Restore refuses (-EINVAL, *why), changing nothing, a
 * blob of another length or version, one for a disk that looks different
 * here, or a transport state virtio_pci_restore refuses. */
#define VBLK_STATE_LEN (VIRTIO_PCI_STATE_LEN + 48 + sizeof(struct vblk_stats))
int vblk_save(const struct vdev_vblk *d, void *buf, size_t cap);
int vblk_restore(struct vdev_vblk *d, const void *buf, size_t len, const char **why);
