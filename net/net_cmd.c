/* The `net` console command: show, ip, arp, ping, iperf, xfer, switch,
 * announce. Commands that wait for the network (ping, iperf, xfer) start
 * their work and return at once; results print as they arrive
 * (net_report), so the console and the guests keep running meanwhile.
 * docs/network.md describes every output format. */
#include <stdio.h>
#include <string.h>

#include "kernel/console/cmd.h"
#include "kernel/kprintf.h"
#include "lwip/etharp.h"
#include "lwip/stats.h"
#include "net/addr.h"
#include "net/iperf.h"
#include "net/lwip_heap.h"
#include "net/net.h"
#include "net/ping.h"
#include "net/xfer.h"

/* A refused argument whose error line is printed already: not CMD_USAGE
 * (-EINVAL), which makes the registry add "bad arguments" and the usage. */
#define NET_REFUSED (-ERANGE)

/* A failure's errno for the registry, after our own error line. */
static int refused(int rc)
{
	return rc == CMD_USAGE ? NET_REFUSED : rc;
}

static int need_net(const char *what)
{
	if (net_up())
		return 0;
	cmd_error("net %s: the network is not up (see the boot log: 'log')", what);
	return -ENETDOWN;
}

static int parse_ip(const char *what, const char *s, uint32_t *ip)
{
	if (!addr_parse_ipv4(s, ip))
		return 0;
	cmd_error("net %s: '%s' is not an IPv4 address", what, s);
	return NET_REFUSED;
}

static int parse_uint(const char *what, const char *s, unsigned long long max,
		      unsigned long long *out)
{
	if (!cmd_parse_u64(s, out) && *out && *out <= max)
		return 0;
	cmd_error("net %s: '%s' is not a number from 1 to %llu", what, s, max);
	return NET_REFUSED;
}

/* --- show ------------------------------------------------------------------ */

static void show_address(void)
{
	const struct net_config *cfg = net_config();
	const struct netif *nif = &net_host()->netif;
	uint32_t ip = ip4_addr_get_u32(netif_ip4_addr(nif));
	uint32_t mask = ip4_addr_get_u32(netif_ip4_netmask(nif));
	uint32_t gw = ip4_addr_get_u32(netif_ip4_gw(nif));
	const char *how = cfg->mode == NETCFG_DHCP ? "dhcp" : "static";

	if (!ip) {
		kprintf("ip:      none%s\n",
			cfg->mode == NETCFG_DHCP ? " (dhcp: waiting for a lease)" : "");
		return;
	}
	kprintf("ip:      " ADDR_IPV4_FMT "/%d", ADDR_IPV4_ARGS(ip), netcfg_prefix_len(mask));
	if (gw)
		kprintf(", gw " ADDR_IPV4_FMT, ADDR_IPV4_ARGS(gw));
	else
		kprintf(", gw none");
	kprintf(" (%s)\n", how);
}

static int do_show(void)
{
	struct nic *nic = net_nic();
	struct host_netif *h = net_host();

	if (nic) {
		const struct nic_counters *c = &nic->counters;
		kprintf("nic:     %s, link %s\n", nic->name, nic_link_up(nic) ? "up" : "down");
		kprintf("mac:     " ADDR_MAC_FMT "\n", ADDR_MAC_ARGS(nic->mac));
		show_address();
		kprintf("rx:      %lu packets, %lu bytes, %lu drops, %lu errors\n", c->rx_packets,
			c->rx_bytes, c->rx_drops, c->rx_errors);
		kprintf("tx:      %lu packets, %lu bytes, %lu drops, %lu errors\n", c->tx_packets,
			c->tx_bytes, c->tx_drops, c->tx_errors);
	} else {
		kprintf("nic:     none (Tern and its guests only)\n");
		kprintf("mac:     " ADDR_MAC_FMT "\n", ADDR_MAC_ARGS(h->netif.hwaddr));
		show_address();
	}
	/* lwIP's own view: frames it dropped (no buffer for a frame from the
	 * switch, or a protocol dropped it: bad checksum, no listener, ...). */
	const struct stats_ *s = &lwip_stats;
	struct lwip_heap_use heap = lwip_heap_use();
	unsigned long drops = (unsigned long)(h->rx_nobuf + s->etharp.drop + s->ip.drop +
					      s->icmp.drop + s->udp.drop + s->tcp.drop);
	unsigned long chk =
		(unsigned long)(s->ip.chkerr + s->icmp.chkerr + s->udp.chkerr + s->tcp.chkerr);
	kprintf("lwip:    %lu dropped (no buffer %lu, link %u, ip %u, icmp %u, udp %u, tcp %u), "
		"%lu checksum errors, heap %lu KiB used, peak %lu of %lu KiB\n",
		drops, (unsigned long)h->rx_nobuf, s->etharp.drop, s->ip.drop, s->icmp.drop,
		s->udp.drop, s->tcp.drop, chk, (unsigned long)heap.used >> 10,
		(unsigned long)heap.peak >> 10, (unsigned long)heap.size >> 10);
	return 0;
}

