/* net/vswitch: learning, flooding, filtering, ageing, moves, guest IPv4
 * learning and counters, through ports whose tx records what they get. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/vswitch.h"
#include "frames.h"

#define FRAME_BUF 128

struct rec {
	int frames;
	uint8_t last[FRAME_BUF];
	size_t last_len;
	int ret; /* what tx returns */
};

static struct vswitch sw;
static struct rec rec[VSWITCH_PORTS_MAX];
static int uplink, host, guest_a, guest_b;

static const uint8_t mac_peer[ETH_ALEN] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x01};
static const uint8_t mac_host[ETH_ALEN] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x02};
static const uint8_t mac_a[ETH_ALEN] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x0a};
static const uint8_t mac_b[ETH_ALEN] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x0b};
static const uint8_t mac_bcast[ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t mac_mcast[ETH_ALEN] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};

static int rec_tx(void *ctx, const uint8_t *frame, size_t len)
{
	struct rec *r = ctx;

	if (r->ret)
		return r->ret;
	r->frames++;
	r->last_len = len < FRAME_BUF ? len : FRAME_BUF;
	memcpy(r->last, frame, r->last_len);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	vswitch_init(&sw);
	memset(rec, 0, sizeof(rec));
	uplink = vswitch_port_add(&sw, VSWITCH_PORT_UPLINK, "e1000.0", rec_tx, &rec[0]);
	host = vswitch_port_add(&sw, VSWITCH_PORT_HOST, "tern", rec_tx, &rec[1]);
	guest_a = vswitch_port_add(&sw, VSWITCH_PORT_GUEST, "vm1", rec_tx, &rec[2]);
	guest_b = vswitch_port_add(&sw, VSWITCH_PORT_GUEST, "vm2", rec_tx, &rec[3]);
	assert_int_equal(uplink, 0);
	assert_int_equal(host, 1);
	assert_int_equal(guest_a, 2);
	assert_int_equal(guest_b, 3);
	assert_int_equal(vswitch_port_set_mac(&sw, guest_a, mac_a), 0);
	assert_int_equal(vswitch_port_set_mac(&sw, guest_b, mac_b), 0);
	return 0;
}

/* A 60-byte frame of an ethertype nobody learns from. */
static size_t frame(uint8_t *f, const uint8_t *dst, const uint8_t *src)
{
	memset(f, 0, 60);
	memcpy(f + ETH_OFF_DST, dst, ETH_ALEN);
	memcpy(f + ETH_OFF_SRC, src, ETH_ALEN);
	ether_put16(f + ETH_OFF_TYPE, 0x88b5); /* IEEE local experimental */
	return 60;
}

static void send(int port, const uint8_t *dst, const uint8_t *src)
{
	uint8_t f[60];

	vswitch_input(&sw, port, f, frame(f, dst, src));
}

static size_t arp(uint8_t *f, const uint8_t *src, const uint8_t *sha, const uint8_t spa[4],
		  uint16_t op)
{
	static const uint8_t tpa[4] = {192, 168, 7, 1};

	return frames_arp(f, mac_bcast, src, sha, spa, tpa, op);
}

static size_t ipv4(uint8_t *f, const uint8_t *dst, const uint8_t *src, const uint8_t ip[4])
{
	frame(f, dst, src);
	ether_put16(f + ETH_OFF_TYPE, ETH_P_IP);
	f[IP4_OFF_VHL] = 0x45;
	memcpy(f + IP4_OFF_SRC, ip, 4);
	return 60;
}

static uint32_t ip32(const uint8_t ip[4])
{
	uint32_t v;

	memcpy(&v, ip, 4);
	return v;
}

static void assert_frames(int up, int ho, int a, int b)
{
	assert_int_equal(rec[uplink].frames, up);
	assert_int_equal(rec[host].frames, ho);
	assert_int_equal(rec[guest_a].frames, a);
	assert_int_equal(rec[guest_b].frames, b);
}

static void test_unknown_unicast_floods_to_every_port_but_ingress(void **state)
{
	(void)state;
	send(guest_a, mac_peer, mac_a);
	assert_frames(1, 1, 0, 1);
	assert_memory_equal(rec[uplink].last + ETH_OFF_SRC, mac_a, ETH_ALEN);
	assert_int_equal(sw.ports[guest_a].stats.floods, 1);
}

