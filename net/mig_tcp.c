/* The migration byte stream over lwIP TCP (raw API, NO_SYS): connect,
 * listen, and the non-blocking send/recv of struct mig_transport.
 *
 * Back-pressure both ways: send() takes only what fits in the TCP send
 * buffer; received pbufs are queued and the window is reopened
 * (tcp_recved) only as migrate/ consumes them, so a slow destination
 * slows the source instead of exhausting pbufs. lwIP frees a pcb itself
 * before calling the error callback, so after an error the pcb is never
 * touched again. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "lwip/tcp.h"
#include "net/mig_tcp.h"

struct mig_tcp {
	struct tcp_pcb *pcb;
	struct pbuf *rxq;  /* received, not yet consumed */
	size_t rxq_off;    /* consumed bytes of the first pbuf */
	bool connected;
	bool peer_closed;
	int err;           /* negative errno once the connection failed */
};

static int lwip_to_errno(err_t e)
{
	switch (e) {
	case ERR_MEM: return -ENOMEM;
	case ERR_TIMEOUT: return -ETIMEDOUT;
	case ERR_RTE: return -EHOSTUNREACH;
	case ERR_ABRT:
	case ERR_RST: return -ECONNRESET;
	case ERR_CLSD: return -ECONNRESET;
	case ERR_CONN: return -ENOTCONN;
	default: return -EIO;
	}
}

static void on_err(void *arg, err_t e)
{
	struct mig_tcp *c = arg;
	c->pcb = NULL; /* already freed by lwIP */
	c->err = e == ERR_ABRT || e == ERR_RST ? -ECONNRESET : lwip_to_errno(e);
	if (!c->connected && e == ERR_RST)
		c->err = -ECONNREFUSED;
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t e)
{
	struct mig_tcp *c = arg;
	(void)pcb;
	if (!p) { /* FIN from the peer */
		c->peer_closed = true;
		return ERR_OK;
	}
	if (e != ERR_OK) {
		pbuf_free(p);
		return e;
	}
	if (c->rxq)
		pbuf_cat(c->rxq, p);
	else
		c->rxq = p;
	return ERR_OK;
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t e)
{
	struct mig_tcp *c = arg;
	(void)pcb;
	c->connected = e == ERR_OK;
	return ERR_OK;
}

static void attach(struct mig_tcp *c, struct tcp_pcb *pcb)
{
	c->pcb = pcb;
	tcp_arg(pcb, c);
	tcp_err(pcb, on_err);
	tcp_recv(pcb, on_recv);
	tcp_nagle_disable(pcb); /* control records are small and latency-bound */
}

static ssize_t tp_send(void *ctx, const void *buf, size_t len)
{
	struct mig_tcp *c = ctx;

	if (c->err)
		return c->err;
	if (!c->pcb)
		return -ENOTCONN;
	if (!c->connected)
		return 0;
	size_t room = tcp_sndbuf(c->pcb);
	if (room > len)
		room = len;
	if (room > 0xFFFF)
		room = 0xFFFF; /* tcp_write takes a u16_t length */
	if (!room || tcp_sndqueuelen(c->pcb) >= TCP_SND_QUEUELEN - 4)
		return 0;
	err_t e = tcp_write(c->pcb, buf, (u16_t)room, TCP_WRITE_FLAG_COPY);
	if (e == ERR_MEM)
		return 0; /* queue full right now: try again on the next poll */
	if (e != ERR_OK)
		return lwip_to_errno(e);
	tcp_output(c->pcb);
	return (ssize_t)room;
}

static ssize_t tp_recv(void *ctx, void *buf, size_t len)
{
	struct mig_tcp *c = ctx;
	size_t n = 0;

	while (c->rxq && n < len) {
		size_t avail = c->rxq->len - c->rxq_off, k = len - n < avail ? len - n : avail;
		memcpy((uint8_t *)buf + n, (uint8_t *)c->rxq->payload + c->rxq_off, k);
		n += k;
		c->rxq_off += k;
		if (c->rxq_off == c->rxq->len) {
			struct pbuf *next = c->rxq->next;
			if (next)
				pbuf_ref(next);
			pbuf_free(c->rxq); /* frees this pbuf only: next holds its own reference */
			c->rxq = next;
			c->rxq_off = 0;
		}
	}
	/* Reopen the window by what was consumed (tcp_recved takes a u16_t). */
	for (size_t left = n; left && c->pcb;) {
		u16_t k = left > 0xFFFF ? 0xFFFF : (u16_t)left;
		tcp_recved(c->pcb, k);
		left -= k;
	}
	if (n)
		return (ssize_t)n;
	if (c->err)
		return c->err;
	if (c->peer_closed || !c->pcb)
		return -ECONNRESET;
	return 0;
}

static void tp_close(void *ctx)
{
	struct mig_tcp *c = ctx;

	if (c->pcb) {
		tcp_arg(c->pcb, NULL);
		tcp_err(c->pcb, NULL);
		tcp_recv(c->pcb, NULL);
		tcp_sent(c->pcb, NULL);
		if (tcp_close(c->pcb) != ERR_OK)
			tcp_abort(c->pcb);
	}
	if (c->rxq)
		pbuf_free(c->rxq);
	free(c);
}

static struct mig_tcp *alloc_conn(struct mig_transport *tp)
{
	struct mig_tcp *c = calloc(1, sizeof(*c));
	if (c)
		*tp = (struct mig_transport){tp_send, tp_recv, tp_close, c};
	return c;
}

int mig_tcp_connect(uint32_t ip, uint16_t port, struct mig_transport *tp)
{
	struct mig_tcp *c = alloc_conn(tp);
	struct tcp_pcb *pcb = tcp_new();
	ip_addr_t addr;

	if (!c || !pcb) {
		free(c);
		if (pcb)
			tcp_abort(pcb);
		return -ENOMEM;
	}
	ip_addr_set_ip4_u32(&addr, ip);
	attach(c, pcb);
	err_t e = tcp_connect(pcb, &addr, port, on_connected);
	if (e != ERR_OK) {
		tp_close(c);
		return lwip_to_errno(e);
	}
	return 0;
}

/* ---- listening ---------------------------------------------------------------- */

static struct tcp_pcb *listener;
static mig_tcp_accept_fn accept_fn;
static void *accept_ctx;

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t e)
{
	struct mig_transport tp;
	(void)arg;
	if (e != ERR_OK || !pcb)
		return ERR_VAL;
	struct mig_tcp *c = alloc_conn(&tp);
	if (!c) {
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	attach(c, pcb);
	c->connected = true;
	if (accept_fn(accept_ctx, &tp)) {
		/* Refused by the owner: it did not take the transport. */
		tcp_arg(pcb, NULL);
		c->pcb = NULL;
		free(c);
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	return ERR_OK;
}

int mig_tcp_listen(uint16_t port, mig_tcp_accept_fn fn, void *ctx)
{
	if (listener)
		mig_tcp_unlisten();
	struct tcp_pcb *pcb = tcp_new();
	if (!pcb)
		return -ENOMEM;
	if (tcp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
		tcp_abort(pcb);
		return -EADDRINUSE;
	}
	struct tcp_pcb *l = tcp_listen_with_backlog(pcb, 2);
	if (!l) {
		tcp_abort(pcb);
		return -ENOMEM;
	}
	listener = l;
	accept_fn = fn;
	accept_ctx = ctx;
	tcp_accept(l, on_accept);
	return 0;
}

void mig_tcp_unlisten(void)
{
	if (listener) {
		tcp_close(listener);
		listener = NULL;
	}
}