/* --- ip, arp --------------------------------------------------------------- */

static int do_ip(int argc, char **argv)
{
	struct net_config cfg;
	const char *why;
	int rc;

	if (argc == 0) {
		show_address();
		return 0;
	}
	if (netcfg_parse_args(argc, argv, &cfg, &why)) {
		cmd_error("net ip: %s", why);
		return NET_REFUSED;
	}
	rc = net_configure(&cfg);
	if (rc) {
		cmd_error("net ip: not set (%d)", rc);
		return refused(rc);
	}
	show_address();
	return 0;
}

static int do_arp(void)
{
	int n = 0;

	kprintf("%-16s %s\n", "ADDRESS", "MAC");
	for (size_t i = 0; i < ARP_TABLE_SIZE; i++) {
		ip4_addr_t *ip;
		struct netif *nif;
		struct eth_addr *mac;
		/* Only resolved entries; pending ones have no MAC yet. */
		if (!etharp_get_entry(i, &ip, &nif, &mac))
			continue;
		uint32_t a = ip4_addr_get_u32(ip);
		char addr[16];
		snprintf(addr, sizeof(addr), ADDR_IPV4_FMT, ADDR_IPV4_ARGS(a));
		kprintf("%-16s " ADDR_MAC_FMT "\n", addr, ADDR_MAC_ARGS(mac->addr));
		n++;
	}
	kprintf("%d entr%s\n", n, n == 1 ? "y" : "ies");
	return 0;
}

/* --- ping, iperf, xfer ------------------------------------------------------ */

static int do_ping(int argc, char **argv)
{
	unsigned long long count = 4, interval = PING_INTERVAL_MS;
	uint32_t ip;
	int rc;

	if (argc == 1 && !strcmp(argv[0], "stop")) {
		if (!ping_stop())
			kprintf("net ping: no ping running\n");
		return 0;
	}
	if (argc < 1 || argc > 3)
		return CMD_USAGE;
	if (parse_ip("ping", argv[0], &ip))
		return NET_REFUSED;
	if (argc > 1 && parse_uint("ping", argv[1], PING_COUNT_MAX, &count))
		return NET_REFUSED;
	if (argc > 2 && parse_uint("ping", argv[2], 60000, &interval))
		return NET_REFUSED;
	rc = ping_start(ip, (unsigned)count, (unsigned)interval);
	if (rc == -EBUSY)
		cmd_error("net ping: a ping is running ('net ping stop' ends it)");
	else if (rc == -ENETUNREACH)
		cmd_error("net ping: no route to %s (is an address set? 'net show')", argv[0]);
	else if (rc)
		cmd_error("net ping: cannot start (%d)", rc);
	return refused(rc);
}

static int do_iperf(int argc, char **argv)
{
	int rc;

	if (argc == 1 && !strcmp(argv[0], "server")) {
		rc = iperf_server_start();
		if (rc == -EBUSY)
			cmd_error("net iperf: the server is running already");
		else if (rc)
			cmd_error("net iperf: cannot listen on port %u (%d)", IPERF_PORT, rc);
		else
			kprintf("iperf: server listening on port %u\n", IPERF_PORT);
		return refused(rc);
	}
	if (argc == 1 && !strcmp(argv[0], "stop")) {
		kprintf("iperf: stopped %d\n", iperf_stop());
		return 0;
	}
	if (argc < 2 || argc > 4 || strcmp(argv[0], "client"))
		return CMD_USAGE;
	uint32_t ip;
	unsigned long long secs = IPERF_SECONDS;
	uint64_t bytes = 0;
	if (parse_ip("iperf", argv[1], &ip))
		return NET_REFUSED;
	if (argc == 4 && !strcmp(argv[2], "-n")) {
		if (cmd_parse_size(argv[3], 0, &bytes) || !bytes || bytes > 0x7fffffff) {
			cmd_error("net iperf: -n %s: a size from 1 to 2047M", argv[3]);
			return NET_REFUSED;
		}
	} else if (argc == 3) {
		if (parse_uint("iperf", argv[2], IPERF_SECONDS_MAX, &secs))
			return NET_REFUSED;
	} else if (argc != 2) {
		return CMD_USAGE;
	}
	rc = iperf_client_start(ip, (unsigned)secs, (uint32_t)bytes);
	if (rc == -EBUSY) {
		cmd_error("net iperf: a client is running ('net iperf stop' ends it)");
		return rc;
	}
	if (rc) {
		cmd_error("net iperf: cannot start the client (%d)", rc);
		return refused(rc);
	}
	if (bytes)
		kprintf("iperf: client to %s:%u, %lu bytes\n", argv[1], IPERF_PORT,
			(unsigned long)bytes);
	else
		kprintf("iperf: client to %s:%u, %llu s\n", argv[1], IPERF_PORT, secs);
	return 0;
}

