/* MAC and IPv4 addresses as operators type and read them: `vm create
 * mac=52:54:00:12:34:56 ip=192.168.7.10`, `net ip 192.168.7.1/24`,
 * `net announce MAC [IP]`. IPv4 addresses are uint32_t in network byte order
 * throughout net/ (as lwIP's ip4_addr_t.addr). Parsing is strict: what is
 * not exactly the expected form is -EINVAL, never a guess. */
#pragma once
#include <stdint.h>

#include "net/ether.h"

/* "52:54:00:12:34:56" (or with '-'): six two-digit hex bytes. */
int addr_parse_mac(const char *s, uint8_t *mac);
/* The value of one hex digit (either case), or -1. */
int addr_hex_digit(char c);
/* "192.168.7.10": four decimal numbers 0..255, no leading zeros. */
int addr_parse_ipv4(const char *s, uint32_t *ip);
/* "192.168.7.1/24": an address and a prefix length 0..32, as address and
 * netmask. */
int addr_parse_cidr(const char *s, uint32_t *ip, uint32_t *mask);

/* For printf-style output: printf("mac " ADDR_MAC_FMT, ADDR_MAC_ARGS(m)).
 * ADDR_IPV4_ARGS reads the bytes of ip where it lies: pass a variable. */
#define ADDR_MAC_FMT "%02x:%02x:%02x:%02x:%02x:%02x"
#define ADDR_MAC_ARGS(m) (m)[0], (m)[1], (m)[2], (m)[3], (m)[4], (m)[5]
#define ADDR_IPV4_FMT "%u.%u.%u.%u"
#define ADDR_IPV4_ARGS(ip)                                                                         \
	(unsigned)((const uint8_t *)&(ip))[0], (unsigned)((const uint8_t *)&(ip))[1],              \
		(unsigned)((const uint8_t *)&(ip))[2], (unsigned)((const uint8_t *)&(ip))[3]
