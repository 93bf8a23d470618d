/* The L2 learning switch (see vswitch.h). */
#include <errno.h>
#include <string.h>

#include "net/vswitch.h"

#define PURGE_INTERVAL_MS 1000

void vswitch_init(struct vswitch *sw)
{
	memset(sw, 0, sizeof(*sw));
	for (int b = 0; b < VSWITCH_FDB_BUCKETS; b++)
		for (int w = 0; w < VSWITCH_FDB_WAYS; w++)
			sw->fdb[b][w].port = VSWITCH_NO_PORT;
	sw->age_ms = VSWITCH_AGE_MS;
}

void vswitch_set_age(struct vswitch *sw, uint64_t age_ms)
{
	sw->age_ms = age_ms ? age_ms : VSWITCH_AGE_MS;
}

static bool port_valid(const struct vswitch *sw, int port)
{
	return port >= 0 && port < VSWITCH_PORTS_MAX && sw->ports[port].in_use;
}

int vswitch_port_add(struct vswitch *sw, enum vswitch_port_kind kind, const char *name,
		     vswitch_tx_fn tx, void *ctx)
{
	if (!tx || !name)
		return -EINVAL;
	for (int i = 0; i < VSWITCH_PORTS_MAX; i++) {
		struct vswitch_port *p = &sw->ports[i];

		if (p->in_use)
			continue;
		memset(p, 0, sizeof(*p));
		p->in_use = true;
		p->kind = kind;
		strncpy(p->name, name, sizeof(p->name) - 1);
		p->tx = tx;
		p->ctx = ctx;
		return i;
	}
	return -ENOSPC;
}

int vswitch_port_remove(struct vswitch *sw, int port)
{
	if (!port_valid(sw, port))
		return -ENOENT;
	for (int b = 0; b < VSWITCH_FDB_BUCKETS; b++)
		for (int w = 0; w < VSWITCH_FDB_WAYS; w++)
			if (sw->fdb[b][w].port == port)
				sw->fdb[b][w].port = VSWITCH_NO_PORT;
	memset(&sw->ports[port], 0, sizeof(sw->ports[port]));
	return 0;
}

/* The guest port mac is pinned to, or VSWITCH_NO_PORT. At most
 * VSWITCH_PORTS_MAX compares: pinned addresses live in the port table, so
 * no hash collision can push them out. */
static int pinned_port(const struct vswitch *sw, const uint8_t *mac)
{
	for (int i = 0; i < VSWITCH_PORTS_MAX; i++)
		if (sw->ports[i].in_use && sw->ports[i].mac_bound &&
		    ether_equal(sw->ports[i].mac, mac))
			return i;
	return VSWITCH_NO_PORT;
}

static void fdb_forget(struct vswitch *sw, const uint8_t *mac);

int vswitch_port_set_mac(struct vswitch *sw, int port, const uint8_t *mac)
{
	if (!port_valid(sw, port) || sw->ports[port].kind != VSWITCH_PORT_GUEST ||
	    !ether_is_valid_source(mac))
		return -EINVAL;
	int other = pinned_port(sw, mac);
	if (other != VSWITCH_NO_PORT && other != port)
		return -EEXIST;
	struct vswitch_port *p = &sw->ports[port];
	memcpy(p->mac, mac, ETH_ALEN);
	p->mac_bound = true;
	p->mac_seen_ms = sw->now_ms;
	fdb_forget(sw, mac);
	return 0;
}

const struct vswitch_port *vswitch_port_get(const struct vswitch *sw, int port)
{
	return port_valid(sw, port) ? &sw->ports[port] : NULL;
}

/* --- forwarding database ---------------------------------------------------- */

/* FNV-1a: the low bits of a MAC are the NIC's serial number, the high bits
 * often one vendor; mixing all six bytes spreads both. */
static unsigned fdb_bucket(const uint8_t *mac)
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < ETH_ALEN; i++)
		h = (h ^ mac[i]) * 16777619u;
	return h % VSWITCH_FDB_BUCKETS;
}

static bool fdb_live(const struct vswitch *sw, const struct vswitch_fdb_entry *e)
{
	/* Expired at seen + age, like the Linux bridge's has_expired(). */
	return e->port != VSWITCH_NO_PORT && sw->now_ms - e->seen_ms < sw->age_ms;
}

/* The way of bucket b that holds mac, live; -1 if none. */
static int fdb_way(const struct vswitch *sw, unsigned b, const uint8_t *mac)
{
	for (int w = 0; w < VSWITCH_FDB_WAYS; w++)
		if (fdb_live(sw, &sw->fdb[b][w]) && ether_equal(sw->fdb[b][w].mac, mac))
			return w;
	return -1;
}

