/* See mgmt_tcp.h. Every connection is TLS from its first byte (the
 * listener wraps each accepted TCP connection at once): a client speaking
 * anything else fails the handshake and is closed by the TLS layer. At
 * most MGMT_CONNS connections exist; a newcomer evicts the oldest one that
 * has not authenticated, else it is refused, so idle or slow clients cannot
 * keep an operator out, and an operator's session is never cut for them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernel/log.h"
#include "kernel/loop.h"
#include "kernel/time.h"
#include "lwip/altcp.h"
#include "lwip/altcp_tcp.h"
#include "lwip/altcp_tls.h"
#include "lwip/tcp.h"
#include "net/mgmt_tcp.h"
#include "net/mgmt_tls.h"

#define TAG "mgmt"
#define POLL_HALF_SECONDS 2

struct mgmt_conn {
	struct altcp_pcb *pcb; /* the TLS pcb; NULL once lwIP freed it */
	bool used, ready, authed, closing, discarding;
	uint64_t since_ms, last_rx_ms;
	struct pbuf *rx; /* received, not yet taken into lines */
	char *line;	 /* MGMT_LINE_MAX + 1 */
	size_t line_len;
	char *out; /* queued output */
	size_t out_len, out_cap;
	char peer[16];
	void *state;
};

static struct mgmt_conn conns[MGMT_CONNS];
static struct altcp_pcb *listener;
static const struct mgmt_handlers *handlers;
static struct mgmt_tcp_stats stats;
/* The pcb conn_abort last aborted: a callback of that pcb must then return
 * ERR_ABRT, whichever handler did it. */
static struct altcp_pcb *aborted;

static void unhook(struct altcp_pcb *pcb)
{
	altcp_arg(pcb, NULL);
	altcp_recv(pcb, NULL);
	altcp_sent(pcb, NULL);
	altcp_err(pcb, NULL);
	altcp_poll(pcb, NULL, 0);
}

/* Forgets c; the protocol is told first. */
static void conn_free(struct mgmt_conn *c)
{
	if (c->used && handlers && handlers->closed)
		handlers->closed(c);
	if (c->rx)
		pbuf_free(c->rx);
	free(c->line);
	free(c->out);
	memset(c, 0, sizeof(*c));
}

/* RST and forget. From a callback of c's pcb the caller returns ERR_ABRT. */
static void conn_abort(struct mgmt_conn *c)
{
	struct altcp_pcb *pcb = c->pcb;
	conn_free(c);
	if (pcb) {
		unhook(pcb);
		altcp_abort(pcb);
		aborted = pcb;
	}
}

/* What a callback of pcb returns after it ran a handler. */
static err_t outcome(struct altcp_pcb *pcb, err_t e)
{
	if (aborted != pcb)
		return e;
	aborted = NULL;
	return ERR_ABRT;
}

static err_t conn_finish(struct mgmt_conn *c)
{
	struct altcp_pcb *pcb = c->pcb;
	conn_free(c);
	if (!pcb)
		return ERR_OK;
	unhook(pcb);
	if (altcp_close(pcb) != ERR_OK) {
		altcp_abort(pcb);
		aborted = pcb;
		return ERR_ABRT;
	}
	return ERR_OK;
}

/* Hands lwIP what it takes of the queue. A connection closing with its
 * queue empty is closed by the main loop's poll (mgmt_poll), never here:
 * flush runs inside callbacks of the TLS pcb, which goes on using its
 * state after the callback returns, so closing it there would free what
 * lwIP still uses. */
static err_t flush(struct mgmt_conn *c)
{
	size_t done = 0;

	while (c->pcb && c->ready && done < c->out_len) {
		size_t n = c->out_len - done, room = altcp_sndbuf(c->pcb);
		if (n > room)
			n = room;
		if (n > 16384)
			n = 16384; /* one TLS record */
		if (!n ||
		    altcp_write(c->pcb, c->out + done, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK)
			break;
		done += n;
	}
	if (done) {
		memmove(c->out, c->out + done, c->out_len - done);
		c->out_len -= done;
		altcp_output(c->pcb);
	}
	return ERR_OK;
}

bool mgmt_conn_send(struct mgmt_conn *c, const char *text, size_t len)
{
	if (!c->used || c->closing)
		return false;
	if (c->out_len + len > MGMT_OUT_MAX) {
		log_warn(TAG, "%s reads too slowly: %u KiB queued; closed", c->peer,
			 (unsigned)(c->out_len >> 10));
		conn_abort(c);
		return false;
	}
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap < c->out_len + len)
			cap *= 2;
		char *p = realloc(c->out, cap);
		if (!p) {
			conn_abort(c);
			return false;
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, text, len);
	c->out_len += len;
	flush(c);
	return true;
}

void mgmt_conn_close(struct mgmt_conn *c)
{
	if (!c->used)
		return;
	c->closing = true;
	flush(c);
}

