/* Tern's own address as operators give it: on the boot command line
 *
 *     ip=ADDR/PREFIX [gw=GW]      static, e.g. ip=10.99.0.1/24 gw=10.99.0.254
 *     ip=dhcp                     ask a DHCP server
 *
 * (other words of the command line are not net's and are skipped), or at
 * the console: `net ip ADDR/PREFIX [gw GW]`, `net ip dhcp`, `net ip none`.
 * Parsing is strict (net/addr.h) and checks what lwIP would otherwise take
 * silently: a unicast address, a gateway inside the prefix. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

enum netcfg_mode {
	NETCFG_NONE,   /* no address (nothing on the command line, `net ip none`) */
	NETCFG_STATIC, /* ip, mask, gw */
	NETCFG_DHCP,
};

struct net_config {
	enum netcfg_mode mode;
	uint32_t ip, mask, gw; /* network byte order; gw 0: none */
};

/* Reads ip= and gw= from a boot command line (words separated by blanks).
 * 0 (cfg->mode NETCFG_NONE when there is no ip=), or -EINVAL with *why
 * saying what is wrong; cfg is then NETCFG_NONE. */
int netcfg_parse_boot(const char *cmdline, struct net_config *cfg, const char **why);
/* The words after `net ip`: "ADDR/PREFIX [gw GW]", "dhcp" or "none".
 * 0, or -EINVAL with *why. */
int netcfg_parse_args(int argc, char *const *argv, struct net_config *cfg, const char **why);
/* The prefix length of a netmask in network byte order (24 for
 * 255.255.255.0), or -1 when it is not a contiguous prefix. */
int netcfg_prefix_len(uint32_t mask);