static void fdb_forget(struct vswitch *sw, const uint8_t *mac)
{
	unsigned b = fdb_bucket(mac);
	int w = fdb_way(sw, b, mac);

	if (w >= 0)
		sw->fdb[b][w].port = VSWITCH_NO_PORT;
}

int vswitch_fdb_lookup(const struct vswitch *sw, const uint8_t *mac)
{
	int pin = pinned_port(sw, mac);
	if (pin != VSWITCH_NO_PORT)
		return pin;
	unsigned b = fdb_bucket(mac);
	int w = fdb_way(sw, b, mac);

	return w < 0 ? VSWITCH_NO_PORT : sw->fdb[b][w].port;
}

/* A free or expired way of bucket b, else the one heard from longest ago. */
static int fdb_victim(const struct vswitch *sw, unsigned b)
{
	int oldest = 0;

	for (int w = 0; w < VSWITCH_FDB_WAYS; w++) {
		if (!fdb_live(sw, &sw->fdb[b][w]))
			return w;
		if (sw->fdb[b][w].seen_ms < sw->fdb[b][oldest].seen_ms)
			oldest = w;
	}
	return oldest;
}

static void fdb_learn(struct vswitch *sw, const uint8_t *mac, int port)
{
	unsigned b = fdb_bucket(mac);
	int w = fdb_way(sw, b, mac);
	struct vswitch_fdb_entry *e;

	if (w >= 0) {
		e = &sw->fdb[b][w];
		if (e->port != port)
			sw->moves++;
	} else {
		e = &sw->fdb[b][fdb_victim(sw, b)];
		if (fdb_live(sw, e))
			sw->evictions++;
		memcpy(e->mac, mac, ETH_ALEN);
	}
	e->port = (int16_t)port;
	e->seen_ms = sw->now_ms;
}

void vswitch_fdb_for_each(const struct vswitch *sw,
			  void (*fn)(void *ctx, const uint8_t *mac, int port, uint64_t age_ms),
			  void *ctx)
{
	for (int i = 0; i < VSWITCH_PORTS_MAX; i++) {
		const struct vswitch_port *p = &sw->ports[i];
		if (p->in_use && p->mac_bound)
			fn(ctx, p->mac, i, sw->now_ms - p->mac_seen_ms);
	}
	for (int b = 0; b < VSWITCH_FDB_BUCKETS; b++) {
		for (int w = 0; w < VSWITCH_FDB_WAYS; w++) {
			const struct vswitch_fdb_entry *e = &sw->fdb[b][w];

			if (fdb_live(sw, e))
				fn(ctx, e->mac, e->port, sw->now_ms - e->seen_ms);
		}
	}
}

void vswitch_tick(struct vswitch *sw, uint64_t now_ms)
{
	sw->now_ms = now_ms;
	if (now_ms < sw->next_purge)
		return;
	sw->next_purge = now_ms + PURGE_INTERVAL_MS;
	for (int b = 0; b < VSWITCH_FDB_BUCKETS; b++)
		for (int w = 0; w < VSWITCH_FDB_WAYS; w++)
			if (!fdb_live(sw, &sw->fdb[b][w]))
				sw->fdb[b][w].port = VSWITCH_NO_PORT;
}

/* --- guest IPv4 addresses ---------------------------------------------------- */

/* An address a host can own: not 0/8 ("this network"), 127/8 (loopback),
 * nor 224/3 (multicast, reserved, broadcast). */
static bool ip_is_host(const uint8_t *ip)
{
	return ip[0] != 0 && ip[0] != 127 && ip[0] < 224;
}

static void ip_learn(struct vswitch_port *p, const uint8_t *frame, size_t len)
{
	const uint8_t *src_mac = frame + ETH_OFF_SRC;
	const uint8_t *ip;
	bool from_arp;

	switch (ether_get16(frame + ETH_OFF_TYPE)) {
	case ETH_P_ARP:
		/* Only IPv4-over-Ethernet ARP whose sender is the frame's source:
		 * a probe (RFC 5227) has sender 0.0.0.0 and is skipped below. */
		if (len < ETH_HLEN + ARP_LEN ||
		    ether_get16(frame + ARP_OFF_HTYPE) != ARP_HTYPE_ETHER ||
		    ether_get16(frame + ARP_OFF_PTYPE) != ETH_P_IP ||
		    frame[ARP_OFF_HLEN] != ETH_ALEN || frame[ARP_OFF_PLEN] != 4 ||
		    !ether_equal(frame + ARP_OFF_SHA, src_mac))
			return;
		ip = frame + ARP_OFF_SPA;
		from_arp = true;
		break;
	case ETH_P_IP:
		if (len < ETH_HLEN + IP4_MIN_HLEN || frame[IP4_OFF_VHL] >> 4 != 4 || p->ip_from_arp)
			return;
		ip = frame + IP4_OFF_SRC;
		from_arp = false;
		break;
	default:
		return;
	}
	if (!ip_is_host(ip))
		return;
	memcpy(&p->ip, ip, sizeof(p->ip));
	memcpy(p->ip_mac, src_mac, ETH_ALEN);
	p->ip_from_arp = from_arp;
}

