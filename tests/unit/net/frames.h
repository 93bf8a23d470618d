/* Frames the net/ tests feed in, built field by field (not with the code
 * under test). */
#pragma once
#include <stdint.h>
#include <string.h>

#include "net/ether.h"

/* A 60-byte IPv4-over-Ethernet ARP packet. */
static inline size_t frames_arp(uint8_t *f, const uint8_t *dst, const uint8_t *src,
				const uint8_t *sha, const uint8_t *spa, const uint8_t *tpa,
				uint16_t op)
{
	memset(f, 0, ETH_ZLEN);
	memcpy(f + ETH_OFF_DST, dst, ETH_ALEN);
	memcpy(f + ETH_OFF_SRC, src, ETH_ALEN);
	ether_put16(f + ETH_OFF_TYPE, ETH_P_ARP);
	ether_put16(f + ARP_OFF_HTYPE, ARP_HTYPE_ETHER);
	ether_put16(f + ARP_OFF_PTYPE, ETH_P_IP);
	f[ARP_OFF_HLEN] = ETH_ALEN;
	f[ARP_OFF_PLEN] = 4;
	ether_put16(f + ARP_OFF_OP, op);
	memcpy(f + ARP_OFF_SHA, sha, ETH_ALEN);
	memcpy(f + ARP_OFF_SPA, spa, 4);
	memcpy(f + ARP_OFF_TPA, tpa, 4);
	return ETH_ZLEN;
}
