/* `net iperf` over lwiperf (see iperf.h). One line per finished session:
 *
 *   iperf: server done: 67108888 bytes from 10.99.0.100:40312 in 5210 ms, 103.04 Mbit/s
 *   iperf: client done: 123456789 bytes to 10.99.0.2:5001 in 10001 ms, 98.75 Mbit/s
 *   iperf: client aborted (peer): ...
 *
 * docs/network.md lists the outcomes; the tests read these lines. The
 * byte count is what lwiperf counts: iperf's 24-byte header(s) included. */
#include <errno.h>
#include <stdbool.h>

#include "kernel/kprintf.h"
#include "lwip/ip_addr.h"
#include "net/addr.h"
#include "net/iperf.h"
#include "net/net.h"

/* lwiperf hands back this as report_arg, to tell the two roles apart. */
enum iperf_role { IPERF_SERVER, IPERF_CLIENT };
static const enum iperf_role role_server = IPERF_SERVER, role_client = IPERF_CLIENT;

static void *server, *client;

static const char *iperf_outcome(enum lwiperf_report_type t)
{
	switch (t) {
	case LWIPERF_TCP_DONE_SERVER:
	case LWIPERF_TCP_DONE_CLIENT:
		return "done";
	case LWIPERF_TCP_ABORTED_LOCAL:
		return "aborted (local)";
	case LWIPERF_TCP_ABORTED_LOCAL_DATAERROR:
		return "aborted (data error)";
	case LWIPERF_TCP_ABORTED_LOCAL_TXERROR:
		return "aborted (send error)";
	case LWIPERF_TCP_ABORTED_REMOTE:
		return "aborted (peer)";
	}
	return "ended";
}

static void iperf_report(void *arg, enum lwiperf_report_type type, const ip_addr_t *local_addr,
			 u16_t local_port, const ip_addr_t *remote_addr, u16_t remote_port,
			 u32_t bytes, u32_t ms, u32_t kbit_s)
{
	bool is_client = arg == &role_client;
	uint32_t peer = ip_addr_get_ip4_u32(remote_addr);
	/* Mbit/s with two decimals from bytes and ms, not lwiperf's rounded kbit/s. */
	uint64_t centi = ms ? (uint64_t)bytes * 8 / 10 / ms : 0;

	(void)local_addr;
	(void)local_port;
	(void)kbit_s;
	/* lwiperf frees a client's state right after this report. */
	if (is_client && type != LWIPERF_TCP_DONE_SERVER)
		client = NULL;
	net_report("iperf: %s %s: %lu bytes %s " ADDR_IPV4_FMT ":%u in %lu ms, %lu.%02lu Mbit/s\n",
		   is_client ? "client" : "server", iperf_outcome(type), (unsigned long)bytes,
		   is_client ? "to" : "from", ADDR_IPV4_ARGS(peer), remote_port, (unsigned long)ms,
		   (unsigned long)(centi / 100), (unsigned long)(centi % 100));
}

int iperf_server_start(void)
{
	if (server)
		return -EBUSY;
	server = lwiperf_start_tcp_server(IP_ADDR_ANY, IPERF_PORT, iperf_report,
					  (void *)&role_server);
	return server ? 0 : -EADDRINUSE;
}

int iperf_client_start(uint32_t ip, unsigned seconds, uint32_t bytes)
{
	ip_addr_t dst;
	s32_t amount;

	if (client)
		return -EBUSY;
	if (bytes)
		amount = bytes > 0x7fffffffu ? -1 : (s32_t)bytes;
	else if (!seconds || seconds > IPERF_SECONDS_MAX)
		amount = -1;
	else
		amount = -(s32_t)(seconds * 100);
	if (amount == -1)
		return -EINVAL;
	ip_addr_set_ip4_u32(&dst, ip);
	client = lwiperf_start_tcp_client_amount(&dst, IPERF_PORT, LWIPERF_CLIENT, amount,
						 iperf_report, (void *)&role_client);
	return client ? 0 : -ENOMEM;
}

int iperf_stop(void)
{
	int n = 0;

	if (client) {
		void *c = client;
		client = NULL;
		lwiperf_abort(c);
		n++;
	}
	if (server) {
		void *s = server;
		server = NULL;
		lwiperf_abort(s);
		n++;
	}
	return n;
}
