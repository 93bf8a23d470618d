/* See metrics_http.h. One request per connection: the answer ends with
 * `Connection: close`, which is all a Prometheus scrape needs. After the
 * answer Tern shuts its side and reads (and drops) what the client still
 * sends until it closes too: closing at once would answer the rest of an
 * oversize request with a RST, which can destroy the answer before the
 * client has read it. Everything a client sends is bounded (the
 * request's size, its time, the number of connections); anything but a
 * well-formed GET or HEAD of /metrics gets its error status:
 *
 *   400 Bad Request          not an HTTP/1.x request line
 *   404 Not Found            another path
 *   405 Method Not Allowed   another method
 *   431 Request Header Fields Too Large   over METRICS_HTTP_REQUEST_MAX
 *   500 Internal Server Error   the body did not fit METRICS_HTTP_BODY_MAX
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernel/log.h"
#include "kernel/metrics.h"
#include "kernel/time.h"
#include "lwip/tcp.h"
#include "net/metrics_http.h"

#define TAG "metrics"
#define POLL_HALF_SECONDS 1 /* tcp_poll interval, in lwIP's 500 ms units */

struct conn {
	struct tcp_pcb *pcb;
	uint64_t since_ms;
	char req[METRICS_HTTP_REQUEST_MAX + 1];
	size_t req_len;
	char *resp; /* the whole answer, headers and body */
	size_t resp_len, resp_off;
	bool answered;	    /* all of it queued, our side shut */
	bool client_closed; /* its FIN came while the answer was being queued */
};

static struct conn conns[METRICS_HTTP_CONNS];
static struct tcp_pcb *listener;
static struct metrics_http_stats stats;

static void conn_free(struct conn *c)
{
	free(c->resp);
	memset(c, 0, sizeof(*c));
}

static void unhook(struct tcp_pcb *pcb)
{
	tcp_arg(pcb, NULL);
	tcp_recv(pcb, NULL);
	tcp_sent(pcb, NULL);
	tcp_err(pcb, NULL);
	tcp_poll(pcb, NULL, 0);
}

/* Drops the connection with a RST (lwIP freed it already when c->pcb is
 * NULL); one without its answer counts as dropped. From a callback of its
 * pcb, the caller returns ERR_ABRT. */
static void conn_abort(struct conn *c)
{
	struct tcp_pcb *pcb = c->pcb;
	if (!c->answered)
		stats.dropped++;
	conn_free(c);
	if (pcb) {
		unhook(pcb);
		tcp_abort(pcb);
	}
}

static err_t conn_close(struct conn *c);

/* Hands lwIP what its send buffer takes; closes once all is queued
 * (lwIP sends the FIN after the data). */
static err_t push(struct conn *c)
{
	while (c->resp_off < c->resp_len) {
		size_t room = tcp_sndbuf(c->pcb), n = c->resp_len - c->resp_off;
		if (!room)
			break;
		if (n > room)
			n = room;
		if (n > 0xFFFF)
			n = 0xFFFF;
		if (tcp_write(c->pcb, c->resp + c->resp_off, (u16_t)n, TCP_WRITE_FLAG_COPY) !=
		    ERR_OK)
			break; /* out of segments: the next sent callback retries */
		c->resp_off += n;
	}
	tcp_output(c->pcb);
	if (c->resp_off < c->resp_len || c->answered)
		return ERR_OK;
	c->answered = true;
	free(c->resp);
	c->resp = NULL;
	if (c->client_closed)
		return conn_close(c);
	tcp_shutdown(c->pcb, 0, 1); /* FIN after the answer; reading goes on */
	return ERR_OK;
}

/* The client closed its side after our answer: done. */
static err_t conn_close(struct conn *c)
{
	struct tcp_pcb *pcb = c->pcb;
	unhook(pcb);
	conn_free(c);
	if (tcp_close(pcb) != ERR_OK) {
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	return ERR_OK;
}

static const char *reason_of(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	default:
		return "Internal Server Error";
	}
}

/* The answer with status; for 200 the body is the metrics (not sent for
 * HEAD). */
static err_t answer(struct conn *c, int status, bool head)
{
	char *body = NULL;
	size_t body_len = 0;

	if (status == 200) {
		body = malloc(METRICS_HTTP_BODY_MAX);
		body_len = body ? metrics_render(body, METRICS_HTTP_BODY_MAX) : 0;
		if (!body_len) {
			log_err(TAG, "the metrics did not fit in %u KiB",
				METRICS_HTTP_BODY_MAX / 1024);
			status = 500;
		}
	}
	if (status != 200) {
		free(body);
		body = NULL;
		body_len = 0;
		stats.refused++;
	} else {
		stats.scrapes++;
	}
	char hdr[256];
	int h = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: %s\r\n"
			 "Content-Length: %u\r\n"
			 "%s"
			 "Connection: close\r\n\r\n",
			 status, reason_of(status),
			 status == 200 ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain",
			 (unsigned)(status == 200 ? body_len : strlen(reason_of(status)) + 1),
			 status == 405 ? "Allow: GET, HEAD\r\n" : "");
	size_t total = (size_t)h + (head	    ? 0
				    : status == 200 ? body_len
						    : strlen(reason_of(status)) + 1);
	c->resp = malloc(total + 1);
	if (!c->resp) {
		free(body);
		conn_abort(c);
		return ERR_ABRT;
	}
	memcpy(c->resp, hdr, (size_t)h);
	if (!head && status == 200)
		memcpy(c->resp + h, body, body_len);
	else if (!head)
		snprintf(c->resp + h, total + 1 - (size_t)h, "%s\n", reason_of(status));
	free(body);
	c->resp_len = total;
	return push(c);
}