void mgmt_conn_set_authed(struct mgmt_conn *c)
{
	c->authed = true;
}

size_t mgmt_conn_queued(const struct mgmt_conn *c)
{
	return c->out_len;
}

void mgmt_conn_each_authed(void (*fn)(struct mgmt_conn *c, void *ctx), void *ctx)
{
	for (int i = 0; i < MGMT_CONNS; i++)
		if (conns[i].used && conns[i].authed && !conns[i].closing)
			fn(&conns[i], ctx);
}

const char *mgmt_conn_peer(const struct mgmt_conn *c)
{
	return c->peer;
}

void *mgmt_conn_state(struct mgmt_conn *c)
{
	return c->state;
}

void mgmt_conn_set_state(struct mgmt_conn *c, void *state)
{
	c->state = state;
}

/* Tells lwIP the client may send n more bytes (the window it holds back
 * until lines are taken, so a client that sends faster than its commands
 * run waits instead of filling our memory). */
static void window(struct mgmt_conn *c, size_t n)
{
	while (c->pcb && n) {
		u16_t k = n > 0xffff ? 0xffff : (u16_t)n;
		altcp_recved(c->pcb, k);
		n -= k;
	}
}

/* Moves received bytes into c->line up to a newline: 1 when a whole line
 * is there (the newline dropped), 0 when more must come, -1 when
 * MGMT_LINE_MAX bytes came without one. */
static int gather(struct mgmt_conn *c)
{
	size_t used = 0;
	int r = 0;

	for (struct pbuf *q = c->rx; q && !r; q = q->next) {
		const char *p = q->payload;
		for (u16_t i = 0; i < q->len && !r; i++) {
			used++;
			if (p[i] == '\n')
				r = 1;
			else if (c->line_len == MGMT_LINE_MAX)
				r = -1;
			else
				c->line[c->line_len++] = p[i];
		}
	}
	window(c, used);
	while (used) {
		u16_t k = used > 0xffff ? 0xffff : (u16_t)used;
		c->rx = pbuf_free_header(c->rx, k);
		used -= k;
	}
	return r;
}

/* Runs up to a few of c's lines. The protocol's handlers run here, in the
 * main loop, never inside a callback of lwIP: a command may then do what
 * the console's can (start a migration, destroy a guest, close this very
 * connection) without re-entering the stack. */
static bool run_lines(struct mgmt_conn *c)
{
	bool any = false;

	for (int k = 0; k < 4 && c->used && c->rx && !c->closing && !c->discarding; k++) {
		int r = gather(c);
		if (r < 0) {
			c->discarding = true;
			handlers->too_long(c);
			return true;
		}
		if (!r)
			break;
		size_t len = c->line_len;
		if (len && c->line[len - 1] == '\r')
			len--;
		c->line[len] = 0;
		c->line_len = 0;
		handlers->line(c, c->line, len);
		any = true;
	}
	return any;
}

/* Closes the connections that are done and runs the lines that came; in
 * the main loop, outside any lwIP callback. */
static bool mgmt_poll(void)
{
	bool any = false;
	for (int i = 0; i < MGMT_CONNS; i++) {
		struct mgmt_conn *c = &conns[i];
		if (c->used && c->closing && !c->out_len) {
			conn_finish(c);
			any = true;
		} else if (c->used && c->rx && !c->closing) {
			any |= run_lines(c);
		}
	}
	return any;
}

static err_t on_recv(void *arg, struct altcp_pcb *pcb, struct pbuf *p, err_t e)
{
	struct mgmt_conn *c = arg;

	if (!c || !p || e != ERR_OK) { /* the client closed, or gone */
		if (p)
			pbuf_free(p);
		if (c) {
			c->closing = true; /* mgmt_poll closes it */
			c->out_len = 0;	   /* nobody reads it any more */
		}
		return ERR_OK;
	}
	c->last_rx_ms = time_ms();
	if (c->discarding || c->closing) {
		altcp_recved(pcb, p->tot_len);
		pbuf_free(p);
	} else if (c->rx) {
		pbuf_cat(c->rx, p); /* mgmt_poll takes the lines */
	} else {
		c->rx = p;
	}
	return ERR_OK;
}

static err_t on_sent(void *arg, struct altcp_pcb *pcb, u16_t len)
{
	(void)len;
	aborted = NULL;
	return outcome(pcb, arg ? flush(arg) : ERR_OK);
}

static void on_err(void *arg, err_t e)
{
	struct mgmt_conn *c = arg;
	(void)e;
	if (c) {
		c->pcb = NULL; /* freed by lwIP */
		conn_free(c);
	}
}

