/* virtio-net for guests, and its vswitch port (see virtio_net.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "kernel/log.h"
#include "kernel/vdev/virtio_net.h"
#include "kernel/vm.h"
#include "net/guest_port.h"
#include "net/vswitch.h"

#define VIRTIO_ID_NET 1
#define VIRTIO_NET_F_MAC (1ull << 5) /* 5.1.3: the device has a MAC in its configuration */
#define VIRTIO_NET_S_LINK_UP 1
#define VIRTIO_NET_HDR_GSO_NONE 0
#define HDR_GSO_TYPE 1 /* 5.1.6: u8 flags, u8 gso_type, ... le16 num_buffers */
#define HDR_NUM_BUFFERS 10
#define CONFIG_LEN 8 /* 5.1.4: u8 mac[6], le16 status */
#define CLASS_ETHERNET 0x020000
#define RXQ 0 /* 5.1.2: receiveq1 */
#define TXQ 1 /* transmitq1 */
#define STATE_VERSION 2
#define STATE_V1_LEN (VNET_STATE_LEN - 4) /* from a Tern that carried no frames */
#define ETH_HLEN_MIN 14

static struct vswitch *vnet_switch(void)
{
	return net_vswitch();
}

/* The device touches guest memory only while the driver has it running and
 * the VM runs (or halted): never while it is paused (a migration's final
 * copy is being made) or still arriving. */
static bool may_write(const struct vdev_vnet *d)
{
	return virtio_pci_live(&d->vp) && (d->vm->state == VM_RUNNING || d->vm->state == VM_HALTED);
}

static void drop_pending(struct vdev_vnet *d)
{
	d->stats.rx_drops += d->pend_count;
	d->pend_head = d->pend_count = 0;
}

/* One frame into the next receive buffer: 1 when a buffer was used (the
 * frame may still have been too large for it), 0 when the driver has none
 * available, -EIO when the ring is broken (the device now needs a reset).
 * The caller interrupts the driver (virtio_pci_used) once for a batch. */
static int receive(struct vdev_vnet *d, const uint8_t *frame, size_t len)
{
	struct virtq *q = &d->vp.vq[RXQ];
	struct vq_chain *c = &d->rx_chain;
	const char *why = "";
	uint32_t used = 0;

	if (!q->enabled)
		return 0;
	int rc = vq_pop(d->vm, q, c, &why);
	if (rc <= 0) {
		if (rc < 0)
			virtio_pci_fail(&d->vp, why);
		return rc;
	}
	if (c->rlen) {
		virtio_pci_fail(&d->vp, "receive buffer the device may only read");
		return -EIO;
	}
	/* 5.1.6.3.1: without MRG_RXBUF every buffer should hold a whole
	 * frame; one that does not goes back empty. */
	if (c->wlen < VNET_HDR_LEN + len) {
		d->stats.rx_short++;
	} else {
		uint8_t hdr[VNET_HDR_LEN] = {0};
		hdr[HDR_NUM_BUFFERS] = 1;
		if (vq_write(d->vm, c, 0, hdr, sizeof(hdr)) ||
		    vq_write(d->vm, c, VNET_HDR_LEN, frame, len))
			return virtio_pci_fail(&d->vp, "receive buffer vanished"), -EIO;
		used = VNET_HDR_LEN + len;
		d->stats.rx_frames++;
		d->stats.rx_bytes += len;
	}
	if (vq_push(d->vm, q, c->head, used))
		return virtio_pci_fail(&d->vp, "used ring vanished"), -EIO;
	return 1;
}

/* The switch hands the port a frame: into the guest now if it can take it,
 * else behind the frames already waiting. */
static int port_tx(void *ctx, const uint8_t *frame, size_t len)
{
	struct vdev_vnet *d = ctx;

	if (len > VNET_FRAME_MAX || !virtio_pci_live(&d->vp)) {
		d->stats.rx_drops++;
		return len > VNET_FRAME_MAX ? -EMSGSIZE : -ENETDOWN;
	}
	if (!d->pend_count && may_write(d)) {
		int rc = receive(d, frame, len);
		if (rc > 0)
			virtio_pci_used(&d->vp, RXQ);
		if (rc)
			return rc < 0 ? -EIO : 0;
	}
	if (d->pend_count == VNET_PENDING) {
		d->stats.rx_drops++;
		return -EAGAIN;
	}
	unsigned slot = (d->pend_head + d->pend_count) % VNET_PENDING;
	memcpy(d->pend[slot], frame, len);
	d->pend_len[slot] = (uint16_t)len;
	d->pend_count++;
	return 0;
}