static void test_broadcast_and_multicast_flood_to_every_port_but_ingress(void **state)
{
	(void)state;
	send(uplink, mac_bcast, mac_peer);
	assert_frames(0, 1, 1, 1);
	send(host, mac_mcast, mac_host);
	assert_frames(1, 1, 2, 2);
	assert_int_equal(sw.ports[uplink].stats.floods, 1);
	assert_int_equal(sw.ports[host].stats.floods, 1);
}

static void test_learned_unicast_goes_only_to_its_port(void **state)
{
	(void)state;
	send(uplink, mac_bcast, mac_peer);
	send(guest_a, mac_peer, mac_a);
	assert_frames(1, 1, 1, 1);
	assert_int_equal(vswitch_fdb_lookup(&sw, mac_peer), uplink);
	assert_int_equal(vswitch_fdb_lookup(&sw, mac_a), guest_a);
	assert_int_equal(sw.ports[guest_a].stats.floods, 0);
}

static void test_frame_for_address_on_ingress_port_is_filtered_not_hairpinned(void **state)
{
	static const uint8_t mac_peer2[ETH_ALEN] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x03};

	(void)state;
	send(uplink, mac_bcast, mac_peer);
	send(uplink, mac_bcast, mac_peer2);
	memset(rec, 0, sizeof(rec));
	/* Two hosts behind the uplink talk; a promiscuous uplink sees it. */
	send(uplink, mac_peer2, mac_peer);
	assert_frames(0, 0, 0, 0);
	assert_int_equal(sw.ports[uplink].stats.filtered, 1);
	assert_int_equal(sw.ports[uplink].stats.rx_drops, 0);
}

static void test_guest_traffic_to_outside_does_not_reach_other_guest(void **state)
{
	(void)state;
	send(uplink, mac_bcast, mac_peer);
	send(host, mac_bcast, mac_host);
	memset(rec, 0, sizeof(rec));
	send(guest_a, mac_peer, mac_a);
	send(guest_a, mac_host, mac_a);
	assert_frames(1, 1, 0, 0);
}

static void test_guest_to_guest_unicast_reaches_only_that_guest(void **state)
{
	(void)state;
	send(guest_b, mac_bcast, mac_b);
	memset(rec, 0, sizeof(rec));
	send(guest_a, mac_b, mac_a);
	assert_frames(0, 0, 0, 1);
	/* and the reply, now that a is learned, goes only to a */
	send(guest_b, mac_a, mac_b);
	assert_frames(0, 0, 1, 1);
}

static void test_entry_ages_out_after_300_seconds(void **state)
{
	(void)state;
	vswitch_tick(&sw, 1000);
	send(uplink, mac_bcast, mac_peer);
	vswitch_tick(&sw, 1000 + VSWITCH_AGE_MS - 1);
	assert_int_equal(vswitch_fdb_lookup(&sw, mac_peer), uplink);
	vswitch_tick(&sw, 1000 + VSWITCH_AGE_MS);
	assert_int_equal(vswitch_fdb_lookup(&sw, mac_peer), VSWITCH_NO_PORT);
	memset(rec, 0, sizeof(rec));
	send(guest_a, mac_peer, mac_a);
	assert_frames(1, 1, 0, 1);
}

static void test_traffic_refreshes_entry_age(void **state)
{
	(void)state;
	vswitch_tick(&sw, 0);
	send(uplink, mac_bcast, mac_peer);
	vswitch_tick(&sw, 200000);
	send(uplink, mac_bcast, mac_peer);
	vswitch_tick(&sw, 450000);
	assert_int_equal(vswitch_fdb_lookup(&sw, mac_peer), uplink);
}

static void test_set_age_changes_ageing_time(void **state)
{
	(void)state;
	vswitch_set_age(&sw, 10000);
	vswitch_tick(&sw, 0);
	send(uplink, mac_bcast, mac_peer);
	vswitch_tick(&sw, 10000);
	assert_int_equal(vswitch_fdb_lookup(&sw, mac_peer), VSWITCH_NO_PORT);
	vswitch_set_age(&sw, 0);
	assert_int_equal(sw.age_ms, VSWITCH_AGE_MS);
}

static void count_entry(void *ctx, const uint8_t *mac, int port, uint64_t age_ms)
{
	(void)mac;
	(void)port;
	(void)age_ms;
	(*(int *)ctx)++;
}