static int do_xfer(int argc, char **argv)
{
	unsigned long long port = XFER_PORT;
	int rc;

	if (argc >= 1 && argc <= 2 && !strcmp(argv[0], "listen")) {
		if (argc == 2 && parse_uint("xfer", argv[1], 65535, &port))
			return NET_REFUSED;
		rc = xfer_listen((uint16_t)port);
		if (rc == -EBUSY)
			cmd_error("net xfer: listening already ('net xfer stop' first)");
		else if (rc)
			cmd_error("net xfer: cannot listen on port %llu (%d)", port, rc);
		return refused(rc);
	}
	if (argc == 1 && !strcmp(argv[0], "stop")) {
		kprintf("xfer: stopped %d\n", xfer_stop());
		return 0;
	}
	if ((argc != 3 && argc != 4) || strcmp(argv[0], "send"))
		return CMD_USAGE;
	uint32_t ip;
	uint64_t bytes;
	if (parse_ip("xfer", argv[1], &ip))
		return NET_REFUSED;
	if (cmd_parse_size(argv[2], 0, &bytes)) {
		cmd_error("net xfer: '%s' is not a size (e.g. 65536, 64K, 64M)", argv[2]);
		return NET_REFUSED;
	}
	if (argc == 4 && parse_uint("xfer", argv[3], 65535, &port))
		return NET_REFUSED;
	rc = xfer_send(ip, (uint16_t)port, bytes);
	if (rc == -ENOSPC)
		cmd_error("net xfer: %d transfers are running already", XFER_SESSIONS);
	else if (rc == -ENETUNREACH)
		cmd_error("net xfer: no route to %s", argv[1]);
	else if (rc)
		cmd_error("net xfer: cannot start (%d)", rc);
	return refused(rc);
}

/* --- switch, announce ---------------------------------------------------- */

static const char *port_kind(enum vswitch_port_kind k)
{
	switch (k) {
	case VSWITCH_PORT_UPLINK:
		return "uplink";
	case VSWITCH_PORT_HOST:
		return "host";
	case VSWITCH_PORT_GUEST:
		return "guest";
	}
	return "?";
}

static void print_fdb_entry(void *ctx, const uint8_t *mac, int port, uint64_t age_ms)
{
	int *n = ctx;

	kprintf(ADDR_MAC_FMT "  %4d  %6lu\n", ADDR_MAC_ARGS(mac), port,
		(unsigned long)(age_ms / 1000));
	(*n)++;
}

static int do_switch(int argc, char **argv)
{
	struct vswitch *sw = net_vswitch();
	int n = 0;

	if (argc == 2 && !strcmp(argv[0], "age")) {
		unsigned long long secs;
		if (parse_uint("switch", argv[1], 1000000, &secs))
			return NET_REFUSED;
		vswitch_set_age(sw, secs * 1000);
		kprintf("switch: ageing %llu s\n", secs);
		return 0;
	}
	if (argc)
		return CMD_USAGE;
	kprintf("PORT NAME            KIND   %10s %12s %10s %12s %8s %8s %8s %8s %8s  IP\n",
		"RX FRAMES", "RX BYTES", "TX FRAMES", "TX BYTES", "RX DROPS", "TX DROPS", "FLOODS",
		"FILTERED", "SPOOFED");
	for (int i = 0; i < VSWITCH_PORTS_MAX; i++) {
		const struct vswitch_port *p = vswitch_port_get(sw, i);
		if (!p)
			continue;
		const struct vswitch_port_stats *s = &p->stats;
		kprintf("%-4d %-15s %-6s %10lu %12lu %10lu %12lu %8lu %8lu %8lu %8lu %8lu  ", i,
			p->name, port_kind(p->kind), s->rx_frames, s->rx_bytes, s->tx_frames,
			s->tx_bytes, s->rx_drops, s->tx_drops, s->floods, s->filtered, s->spoofed);
		if (p->kind == VSWITCH_PORT_GUEST && p->ip)
			kprintf(ADDR_IPV4_FMT "\n", ADDR_IPV4_ARGS(p->ip));
		else
			kprintf("-\n");
	}
	kprintf("MAC                PORT  AGE(s)\n");
	vswitch_fdb_for_each(sw, print_fdb_entry, &n);
	kprintf("%d address%s, %lu moves, %lu evictions, ageing %lu s\n", n, n == 1 ? "" : "es",
		(unsigned long)sw->moves, (unsigned long)sw->evictions,
		(unsigned long)(sw->age_ms / 1000));
	return 0;
}

