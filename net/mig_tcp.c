/* The migration byte stream over lwIP's altcp API (NO_SYS): TLS through
 * altcp_tls_mbedtls (settings in mig_tls.c) or, when both hosts allow it,
 * plain TCP; connect, listen, and the non-blocking send/recv of struct
 * mig_transport.
 *
 * Back-pressure both ways, through TLS as through TCP: send() takes only
 * what fits in the send buffer (less the record overhead, altcp_sndbuf)
 * and at most one TLS record; received data is queued and the window is
 * reopened (altcp_recved, which the TLS layer passes down) only as
 * migrate/ consumes it, so a slow destination slows the source instead of
 * exhausting pbufs. lwIP frees a pcb itself before calling the error
 * callback, so after an error the pcb is never touched again; every path
 * that aborts a pcb first unhooks our callbacks from it.
 *
 * Incoming connections are pending until the peer has proved the key (TLS
 * handshake done and the first bytes decrypted) or, plain, sent its first
 * bytes: a capped list with a deadline (mig_tcp.h), holding no migration
 * slot. The first byte tells TLS (a handshake record, 0x16) from plain. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernel/log.h"
#include "kernel/time.h"
#include "lwip/altcp.h"
#include "lwip/altcp_tcp.h"
#include "lwip/altcp_tls.h"
#include "lwip/priv/tcp_priv.h" /* struct tcp_seg: tp_unacked */
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "net/lwip_port.h"
#include "net/mig_tcp.h"
#include "net/mig_tls.h"

#define TAG "migrate"
#define TLS_HANDSHAKE_RECORD 0x16 /* RFC 5246 6.2.1: ContentType handshake */
/* One TLS record's payload (migrate/mbedtls-config.h): altcp_tls writes
 * exactly one record per call. */
#define TLS_RECORD_MAX 16384

struct mig_tcp {
	struct altcp_pcb *pcb;
	struct pbuf *rxq; /* received, not yet consumed */
	size_t rxq_off;	  /* consumed bytes of the first pbuf */
	bool connected;	  /* TLS: handshake done */
	bool peer_closed;
	bool tls;
	bool pending;	   /* accepted, not yet handed to the owner */
	int err;	   /* negative errno once the connection failed */
	int tls_err;	   /* the mbedTLS error that ended it, 0 if none */
	uint32_t since_ms; /* accepted at */
	uint64_t rx_at_ns; /* when lwIP last handed us bytes (0: never) */
	char peer[16];
};

static struct mig_tcp *pending[MIG_TCP_MAX_PENDING];
static struct altcp_pcb *listener;
static mig_tcp_accept_fn accept_fn;
static void *accept_ctx;
static struct mig_tcp_costs costs;

void mig_tcp_costs(struct mig_tcp_costs *out)
{
	*out = costs;
}

static int lwip_to_errno(err_t e)
{
	switch (e) {
	case ERR_MEM:
		return -ENOMEM;
	case ERR_TIMEOUT:
		return -ETIMEDOUT;
	case ERR_RTE:
		return -EHOSTUNREACH;
	case ERR_ABRT:
	case ERR_RST:
	case ERR_CLSD:
		return -ECONNRESET;
	case ERR_CONN:
		return -ENOTCONN;
	default:
		return -EIO;
	}
}

static void peer_name(struct mig_tcp *c)
{
	const ip_addr_t *ip = c->pcb ? altcp_get_ip(c->pcb, 0) : NULL;
	if (ip)
		snprintf(c->peer, sizeof(c->peer), "%s", ip4addr_ntoa(ip_2_ip4(ip)));
	else
		snprintf(c->peer, sizeof(c->peer), "?");
}

static void unhook(struct altcp_pcb *pcb)
{
	altcp_arg(pcb, NULL);
	altcp_err(pcb, NULL);
	altcp_recv(pcb, NULL);
	altcp_sent(pcb, NULL);
}

static void pending_remove(struct mig_tcp *c)
{
	for (int i = 0; i < MIG_TCP_MAX_PENDING; i++)
		if (pending[i] == c)
			pending[i] = NULL;
	c->pending = false;
}

/* Frees a pending connection; aborts (RST) its pcb if it still has one.
 * From a callback of that pcb, the caller returns ERR_ABRT. */
static void pending_drop(struct mig_tcp *c)
{
	pending_remove(c);
	if (c->pcb) {
		unhook(c->pcb);
		altcp_abort(c->pcb);
	}
	if (c->rxq)
		pbuf_free(c->rxq);
	free(c);
}

