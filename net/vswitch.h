/* The L2 learning switch that joins the physical NIC (uplink), Tern's own
 * lwIP netif (host) and each guest's virtio-net (guest ports), after IEEE
 * 802.1D transparent bridging: learn each source MAC on the port it came in
 * on, forward known unicast to that port only, flood group and unknown
 * unicast to every other port, never send a frame back out the port it came
 * in on, and forget addresses not heard from for the ageing time.
 *
 * A guest port is bound to its guest's own MAC (vswitch_port_set_mac):
 * frames it sends from any other source are dropped and counted (`spoofed`),
 * and its MAC is pinned to it, outside the learning table: no frame from
 * another port re-learns it elsewhere, no table overflow evicts it, and
 * frames for it always go to that port alone. A guest can thus neither
 * receive as the host or a neighbour nor make the switch flood their
 * traffic.
 *
 * It also learns the IPv4 address each guest uses (from its ARP and IPv4
 * traffic), which `vm list` shows and the announcer needs after a move.
 *
 * All tables are fixed-size; the packet path neither allocates nor formats.
 * Time comes in through vswitch_tick(): the switch never reads a clock. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/ether.h"

#define VSWITCH_PORTS_MAX 16
#define VSWITCH_NAME_MAX 16
/* 64 buckets of 4: 256 addresses, a lookup reads at most 4 entries. */
#define VSWITCH_FDB_BUCKETS 64
#define VSWITCH_FDB_WAYS 4
#define VSWITCH_AGE_MS 300000 /* 802.1D-2004 Table 7-5 default ageing time */
#define VSWITCH_NO_PORT (-1)

enum vswitch_port_kind {
	VSWITCH_PORT_UPLINK, /* the physical NIC, in promiscuous mode */
	VSWITCH_PORT_HOST,   /* Tern's own lwIP netif */
	VSWITCH_PORT_GUEST,  /* a guest's virtio-net; its IPv4 address is learned */
};

/* Hands one frame to a port's device. The frame is valid only during the
 * call: copy it. Returns 0, or a negative errno (-EAGAIN when its queue is
 * full), which counts as a tx drop. May call vswitch_input() (lwIP answering
 * an ARP request from within its input, for instance). */
typedef int (*vswitch_tx_fn)(void *ctx, const uint8_t *frame, size_t len);

struct vswitch_port_stats {
	uint64_t rx_frames, rx_bytes; /* frames this port's device gave the switch */
	uint64_t tx_frames, tx_bytes; /* frames the switch gave this port's device */
	uint64_t
		rx_drops; /* frames from this port not switched: runt, or a group/zero source MAC */
	uint64_t tx_drops; /* frames for this port its device refused */
	uint64_t
		floods; /* frames from this port sent to all others: group or unknown destination */
	uint64_t filtered; /* frames from this port for an address on this same port (normal on the
			      uplink) */
	uint64_t spoofed; /* frames from this port with a source MAC it may not use: a guest's
			     other than its own, or another port's pinned MAC (not learned) */
};

struct vswitch_port {
	bool in_use;
	enum vswitch_port_kind kind;
	char name[VSWITCH_NAME_MAX];
	vswitch_tx_fn tx;
	void *ctx;
	struct vswitch_port_stats stats;
	/* Guest ports: the IPv4 address (network byte order, 0 while unknown)
	 * last seen from the guest, and the MAC that used it. */
	uint32_t ip;
	uint8_t ip_mac[ETH_ALEN];
	bool ip_from_arp;
	/* Guest ports: the one source MAC the guest may send from, pinned to
	 * this port (see above), and when it was last heard from. */
	bool mac_bound;
	uint8_t mac[ETH_ALEN];
	uint64_t mac_seen_ms;
};

struct vswitch_fdb_entry {
	uint8_t mac[ETH_ALEN];
	int16_t port; /* VSWITCH_NO_PORT: free */
	uint64_t seen_ms;
};

