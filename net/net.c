/* Tern's network at boot and in the main loop (see net.h). */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "drivers/e1000.h"
#include "kernel/console/console.h"
#include "kernel/kprintf.h"
#include "kernel/log.h"
#include "kernel/loop.h"
#include "kernel/sys.h"
#include "kernel/time.h"
#include "lwip/dhcp.h"
#include "lwip/init.h"
#include "lwip/timeouts.h"
#include "net/addr.h"
#include "net/lwip_heap.h"
#include "net/lwip_port.h"
#include "net/net.h"

/* Frames taken from the NIC per main-loop pass: enough to drain a burst
 * (a TCP window arrives in ~180 frames), few enough that the vCPUs and the
 * console get their turn soon. */
#define NET_RX_BUDGET 64
#define NET_LINK_CHECK_MS 1000

/* NIC drivers, tried in order; the first NIC found is the uplink. igb or
 * virtio-net go here beside e1000. */
static struct nic *(*const net_probes[])(unsigned index, int *err) = {
	e1000_probe,
};

static struct {
	bool up;
	struct nic *nic;
	int uplink;
	bool link;
	uint64_t next_link_check;
	struct vswitch sw;
	struct host_netif host;
	struct announcer ann;
	struct net_config cfg;
} net = {.uplink = VSWITCH_NO_PORT};

bool net_up(void)
{
	return net.up;
}

struct nic *net_nic(void)
{
	return net.nic;
}

int net_uplink_port(void)
{
	return net.uplink;
}

struct vswitch *net_vswitch(void)
{
	return net.up ? &net.sw : NULL;
}

struct host_netif *net_host(void)
{
	return net.up ? &net.host : NULL;
}

struct announcer *net_announcer(void)
{
	return net.up ? &net.ann : NULL;
}

const struct net_config *net_config(void)
{
	return &net.cfg;
}

void net_report(const char *fmt, ...)
{
	va_list ap;

	console_break_line();
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
}

/* vswitch -> wire. A full ring is the switch's tx drop (vswitch.h). */
static uint64_t uplink_tx_ns;

static int uplink_tx(void *ctx, const uint8_t *frame, size_t len)
{
	uint64_t t = time_ns();
	int rc = nic_tx(ctx, frame, len);

	uplink_tx_ns += time_ns() - t;
	return rc;
}

/* The frames the uplink held back this pass go out (nic.h: flush). */
static void net_flush(void)
{
	uint64_t t = time_ns();

	nic_flush(net.nic);
	uplink_tx_ns += time_ns() - t;
}

uint64_t net_uplink_tx_ns(void)
{
	return uplink_tx_ns;
}

/* wire -> vswitch, from inside nic_rx_poll(). */
static void uplink_rx(void *ctx, const uint8_t *frame, size_t len)
{
	(void)ctx;
	vswitch_input(&net.sw, net.uplink, frame, len);
}

static void announce_send(void *ctx, int origin, const uint8_t *frame, size_t len)
{
	(void)ctx;
	vswitch_inject(&net.sw, origin, frame, len);
}

static void net_check_link(uint64_t now)
{
	if (!net.nic || now < net.next_link_check)
		return;
	net.next_link_check = now + NET_LINK_CHECK_MS;
	bool link = nic_link_up(net.nic);
	/* A lost link is the operator's to see at once (warnings reach the
	 * console); its return only goes to the log. */
	if (link && !net.link)
		log_info("net", "%s: link up", net.nic->name);
	else if (!link && net.link)
		log_warn("net", "%s: link down", net.nic->name);
	net.link = link;
}

static bool net_poll(void)
{
	bool busy = false;

	if (net.nic) {
		int n = nic_rx_poll(net.nic, uplink_rx, NULL, NET_RX_BUDGET);
		busy = n > 0;
	}
	uint64_t now = time_ms();
	vswitch_tick(&net.sw, now);
	announce_poll(&net.ann, now);
	sys_check_timeouts();
	net_check_link(now);
	return busy;
}

int net_configure(const struct net_config *cfg)
{
	struct netif *nif = &net.host.netif;
	int rc = 0;

	if (!net.up)
		return -ENETDOWN;
	/* Leaving DHCP releases the lease; a static address replaces what
	 * DHCP had set. */
	if (net.cfg.mode == NETCFG_DHCP && cfg->mode != NETCFG_DHCP)
		dhcp_release_and_stop(nif);
	switch (cfg->mode) {
	case NETCFG_STATIC:
		rc = host_netif_set_ip(&net.host, cfg->ip, cfg->mask, cfg->gw);
		break;
	case NETCFG_DHCP:
		netif_set_addr(nif, IP4_ADDR_ANY4, IP4_ADDR_ANY4, IP4_ADDR_ANY4);
		rc = dhcp_start(nif) == ERR_OK ? 0 : -ENOMEM;
		break;
	case NETCFG_NONE:
		netif_set_addr(nif, IP4_ADDR_ANY4, IP4_ADDR_ANY4, IP4_ADDR_ANY4);
		break;
	}
	if (!rc)
		net.cfg = *cfg;
	return rc;
}