static err_t on_poll(void *arg, struct altcp_pcb *pcb)
{
	struct mgmt_conn *c = arg;
	if (!c)
		return ERR_OK;
	uint64_t now = time_ms();
	if (!c->authed && now - c->since_ms > MGMT_AUTH_MS) {
		log_warn(TAG, "closed the connection from %s: not authenticated within %u s",
			 c->peer, MGMT_AUTH_MS / 1000);
		stats.timed_out++;
		conn_abort(c);
		return ERR_ABRT;
	}
	if (c->authed && now - c->last_rx_ms > MGMT_IDLE_MS) {
		log_info(TAG, "closed the connection from %s: silent for %u s", c->peer,
			 MGMT_IDLE_MS / 1000);
		stats.timed_out++;
		conn_abort(c);
		return ERR_ABRT;
	}
	aborted = NULL;
	return outcome(pcb, flush(c));
}

/* altcp_tls calls the `connected` hook of a pcb when its handshake is
 * done, accepted connections too. */
static err_t on_handshake(void *arg, struct altcp_pcb *pcb, err_t e)
{
	struct mgmt_conn *c = arg;
	(void)pcb;
	if (!c || e != ERR_OK)
		return ERR_OK;
	c->ready = true;
	aborted = NULL;
	handlers->ready(c);
	return outcome(pcb, c->used && c->pcb ? flush(c) : ERR_OK);
}

static struct mgmt_conn *slot_for_newcomer(void)
{
	struct mgmt_conn *oldest = NULL;
	for (int i = 0; i < MGMT_CONNS; i++) {
		if (!conns[i].used)
			return &conns[i];
		if (!conns[i].authed && (!oldest || conns[i].since_ms < oldest->since_ms))
			oldest = &conns[i];
	}
	if (oldest) {
		log_warn(
			TAG,
			"dropped the connection from %s: %d connections, newcomer from the network",
			oldest->peer, MGMT_CONNS);
		stats.evicted++;
		conn_abort(oldest);
	}
	return oldest;
}

static err_t on_accept(void *arg, struct altcp_pcb *pcb, err_t e)
{
	(void)arg;
	if (e != ERR_OK || !pcb)
		return ERR_VAL;
	struct altcp_tls_config *conf = mgmt_tls_server();
	struct mgmt_conn *c = conf ? slot_for_newcomer() : NULL;
	char *line = c ? malloc(MGMT_LINE_MAX + 1) : NULL;
	struct altcp_pcb *tls = line ? altcp_tls_wrap(conf, pcb) : NULL;
	if (!tls) {
		free(line);
		altcp_abort(pcb);
		return ERR_ABRT;
	}
	memset(c, 0, sizeof(*c));
	c->used = true;
	c->pcb = tls;
	c->line = line;
	c->since_ms = c->last_rx_ms = time_ms();
	const ip_addr_t *ip = altcp_get_ip(pcb, 0);
	snprintf(c->peer, sizeof(c->peer), "%s", ip ? ip4addr_ntoa(ip_2_ip4(ip)) : "?");
	stats.accepted++;
	/* lwIP kills its lowest-priority connections first when it runs out. */
	tcp_setprio((struct tcp_pcb *)pcb->state, TCP_PRIO_MIN);
	altcp_arg(tls, c);
	altcp_recv(tls, on_recv);
	altcp_sent(tls, on_sent);
	altcp_err(tls, on_err);
	altcp_poll(tls, on_poll, POLL_HALF_SECONDS);
	tls->connected = on_handshake;
	return ERR_OK;
}

int mgmt_tcp_listen(uint16_t port, const struct mgmt_handlers *h)
{
	if (listener)
		return -EBUSY;
	if (!mgmt_tls_server())
		return -ENOENT;
	struct altcp_pcb *pcb = altcp_tcp_new_ip_type(IPADDR_TYPE_V4);
	if (!pcb)
		return -ENOMEM;
	/* Our own connections of a listener stopped and started again may
	 * still hold the port (TIME_WAIT). */
	ip_set_option((struct tcp_pcb *)pcb->state, SOF_REUSEADDR);
	if (altcp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
		altcp_abort(pcb);
		return -EADDRINUSE;
	}
	struct altcp_pcb *l = altcp_listen_with_backlog(pcb, MGMT_CONNS);
	if (!l) {
		altcp_abort(pcb);
		return -ENOMEM;
	}
	static bool polled;
	if (!polled && !loop_add("mgmt", mgmt_poll))
		polled = true;
	handlers = h;
	listener = l;
	altcp_accept(l, on_accept);
	stats.on = true;
	stats.port = port;
	return 0;
}

void mgmt_tcp_unlisten(void)
{
	for (int i = 0; i < MGMT_CONNS; i++)
		if (conns[i].used)
			conn_abort(&conns[i]);
	if (listener) {
		altcp_close(listener);
		listener = NULL;
	}
	stats.on = false;
}

void mgmt_tcp_stats(struct mgmt_tcp_stats *out)
{
	*out = stats;
	out->open = out->authed = 0;
	for (int i = 0; i < MGMT_CONNS; i++) {
		out->open += conns[i].used;
		out->authed += conns[i].used && conns[i].authed;
	}
}
