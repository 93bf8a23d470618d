/* `net xfer` (see xfer.h) on lwIP's raw TCP API. One line per transfer:
 *
 *   xfer: listening on port 5002
 *   xfer: received 67108864 bytes from 10.99.0.100:40312 in 5210 ms, 103.04 Mbit/s, crc32 8e1f0a2c
 *   xfer: sent 67108864 bytes to 10.99.0.2:5002 in 6120 ms, 87.72 Mbit/s, crc32 8e1f0a2c
 *   xfer: from 10.99.0.100:40312 failed after 1234 bytes: connection reset
 *
 * Times run from the connection's start to the sender's FIN (receiver) or
 * to the peer's acknowledgement of the last byte (sender). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "kernel/kprintf.h"
#include "kernel/time.h"
#include "lwip/tcp.h"
#include "net/addr.h"
#include "net/crc32.h"
#include "net/net.h"
#include "net/xfer.h"

/* The sender makes its data in chunks of this many bytes and hands them to
 * tcp_write(), which copies them into its own buffers. */
#define XFER_CHUNK 8192
#define XFER_POLL_2HZ 2 /* tcp_poll interval, in lwIP's 500 ms units */

struct xfer {
	bool used;
	bool sender;
	struct tcp_pcb *pcb;
	uint32_t peer_ip; /* network byte order */
	uint16_t peer_port;
	uint64_t total; /* sender: bytes to send */
	uint64_t bytes; /* received, or handed to tcp_write */
	uint64_t acked; /* sender: acknowledged by the peer */
	uint32_t crc;
	uint64_t prng; /* sender: xorshift64 state */
	uint64_t start_ms;
	bool connected;
};

static struct xfer xfers[XFER_SESSIONS];
static struct tcp_pcb *listener;
static uint64_t chunk[XFER_CHUNK / 8];

static struct xfer *xfer_alloc(void)
{
	for (int i = 0; i < XFER_SESSIONS; i++)
		if (!xfers[i].used) {
			memset(&xfers[i], 0, sizeof(xfers[i]));
			xfers[i].used = true;
			return &xfers[i];
		}
	return NULL;
}

static void xfer_detach(struct xfer *x)
{
	if (x->pcb) {
		tcp_arg(x->pcb, NULL);
		tcp_recv(x->pcb, NULL);
		tcp_sent(x->pcb, NULL);
		tcp_err(x->pcb, NULL);
		tcp_poll(x->pcb, NULL, 0);
	}
	x->pcb = NULL;
	x->used = false;
}

/* Ends a transfer that went right: its line, then a graceful close. */
static void xfer_finish(struct xfer *x)
{
	uint64_t ms = time_ms() - x->start_ms;
	uint64_t centi = ms ? x->bytes * 8 / 10 / ms : 0; /* Mbit/s x 100 */
	struct tcp_pcb *pcb = x->pcb;

	net_report("xfer: %s %lu bytes %s " ADDR_IPV4_FMT ":%u in %lu ms, %lu.%02lu Mbit/s, "
		   "crc32 %08x\n",
		   x->sender ? "sent" : "received", (unsigned long)x->bytes,
		   x->sender ? "to" : "from", ADDR_IPV4_ARGS(x->peer_ip), x->peer_port,
		   (unsigned long)ms, (unsigned long)(centi / 100), (unsigned long)(centi % 100),
		   (unsigned)x->crc);
	xfer_detach(x);
	if (pcb && tcp_close(pcb) != ERR_OK)
		tcp_abort(pcb);
}

static void xfer_fail(struct xfer *x, const char *why)
{
	net_report("xfer: %s " ADDR_IPV4_FMT ":%u failed after %lu bytes: %s\n",
		   x->sender ? "to" : "from", ADDR_IPV4_ARGS(x->peer_ip), x->peer_port,
		   (unsigned long)x->bytes, why);
}

static const char *xfer_err_name(err_t e)
{
	switch (e) {
	case ERR_RST:
		return "connection reset";
	case ERR_ABRT:
		return "aborted";
	case ERR_CLSD:
		return "connection closed";
	case ERR_TIMEOUT:
		return "timed out";
	default:
		return "network error";
	}
}

/* lwIP has freed the pcb already. */
static void xfer_on_err(void *arg, err_t e)
{
	struct xfer *x = arg;

	if (!x)
		return;
	x->pcb = NULL;
	xfer_fail(x, x->sender && !x->connected && e == ERR_RST ? "connection refused"
								: xfer_err_name(e));
	xfer_detach(x);
}

static err_t xfer_on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t e)
{
	struct xfer *x = arg;

	if (!x) {
		if (p)
			pbuf_free(p);
		return ERR_OK;
	}
	if (!p) { /* the sender's FIN: everything has arrived */
		if (x->sender) {
			/* A peer that closes before taking everything we send. */
			xfer_fail(x, "peer closed early");
			xfer_detach(x);
			tcp_abort(pcb);
			return ERR_ABRT;
		}
		xfer_finish(x);
		return ERR_OK;
	}
	if (e != ERR_OK) {
		pbuf_free(p);
		return e;
	}
	if (!x->sender) {
		for (struct pbuf *q = p; q; q = q->next)
			x->crc = crc32_update(x->crc, q->payload, q->len);
		x->bytes += p->tot_len;
	}
	/* The window reopens as soon as the data is counted: the receiver keeps
	 * nothing, so it is never the bottleneck. */
	tcp_recved(pcb, p->tot_len);
	pbuf_free(p);
	return ERR_OK;
}