/* ALTCP_MBEDTLS_ERROR_HOOK (lwipopts.h): runs just before the error
 * callback of a TLS connection that failed. */
static void on_err(void *arg, err_t e);

void mig_tcp_tls_failed(void *errf, void *arg, int mbedtls_err)
{
	struct mig_tcp *c = arg;
	if (c && errf == (void *)on_err)
		c->tls_err = mbedtls_err;
}

static void on_err(void *arg, err_t e)
{
	struct mig_tcp *c = arg;
	if (!c)
		return;
	/* Unhooked: a close that follows inside lwIP must not call us again. */
	if (c->pcb)
		unhook(c->pcb);
	c->pcb = NULL; /* freed, or being freed, by lwIP */
	c->err = lwip_to_errno(e);
	if (!c->connected && e == ERR_RST && !c->tls)
		c->err = -ECONNREFUSED;
	if (c->tls_err) {
		int err;
		const char *why = mig_tls_why(c->tls_err, c->connected, &err);
		c->err = err;
		log_err(TAG, "connection with %s: %s", c->peer, why);
	} else if (c->tls && !c->connected && c->pending) {
		log_warn(TAG, "connection from %s closed before its TLS handshake finished",
			 c->peer);
	}
	if (c->pending)
		pending_drop(c); /* nobody else knows it */
}

static err_t on_recv(void *arg, struct altcp_pcb *pcb, struct pbuf *p, err_t e);

/* Hands a pending connection to the owner; on refusal it is dropped and
 * the caller (a callback of its pcb) returns ERR_ABRT. */
static int promote(struct mig_tcp *c);

static err_t on_recv(void *arg, struct altcp_pcb *pcb, struct pbuf *p, err_t e)
{
	struct mig_tcp *c = arg;
	(void)pcb;
	if (!c) {
		if (p)
			pbuf_free(p);
		return ERR_OK;
	}
	if (!p) { /* FIN from the peer */
		c->peer_closed = true;
		if (c->pending) {
			pending_drop(c);
			return ERR_ABRT;
		}
		return ERR_OK;
	}
	if (e != ERR_OK) {
		pbuf_free(p);
		return e;
	}
	if (c->pending) {
		c->connected = true;
		if (promote(c)) {
			pbuf_free(p);
			return ERR_ABRT;
		}
	}
	if (c->rxq)
		pbuf_cat(c->rxq, p);
	else
		c->rxq = p;
	c->rx_at_ns = time_ns();
	return ERR_OK;
}

static err_t on_connected(void *arg, struct altcp_pcb *pcb, err_t e)
{
	struct mig_tcp *c = arg;
	(void)pcb;
	if (c)
		c->connected = e == ERR_OK;
	return ERR_OK;
}

static void attach(struct mig_tcp *c, struct altcp_pcb *pcb, altcp_recv_fn recv)
{
	c->pcb = pcb;
	altcp_arg(pcb, c);
	altcp_err(pcb, on_err);
	altcp_recv(pcb, recv);
	altcp_nagle_disable(pcb); /* control records are small and latency-bound */
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
	size_t room = altcp_sndbuf(c->pcb); /* 0 until a TLS handshake is done */
	if (room > len)
		room = len;
	if (c->tls && room > TLS_RECORD_MAX)
		room = TLS_RECORD_MAX;
	if (room > 0xFFFF)
		room = 0xFFFF; /* altcp_write takes a u16_t length */
	/* A 16 KiB record takes a dozen segments: leave room for them. */
	if (!room || altcp_sndqueuelen(c->pcb) >= TCP_SND_QUEUELEN - 32)
		return 0;
	uint64_t t0 = time_ns();
	err_t e = altcp_write(c->pcb, buf, (u16_t)room, TCP_WRITE_FLAG_COPY);
	uint64_t t1 = time_ns();
	costs.write_ns += t1 - t0;
	if (e == ERR_MEM)
		return 0; /* queue full right now (TLS: a record still unsent): next poll */
	if (e != ERR_OK)
		return lwip_to_errno(e);
	altcp_output(c->pcb);
	costs.output_ns += time_ns() - t1;
	return (ssize_t)room;
}

/* The TCP pcb under the TLS layer, if any (altcp_tcp keeps it in state). */
static struct tcp_pcb *bottom_pcb(const struct mig_tcp *c)
{
	struct altcp_pcb *p = c->pcb;

	if (!p || c->err)
		return NULL;
	while (p->inner_conn)
		p = p->inner_conn;
	return p->state;
}

/* Bytes lwIP still holds for the peer: not yet sent (the window was
 * full) or sent and not yet acknowledged; on the bottom TCP pcb, under the
 * TLS layer when there is one. */
