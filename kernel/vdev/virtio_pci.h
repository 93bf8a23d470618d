/* The virtio PCI transport, modern interface only (virtio 1.1, 4.1): the
 * PCI function of a virtio device, its capabilities and the four virtio
 * structures (common configuration, notifications, ISR status, device
 * configuration, 4.1.4), all in ONE 128-byte I/O BAR (BAR0), and MSI-X
 * (4.1.5.1.2) with its table in a 4 KiB memory BAR (BAR1). The spec lets
 * the capabilities point into an I/O BAR, and Linux's virtio_pci_modern
 * maps them there too (virtio_pci_find_capability accepts IORESOURCE_IO,
 * pci_iomap_range maps ports): a port access is the cheapest exit to
 * decode. Layout of BAR0:
 *
 *   0x00-0x37  common configuration (4.1.4.3)
 *   0x40       ISR status, read-to-clear (4.1.4.5)
 *   0x44-...   queue notify: queue q at 0x44 + 2*q (notify_off_multiplier 2)
 *   0x60-0x7F  device-specific configuration
 *
 * BAR1: the MSI-X table at 0x000 (one vector for configuration changes
 * plus one per queue), the pending bits at 0x800 (msix.h). Plus the
 * VIRTIO_PCI_CAP_PCI_CFG window in configuration space (4.1.4.8).
 *
 * The device model supplies its features, queues and configuration and is
 * told of notifications, resets and DRIVER_OK; the transport runs the status
 * state machine (2.1), feature negotiation (2.2, 3.1.1), queue setup and the
 * interrupts. msix_config and queue_msix_vector hold a vector or NO_VECTOR;
 * one past the table reads back NO_VECTOR (4.1.5.1.2). When the device
 * returns used buffers it interrupts, unless the driver set
 * VIRTQ_AVAIL_F_NO_INTERRUPT (2.6.7; EVENT_IDX is not offered): through
 * the queue's vector while MSI-X is enabled, else by setting ISR bit 0 for a
 * driver that polls or reads it. A configuration change (here only
 * DEVICE_NEEDS_RESET) sets ISR bit 1 and fires msix_config. There is no
 * INTx pin (Tern has no IOAPIC). Bus Master Enable is not modelled: the
 * device uses guest memory and sends messages whatever it says.
 *
 * Both BARs are preassigned with I/O and memory decoding on, as firmware
 * leaves them; the guest may move them. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kernel/vdev/msix.h"
#include "kernel/vdev/pci.h"
#include "kernel/vdev/virtqueue.h"

struct vm;

#define VIRTIO_PCI_VENDOR 0x1AF4
#define VIRTIO_PCI_DEVICE_BASE 0x1040 /* + the virtio device ID (4.1.2.1) */
#define VIRTIO_PCI_QUEUES_MAX 2

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

#define VIRTIO_F_VERSION_1 (1ull << 32) /* 6: a virtio 1.x (modern) driver */

/* BAR0, as above. */
#define VIRTIO_PCI_BAR_SIZE 0x80
#define VIRTIO_PCI_COMMON 0x00
#define VIRTIO_PCI_COMMON_LEN 0x38
#define VIRTIO_PCI_ISR 0x40
#define VIRTIO_PCI_NOTIFY 0x44
#define VIRTIO_PCI_NOTIFY_MULT 2
#define VIRTIO_PCI_DEVCFG 0x60
#define VIRTIO_PCI_DEVCFG_MAX 0x20

/* BAR1, as above. */
#define VIRTIO_PCI_MSIX_BAR 1
#define VIRTIO_PCI_MSIX_BAR_SIZE 0x1000
#define VIRTIO_PCI_MSIX_TABLE 0x000
#define VIRTIO_PCI_MSIX_PBA 0x800
#define VIRTIO_PCI_VECTORS (1 + VIRTIO_PCI_QUEUES_MAX) /* configuration + each queue */
#define VIRTIO_PCI_NO_VECTOR 0xFFFF		       /* 4.1.4.3 */