/* The sender's bytes: xorshift64 (Marsaglia 2003), so no run repeats and a
 * lost, duplicated or reordered segment changes the CRC. */
static void xfer_make(struct xfer *x, size_t words)
{
	uint64_t s = x->prng;

	for (size_t i = 0; i < words; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		chunk[i] = s;
	}
	x->prng = s;
}

/* Queues as much as the send buffer takes. */
static void xfer_fill(struct xfer *x)
{
	struct tcp_pcb *pcb = x->pcb;

	while (x->bytes < x->total) {
		size_t room = tcp_sndbuf(pcb);
		uint64_t left = x->total - x->bytes;
		size_t n = left < XFER_CHUNK ? (size_t)left : XFER_CHUNK;

		if (room < n)
			n = room & ~(size_t)7; /* whole words, but the last piece */
		if (!n || tcp_sndqueuelen(pcb) >= TCP_SND_QUEUELEN - 2)
			break;
		xfer_make(x, (n + 7) / 8);
		u8_t flags = TCP_WRITE_FLAG_COPY | (n < left ? TCP_WRITE_FLAG_MORE : 0);
		if (tcp_write(pcb, chunk, (u16_t)n, flags) != ERR_OK)
			break; /* out of memory for now: the sent or poll callback retries */
		x->crc = crc32_update(x->crc, chunk, n);
		x->bytes += n;
	}
	tcp_output(pcb);
}

static err_t xfer_on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct xfer *x = arg;

	(void)pcb;
	if (!x)
		return ERR_OK;
	x->acked += len;
	if (x->acked >= x->total) {
		xfer_finish(x);
		return ERR_OK;
	}
	xfer_fill(x);
	return ERR_OK;
}

static err_t xfer_on_poll(void *arg, struct tcp_pcb *pcb)
{
	struct xfer *x = arg;

	(void)pcb;
	if (x && x->sender && x->connected)
		xfer_fill(x);
	return ERR_OK;
}

static void xfer_attach(struct xfer *x, struct tcp_pcb *pcb)
{
	x->pcb = pcb;
	x->start_ms = time_ms();
	tcp_arg(pcb, x);
	tcp_recv(pcb, xfer_on_recv);
	tcp_sent(pcb, xfer_on_sent);
	tcp_err(pcb, xfer_on_err);
	tcp_poll(pcb, xfer_on_poll, XFER_POLL_2HZ);
}

static err_t xfer_on_connected(void *arg, struct tcp_pcb *pcb, err_t e)
{
	struct xfer *x = arg;

	(void)e; /* lwIP 2.1 calls this with ERR_OK only; failures go to err */
	if (!x)
		return ERR_OK;
	x->connected = true;
	x->start_ms = time_ms();
	if (!x->total) {
		xfer_finish(x);
		return ERR_OK;
	}
	(void)pcb;
	xfer_fill(x);
	return ERR_OK;
}

static err_t xfer_on_accept(void *arg, struct tcp_pcb *pcb, err_t e)
{
	struct xfer *x;

	(void)arg;
	if (e != ERR_OK || !pcb)
		return ERR_VAL;
	x = xfer_alloc();
	if (!x) {
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	x->peer_ip = ip_addr_get_ip4_u32(&pcb->remote_ip);
	x->peer_port = pcb->remote_port;
	x->connected = true;
	xfer_attach(x, pcb);
	return ERR_OK;
}

int xfer_listen(uint16_t port)
{
	struct tcp_pcb *pcb, *l;

	if (listener)
		return -EBUSY;
	pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
	if (!pcb)
		return -ENOMEM;
	if (tcp_bind(pcb, IP4_ADDR_ANY, port) != ERR_OK) {
		tcp_abort(pcb);
		return -EADDRINUSE;
	}
	l = tcp_listen(pcb);
	if (!l) {
		tcp_abort(pcb);
		return -ENOMEM;
	}
	tcp_accept(l, xfer_on_accept);
	listener = l;
	kprintf("xfer: listening on port %u\n", port);
	return 0;
}

int xfer_send(uint32_t ip, uint16_t port, uint64_t bytes)
{
	ip_addr_t dst;
	struct xfer *x;
	struct tcp_pcb *pcb;
	err_t e;

	if (!port)
		return -EINVAL;
	x = xfer_alloc();
	if (!x)
		return -ENOSPC;
	pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
	if (!pcb) {
		x->used = false;
		return -ENOMEM;
	}
	x->sender = true;
	x->total = bytes;
	x->peer_ip = ip;
	x->peer_port = port;
	x->prng = 0x9E3779B97F4A7C15ull; /* any nonzero seed */
	xfer_attach(x, pcb);
	ip_addr_set_ip4_u32(&dst, ip);
	e = tcp_connect(pcb, &dst, port, xfer_on_connected);
	if (e != ERR_OK) {
		xfer_detach(x);
		tcp_abort(pcb);
		return e == ERR_RTE ? -ENETUNREACH : -ENOMEM;
	}
	kprintf("xfer: sending %lu bytes to " ADDR_IPV4_FMT ":%u\n", (unsigned long)bytes,
		ADDR_IPV4_ARGS(ip), port);
	return 0;
}

int xfer_stop(void)
{
	int n = 0;

	for (int i = 0; i < XFER_SESSIONS; i++) {
		struct xfer *x = &xfers[i];
		if (!x->used)
			continue;
		struct tcp_pcb *pcb = x->pcb;
		xfer_detach(x);
		if (pcb)
			tcp_abort(pcb);
		n++;
	}
	if (listener) {
		tcp_close(listener);
		listener = NULL;
		n++;
	}
	return n;
}