static size_t tp_unacked(void *ctx)
{
	struct tcp_pcb *tpcb = bottom_pcb(ctx);
	size_t n = 0;

	for (struct tcp_seg *seg = tpcb ? tpcb->unsent : NULL; seg; seg = seg->next)
		n += seg->len;
	for (struct tcp_seg *seg = tpcb ? tpcb->unacked : NULL; seg; seg = seg->next)
		n += seg->len;
	return n;
}

static uint64_t tp_rx_age_us(void *ctx)
{
	struct mig_tcp *c = ctx;

	return c->rx_at_ns ? (time_ns() - c->rx_at_ns) / 1000 : 0;
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
	/* Reopen the window by what was consumed (altcp_recved takes a u16_t). */
	for (size_t left = n; left && c->pcb;) {
		u16_t k = left > 0xFFFF ? 0xFFFF : (u16_t)left;
		altcp_recved(c->pcb, k);
		left -= k;
	}
	/* Everything received is consumed: acknowledge it now, not at lwIP's
	 * next 250 ms tick. The source reads the guest's vCPU state (its TSC)
	 * only once all it sent is acknowledged, so a delayed ACK for the
	 * final round's last, odd segment was up to 250 ms of downtime. */
	struct tcp_pcb *tpcb = bottom_pcb(c);
	if (n && !c->rxq && tpcb && (tpcb->flags & TF_ACK_DELAY)) {
		tcp_ack_now(tpcb);
		tcp_output(tpcb);
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
		/* lwIP answers a close with received data the application has
		 * not taken by a RST (tcp_close_shutdown: "not all data received
		 * by application"), and a RST also drops what is still queued
		 * for the peer: the last records before an ERROR, which then
		 * arrives cut ("connection closed in the middle of a record").
		 * So first the window gets back what will never be read. */
		size_t unread = c->rxq ? c->rxq->tot_len - c->rxq_off : 0;
		for (size_t left = unread; left;) {
			u16_t k = left > 0xFFFF ? 0xFFFF : (u16_t)left;
			altcp_recved(c->pcb, k);
			left -= k;
		}
		unhook(c->pcb);
		if (altcp_close(c->pcb) != ERR_OK)
			altcp_abort(c->pcb);
	}
	if (c->rxq)
		pbuf_free(c->rxq);
	free(c);
}

static void transport_of(struct mig_tcp *c, struct mig_transport *tp)
{
	*tp = (struct mig_transport){.send = tp_send,
				     .recv = tp_recv,
				     .close = tp_close,
				     .unacked = tp_unacked,
				     .rx_age_us = tp_rx_age_us,
				     .ctx = c};
}

int mig_tcp_connect(uint32_t ip, uint16_t port, bool plain, struct mig_transport *tp)
{
	struct altcp_tls_config *conf = plain ? NULL : mig_tls_client();
	if (!plain && !conf)
		return -EACCES;
	struct mig_tcp *c = calloc(1, sizeof(*c));
	struct altcp_pcb *inner = altcp_tcp_new_ip_type(IPADDR_TYPE_V4), *pcb = inner;
	ip_addr_t addr;

	if (c && inner && conf)
		pcb = altcp_tls_wrap(conf, inner);
	if (!c || !pcb) {
		free(c);
		if (inner)
			altcp_abort(inner);
		return -ENOMEM;
	}
	c->tls = !plain;
	ip_addr_set_ip4_u32(&addr, ip);
	snprintf(c->peer, sizeof(c->peer), "%s", ip4addr_ntoa(ip_2_ip4(&addr)));
	attach(c, pcb, on_recv);
	transport_of(c, tp);
	err_t e = altcp_connect(pcb, &addr, port, on_connected);
	if (e != ERR_OK) {
		tp_close(c);
		return lwip_to_errno(e);
	}
	return 0;
}

/* ---- listening ---------------------------------------------------------------- */

static int promote(struct mig_tcp *c)
{
	struct mig_transport tp;
	struct mig_tcp_peer who = {.tls = c->tls};

	pending_remove(c);
	snprintf(who.addr, sizeof(who.addr), "%s", c->peer);
	transport_of(c, &tp);
	int rc = accept_fn ? accept_fn(accept_ctx, &tp, &who) : -ECONNREFUSED;
	if (rc) {
		/* Refused by the owner: it did not take the transport. */
		c->pending = true; /* so that pending_drop frees it */
		pending_drop(c);
	}
	return rc;
}

static bool deadline_armed;