/* Request line: METHOD SP TARGET SP HTTP/1.x; headers are read and
 * ignored (none changes the answer). */
static err_t handle(struct conn *c)
{
	char method[8], target[64], version[16];
	char *eol = strstr(c->req, "\r\n");

	if (!eol || eol - c->req > 100)
		return answer(c, 400, false);
	*eol = 0;
	if (sscanf(c->req, "%7s %63s %15s", method, target, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7))
		return answer(c, 400, false);
	bool head = !strcmp(method, "HEAD");
	if (strcmp(method, "GET") && !head)
		return answer(c, 405, false);
	char *q = strchr(target, '?'); /* Prometheus adds none, others may */
	if (q)
		*q = 0;
	return answer(c, strcmp(target, "/metrics") ? 404 : 200, head);
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t e)
{
	struct conn *c = arg;

	if (!c) {
		if (p)
			pbuf_free(p);
		return ERR_OK;
	}
	if (!p && c->answered)
		return conn_close(c);
	if (!p && c->resp) { /* the answer goes on, then we close */
		c->client_closed = true;
		return ERR_OK;
	}
	if (!p || e != ERR_OK) { /* the client closed before it asked */
		if (p)
			pbuf_free(p);
		conn_abort(c);
		return ERR_ABRT;
	}
	tcp_recved(pcb, p->tot_len);
	if (c->resp || c->answered) { /* answered already: anything more is dropped */
		pbuf_free(p);
		return ERR_OK;
	}
	size_t room = METRICS_HTTP_REQUEST_MAX - c->req_len;
	size_t n = p->tot_len < room ? p->tot_len : room;
	pbuf_copy_partial(p, c->req + c->req_len, (u16_t)n, 0);
	bool over = p->tot_len > room;
	pbuf_free(p);
	/* Text only: a NUL would hide the rest from the string functions. */
	if (memchr(c->req + c->req_len, 0, n))
		return answer(c, 400, false);
	c->req_len += n;
	c->req[c->req_len] = 0;
	if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
		return handle(c);
	if (over || c->req_len == METRICS_HTTP_REQUEST_MAX)
		return answer(c, 431, false);
	return ERR_OK;
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	(void)pcb;
	(void)len;
	return arg ? push(arg) : ERR_OK;
}

static void on_err(void *arg, err_t e)
{
	(void)e;
	struct conn *c = arg;
	if (c) {
		c->pcb = NULL; /* freed by lwIP */
		conn_abort(c);
	}
}

static err_t on_poll(void *arg, struct tcp_pcb *pcb)
{
	struct conn *c = arg;
	(void)pcb;
	if (c && time_ms() - c->since_ms > METRICS_HTTP_DEADLINE_MS) {
		conn_abort(c);
		return ERR_ABRT;
	}
	return ERR_OK;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t e)
{
	(void)arg;
	if (e != ERR_OK || !pcb)
		return ERR_VAL;
	struct conn *c = NULL, *oldest = &conns[0];
	for (int i = 0; i < METRICS_HTTP_CONNS && !c; i++) {
		if (!conns[i].pcb)
			c = &conns[i];
		else if (conns[i].since_ms < oldest->since_ms)
			oldest = &conns[i];
	}
	if (!c) { /* idle clients cannot keep a scrape out */
		conn_abort(oldest);
		c = oldest;
	}
	c->pcb = pcb;
	c->since_ms = time_ms();
	/* The first lwIP kills when it runs out of connections. */
	tcp_setprio(pcb, TCP_PRIO_MIN);
	tcp_arg(pcb, c);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
	tcp_poll(pcb, on_poll, POLL_HALF_SECONDS);
	return ERR_OK;
}

int metrics_http_start(uint16_t port)
{
	if (listener)
		return -EBUSY;
	if (!port)
		port = METRICS_HTTP_PORT;
	struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
	if (!pcb)
		return -ENOMEM;
	/* Our own connections of a listener turned off and on again may
	 * still hold the port (TIME_WAIT); they inherit the option. */
	ip_set_option(pcb, SOF_REUSEADDR);
	if (tcp_bind(pcb, IP4_ADDR_ANY, port) != ERR_OK) {
		tcp_abort(pcb);
		return -EADDRINUSE;
	}
	struct tcp_pcb *l = tcp_listen_with_backlog(pcb, METRICS_HTTP_CONNS);
	if (!l) {
		tcp_abort(pcb);
		return -ENOMEM;
	}
	tcp_accept(l, on_accept);
	listener = l;
	stats.on = true;
	stats.port = port;
	return 0;
}

void metrics_http_stop(void)
{
	for (int i = 0; i < METRICS_HTTP_CONNS; i++)
		if (conns[i].pcb)
			conn_abort(&conns[i]);
	if (listener) {
		tcp_accept(listener, NULL);
		tcp_close(listener);
		listener = NULL;
	}
	stats.on = false;
}

void metrics_http_stats(struct metrics_http_stats *out)
{
	*out = stats;
}