static void test_sweep_removes_expired_entries_from_dump(void **state)
{
	int n = 0;

	(void)state;
	vswitch_tick(&sw, 0);
	send(uplink, mac_bcast, mac_peer);
	send(guest_a, mac_bcast, mac_a);
	vswitch_fdb_for_each(&sw, count_entry, &n);
	assert_int_equal(n, 3); /* the peer, and both guests' pinned MACs */
	vswitch_tick(&sw, VSWITCH_AGE_MS + 5000);
	n = 0;
	vswitch_fdb_for_each(&sw, count_entry, &n);
	assert_int_equal(n, 2); /* pinned MACs never age out */
	for (int b = 0; b < VSWITCH_FDB_BUCKETS; b++)
		for (int w = 0; w < VSWITCH_FDB_WAYS; w++)
			assert_int_equal(sw.fdb[b][w].port, VSWITCH_NO_PORT);
}

struct dump {
	int port;
	uint64_t age_ms;
};

static void find_peer(void *ctx, const uint8_t *mac, int port, uint64_t age_ms)
{
	struct dump *d = ctx;

	if (ether_equal(mac, mac_peer)) {
		d->port = port;
		d->age_ms = age_ms;
	}
}

static void test_dump_reports_port_and_age(void **state)
{
	struct dump d = {VSWITCH_NO_PORT, 0};

	(void)state;
	vswitch_tick(&sw, 5000);
	send(uplink, mac_bcast, mac_peer);
	vswitch_tick(&sw, 7500);
	vswitch_fdb_for_each(&sw, find_peer, &d);
	assert_int_equal(d.port, uplink);
	assert_int_equal(d.age_ms, 2500);
}

static void test_mac_moving_to_another_port_is_relearned(void **state)
{
	(void)state;
	send(uplink, mac_bcast, mac_peer);
	assert_int_equal(vswitch_fdb_lookup(&sw, mac_peer), uplink);
	send(host, mac_bcast, mac_peer);
	assert_int_equal(vswitch_fdb_lookup(&sw, mac_peer), host);
	assert_int_equal(sw.moves, 1);
	memset(rec, 0, sizeof(rec));
	send(guest_a, mac_peer, mac_a);
	assert_frames(0, 1, 0, 0);
}

static void test_migrated_guests_mac_moves_from_the_uplink_to_its_new_port(void **state)
{
	static const uint8_t mac_c[ETH_ALEN] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x0c};

	(void)state;
	/* The guest ran on the peer host, behind the uplink... */
	send(uplink, mac_bcast, mac_c);
	assert_int_equal(vswitch_fdb_lookup(&sw, mac_c), uplink);
	/* ...and now runs here: its port is bound when its identity arrives */
	int c = vswitch_port_add(&sw, VSWITCH_PORT_GUEST, "vm3", rec_tx, &rec[4]);
	assert_int_equal(vswitch_port_set_mac(&sw, c, mac_c), 0);
	assert_int_equal(vswitch_fdb_lookup(&sw, mac_c), c);
	memset(rec, 0, sizeof(rec));
	send(host, mac_c, mac_host);
	assert_int_equal(rec[4].frames, 1);
	assert_frames(0, 0, 0, 0);
	/* a second guest cannot take the same MAC, nor may a host port be bound */
	assert_int_equal(vswitch_port_set_mac(&sw, guest_b, mac_c), -EEXIST);
	assert_int_equal(vswitch_port_set_mac(&sw, host, mac_host), -EINVAL);
	assert_int_equal(vswitch_port_set_mac(&sw, guest_b, mac_bcast), -EINVAL);
}

/* Issue 9 item 5: a guest sending as the host (or a neighbour) must not
 * become the switch's idea of where the host is. */
static void test_guest_may_only_send_from_its_own_mac(void **state)
{
	(void)state;
	send(host, mac_bcast, mac_host); /* the host is heard on its port */
	memset(rec, 0, sizeof(rec));
	send(guest_a, mac_bcast, mac_host); /* as the host */
	send(guest_a, mac_bcast, mac_b);    /* as its neighbour */
	send(guest_a, mac_peer, mac_peer);  /* as someone on the wire */
	assert_frames(0, 0, 0, 0);	    /* none of them went anywhere */
	assert_int_equal(sw.ports[guest_a].stats.spoofed, 3);
	assert_int_equal(vswitch_fdb_lookup(&sw, mac_host), host);
	assert_int_equal(vswitch_fdb_lookup(&sw, mac_b), guest_b);
	assert_int_equal(vswitch_fdb_lookup(&sw, mac_peer), VSWITCH_NO_PORT);
	/* the host's traffic (to port 7000 or anything else) still goes to
	 * the host only */
	send(uplink, mac_host, mac_peer);
	assert_frames(0, 1, 0, 0);
	/* a guest port not yet bound sends nothing at all */
	int c = vswitch_port_add(&sw, VSWITCH_PORT_GUEST, "vm3", rec_tx, &rec[4]);
	send(c, mac_bcast, mac_peer);
	assert_int_equal(sw.ports[c].stats.spoofed, 1);
	assert_frames(0, 1, 0, 0);
	/* its own MAC passes */
	send(guest_a, mac_bcast, mac_a);
	assert_frames(1, 2, 0, 1);
}