static void deadline_tick(void *arg)
{
	bool any = false;
	(void)arg;
	deadline_armed = false;
	for (int i = 0; i < MIG_TCP_MAX_PENDING; i++) {
		struct mig_tcp *c = pending[i];
		if (!c)
			continue;
		if (tern_ms() - c->since_ms >= MIG_TCP_HANDSHAKE_MS) {
			log_warn(TAG, "dropped the connection from %s: no %s within %u s", c->peer,
				 c->tls ? "TLS handshake" : "data", MIG_TCP_HANDSHAKE_MS / 1000);
			pending_drop(c);
		} else {
			any = true;
		}
	}
	if (any) {
		deadline_armed = true;
		sys_timeout(1000, deadline_tick, NULL);
	}
}

/* The first bytes of a pending connection: a TLS handshake record, or
 * plain TCP. */
static err_t on_sniff(void *arg, struct altcp_pcb *pcb, struct pbuf *p, err_t e)
{
	struct mig_tcp *c = arg;

	if (!c || !p || e != ERR_OK || !p->len)
		return on_recv(arg, pcb, p, e);
	if (((const uint8_t *)p->payload)[0] != TLS_HANDSHAKE_RECORD) {
		altcp_recv(pcb, on_recv);
		return on_recv(c, pcb, p, e); /* promoted there */
	}
	struct altcp_tls_config *conf = mig_tls_server();
	struct altcp_pcb *tls = conf ? altcp_tls_wrap(conf, pcb) : NULL;
	if (!tls) {
		log_err(TAG, "refused a TLS connection from %s: %s", c->peer,
			conf ? "out of memory" : "no migration key set here (see 'migrate key')");
		pbuf_free(p);
		pending_drop(c);
		return ERR_ABRT;
	}
	/* The TLS layer now owns the TCP pcb's callbacks; ours go on top. */
	c->tls = true;
	c->pcb = tls;
	altcp_arg(tls, c);
	altcp_err(tls, on_err);
	altcp_recv(tls, on_recv);
	/* Feed it these first bytes through its own receive path. */
	return pcb->recv(pcb->arg, pcb, p, e);
}

static err_t on_accept(void *arg, struct altcp_pcb *pcb, err_t e)
{
	(void)arg;
	if (e != ERR_OK || !pcb)
		return ERR_VAL;
	struct mig_tcp *c = calloc(1, sizeof(*c));
	if (!c) {
		altcp_abort(pcb);
		return ERR_ABRT;
	}
	int slot = -1, oldest = 0;
	for (int i = 0; i < MIG_TCP_MAX_PENDING; i++) {
		if (!pending[i]) {
			slot = i;
			break;
		}
		if ((int32_t)(pending[i]->since_ms - pending[oldest]->since_ms) < 0)
			oldest = i;
	}
	if (slot < 0) {
		/* Full: the oldest goes, so that a flood of idle connections
		 * cannot keep a real migration out for long. */
		log_warn(TAG, "dropped the connection from %s: %d others waiting for a handshake",
			 pending[oldest]->peer, MIG_TCP_MAX_PENDING);
		pending_drop(pending[oldest]);
		slot = oldest;
	}
	attach(c, pcb, on_sniff);
	peer_name(c);
	c->pending = true;
	c->since_ms = tern_ms();
	pending[slot] = c;
	if (!deadline_armed) {
		deadline_armed = true;
		sys_timeout(1000, deadline_tick, NULL);
	}
	return ERR_OK;
}

int mig_tcp_listen(uint16_t port, mig_tcp_accept_fn fn, void *ctx)
{
	if (listener)
		mig_tcp_unlisten();
	struct altcp_pcb *pcb = altcp_tcp_new_ip_type(IPADDR_TYPE_V4);
	if (!pcb)
		return -ENOMEM;
	if (altcp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
		altcp_abort(pcb);
		return -EADDRINUSE;
	}
	struct altcp_pcb *l = altcp_listen_with_backlog(pcb, MIG_TCP_BACKLOG);
	if (!l) {
		altcp_abort(pcb);
		return -ENOMEM;
	}
	listener = l;
	accept_fn = fn;
	accept_ctx = ctx;
	altcp_accept(l, on_accept);
	return 0;
}

void mig_tcp_unlisten(void)
{
	if (listener) {
		altcp_close(listener);
		listener = NULL;
	}
	for (int i = 0; i < MIG_TCP_MAX_PENDING; i++)
		if (pending[i])
			pending_drop(pending[i]);
}

unsigned mig_tcp_pending(void)
{
	unsigned n = 0;
	for (int i = 0; i < MIG_TCP_MAX_PENDING; i++)
		n += pending[i] != NULL;
	return n;
}
