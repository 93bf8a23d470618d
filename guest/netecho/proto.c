/* The replies netecho makes: ARP (RFC 826), ICMP echo (RFC 792) and UDP
 * echo (RFC 862's service, on every port), for its own IPv4 address only.
 * A reply is the request turned around in a buffer of its own: addresses
 * swapped, checksums recomputed (RFC 1071). IPv4 fragments are ignored. */
#include "netecho.h"

#define ETH_HLEN 14
#define ETH_ZLEN 60
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ARP_LEN 28
#define IP_HLEN 20
#define IPPROTO_ICMP 1
#define IPPROTO_UDP 17
#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO 8

struct ne_proto ne_proto;
static uint8_t out[NE_FRAME_MAX];
static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* RFC 1071: the ones' complement sum of 16-bit words, folded. */
static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return (uint16_t)~sum;
}

static void send(size_t len)
{
	if (len < ETH_ZLEN) { /* pad to the Ethernet minimum */
		memset(out + len, 0, ETH_ZLEN - len);
		len = ETH_ZLEN;
	}
	if (ne_proto.send(out, len))
		ne_proto.stats.tx++;
	else
		ne_proto.stats.tx_full++;
}

static void arp_frame(const uint8_t *dst, uint16_t op, const uint8_t *tha, const uint8_t *tpa)
{
	uint8_t *a = out + ETH_HLEN;

	memcpy(out, dst, 6);
	memcpy(out + 6, ne_proto.mac, 6);
	put16(out + 12, ETH_P_ARP);
	put16(a, 1); /* Ethernet */
	put16(a + 2, ETH_P_IP);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, ne_proto.mac, 6);
	memcpy(a + 14, ne_proto.ip, 4);
	memcpy(a + 18, tha, 6);
	memcpy(a + 24, tpa, 4);
	send(ETH_HLEN + ARP_LEN);
}

void ne_proto_announce(void)
{
	static const uint8_t zero[6];
	arp_frame(broadcast, 1, zero, ne_proto.ip);
}

static bool arp(const uint8_t *f, size_t len)
{
	const uint8_t *a = f + ETH_HLEN;

	if (len < ETH_HLEN + ARP_LEN || get16(a) != 1 || get16(a + 2) != ETH_P_IP || a[4] != 6 ||
	    a[5] != 4 || get16(a + 6) != 1 || memcmp(a + 24, ne_proto.ip, 4) ||
	    !memcmp(a + 14, ne_proto.ip, 4))
		return false; /* not a request for us (a gratuitous one names us as sender) */
	uint8_t sha[6], spa[4];
	memcpy(sha, a + 8, 6);
	memcpy(spa, a + 14, 4);
	arp_frame(sha, 2, sha, spa);
	ne_proto.stats.arp++;
	return true;
}

/* The IPv4 packet in out (already a copy of the request) goes back. */
static void ip_reply(size_t ihl, size_t total)
{
	uint8_t *ip = out + ETH_HLEN;
	uint8_t tmp[4];

	memcpy(out, out + 6, 6); /* Ethernet: back to the sender */
	memcpy(out + 6, ne_proto.mac, 6);
	memcpy(tmp, ip + 12, 4);
	memcpy(ip + 12, ip + 16, 4);
	memcpy(ip + 16, tmp, 4);
	ip[8] = 64; /* TTL */
	put16(ip + 10, 0);
	put16(ip + 10, fold(sum16(ip, ihl, 0)));
	send(ETH_HLEN + total);
}

static bool ipv4(const uint8_t *f, size_t len)
{
	const uint8_t *ip = f + ETH_HLEN;

	if (len < ETH_HLEN + IP_HLEN || memcmp(f, ne_proto.mac, 6) || ip[0] >> 4 != 4)
		return false;
	size_t ihl = (size_t)(ip[0] & 0xF) * 4, total = get16(ip + 2);
	if (ihl < IP_HLEN || total < ihl || total > len - ETH_HLEN ||
	    memcmp(ip + 16, ne_proto.ip, 4) || fold(sum16(ip, ihl, 0)) != 0 ||
	    (get16(ip + 6) & 0x3FFF)) /* MF or an offset: a fragment */
		return false;
	size_t plen = total - ihl;
	memcpy(out, f, ETH_HLEN + total);
	uint8_t *p = out + ETH_HLEN + ihl;

	if (ip[9] == IPPROTO_ICMP && plen >= 8 && p[0] == ICMP_ECHO && p[1] == 0) {
		if (fold(sum16(p, plen, 0)) != 0)
			return false;
		p[0] = ICMP_ECHO_REPLY;
		put16(p + 2, 0);
		put16(p + 2, fold(sum16(p, plen, 0)));
		ne_proto.stats.icmp++;
	} else if (ip[9] == IPPROTO_UDP && plen >= 8 && get16(p + 4) >= 8 && get16(p + 4) <= plen) {
		size_t ulen = get16(p + 4);
		uint8_t port[2];
		memcpy(port, p, 2); /* the echo goes back to the sender's port */
		memcpy(p, p + 2, 2);
		memcpy(p + 2, port, 2);
		/* RFC 768: over a pseudo header (source, destination, protocol,
		 * length) and the datagram; the addresses swap below, which
		 * leaves their sum as it is. 0 is sent as all-ones. */
		put16(p + 6, 0);
		uint32_t sum = sum16(ip + 12, 8, IPPROTO_UDP + (uint32_t)ulen);
		uint16_t c = fold(sum16(p, ulen, sum));
		put16(p + 6, c ? c : 0xFFFF);
		ne_proto.stats.udp++;
	} else {
		return false;
	}
	ip_reply(ihl, total);
	return true;
}

void ne_proto_input(const uint8_t *f, size_t len)
{
	bool answered = false;

	ne_proto.stats.rx++;
	if (len >= ETH_HLEN && get16(f + 12) == ETH_P_ARP)
		answered = arp(f, len);
	else if (len >= ETH_HLEN && get16(f + 12) == ETH_P_IP)
		answered = ipv4(f, len);
	if (!answered)
		ne_proto.stats.ignored++;
}