bool vnet_poll(struct vdev_vnet *d)
{
	bool did = false;

	if (d->pend_count && !virtio_pci_live(&d->vp))
		drop_pending(d);
	while (d->pend_count && may_write(d)) {
		int rc = receive(d, d->pend[d->pend_head], d->pend_len[d->pend_head]);
		if (rc == 0)
			break;
		if (rc < 0) {
			drop_pending(d);
			break;
		}
		d->pend_head = (d->pend_head + 1) % VNET_PENDING;
		d->pend_count--;
		did = true;
	}
	if (did)
		virtio_pci_used(&d->vp, RXQ); /* one interrupt for the batch */
	return did;
}

/* The switch lets the port send only from the VM's own MAC. The MAC can
 * change after the port was added (`vm create mac=`, a migrated guest's
 * identity), so the binding follows it before anything enters the switch. */
static void bind_mac(struct vdev_vnet *d, struct vswitch *sw)
{
	if (d->port == VSWITCH_NO_PORT || !sw)
		return;
	const struct vswitch_port *p = vswitch_port_get(sw, d->port);
	if (p && p->mac_bound && !memcmp(p->mac, d->vm->mac, 6))
		return;
	int rc = vswitch_port_set_mac(sw, d->port, d->vm->mac);
	if (rc)
		log_warn("vm", "%s: its MAC cannot be bound to its switch port (%d)", d->vm->name,
			 rc);
}

/* The IPv4 address the switch saw the guest use becomes the VM's (it is
 * what `vm list` shows and a migration announces). */
static void learn_ip(struct vdev_vnet *d, struct vswitch *sw)
{
	uint32_t ip;

	if (vswitch_ip_of_mac(sw, d->vm->mac, &ip) || ip == d->vm->ip)
		return;
	const uint8_t *a = (const uint8_t *)&ip;
	log_guest(d->vm, LOG_INFO, "uses IPv4 %u.%u.%u.%u", a[0], a[1], a[2], a[3]);
	d->vm->ip = ip;
}

/* Every chain the driver made available on the transmit queue is one frame
 * (5.1.6.2): header, then the frame, in the chain's readable buffers. The
 * buffer goes back (used length 0) before the frame enters the switch,
 * which may answer into this guest's receive queue at once. */
static void transmit(struct vdev_vnet *d)
{
	struct virtq *q = &d->vp.vq[TXQ];
	struct vq_chain *c = &d->tx_chain;
	struct vswitch *sw = vnet_switch();
	const char *why = "";
	bool returned = false;

	bind_mac(d, sw);
	for (unsigned n = 0; n < q->size && virtio_pci_live(&d->vp); n++) {
		int rc = vq_pop(d->vm, q, c, &why);
		if (rc < 0)
			virtio_pci_fail(&d->vp, why);
		if (rc <= 0)
			break;
		if (c->wlen) {
			virtio_pci_fail(&d->vp, "transmit buffer the device may write");
			break;
		}
		uint64_t len = c->rlen;
		bool ok = len > VNET_HDR_LEN && len <= sizeof(d->tx_buf) &&
			  !vq_read(d->vm, c, 0, d->tx_buf, len) &&
			  d->tx_buf[HDR_GSO_TYPE] == VIRTIO_NET_HDR_GSO_NONE;
		if (vq_push(d->vm, q, c->head, 0)) {
			virtio_pci_fail(&d->vp, "used ring vanished");
			break;
		}
		returned = true;
		if (!ok || !sw || d->port == VSWITCH_NO_PORT) {
			d->stats.tx_errors++;
			continue;
		}
		d->stats.tx_frames++;
		d->stats.tx_bytes += len - VNET_HDR_LEN;
		vswitch_input(sw, d->port, d->tx_buf + VNET_HDR_LEN, len - VNET_HDR_LEN);
		learn_ip(d, sw);
	}
	if (returned)
		virtio_pci_used(&d->vp, TXQ); /* one interrupt for the batch */
}

