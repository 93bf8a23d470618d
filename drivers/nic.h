/* The interface every NIC driver implements (e1000 now; virtio-net and igb
 * later), and all that net/ knows of a NIC. Polled from the main loop: a
 * driver needs no interrupts, and nothing here blocks.
 *
 * Frames are whole Ethernet frames without the FCS: destination MAC first,
 * at least 14 bytes, at most NIC_FRAME_MAX. The driver strips the FCS on
 * receive (e1000: RCTL.SECRC) and adds it, with padding to 60 bytes, on
 * transmit (e1000: TCTL.PSP). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NIC_ETH_ALEN 6
/* 1514 bytes plus one 802.1Q tag: Tern switches tagged frames unchanged. */
#define NIC_FRAME_MAX 1518
#define NIC_NAME_MAX 16

/* What `net show` prints. The driver keeps them; drops and errors include
 * what the hardware counted (e1000: MPC, CRCERRS, ...) when it reads them. */
struct nic_counters {
	uint64_t rx_packets, rx_bytes;
	uint64_t rx_drops;  /* frames lost for want of a buffer (ring full, or the consumer busy) */
	uint64_t rx_errors; /* frames the hardware flagged bad (CRC, length, alignment) */
	uint64_t tx_packets, tx_bytes;
	uint64_t tx_drops;  /* frames refused because the ring was full (tx returned -EAGAIN) */
	uint64_t tx_errors; /* frames the hardware reported as not sent */
};

struct nic;

/* Called once per received frame from inside rx_poll. The frame is the
 * driver's buffer and is valid only during the call: copy what you keep. */
typedef void (*nic_rx_fn)(void *ctx, const uint8_t *frame, size_t len);

struct nic_ops {
	/* Link state as the PHY reports it now (e1000: STATUS.LU). */
	bool (*link_up)(struct nic *nic);
	/* Queues one frame. The driver copies it (or is done with it) before
	 * returning, so the caller keeps its buffer. 0 when queued, -EAGAIN when
	 * the ring is full (try again after the next poll; counted as a tx
	 * drop), -EINVAL for a frame shorter than 14 or longer than
	 * NIC_FRAME_MAX bytes. The driver may hold queued frames back until
	 * flush() (or until it has a batch): the caller flushes before it
	 * waits for anything. */
	int (*tx)(struct nic *nic, const uint8_t *frame, size_t len);
	/* Hands every queued frame to the device. NULL when tx() never holds
	 * frames back. */
	void (*flush)(struct nic *nic);
	/* Delivers at most budget received frames to fn, in arrival order, and
	 * reclaims finished transmit descriptors. Returns how many frames were
	 * delivered (0 when none waited), or a negative errno if the device
	 * failed. Bounded so one busy NIC cannot starve the vCPUs. */
	int (*rx_poll)(struct nic *nic, nic_rx_fn fn, void *ctx, unsigned budget);
	/* Receive every frame on the wire, not only those for mac[] (the
	 * uplink of the vswitch needs this: guests have MACs of their own).
	 * 0, or a negative errno. */
	int (*set_promisc)(struct nic *nic, bool on);
};

struct nic {
	char name[NIC_NAME_MAX];   /* "e1000.0": driver name and instance */
	uint8_t mac[NIC_ETH_ALEN]; /* the NIC's own address (EEPROM or RAL0/RAH0) */
	const struct nic_ops *ops;
	struct nic_counters counters;
	void *priv; /* the driver's own state */
};

static inline bool nic_link_up(struct nic *nic)
{
	return nic->ops->link_up(nic);
}

static inline int nic_tx(struct nic *nic, const uint8_t *frame, size_t len)
{
	return nic->ops->tx(nic, frame, len);
}

static inline void nic_flush(struct nic *nic)
{
	if (nic->ops->flush)
		nic->ops->flush(nic);
}

static inline int nic_rx_poll(struct nic *nic, nic_rx_fn fn, void *ctx, unsigned budget)
{
	return nic->ops->rx_poll(nic, fn, ctx, budget);
}

static inline int nic_set_promisc(struct nic *nic, bool on)
{
	return nic->ops->set_promisc(nic, on);
}