int net_announce_on(int port, const uint8_t *mac, uint32_t ip)
{
	if (!net.up)
		return -ENETDOWN;
	if (port != VSWITCH_NO_PORT && !vswitch_port_get(&net.sw, port))
		return -ENOENT;
	return announce_start(&net.ann, mac, ip, port, time_ms());
}

int net_announce(const uint8_t *mac, uint32_t ip)
{
	int origin = VSWITCH_NO_PORT;

	if (!net.up)
		return -ENETDOWN;
	/* A guest that has used this MAC here: its port (where the switch must
	 * learn it). Anything else (a remote station, a guest that has not
	 * sent yet) goes out every port and teaches the switch nothing. */
	int port = vswitch_fdb_lookup(&net.sw, mac);
	const struct vswitch_port *p = port >= 0 ? vswitch_port_get(&net.sw, port) : NULL;
	if (p && p->kind != VSWITCH_PORT_UPLINK)
		origin = port;
	for (int i = 0; origin == VSWITCH_NO_PORT && i < VSWITCH_PORTS_MAX; i++) {
		p = vswitch_port_get(&net.sw, i);
		if (p && p->kind == VSWITCH_PORT_GUEST && p->ip && ether_equal(p->ip_mac, mac))
			origin = i;
	}
	return net_announce_on(origin, mac, ip);
}

void net_announce_guest(const uint8_t *mac, uint32_t ip)
{
	int rc = net_announce(mac, ip);

	if (rc)
		log_warn("net", "announce " ADDR_MAC_FMT ": %d", ADDR_MAC_ARGS(mac), rc);
}

/* The first NIC a driver brings up; *failed tells whether one was found
 * but could not be brought up (its driver logged why). */
static struct nic *net_find_nic(bool *failed)
{
	*failed = false;
	for (unsigned d = 0; d < sizeof(net_probes) / sizeof(net_probes[0]); d++) {
		int err;
		struct nic *nic = net_probes[d](0, &err);
		if (nic)
			return nic;
		*failed |= err != 0;
	}
	return NULL;
}

static void net_random_mac(uint8_t *mac)
{
	uint32_t a = tern_rand32(), b = tern_rand32();

	mac[0] = 0x02; /* locally administered, unicast */
	mac[1] = (uint8_t)a;
	mac[2] = (uint8_t)(a >> 8);
	mac[3] = (uint8_t)(a >> 16);
	mac[4] = (uint8_t)b;
	mac[5] = (uint8_t)(b >> 8);
}

static void net_boot_address(void)
{
	struct net_config cfg;
	const char *why;
	int rc = netcfg_parse_boot(boot_info_get()->cmdline, &cfg, &why);

	if (rc) {
		log_err("net", "boot command line: %s; no address (set one with 'net ip')", why);
		return;
	}
	rc = net_configure(&cfg);
	if (rc)
		log_err("net", "boot command line: address not set (%d)", rc);
}

void net_init(void)
{
	uint8_t mac[ETH_ALEN];
	bool nic_failed;
	int rc;

	net_cmd_register();
	/* lwIP's heap first, where a failure can be told: lwIP would only see
	 * its first allocation fail. */
	if (lwip_heap_init() < 0) {
		log_err("net", "no memory for lwIP's heap; networking off");
		return;
	}
	lwip_init();
	vswitch_init(&net.sw);
	net.nic = net_find_nic(&nic_failed);
	if (net.nic) {
		memcpy(mac, net.nic->mac, ETH_ALEN);
		net.uplink = vswitch_port_add(&net.sw, VSWITCH_PORT_UPLINK, net.nic->name,
					      uplink_tx, net.nic);
		/* Guests have MACs of their own: the uplink takes every frame. */
		rc = net.uplink < 0 ? net.uplink : nic_set_promisc(net.nic, true);
		if (rc) {
			log_err("net", "%s: cannot be the uplink (%d); networking off",
				net.nic->name, rc);
			return;
		}
		net.link = nic_link_up(net.nic);
	} else {
		net_random_mac(mac);
		log_warn("net", "%s: Tern and its guests are on their own (MAC " ADDR_MAC_FMT ")",
			 nic_failed ? "no usable NIC" : "no supported NIC", ADDR_MAC_ARGS(mac));
	}
	rc = host_netif_init(&net.host, &net.sw, mac);
	if (rc) {
		log_err("net", "Tern's netif: %d; networking off", rc);
		return;
	}
	announce_init(&net.ann, announce_send, NULL);
	rc = loop_add("net", net_poll);
	if (!rc && net.nic)
		rc = loop_add_flush("net", net_flush);
	if (rc) {
		log_err("net", "no main-loop slot (%d); networking off", rc);
		return;
	}
	net.up = true;
	net_boot_address();
	if (net.nic)
		log_info("net", "%s uplink, MAC " ADDR_MAC_FMT ", link %s", net.nic->name,
			 ADDR_MAC_ARGS(mac), net.link ? "up" : "down");
	if (net.cfg.mode == NETCFG_STATIC)
		log_info("net", "address " ADDR_IPV4_FMT "/%d", ADDR_IPV4_ARGS(net.cfg.ip),
			 netcfg_prefix_len(net.cfg.mask));
}