/* ---- what the transport asks of the device ------------------------------- */

static void net_config(void *ctx, uint8_t *buf)
{
	struct vdev_vnet *d = ctx;

	memcpy(buf, d->vm->mac, 6);
	buf[6] = VIRTIO_NET_S_LINK_UP; /* le16 status; F_STATUS is not offered */
}

static void net_notify(void *ctx, uint16_t queue)
{
	struct vdev_vnet *d = ctx;

	if (queue == TXQ)
		transmit(d);
	else
		vnet_poll(d); /* new receive buffers: frames may be waiting */
}

static void net_reset(void *ctx)
{
	drop_pending(ctx);
}

/* Tern looks for receive buffers itself (at each frame, and from the main
 * loop while frames wait), so the driver need not notify the receive queue
 * (2.6.10.2: a hint; a driver that notifies anyway is served too). */
static void net_driver_ok(void *ctx)
{
	struct vdev_vnet *d = ctx;

	if (d->vp.vq[RXQ].enabled)
		vq_set_used_flags(d->vm, &d->vp.vq[RXQ], VIRTQ_USED_F_NO_NOTIFY);
}

static const struct virtio_dev_ops net_ops = {
	.type = VIRTIO_ID_NET,
	.class_code = CLASS_ETHERNET,
	.features = VIRTIO_F_VERSION_1 | VIRTIO_NET_F_MAC,
	.num_queues = 2,
	.config_len = CONFIG_LEN,
	.config = net_config,
	.notify = net_notify,
	.reset = net_reset,
	.driver_ok = net_driver_ok,
};

/* ---- lifecycle ------------------------------------------------------------ */

int vnet_init(struct vdev_vnet *d, struct vm *vm, struct vpci *bus)
{
	memset(d, 0, sizeof(*d));
	d->pend = malloc(VNET_PENDING * sizeof(*d->pend));
	if (!d->pend)
		return -ENOMEM;
	d->vm = vm;
	d->port = VSWITCH_NO_PORT;
	virtio_pci_init(&d->vp, vm, &net_ops, d, VNET_IO_BASE, VNET_MSIX_BASE);
	vpci_attach(bus, VNET_PCI_DEV, &d->vp.pci); /* a fresh bus: the slot is free */
	struct vswitch *sw = vnet_switch();
	if (sw) {
		int port = vswitch_port_add(sw, VSWITCH_PORT_GUEST, vm->name, port_tx, d);
		if (port < 0)
			log_warn("vm", "%s: no vswitch port (%d): the guest is offline", vm->name,
				 port);
		else
			d->port = port;
		bind_mac(d, sw);
	}
	return 0;
}

void vnet_destroy(struct vdev_vnet *d)
{
	struct vswitch *sw = vnet_switch();

	if (!d->vm)
		return;
	if (sw && d->port != VSWITCH_NO_PORT)
		vswitch_port_remove(sw, d->port);
	free(d->pend);
	d->pend = NULL;
	d->port = VSWITCH_NO_PORT;
	d->vm = NULL;
}

void vnet_announce(struct vdev_vnet *d)
{
	bind_mac(d, vnet_switch());
	if (d->port == VSWITCH_NO_PORT) {
		net_announce_guest(d->vm->mac, d->vm->ip);
		return;
	}
	int rc = net_announce_on(d->port, d->vm->mac, d->vm->ip);
	if (rc)
		log_warn("vm", "%s: announcing its address failed (%d)", d->vm->name, rc);
}

/* ---- migration -------------------------------------------------------------
 * Blob: the transport's state (virtio_pci.h), u32 version 2, u32 frames
 * that were waiting, the counters, u32 frames carried, then each carried
 * frame as u16 length + bytes. The frames waiting are those that arrived
 * while the guest could not take them, above all during the final pause:
 * as many as fit in the blob go with the guest, oldest first, and the
 * destination hands them to it when it runs there, so a ping sent during
 * the downtime is answered late rather than lost. The rest count as
 * dropped. On the source the queue stays as it is: if the migration fails,
 * the guest gets them here. Version 1 (no frames carried) is still taken. */