/* The switch's bucket of a MAC (FNV-1a, as net/vswitch.c), so the test can
 * aim at a victim's bucket the way an attacker would. */
static unsigned bucket_of(const uint8_t *mac)
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < ETH_ALEN; i++)
		h = (h ^ mac[i]) * 16777619u;
	return h % VSWITCH_FDB_BUCKETS;
}

/* Many MACs that hash into a guest's bucket, from the wire, each heard
 * more recently than the guest: the guest's MAC stays where it is, and its
 * traffic goes to it alone, never flooded. */
static void test_flooding_a_bucket_never_evicts_or_floods_a_pinned_guest(void **state)
{
	uint8_t mac[ETH_ALEN] = {0x06, 0, 0, 0, 0, 0};
	int sent = 0;

	(void)state;
	vswitch_tick(&sw, 1000);
	send(guest_a, mac_bcast, mac_a);
	for (unsigned i = 0; i < 65536 && sent < 5 * VSWITCH_FDB_WAYS; i++) {
		mac[4] = (uint8_t)(i >> 8), mac[5] = (uint8_t)i;
		if (bucket_of(mac) != bucket_of(mac_a))
			continue;
		vswitch_tick(&sw, 2000 + i);
		send(uplink, mac_bcast, mac);
		sent++;
	}
	assert_int_equal(sent, 5 * VSWITCH_FDB_WAYS);
	assert_true(sw.evictions > 0); /* the bucket did overflow */
	/* an uplink frame claiming the guest's MAC is not learned either */
	send(uplink, mac_bcast, mac_a);
	assert_int_equal(sw.ports[uplink].stats.spoofed, 1);
	memset(rec, 0, sizeof(rec));
	uint64_t floods = sw.ports[uplink].stats.floods;
	send(uplink, mac_a, mac_peer);
	assert_int_equal(vswitch_fdb_lookup(&sw, mac_a), guest_a);
	assert_frames(0, 0, 1, 0);
	assert_int_equal(sw.ports[uplink].stats.floods, floods);
}

static void test_guest_ip_learned_from_arp_sender(void **state)
{
	static const uint8_t ip[4] = {192, 168, 7, 10};
	uint8_t f[60];
	uint32_t got = 0;

	(void)state;
	assert_int_equal(vswitch_port_ip(&sw, guest_a, &got), -ENOENT);
	vswitch_input(&sw, guest_a, f, arp(f, mac_a, mac_a, ip, ARP_OP_REQUEST));
	assert_int_equal(vswitch_port_ip(&sw, guest_a, &got), 0);
	assert_int_equal(got, ip32(ip));
	assert_int_equal(vswitch_ip_of_mac(&sw, mac_a, &got), 0);
	assert_int_equal(got, ip32(ip));
	assert_int_equal(vswitch_ip_of_mac(&sw, mac_b, &got), -ENOENT);
	assert_int_equal(vswitch_port_ip(&sw, guest_b, &got), -ENOENT);
}

static void test_arp_probe_and_foreign_sender_do_not_set_ip(void **state)
{
	static const uint8_t zero[4] = {0, 0, 0, 0};
	static const uint8_t ip[4] = {192, 168, 7, 10};
	uint8_t f[60];
	uint32_t got;

	(void)state;
	/* RFC 5227 probe: sender IP 0.0.0.0 */
	vswitch_input(&sw, guest_a, f, arp(f, mac_a, mac_a, zero, ARP_OP_REQUEST));
	/* sender hardware address other than the frame's source */
	vswitch_input(&sw, guest_a, f, arp(f, mac_a, mac_b, ip, ARP_OP_REPLY));
	assert_int_equal(vswitch_port_ip(&sw, guest_a, &got), -ENOENT);
}

