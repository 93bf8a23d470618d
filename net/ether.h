/* The few Ethernet, ARP and IPv4 header fields the vswitch reads and the
 * announcer writes, as byte offsets into a frame (network byte order on the
 * wire; frames need not be aligned). lwIP keeps its own definitions; these
 * keep vswitch and announce free of lwIP and testable on the host. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define ETH_ALEN 6
#define ETH_HLEN 14 /* destination, source, ethertype */
#define ETH_ZLEN 60 /* minimum frame without FCS; shorter ones are padded */
#define ETH_OFF_DST 0
#define ETH_OFF_SRC 6
#define ETH_OFF_TYPE 12

#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ETH_P_RARP 0x8035 /* RFC 903 */

/* ARP for IPv4 over Ethernet (RFC 826), offsets from the frame start. */
#define ARP_LEN 28
#define ARP_OFF_HTYPE (ETH_HLEN + 0)
#define ARP_OFF_PTYPE (ETH_HLEN + 2)
#define ARP_OFF_HLEN (ETH_HLEN + 4)
#define ARP_OFF_PLEN (ETH_HLEN + 5)
#define ARP_OFF_OP (ETH_HLEN + 6)
#define ARP_OFF_SHA (ETH_HLEN + 8)
#define ARP_OFF_SPA (ETH_HLEN + 14)
#define ARP_OFF_THA (ETH_HLEN + 18)
#define ARP_OFF_TPA (ETH_HLEN + 24)
#define ARP_HTYPE_ETHER 1
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY 2
#define ARP_OP_RREQUEST 3 /* RFC 903 "request reverse" */

/* IPv4 (RFC 791): the version/IHL byte and the source address. */
#define IP4_OFF_VHL (ETH_HLEN + 0)
#define IP4_OFF_SRC (ETH_HLEN + 12)
#define IP4_MIN_HLEN 20

static inline uint16_t ether_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void ether_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Group bit (IEEE 802-2014 8.2): broadcast and multicast destinations. */
static inline bool ether_is_group(const uint8_t *mac)
{
	return mac[0] & 1;
}

static inline bool ether_is_zero(const uint8_t *mac)
{
	return !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]);
}

/* A source address a station can own: not group, not all zeros. */
static inline bool ether_is_valid_source(const uint8_t *mac)
{
	return !ether_is_group(mac) && !ether_is_zero(mac);
}

static inline bool ether_equal(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, ETH_ALEN) == 0;
}
