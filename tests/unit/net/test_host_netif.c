/* net/host_netif with the real lwIP (Tern's options) behind a vswitch: ARP,
 * ping and announcements between a fake uplink, a guest port and Tern. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lwip/etharp.h"
#include "lwip/init.h"
#include "net/announce.h"
#include "net/host_netif.h"
#include "net/vswitch.h"
#include "frames.h"

#define FRAME_MAX 1518

struct rec {
	int frames;
	uint8_t last[FRAME_MAX];
	size_t last_len;
};

static struct vswitch sw;
static struct host_netif tern;
static struct rec up_rec, guest_rec;
static int uplink, guest;
static uint32_t now_ms;

static const uint8_t tern_mac[ETH_ALEN] = {0x52, 0x54, 0x00, 0xaa, 0x00, 0x01};
static const uint8_t peer_mac[ETH_ALEN] = {0x52, 0x54, 0x00, 0xbb, 0x00, 0x02};
static const uint8_t guest_mac[ETH_ALEN] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x0a};
static const uint8_t tern_ip[4] = {192, 168, 7, 1};
static const uint8_t peer_ip[4] = {192, 168, 7, 2};
static const uint8_t guest_ip[4] = {192, 168, 7, 10};
static const uint8_t bcast[ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

uint32_t tern_ms(void)
{
	return now_ms;
}

static int rec_tx(void *ctx, const uint8_t *frame, size_t len)
{
	struct rec *r = ctx;

	r->frames++;
	r->last_len = len;
	memcpy(r->last, frame, len);
	return 0;
}

static uint32_t ip32(const uint8_t *b)
{
	uint32_t v;

	memcpy(&v, b, 4);
	return v;
}

static int group_setup(void **state)
{
	const uint8_t mask[4] = {255, 255, 255, 0};

	(void)state;
	lwip_init();
	vswitch_init(&sw);
	uplink = vswitch_port_add(&sw, VSWITCH_PORT_UPLINK, "e1000.0", rec_tx, &up_rec);
	assert_int_equal(host_netif_init(&tern, &sw, tern_mac), 0);
	guest = vswitch_port_add(&sw, VSWITCH_PORT_GUEST, "vm1", rec_tx, &guest_rec);
	/* as virtio-net does: a guest port sends only from its VM's MAC */
	assert_int_equal(vswitch_port_set_mac(&sw, guest, guest_mac), 0);
	assert_int_equal(host_netif_set_ip(&tern, ip32(tern_ip), ip32(mask), 0), 0);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	memset(&up_rec, 0, sizeof(up_rec));
	memset(&guest_rec, 0, sizeof(guest_rec));
	return 0;
}

static size_t arp(uint8_t *f, const uint8_t *dst, const uint8_t *sha, const uint8_t *spa,
		  const uint8_t *tpa, uint16_t op)
{
	return frames_arp(f, dst, sha, sha, spa, tpa, op);
}

/* RFC 1071 */
static uint16_t csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static size_t echo_request(uint8_t *f, uint16_t seq)
{
	uint8_t *ip = f + ETH_HLEN, *icmp = ip + 20;
	const size_t payload = 32;

	memset(f, 0, ETH_HLEN + 20 + 8 + payload);
	memcpy(f + ETH_OFF_DST, tern_mac, ETH_ALEN);
	memcpy(f + ETH_OFF_SRC, peer_mac, ETH_ALEN);
	ether_put16(f + ETH_OFF_TYPE, ETH_P_IP);
	ip[0] = 0x45;
	ether_put16(ip + 2, (uint16_t)(20 + 8 + payload));
	ip[8] = 64; /* TTL */
	ip[9] = 1;  /* ICMP */
	memcpy(ip + 12, peer_ip, 4);
	memcpy(ip + 16, tern_ip, 4);
	ether_put16(ip + 10, csum(ip, 20));
	icmp[0] = 8; /* echo request */
	ether_put16(icmp + 4, 0x1234);
	ether_put16(icmp + 6, seq);
	for (size_t i = 0; i < payload; i++)
		icmp[8 + i] = (uint8_t)i;
	ether_put16(icmp + 2, csum(icmp, 8 + payload));
	return ETH_HLEN + 20 + 8 + payload;
}