static void test_guest_ip_learned_from_ipv4_source_until_it_arps(void **state)
{
	static const uint8_t routed[4] = {10, 1, 2, 3};
	static const uint8_t own[4] = {192, 168, 7, 10};
	uint8_t f[60];
	uint32_t got;

	(void)state;
	vswitch_input(&sw, guest_a, f, ipv4(f, mac_peer, mac_a, routed));
	assert_int_equal(vswitch_port_ip(&sw, guest_a, &got), 0);
	assert_int_equal(got, ip32(routed));
	vswitch_input(&sw, guest_a, f, arp(f, mac_a, mac_a, own, ARP_OP_REPLY));
	vswitch_input(&sw, guest_a, f, ipv4(f, mac_peer, mac_a, routed));
	assert_int_equal(vswitch_port_ip(&sw, guest_a, &got), 0);
	assert_int_equal(got, ip32(own));
}

static void test_non_host_ipv4_sources_are_not_learned(void **state)
{
	static const uint8_t bad[][4] = {
		{0, 0, 0, 0}, {127, 0, 0, 1}, {224, 0, 0, 251}, {255, 255, 255, 255}};
	uint8_t f[60];
	uint32_t got;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		vswitch_input(&sw, guest_a, f, ipv4(f, mac_peer, mac_a, bad[i]));
	assert_int_equal(vswitch_port_ip(&sw, guest_a, &got), -ENOENT);
}

static void test_ip_is_learned_on_guest_ports_only(void **state)
{
	static const uint8_t ip[4] = {192, 168, 7, 99};
	uint8_t f[60];
	uint32_t got;

	(void)state;
	vswitch_input(&sw, uplink, f, arp(f, mac_peer, mac_peer, ip, ARP_OP_REQUEST));
	assert_int_equal(vswitch_port_ip(&sw, uplink, &got), -ENOENT);
	assert_int_equal(vswitch_ip_of_mac(&sw, mac_peer, &got), -ENOENT);
}

static void test_counters_count_frames_bytes_and_drops(void **state)
{
	uint8_t f[60] = {0};
	const struct vswitch_port *a = vswitch_port_get(&sw, guest_a);
	const struct vswitch_port *up = vswitch_port_get(&sw, uplink);

	(void)state;
	send(guest_a, mac_bcast, mac_a); /* flood: 3 deliveries */
	rec[uplink].ret = -EAGAIN;
	send(guest_a, mac_peer, mac_a);	    /* flood again; the uplink refuses */
	vswitch_input(&sw, guest_a, f, 10); /* runt */
	vswitch_input(&sw, guest_a, f, frame(f, mac_peer, mac_mcast)); /* group source */
	assert_int_equal(a->stats.rx_frames, 4);
	assert_int_equal(a->stats.rx_bytes, 60 + 60 + 10 + 60);
	assert_int_equal(a->stats.rx_drops, 2);
	assert_int_equal(a->stats.floods, 2);
	assert_int_equal(a->stats.tx_frames, 0);
	assert_int_equal(up->stats.tx_frames, 1);
	assert_int_equal(up->stats.tx_bytes, 60);
	assert_int_equal(up->stats.tx_drops, 1);
	assert_int_equal(vswitch_port_get(&sw, host)->stats.tx_frames, 2);
	assert_string_equal(a->name, "vm1");
	assert_int_equal(a->kind, VSWITCH_PORT_GUEST);
}

static void test_group_source_is_not_learned(void **state)
{
	(void)state;
	send(uplink, mac_bcast, mac_mcast);
	assert_int_equal(vswitch_fdb_lookup(&sw, mac_mcast), VSWITCH_NO_PORT);
	assert_frames(0, 0, 0, 0);
}

static void test_removed_port_forgets_its_addresses(void **state)
{
	(void)state;
	send(guest_b, mac_bcast, mac_b);
	assert_int_equal(vswitch_port_remove(&sw, guest_b), 0);
	assert_int_equal(vswitch_fdb_lookup(&sw, mac_b), VSWITCH_NO_PORT);
	assert_null(vswitch_port_get(&sw, guest_b));
	assert_int_equal(vswitch_port_remove(&sw, guest_b), -ENOENT);
	memset(rec, 0, sizeof(rec));
	send(guest_a, mac_b, mac_a);
	assert_frames(1, 1, 0, 0);
	/* its slot is reused */
	assert_int_equal(vswitch_port_add(&sw, VSWITCH_PORT_GUEST, "vm3", rec_tx, &rec[3]),
			 guest_b);
}

static void test_ports_are_limited(void **state)
{
	(void)state;
	for (int i = 4; i < VSWITCH_PORTS_MAX; i++)
		assert_int_equal(vswitch_port_add(&sw, VSWITCH_PORT_GUEST, "g", rec_tx, &rec[i]),
				 i);
	assert_int_equal(vswitch_port_add(&sw, VSWITCH_PORT_GUEST, "g", rec_tx, NULL), -ENOSPC);
	assert_int_equal(vswitch_port_add(&sw, VSWITCH_PORT_GUEST, "g", NULL, NULL), -EINVAL);
}