struct vswitch {
	struct vswitch_port ports[VSWITCH_PORTS_MAX];
	struct vswitch_fdb_entry fdb[VSWITCH_FDB_BUCKETS][VSWITCH_FDB_WAYS];
	uint64_t now_ms;     /* from the last vswitch_tick() */
	uint64_t age_ms;     /* ageing time */
	uint64_t next_purge; /* when vswitch_tick() next sweeps the table */
	uint64_t moves;	     /* addresses re-learned on another port (a guest moved) */
	uint64_t evictions;  /* live entries pushed out of a full bucket */
};

void vswitch_init(struct vswitch *sw);
/* Ageing time in ms (`net switch age`); 0 restores VSWITCH_AGE_MS. */
void vswitch_set_age(struct vswitch *sw, uint64_t age_ms);

/* Adds a port; returns its number (0..VSWITCH_PORTS_MAX-1), -EINVAL without
 * tx or name, -ENOSPC when all ports are taken. The name is copied
 * (truncated to VSWITCH_NAME_MAX-1 characters). */
int vswitch_port_add(struct vswitch *sw, enum vswitch_port_kind kind, const char *name,
		     vswitch_tx_fn tx, void *ctx);
/* Removes a port and forgets every address learned on it (a guest that was
 * destroyed or has migrated away). 0, or -ENOENT. */
int vswitch_port_remove(struct vswitch *sw, int port);
/* Binds a guest port to its guest's MAC (again when the MAC changes, as
 * when a migrated guest's identity arrives): from then on it may send only
 * from mac, and mac is pinned to it. Entries the table learned for mac on
 * other ports are forgotten. 0, -EINVAL for a port not in use, not a guest
 * port, or a group/zero MAC, -EEXIST when another port has that MAC. */
int vswitch_port_set_mac(struct vswitch *sw, int port, const uint8_t *mac);
/* The port, or NULL when port is not in use. For `net switch`. */
const struct vswitch_port *vswitch_port_get(const struct vswitch *sw, int port);

/* A frame that port's device received: learn its source, then forward,
 * flood or filter it. Frames from a port not in use are ignored. */
void vswitch_input(struct vswitch *sw, int port, const uint8_t *frame, size_t len);
/* A frame Tern made on behalf of port: a guest's announcements after it
 * moved here go through here with the guest's port, are switched as if the
 * guest had sent them, and so also teach the switch where the guest now is.
 * With VSWITCH_NO_PORT (`net announce` of an address no local guest has)
 * nothing is learned and the frame goes where its destination leads: to
 * every port when that is group or unknown. */
void vswitch_inject(struct vswitch *sw, int port, const uint8_t *frame, size_t len);

/* The time, from the main loop; once a second it also sweeps out expired
 * entries (lookups ignore expired entries at once, whatever the sweep). */
void vswitch_tick(struct vswitch *sw, uint64_t now_ms);

/* The port mac is pinned to or was last learned on, or VSWITCH_NO_PORT if
 * unknown/expired. */
int vswitch_fdb_lookup(const struct vswitch *sw, const uint8_t *mac);
/* Calls fn for every pinned guest MAC (age: since its guest last sent),
 * then every live learned entry, with its age in ms. For `net switch`. */
void vswitch_fdb_for_each(const struct vswitch *sw,
			  void (*fn)(void *ctx, const uint8_t *mac, int port, uint64_t age_ms),
			  void *ctx);

/* IPv4 address (network byte order) a guest port's traffic uses: the sender
 * address of its ARP packets, or, until it ARPs, the source of its IPv4
 * packets (ARP wins: a host ARPs only for its own addresses, while a guest
 * that routes forwards packets from others). 0, -ENOENT if none seen yet,
 * -EINVAL for a port not in use. */
int vswitch_port_ip(const struct vswitch *sw, int port, uint32_t *ip);
/* The same, found by the guest's MAC (as `vm create mac=` set it). */
int vswitch_ip_of_mac(const struct vswitch *sw, const uint8_t *mac, uint32_t *ip);
