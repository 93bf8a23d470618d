/* Parsing operators' MAC and IPv4 addresses (see addr.h). */
#include <errno.h>
#include <string.h>

#include "net/addr.h"

int addr_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int addr_parse_mac(const char *s, uint8_t *mac)
{
	uint8_t out[ETH_ALEN];
	char sep;

	if (strlen(s) != 3 * ETH_ALEN - 1)
		return -EINVAL;
	sep = s[2];
	if (sep != ':' && sep != '-')
		return -EINVAL;
	for (int i = 0; i < ETH_ALEN; i++, s += 3) {
		int hi = addr_hex_digit(s[0]), lo = hi < 0 ? -1 : addr_hex_digit(s[1]);

		if (lo < 0 || s[2] != (i == ETH_ALEN - 1 ? '\0' : sep))
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(mac, out, ETH_ALEN);
	return 0;
}

/* One decimal octet; *s moves past it. */
static int parse_octet(const char **s)
{
	const char *p = *s;
	int v = 0, n = 0;

	while (p[n] >= '0' && p[n] <= '9' && n < 3)
		v = v * 10 + (p[n++] - '0');
	/* "010" would read as octal to inet_aton(): refuse rather than guess. */
	if (n == 0 || (n > 1 && p[0] == '0') || v > 255 || (p[n] >= '0' && p[n] <= '9'))
		return -1;
	*s = p + n;
	return v;
}

/* An address at the start of s; returns where it ends, NULL if none. */
static const char *parse_ipv4_prefix(const char *s, uint32_t *ip)
{
	uint8_t b[4];

	for (int i = 0; i < 4; i++) {
		int v;

		if (i > 0 && *s++ != '.')
			return NULL;
		v = parse_octet(&s);
		if (v < 0)
			return NULL;
		b[i] = (uint8_t)v;
	}
	memcpy(ip, b, 4);
	return s;
}

int addr_parse_ipv4(const char *s, uint32_t *ip)
{
	uint32_t v;
	const char *end = parse_ipv4_prefix(s, &v);

	if (!end || *end)
		return -EINVAL;
	*ip = v;
	return 0;
}

int addr_parse_cidr(const char *s, uint32_t *ip, uint32_t *mask)
{
	uint32_t v;
	uint8_t m[4];
	const char *end = parse_ipv4_prefix(s, &v);
	int len;

	if (!end || *end++ != '/')
		return -EINVAL;
	len = parse_octet(&end);
	if (len < 0 || len > 32 || *end)
		return -EINVAL;
	/* Built byte by byte, so it is in network order on any host. */
	for (int i = 0; i < 4; i++, len -= 8)
		m[i] = len >= 8 ? 0xff : len <= 0 ? 0 : (uint8_t)(0xff << (8 - len));
	*ip = v;
	memcpy(mask, m, 4);
	return 0;
}