static void test_input_on_unused_port_is_ignored(void **state)
{
	(void)state;
	send(VSWITCH_PORTS_MAX - 1, mac_bcast, mac_peer);
	send(-1, mac_bcast, mac_peer);
	assert_frames(0, 0, 0, 0);
	assert_int_equal(vswitch_fdb_lookup(&sw, mac_peer), VSWITCH_NO_PORT);
}

static void test_inject_for_guest_port_learns_there_and_floods(void **state)
{
	uint8_t f[60];

	(void)state;
	send(uplink, mac_bcast, mac_a); /* stale: learned before the move */
	memset(rec, 0, sizeof(rec));
	vswitch_inject(&sw, guest_a, f, frame(f, mac_bcast, mac_a));
	assert_int_equal(vswitch_fdb_lookup(&sw, mac_a), guest_a);
	assert_frames(1, 1, 0, 1);
}

static void test_inject_without_port_reaches_every_port_and_learns_nothing(void **state)
{
	uint8_t f[60];

	(void)state;
	vswitch_inject(&sw, VSWITCH_NO_PORT, f, frame(f, mac_bcast, mac_peer));
	assert_frames(1, 1, 1, 1);
	assert_int_equal(vswitch_fdb_lookup(&sw, mac_peer), VSWITCH_NO_PORT);
}

static void test_full_table_evicts_least_recently_seen(void **state)
{
	uint8_t mac[ETH_ALEN] = {0x06, 0, 0, 0, 0, 0};
	const int n = VSWITCH_FDB_BUCKETS * VSWITCH_FDB_WAYS + 64;
	int live = 0;

	(void)state;
	for (int i = 0; i < n; i++) {
		vswitch_tick(&sw, (uint64_t)i);
		mac[4] = (uint8_t)(i >> 8);
		mac[5] = (uint8_t)i;
		send(uplink, mac_bcast, mac);
		/* the address just learned is always there */
		assert_int_equal(vswitch_fdb_lookup(&sw, mac), uplink);
	}
	vswitch_fdb_for_each(&sw, count_entry, &live);
	live -= 2; /* the guests' pinned MACs, outside the table */
	assert_true(live <= VSWITCH_FDB_BUCKETS * VSWITCH_FDB_WAYS);
	assert_int_equal(sw.evictions, (uint64_t)(n - live));
	assert_true(sw.evictions >= 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, setup)
		T(test_unknown_unicast_floods_to_every_port_but_ingress),
		T(test_broadcast_and_multicast_flood_to_every_port_but_ingress),
		T(test_learned_unicast_goes_only_to_its_port),
		T(test_frame_for_address_on_ingress_port_is_filtered_not_hairpinned),
		T(test_guest_traffic_to_outside_does_not_reach_other_guest),
		T(test_guest_to_guest_unicast_reaches_only_that_guest),
		T(test_entry_ages_out_after_300_seconds),
		T(test_traffic_refreshes_entry_age),
		T(test_set_age_changes_ageing_time),
		T(test_sweep_removes_expired_entries_from_dump),
		T(test_dump_reports_port_and_age),
		T(test_mac_moving_to_another_port_is_relearned),
		T(test_migrated_guests_mac_moves_from_the_uplink_to_its_new_port),
		T(test_guest_may_only_send_from_its_own_mac),
		T(test_flooding_a_bucket_never_evicts_or_floods_a_pinned_guest),
		T(test_guest_ip_learned_from_arp_sender),
		T(test_arp_probe_and_foreign_sender_do_not_set_ip),
		T(test_guest_ip_learned_from_ipv4_source_until_it_arps),
		T(test_non_host_ipv4_sources_are_not_learned),
		T(test_ip_is_learned_on_guest_ports_only),
		T(test_counters_count_frames_bytes_and_drops),
		T(test_group_source_is_not_learned),
		T(test_removed_port_forgets_its_addresses),
		T(test_ports_are_limited),
		T(test_input_on_unused_port_is_ignored),
		T(test_inject_for_guest_port_learns_there_and_floods),
		T(test_inject_without_port_reaches_every_port_and_learns_nothing),
		T(test_full_table_evicts_least_recently_seen),
#undef T
	};

	return cmocka_run_group_tests_name("vswitch", tests, NULL, NULL);
}