static int do_announce(int argc, char **argv)
{
	uint8_t mac[ETH_ALEN];
	uint32_t ip = 0;
	int rc;

	if (argc < 1 || argc > 2)
		return CMD_USAGE;
	if (addr_parse_mac(argv[0], mac)) {
		cmd_error("net announce: '%s' is not a MAC address", argv[0]);
		return NET_REFUSED;
	}
	if (argc == 2 && parse_ip("announce", argv[1], &ip))
		return NET_REFUSED;
	rc = net_announce(mac, ip);
	if (rc == -EINVAL) {
		cmd_error("net announce: %s is not a station's address", argv[0]);
		return NET_REFUSED;
	}
	if (rc == -ENOSPC) {
		cmd_error("net announce: %d announcements are running already", ANNOUNCE_SLOTS);
		return rc;
	}
	if (rc) {
		cmd_error("net announce: %d", rc);
		return refused(rc);
	}
	const struct announce_params *p = &net_announcer()->params;
	if (ip)
		kprintf("announce: " ADDR_MAC_FMT " " ADDR_IPV4_FMT
			": %u rounds of gratuitous ARP and RARP\n",
			ADDR_MAC_ARGS(mac), ADDR_IPV4_ARGS(ip), p->rounds);
	else
		kprintf("announce: " ADDR_MAC_FMT ": %u rounds of RARP\n", ADDR_MAC_ARGS(mac),
			p->rounds);
	return 0;
}

/* --- the command ---------------------------------------------------------- */

static int cmd_net(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "show";
	int rc = need_net(sub);

	if (rc)
		return rc;
	argc = argc > 2 ? argc - 2 : 0;
	argv += 2;
	if (!strcmp(sub, "show"))
		return argc ? CMD_USAGE : do_show();
	if (!strcmp(sub, "ip"))
		return do_ip(argc, argv);
	if (!strcmp(sub, "arp"))
		return argc ? CMD_USAGE : do_arp();
	if (!strcmp(sub, "ping"))
		return do_ping(argc, argv);
	if (!strcmp(sub, "iperf"))
		return do_iperf(argc, argv);
	if (!strcmp(sub, "xfer"))
		return do_xfer(argc, argv);
	if (!strcmp(sub, "switch"))
		return do_switch(argc, argv);
	if (!strcmp(sub, "announce"))
		return do_announce(argc, argv);
	return CMD_USAGE;
}

static const struct cmd net_cmd = {
	.name = "net",
	.summary = "Tern's network: NIC, address, ARP, ping, iperf, checked transfers, vswitch",
	.usage = "net [show]                        NIC, MAC, address, link, counters\n"
		 "net ip [ADDR/PREFIX [gw GW] | dhcp | none]   show or set Tern's address\n"
		 "net arp                           lwIP's ARP cache\n"
		 "net ping HOST [COUNT [INTERVAL_MS]]   ICMP echo (default 4, 1000 ms); replies "
		 "print "
		 "as they come\n"
		 "net ping stop\n"
		 "net iperf server                  iperf 2 server on port 5001 (until 'net iperf "
		 "stop')\n"
		 "net iperf client HOST [SECONDS | -n SIZE]   iperf 2 client (default 10 s)\n"
		 "net iperf stop\n"
		 "net xfer listen [PORT]            receive transfers, print bytes and CRC-32 "
		 "(5002)\n"
		 "net xfer send HOST SIZE [PORT]    send SIZE (e.g. 64M) checked bytes\n"
		 "net xfer stop\n"
		 "net switch [age SECONDS]          vswitch ports, counters, learned MACs\n"
		 "net announce MAC [IP]             gratuitous ARP + RARP rounds for MAC",
	.run = cmd_net,
};

void net_cmd_register(void)
{
	cmd_register(&net_cmd);
}