static void test_arp_request_for_tern_is_answered_to_the_asker(void **state)
{
	uint8_t f[ETH_ZLEN];

	(void)state;
	vswitch_input(&sw, uplink, f, arp(f, bcast, peer_mac, peer_ip, tern_ip, ARP_OP_REQUEST));
	assert_int_equal(up_rec.frames, 1);
	assert_memory_equal(up_rec.last + ETH_OFF_DST, peer_mac, ETH_ALEN);
	assert_memory_equal(up_rec.last + ETH_OFF_SRC, tern_mac, ETH_ALEN);
	assert_int_equal(ether_get16(up_rec.last + ETH_OFF_TYPE), ETH_P_ARP);
	assert_int_equal(ether_get16(up_rec.last + ARP_OFF_OP), ARP_OP_REPLY);
	assert_memory_equal(up_rec.last + ARP_OFF_SPA, tern_ip, 4);
	assert_memory_equal(up_rec.last + ARP_OFF_TPA, peer_ip, 4);
	/* the reply was unicast: the guest saw only the broadcast request */
	assert_int_equal(guest_rec.frames, 1);
	assert_int_equal(vswitch_fdb_lookup(&sw, tern_mac), tern.port);
}

static void test_ping_to_tern_gets_echo_reply(void **state)
{
	uint8_t f[128];
	size_t len = echo_request(f, 7);
	const uint8_t *ip = up_rec.last + ETH_HLEN;

	(void)state;
	vswitch_input(&sw, uplink, f, len);
	assert_int_equal(up_rec.frames, 1);
	assert_int_equal(up_rec.last_len, len);
	assert_memory_equal(up_rec.last + ETH_OFF_DST, peer_mac, ETH_ALEN);
	assert_int_equal(ip[9], 1);
	assert_memory_equal(ip + 12, tern_ip, 4);
	assert_memory_equal(ip + 16, peer_ip, 4);
	assert_int_equal(ip[20], 0); /* echo reply */
	assert_int_equal(ether_get16(ip + 20 + 6), 7);
	assert_int_equal(csum(ip, 20), 0);
	assert_int_equal(csum(ip + 20, len - ETH_HLEN - 20), 0);
	assert_int_equal(guest_rec.frames, 0);
}

static void announce_send(void *ctx, int origin, const uint8_t *frame, size_t len)
{
	(void)ctx;
	vswitch_inject(&sw, origin, frame, len);
}

static void test_guest_announcement_reaches_uplink_and_tern_arp_cache(void **state)
{
	struct announcer ann;
	uint8_t f[ETH_ZLEN];
	struct eth_addr *mac = NULL;
	const ip4_addr_t *found = NULL;
	ip4_addr_t gip = {.addr = ip32(guest_ip)};

	(void)state;
	/* Tern knew the guest's IP at another MAC (the guest's old NIC)... */
	vswitch_input(&sw, uplink, f, arp(f, bcast, peer_mac, guest_ip, tern_ip, ARP_OP_REQUEST));
	assert_true(etharp_find_addr(&tern.netif, &gip, &mac, &found) >= 0);
	assert_memory_equal(mac->addr, peer_mac, ETH_ALEN);
	memset(&up_rec, 0, sizeof(up_rec));
	memset(&guest_rec, 0, sizeof(guest_rec));
	/* ...then the guest resumed here and is announced from its port. */
	announce_init(&ann, announce_send, NULL);
	assert_int_equal(announce_start(&ann, guest_mac, ip32(guest_ip), guest, 0), 0);
	announce_poll(&ann, 0);
	assert_int_equal(up_rec.frames, 2); /* GARP, RARP */
	assert_int_equal(ether_get16(up_rec.last + ETH_OFF_TYPE), ETH_P_RARP);
	assert_true(etharp_find_addr(&tern.netif, &gip, &mac, &found) >= 0);
	assert_memory_equal(mac->addr, guest_mac, ETH_ALEN);
	assert_int_equal(vswitch_fdb_lookup(&sw, guest_mac), guest);
	assert_int_equal(guest_rec.frames, 0);
}

static void test_static_address_must_be_unicast(void **state)
{
	const uint8_t mcast[4] = {224, 0, 0, 1};

	(void)state;
	assert_int_equal(host_netif_set_ip(&tern, 0, 0, 0), -EINVAL);
	assert_int_equal(host_netif_set_ip(&tern, ip32(mcast), 0, 0), -EINVAL);
	assert_int_equal(ip4_addr_get_u32(netif_ip4_addr(&tern.netif)), ip32(tern_ip));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, setup)
		T(test_arp_request_for_tern_is_answered_to_the_asker),
		T(test_ping_to_tern_gets_echo_reply),
		T(test_guest_announcement_reaches_uplink_and_tern_arp_cache),
		T(test_static_address_must_be_unicast),
#undef T
	};

	return cmocka_run_group_tests_name("host_netif", tests, group_setup, NULL);
}