int vnet_save(struct vdev_vnet *d, void *buf, size_t cap)
{
	uint8_t *b = buf;
	uint32_t head[2] = {STATE_VERSION, d->pend_count}, carried = 0;

	if (cap < VNET_STATE_LEN)
		return -ENOSPC;
	int n = virtio_pci_save(&d->vp, b, cap);
	if (n < 0)
		return n;
	memcpy(b + n, head, sizeof(head));
	memcpy(b + n + sizeof(head), &d->stats, sizeof(d->stats));
	size_t off = VNET_STATE_LEN;
	for (; carried < d->pend_count; carried++) {
		unsigned slot = (d->pend_head + carried) % VNET_PENDING;
		uint16_t len = d->pend_len[slot];
		if (cap - off < 2u + len)
			break;
		memcpy(b + off, &len, 2);
		memcpy(b + off + 2, d->pend[slot], len);
		off += 2u + len;
	}
	memcpy(b + VNET_STATE_LEN - 4, &carried, 4);
	d->pend_carried = carried;
	return (int)off;
}

int vnet_held_frame(const struct vdev_vnet *d, unsigned i, const uint8_t **frame, size_t *len)
{
	/* Paused since the save: nothing left the queue, frames only joined. */
	if (d->pend_carried + i >= d->pend_count)
		return -ENOENT;
	unsigned slot = (d->pend_head + d->pend_carried + i) % VNET_PENDING;
	*frame = d->pend[slot];
	*len = d->pend_len[slot];
	return 0;
}

void vnet_deliver(struct vdev_vnet *d, const uint8_t *frame, size_t len)
{
	port_tx(d, frame, len);
}

/* The carried frames of a version 2 blob: 0 when their count and lengths
 * add up to exactly len, else -EINVAL. */
static int check_frames(const uint8_t *b, size_t len, uint32_t waiting, uint32_t *carried)
{
	memcpy(carried, b + VNET_STATE_LEN - 4, 4);
	if (*carried > waiting)
		return -EINVAL;
	size_t off = VNET_STATE_LEN;
	for (uint32_t i = 0; i < *carried; i++) {
		uint16_t flen;
		if (len - off < 2)
			return -EINVAL;
		memcpy(&flen, b + off, 2);
		if (flen < ETH_HLEN_MIN || flen > VNET_FRAME_MAX || len - off - 2 < flen)
			return -EINVAL;
		off += 2u + flen;
	}
	return off == len ? 0 : -EINVAL;
}

int vnet_restore(struct vdev_vnet *d, const void *buf, size_t len, const char **why)
{
	const uint8_t *b = buf;
	uint32_t head[2], carried = 0;

	*why = "malformed device state";
	if (len < STATE_V1_LEN)
		return -EINVAL;
	memcpy(head, b + VIRTIO_PCI_STATE_LEN, sizeof(head));
	if (head[1] > VNET_PENDING)
		return -EINVAL;
	if (head[0] == 1) {
		if (len != STATE_V1_LEN)
			return -EINVAL;
	} else if (head[0] != STATE_VERSION || len < VNET_STATE_LEN ||
		   check_frames(b, len, head[1], &carried)) {
		return -EINVAL;
	}
	/* The transport checks all of its state before it takes any: from
	 * here on nothing can fail. */
	int rc = virtio_pci_restore(&d->vp, b, VIRTIO_PCI_STATE_LEN, why);
	if (rc)
		return rc;
	memcpy(&d->stats, b + VIRTIO_PCI_STATE_LEN + sizeof(head), sizeof(d->stats));
	d->stats.rx_drops += head[1] - carried;
	drop_pending(d); /* nothing of this host's may precede the guest's own frames */
	size_t off = VNET_STATE_LEN;
	for (uint32_t i = 0; i < carried; i++) {
		uint16_t flen;
		memcpy(&flen, b + off, 2);
		memcpy(d->pend[i], b + off + 2, flen);
		d->pend_len[i] = flen;
		off += 2u + flen;
	}
	d->pend_head = 0;
	d->pend_count = carried;
	return 0;
}