int vswitch_port_ip(const struct vswitch *sw, int port, uint32_t *ip)
{
	if (!port_valid(sw, port))
		return -EINVAL;
	if (!sw->ports[port].ip)
		return -ENOENT;
	*ip = sw->ports[port].ip;
	return 0;
}

int vswitch_ip_of_mac(const struct vswitch *sw, const uint8_t *mac, uint32_t *ip)
{
	for (int i = 0; i < VSWITCH_PORTS_MAX; i++) {
		const struct vswitch_port *p = &sw->ports[i];

		if (p->in_use && p->ip && ether_equal(p->ip_mac, mac)) {
			*ip = p->ip;
			return 0;
		}
	}
	return -ENOENT;
}

/* --- forwarding --------------------------------------------------------------- */

static void deliver(struct vswitch *sw, int port, const uint8_t *frame, size_t len)
{
	struct vswitch_port *p = &sw->ports[port];

	if (p->tx(p->ctx, frame, len) == 0) {
		p->stats.tx_frames++;
		p->stats.tx_bytes += len;
	} else {
		p->stats.tx_drops++;
	}
}

/* To every port but the ingress one. A tx callback may remove ports or
 * re-enter the switch, so each port is checked as the loop reaches it. */
static void flood(struct vswitch *sw, int ingress, const uint8_t *frame, size_t len)
{
	for (int i = 0; i < VSWITCH_PORTS_MAX; i++)
		if (i != ingress && sw->ports[i].in_use)
			deliver(sw, i, frame, len);
}

/* Where a frame goes once its source is dealt with; ingress is
 * VSWITCH_NO_PORT for frames Tern injects. Returns whether it flooded. */
static bool forward(struct vswitch *sw, int ingress, const uint8_t *frame, size_t len)
{
	int out = VSWITCH_NO_PORT;

	if (!ether_is_group(frame + ETH_OFF_DST))
		out = vswitch_fdb_lookup(sw, frame + ETH_OFF_DST);
	if (out == VSWITCH_NO_PORT) {
		flood(sw, ingress, frame, len);
		return true;
	}
	if (out == ingress)
		sw->ports[ingress].stats.filtered++;
	else
		deliver(sw, out, frame, len);
	return false;
}

void vswitch_input(struct vswitch *sw, int port, const uint8_t *frame, size_t len)
{
	struct vswitch_port *p;

	if (!port_valid(sw, port))
		return;
	p = &sw->ports[port];
	p->stats.rx_frames++;
	p->stats.rx_bytes += len;
	if (len < ETH_HLEN || !ether_is_valid_source(frame + ETH_OFF_SRC)) {
		p->stats.rx_drops++;
		return;
	}
	const uint8_t *src = frame + ETH_OFF_SRC;
	if (p->kind == VSWITCH_PORT_GUEST) {
		/* A guest sends from its own MAC or not at all: as the host or a
		 * neighbour it would be answered in their place. */
		if (!p->mac_bound || !ether_equal(src, p->mac)) {
			p->stats.spoofed++;
			return;
		}
		p->mac_seen_ms = sw->now_ms;
		ip_learn(p, frame, len);
	} else if (pinned_port(sw, src) != VSWITCH_NO_PORT) {
		/* A pinned guest MAC heard elsewhere (a stale copy on the
		 * segment, or a forgery) stays where its guest is. */
		p->stats.spoofed++;
	} else {
		fdb_learn(sw, src, port);
	}
	if (forward(sw, port, frame, len))
		p->stats.floods++;
}

void vswitch_inject(struct vswitch *sw, int port, const uint8_t *frame, size_t len)
{
	if (port != VSWITCH_NO_PORT)
		vswitch_input(sw, port, frame, len);
	else if (len >= ETH_HLEN)
		forward(sw, VSWITCH_NO_PORT, frame, len);
}
