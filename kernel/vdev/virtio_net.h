/* A guest's network card: a virtio-net device (virtio 1.1, 5.1) on the
 * modern PCI transport (virtio_pci.h) at 00:01.0, plugged into the vswitch
 * as a guest port named after the VM.
 *
 * Features: VIRTIO_F_VERSION_1 and VIRTIO_NET_F_MAC only (the MAC is the
 * VM's own, `vm create ... mac=`); one receive queue (0) and one transmit
 * queue (1), split rings, no offloads, every buffer preceded by the 12-byte
 * struct virtio_net_hdr (5.1.6) with num_buffers 1. Without MRG_RXBUF a
 * driver posts receive buffers that hold a whole frame (Linux: one
 * descriptor of 12 + 1518 bytes). Used buffers interrupt through MSI-X
 * (3 vectors: configuration, receive, transmit) once per batch the device
 * returns, or set the ISR for a polling driver (virtio_pci.h).
 *
 * Transmit happens when the driver notifies queue 1: every available chain
 * becomes one frame for vswitch_input() on the VM's port, where the switch
 * learns the guest's MAC and IPv4 address (`vm list` shows that address).
 * Frames the switch delivers to the port go straight into a receive buffer
 * when the driver has one and the VM may be written to (running or halted),
 * else into a bounded queue that vnet_poll() drains from the main loop;
 * when that is full they are dropped and counted. The device never writes
 * guest memory while the VM is paused or being received by a migration. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kernel/vdev/virtio_pci.h"

struct vm;

#define VNET_PCI_DEV 1	    /* 00:01.0 */
#define VNET_IO_BASE 0xC000 /* BAR0 as Tern leaves it at reset */
/* BAR1 (MSI-X) as Tern leaves it: the PCI window's page for the device
 * number (docs/guests.md). */
#define VNET_MSIX_BASE (0xE0000000u + 0x1000u * VNET_PCI_DEV)
#define VNET_HDR_LEN 12	    /* struct virtio_net_hdr with num_buffers (5.1.6) */
#define VNET_FRAME_MAX 1518 /* 1500-byte MTU, an 802.1Q tag, no FCS */
#define VNET_PENDING 64	    /* frames held for a guest with no receive buffer */

struct vnet_stats {
	uint64_t rx_frames, rx_bytes; /* written into the guest's receive buffers */
	uint64_t rx_drops;	      /* lost: queue full, device not running, too large */
	uint64_t rx_short;	      /* dropped: the receive buffer was too small */
	uint64_t tx_frames, tx_bytes; /* taken from the guest's transmit queue */
	uint64_t tx_errors;	      /* refused: too long, GSO header, or no switch */
};

struct vdev_vnet {
	struct vm *vm; /* NULL until vnet_init */
	struct virtio_pci vp;
	int port; /* vswitch port, or VSWITCH_NO_PORT without a network */
	uint8_t (*pend)[VNET_FRAME_MAX];
	uint16_t pend_len[VNET_PENDING];
	unsigned pend_head, pend_count;
	unsigned pend_carried; /* of those, the first ones the last vnet_save carried */
	struct vq_chain rx_chain, tx_chain;
	uint8_t tx_buf[VNET_HDR_LEN + VNET_FRAME_MAX];
	struct vnet_stats stats;
};

/* Creates the device in its reset state, attaches it to the VM's PCI bus
 * and adds its vswitch port. 0, or -ENOMEM (nothing stays allocated). A
 * host without a network still gets the device; its frames go nowhere. */
int vnet_init(struct vdev_vnet *d, struct vm *vm, struct vpci *bus);
/* Removes the port and frees the queue (VM destroyed or migrated away). */
void vnet_destroy(struct vdev_vnet *d);
/* Main-loop work: receive queued frames into buffers the driver has made
 * available since. True when it delivered any. */
bool vnet_poll(struct vdev_vnet *d);
/* After the VM resumed here from a migration: gratuitous ARP + RARP for its
 * MAC (and IP) from its own port, so this host's switch and the segment
 * learn where it now is (net/announce.h). */
void vnet_announce(struct vdev_vnet *d);

/* Migration: the transport's state, the device's counters and the frames
 * that were waiting for the guest (virtio_net.c says which travel). */
/* The device state with no frame carried; each frame carried adds 2 + its
 * length, up to the cap vnet_save is given. */
#define VNET_STATE_LEN (VIRTIO_PCI_STATE_LEN + 12 + sizeof(struct vnet_stats))
int vnet_save(struct vdev_vnet *d, void *buf, size_t cap);
/* After a migration's vnet_save, the guest paused: frame i (0 the oldest)
 * of those waiting for the guest that the blob did not carry (it was full,
 * or they came after it): 0, or -ENOENT past the last. They would die
 * with this copy; the destination gets them in HELD_FRAMES. */
int vnet_held_frame(const struct vdev_vnet *d, unsigned i, const uint8_t **frame, size_t *len);
/* A frame for the guest from outside the switch (one the migration source
 * held): as if the switch had just handed it over. */
void vnet_deliver(struct vdev_vnet *d, const uint8_t *frame, size_t len);
int vnet_restore(struct vdev_vnet *d, const void *buf, size_t len, const char **why);