/* 2.6.6: the driver's hint that it wants no used-buffer interrupts. */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct virtio_dev_ops {
	uint16_t type;	     /* virtio device ID (5): 1 network, 2 block */
	uint32_t class_code; /* PCI class << 16 | subclass << 8 | prog-if */
	uint64_t features;   /* offered; VIRTIO_F_VERSION_1 among them */
	uint16_t num_queues;
	unsigned config_len; /* bytes of device configuration, <= VIRTIO_PCI_DEVCFG_MAX */
	/* Fills config_len bytes of device configuration (read-only here). */
	void (*config)(void *ctx, uint8_t *buf);
	/* The driver notified queue (enabled, device live). */
	void (*notify)(void *ctx, uint16_t queue);
	/* The device was reset (status 0 written): drop what it holds. */
	void (*reset)(void *ctx);
	/* The driver set DRIVER_OK: the queues may be used from now on. */
	void (*driver_ok)(void *ctx);
};

struct virtio_pci {
	struct vpci_func pci;
	struct vm *vm;
	const struct virtio_dev_ops *ops;
	void *ctx;
	unsigned cfg_cap; /* offset of the PCI_CFG capability */
	/* common configuration (4.1.4.3) */
	uint32_t dfselect, gfselect;
	uint64_t guest_features;
	uint8_t status, isr;
	uint16_t queue_select;
	uint16_t msix_config; /* vector for configuration changes, or NO_VECTOR */
	uint16_t queue_vector[VIRTIO_PCI_QUEUES_MAX];
	struct virtq vq[VIRTIO_PCI_QUEUES_MAX];
	struct msix msix; /* 1 + num_queues vectors, table in BAR1 */
};

/* A reset device whose function is ready for vpci_attach(), BAR0 at
 * io_base, BAR1 (MSI-X) at mem_base. */
void virtio_pci_init(struct virtio_pci *t, struct vm *vm, const struct virtio_dev_ops *ops,
		     void *ctx, uint16_t io_base, uint32_t mem_base);
/* DRIVER_OK and FEATURES_OK, and neither FAILED nor NEEDS_RESET: the
 * device may use its queues (2.1.2: not before DRIVER_OK). */
bool virtio_pci_live(const struct virtio_pci *t);
/* The driver broke the rules (a bad descriptor): DEVICE_NEEDS_RESET, the
 * queues stop until the driver resets the device (2.1.2). Logged once. */
void virtio_pci_fail(struct virtio_pci *t, const char *why);
/* The device returned used buffers on queue (after the used index was
 * written): the interrupt, unless the driver suppressed it (see above). */
void virtio_pci_used(struct virtio_pci *t, uint16_t queue);
/* The device configuration changed (4.1.4.5): ISR bit 1, msix_config. */
void virtio_pci_config_changed(struct virtio_pci *t);

/* Migration: status, features, selectors, ISR, every queue's addresses,
 * size, enable, indexes and vector, msix_config, and the MSI-X state
 * (Message Control, table, pending bits; msix.h). Restore checks them as
 * the registers would: a blob this device could not have reached (unknown
 * status or ISR bits, features not offered, a queue size over VQ_SIZE_MAX,
 * an enabled queue whose rings leave guest RAM or whose indexes differ,
 * indexes on a disabled queue, an enabled queue on a reset device, state
 * for a queue it does not have, a vector past the table, MSI-X state
 * msix_check refuses) is refused, -EINVAL with *why, and nothing is
 * changed. */
#define VIRTIO_PCI_STATE_LEN (32 + VIRTIO_PCI_QUEUES_MAX * 34 + MSIX_STATE_LEN(VIRTIO_PCI_VECTORS))
int virtio_pci_save(const struct virtio_pci *t, void *buf, size_t cap);
int virtio_pci_restore(struct virtio_pci *t, const void *buf, size_t len, const char **why);
