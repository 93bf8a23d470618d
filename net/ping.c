/* `net ping` (see ping.h). Output, one line per event:
 *
 *   PING 10.99.0.2: 56 data bytes, 3 requests, every 1000 ms
 *   64 bytes from 10.99.0.2: icmp_seq=1 ttl=255 time=1.234 ms
 *   --- 10.99.0.2: 3 sent, 3 received, 0% loss, rtt min/avg/max 0.9/1.1/1.2 ms
 *
 * docs/network.md lists these formats; the integration tests read them. */
#include <errno.h>
#include <string.h>

#include "kernel/kprintf.h"
#include "kernel/time.h"
#include "lwip/icmp.h"
#include "lwip/inet_chksum.h"
#include "lwip/prot/ip4.h"
#include "lwip/raw.h"
#include "lwip/timeouts.h"
#include "net/addr.h"
#include "net/lwip_port.h"
#include "net/net.h"
#include "net/ping.h"

/* Requests remembered for their send time: a reply to an older one (more
 * than this many requests ago) is too late to count. */
#define PING_WINDOW 64

static struct {
	bool active;
	struct raw_pcb *pcb;
	ip_addr_t dst;
	uint32_t ip; /* dst, for printing */
	uint16_t id;
	unsigned count, interval_ms;
	unsigned sent, received, dups;
	uint64_t sent_us[PING_WINDOW];
	bool answered[PING_WINDOW];
	uint64_t rtt_min, rtt_max, rtt_sum; /* microseconds */
} ping;

static void ping_tick(void *arg);
static void ping_timeout(void *arg);

bool ping_running(void)
{
	return ping.active;
}

static void ping_print_us(const char *label, uint64_t us)
{
	kprintf("%s%lu.%03lu", label, (unsigned long)(us / 1000), (unsigned long)(us % 1000));
}

static void ping_finish(void)
{
	unsigned lost = ping.sent - ping.received;

	sys_untimeout(ping_tick, NULL);
	sys_untimeout(ping_timeout, NULL);
	raw_remove(ping.pcb);
	ping.pcb = NULL;
	ping.active = false;
	net_report("--- " ADDR_IPV4_FMT ": %u sent, %u received, %u%% loss",
		   ADDR_IPV4_ARGS(ping.ip), ping.sent, ping.received,
		   ping.sent ? lost * 100 / ping.sent : 0);
	if (ping.dups)
		kprintf(", %u duplicates", ping.dups);
	if (ping.received) {
		ping_print_us(", rtt min/avg/max ", ping.rtt_min);
		ping_print_us("/", ping.rtt_sum / ping.received);
		ping_print_us("/", ping.rtt_max);
		kprintf(" ms");
	}
	kprintf("\n");
}

/* One echo request with seq = ping.sent + 1. */
static err_t ping_send(void)
{
	size_t len = sizeof(struct icmp_echo_hdr) + PING_DATA_BYTES;
	struct pbuf *p = pbuf_alloc(PBUF_IP, (u16_t)len, PBUF_RAM);
	unsigned seq = ping.sent + 1;
	err_t err;

	if (!p)
		return ERR_MEM;
	struct icmp_echo_hdr *h = p->payload;
	ICMPH_TYPE_SET(h, ICMP_ECHO);
	ICMPH_CODE_SET(h, 0);
	h->id = lwip_htons(ping.id);
	h->seqno = lwip_htons((u16_t)seq);
	uint8_t *data = (uint8_t *)(h + 1);
	for (unsigned i = 0; i < PING_DATA_BYTES; i++)
		data[i] = (uint8_t)i;
	h->chksum = 0;
	h->chksum = inet_chksum(h, (u16_t)len);
	ping.sent_us[seq % PING_WINDOW] = time_us();
	ping.answered[seq % PING_WINDOW] = false;
	err = raw_sendto(ping.pcb, p, &ping.dst);
	pbuf_free(p);
	/* A request lwIP could not queue (no memory) is sent and lost; no
	 * route is the operator's to fix and ends the session. */
	if (err == ERR_OK || err == ERR_MEM || err == ERR_BUF)
		ping.sent++;
	return err;
}

