/* Tern's address from the boot command line or `net ip` (see netcfg.h). */
#include <errno.h>
#include <string.h>

#include "net/addr.h"
#include "net/netcfg.h"

#define NETCFG_WORD_MAX 64

static uint32_t host_order(uint32_t net)
{
	const uint8_t *b = (const uint8_t *)&net;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

int netcfg_prefix_len(uint32_t mask)
{
	uint32_t m = host_order(mask);
	int len = 0;

	while (len < 32 && (m & (0x80000000u >> len)))
		len++;
	if (len < 32 && (m << len))
		return -1;
	return len;
}

/* What lwIP would accept but cannot work: an address that is not a host's,
 * a gateway it cannot reach. */
static int check_static(const struct net_config *c, const char **why)
{
	uint32_t ip = host_order(c->ip), mask = host_order(c->mask);

	if (ip >> 24 == 0 || ip >> 24 == 127 || ip >> 28 >= 14) {
		*why = "not a unicast host address";
		return -EINVAL;
	}
	/* /31 (RFC 3021) and /32 have no network or broadcast address. */
	if (mask < 0xfffffffe && ((ip & ~mask) == 0 || (ip & ~mask) == ~mask)) {
		*why = "the network or broadcast address of its prefix";
		return -EINVAL;
	}
	if (c->gw && (host_order(c->gw) & mask) != (ip & mask)) {
		*why = "gateway outside ADDR/PREFIX";
		return -EINVAL;
	}
	if (c->gw && c->gw == c->ip) {
		*why = "gateway is the address itself";
		return -EINVAL;
	}
	return 0;
}

static int parse_ip_value(const char *v, struct net_config *c, const char **why)
{
	if (!strcmp(v, "dhcp")) {
		c->mode = NETCFG_DHCP;
		return 0;
	}
	if (!strcmp(v, "none")) {
		c->mode = NETCFG_NONE;
		return 0;
	}
	if (addr_parse_cidr(v, &c->ip, &c->mask)) {
		*why = "expected ADDR/PREFIX (e.g. 10.99.0.1/24), dhcp or none";
		return -EINVAL;
	}
	c->mode = NETCFG_STATIC;
	return 0;
}

static int parse_gw_value(const char *v, struct net_config *c, const char **why)
{
	if (addr_parse_ipv4(v, &c->gw)) {
		*why = "gateway: expected an IPv4 address";
		return -EINVAL;
	}
	return 0;
}

static int finish(struct net_config *c, bool have_gw, const char **why)
{
	if (have_gw && c->mode != NETCFG_STATIC) {
		*why = "a gateway needs a static ADDR/PREFIX";
		return -EINVAL;
	}
	if (c->mode != NETCFG_STATIC) {
		c->ip = c->mask = c->gw = 0;
		return 0;
	}
	return check_static(c, why);
}

int netcfg_parse_boot(const char *cmdline, struct net_config *cfg, const char **why)
{
	struct net_config c = {0};
	bool have_ip = false, have_gw = false;
	const char *p = cmdline;
	int rc = 0;

	*why = "";
	while (*p && !rc) {
		char word[NETCFG_WORD_MAX];
		size_t n = 0;

		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		while (p[n] && p[n] != ' ' && p[n] != '\t' && p[n] != '\n' && p[n] != '\r')
			n++;
		bool ours = !strncmp(p, "ip=", 3) || !strncmp(p, "gw=", 3);
		if (ours && n >= sizeof(word)) {
			*why = "word too long";
			rc = -EINVAL;
			break;
		}
		if (ours) {
			memcpy(word, p, n);
			word[n] = 0;
			bool is_ip = word[0] == 'i';
			if (is_ip ? have_ip : have_gw) {
				*why = is_ip ? "ip= given twice" : "gw= given twice";
				rc = -EINVAL;
			} else if (is_ip) {
				have_ip = true;
				rc = parse_ip_value(word + 3, &c, why);
			} else {
				have_gw = true;
				rc = parse_gw_value(word + 3, &c, why);
			}
		}
		p += n;
	}
	if (!rc)
		rc = finish(&c, have_gw, why);
	if (rc)
		memset(&c, 0, sizeof(c));
	*cfg = c;
	return rc;
}

int netcfg_parse_args(int argc, char *const *argv, struct net_config *cfg, const char **why)
{
	struct net_config c = {0};
	bool have_gw = false;
	int rc;

	*why = "";
	if (argc != 1 && argc != 3) {
		*why = "expected ADDR/PREFIX [gw GW], dhcp or none";
		return -EINVAL;
	}
	rc = parse_ip_value(argv[0], &c, why);
	if (!rc && argc == 3) {
		if (strcmp(argv[1], "gw")) {
			*why = "expected 'gw GW' after the address";
			return -EINVAL;
		}
		have_gw = true;
		rc = parse_gw_value(argv[2], &c, why);
	}
	if (!rc)
		rc = finish(&c, have_gw, why);
	if (!rc)
		*cfg = c;
	return rc;
}
