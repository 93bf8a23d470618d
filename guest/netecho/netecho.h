/* netecho: a guest with its own MAC and IPv4 address that answers ARP,
 * ICMP echo and UDP echo through a virtio-net device, polling (interrupts
 * stay off). main.c: options, the loop, the counters; pci.c: configuration
 * mechanism #1 and the device's BARs; virtio.c: the modern virtio-pci
 * driver and its two queues; proto.c: the replies. Every bit of state is in
 * the guest's own memory, so a live migration carries all of it.
 * Options and output lines: guest/netecho/README.md. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NE_QSIZE 16	  /* entries per virtqueue */
#define NE_HDR_LEN 12	  /* struct virtio_net_hdr, with num_buffers (virtio 1.1 5.1.6) */
#define NE_FRAME_MAX 1518 /* 1500 MTU + an 802.1Q tag */
#define NE_BUF_LEN 1536	  /* header + frame, rounded up */
#define NE_IO_BASE 0xC000 /* where netecho puts an unassigned I/O BAR */

/* guest/common/string.c (there is no libc). */
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

/* ---- pci.c ---- */
struct ne_pci {
	uint8_t dev; /* bus 0, function 0 */
};
uint32_t ne_pci_read(const struct ne_pci *p, unsigned off, unsigned size);
void ne_pci_write(const struct ne_pci *p, unsigned off, unsigned size, uint32_t val);
/* The first function on bus 0 with vendor:device; false if none. */
bool ne_pci_find(uint16_t vendor, uint16_t device, struct ne_pci *p);
/* Base address of BAR bar, sized and (I/O, when unassigned) assigned; io
 * says which space. 0 when the BAR does not exist or lies above 4 GiB. */
uint64_t ne_pci_bar(const struct ne_pci *p, int bar, bool *io, uint32_t *size);

/* ---- virtio.c ---- */
/* One virtio structure: in I/O space (port) or memory (identity-mapped). */
struct ne_region {
	uint64_t addr;
	bool io;
};

struct ne_virtio {
	struct ne_pci pci;
	struct ne_region common, notify, isr, device;
	uint32_t notify_mult;
	uint64_t notify_addr[2];
	uint8_t mac[6];
	uint16_t rx_last_used; /* next used entry to read */
	uint16_t tx_last_used; /* the transmit ring's used index, last read */
};

/* Finds the device, resets it, negotiates VERSION_1 (and MAC), sets up the
 * receive and transmit queues, fills the receive queue, DRIVER_OK. On
 * failure writes why (a whole line) to err and returns false. */
bool ne_virtio_up(struct ne_virtio *v, char *err, size_t err_size);
/* Hands each received frame to fn, then gives its buffer back; returns how
 * many frames. */
unsigned ne_virtio_rx(struct ne_virtio *v, void (*fn)(const uint8_t *frame, size_t len));
/* Queues one frame; false when the transmit ring is full. */
bool ne_virtio_tx(struct ne_virtio *v, const uint8_t *frame, size_t len);
/* Guest-physical address of the receive buffers: *count of NE_BUF_LEN
 * bytes, back to back. Only the device writes them (netecho only reads). */
uint64_t ne_virtio_rx_buffers(unsigned *count);
/* The device set DEVICE_NEEDS_RESET (or FAILED): it will do no more. */
bool ne_virtio_broken(const struct ne_virtio *v);

/* ---- proto.c ---- */
struct ne_stats {
	uint64_t rx, tx, arp, icmp, udp, ignored, tx_full;
};

struct ne_proto {
	uint8_t mac[6];
	uint8_t ip[4];
	struct ne_stats stats;
	bool (*send)(const uint8_t *frame, size_t len);
};

extern struct ne_proto ne_proto;
/* Answers frame if it is an ARP request for our IP, an ICMP echo request
 * or a UDP datagram to our IP (echoed to its sender, any port). */
void ne_proto_input(const uint8_t *frame, size_t len);
/* A gratuitous ARP (request form, RFC 5227 3): who we are, to everyone. */
void ne_proto_announce(void);