static void ping_tick(void *arg)
{
	(void)arg;
	if (!ping.active)
		return;
	if (ping.sent < ping.count) {
		err_t err = ping_send();
		if (err == ERR_RTE) {
			net_report("error: net ping: no route to " ADDR_IPV4_FMT "\n",
				   ADDR_IPV4_ARGS(ping.ip));
			ping_finish();
			return;
		}
	}
	if (ping.sent < ping.count)
		sys_timeout(ping.interval_ms, ping_tick, NULL);
	else
		sys_timeout(PING_WAIT_MS, ping_timeout, NULL);
}

static void ping_timeout(void *arg)
{
	(void)arg;
	if (ping.active)
		ping_finish();
}

/* Every ICMP packet lwIP receives passes here first (p->payload is the IP
 * header); only echo replies to this session are eaten. */
static u8_t ping_recv(void *arg, struct raw_pcb *pcb, struct pbuf *p, const ip_addr_t *addr)
{
	struct ip_hdr iph;
	struct icmp_echo_hdr echo;
	uint64_t now = time_us();

	(void)arg;
	(void)pcb;
	if (!ping.active || !ip_addr_cmp(addr, &ping.dst) ||
	    pbuf_copy_partial(p, &iph, sizeof(iph), 0) != sizeof(iph))
		return 0;
	u16_t hlen = IPH_HL_BYTES(&iph);
	if (pbuf_copy_partial(p, &echo, sizeof(echo), hlen) != sizeof(echo) ||
	    ICMPH_TYPE(&echo) != ICMP_ER || lwip_ntohs(echo.id) != ping.id)
		return 0;
	/* The 16-bit seq of one of the last PING_WINDOW requests. */
	u16_t back = (u16_t)((u16_t)ping.sent - lwip_ntohs(echo.seqno));
	if (back >= PING_WINDOW || back >= ping.sent) {
		pbuf_free(p);
		return 1;
	}
	unsigned seq = ping.sent - back;
	if (ping.answered[seq % PING_WINDOW]) {
		ping.dups++;
		pbuf_free(p);
		return 1;
	}
	ping.answered[seq % PING_WINDOW] = true;
	uint64_t rtt = now - ping.sent_us[seq % PING_WINDOW];
	if (!ping.received || rtt < ping.rtt_min)
		ping.rtt_min = rtt;
	if (rtt > ping.rtt_max)
		ping.rtt_max = rtt;
	ping.rtt_sum += rtt;
	ping.received++;
	net_report("%u bytes from " ADDR_IPV4_FMT ": icmp_seq=%u ttl=%u",
		   (unsigned)(p->tot_len - hlen), ADDR_IPV4_ARGS(ping.ip), seq, IPH_TTL(&iph));
	ping_print_us(" time=", rtt);
	kprintf(" ms\n");
	pbuf_free(p);
	if (ping.received == ping.count)
		ping_finish();
	return 1;
}

int ping_start(uint32_t ip, unsigned count, unsigned interval_ms)
{
	if (ping.active)
		return -EBUSY;
	if (!count || count > PING_COUNT_MAX || !interval_ms || interval_ms > 60000)
		return -EINVAL;
	memset(&ping, 0, sizeof(ping));
	ping.pcb = raw_new(IP_PROTO_ICMP);
	if (!ping.pcb)
		return -ENOMEM;
	ip_addr_set_ip4_u32(&ping.dst, ip);
	ping.ip = ip;
	ping.id = (uint16_t)tern_rand32();
	ping.count = count;
	ping.interval_ms = interval_ms;
	raw_recv(ping.pcb, ping_recv, NULL);
	ping.active = true;
	/* The reply cannot come before the next poll: the header line goes
	 * out after the request, once it is known to have a route. */
	err_t err = ping_send();
	if (err == ERR_RTE) {
		raw_remove(ping.pcb);
		ping.active = false;
		return -ENETUNREACH;
	}
	kprintf("PING " ADDR_IPV4_FMT ": %u data bytes, %u request%s, every %u ms\n",
		ADDR_IPV4_ARGS(ping.ip), PING_DATA_BYTES, count, count == 1 ? "" : "s",
		interval_ms);
	if (ping.sent < ping.count)
		sys_timeout(ping.interval_ms, ping_tick, NULL);
	else
		sys_timeout(PING_WAIT_MS, ping_timeout, NULL);
	return 0;
}

bool ping_stop(void)
{
	if (!ping.active)
		return false;
	ping_finish();
	return true;
}
