/* `image fetch`'s transfer: one HTTP GET over lwIP's HTTP client app (see
 * http_fetch.h). lwIP parses just enough to find the end of the head; the
 * status line and Content-Length are read again here, strictly
 * (net/http_parse.c), and the body is counted here too, so what is
 * accepted never depends on the client app's lenient atoi(). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lwip/altcp_tcp.h"
#include "lwip/apps/http_client.h"
#include "net/http_fetch.h"
#include "net/net.h"

#define HEAD_MAX 4096

static struct {
	bool busy;
	struct altcp_pcb *pcb; /* from our allocator: what cancel aborts */
	const struct http_fetch_ops *ops;
	void *ctx;
	bool began;
	uint64_t len, got;
	int rc; /* a failure decided here, before the connection is aborted */
	const char *why;
	char reason[128];
} f;

static char head[HEAD_MAX];

/* Our own allocator only to learn the pcb: httpc has no abort call. */
static struct altcp_pcb *alloc_pcb(void *arg, u8_t ip_type)
{
	(void)arg;
	f.pcb = altcp_tcp_new_ip_type(ip_type);
	return f.pcb;
}
static altcp_allocator_t allocator = {alloc_pcb, NULL};

static void fail(int rc, const char *why)
{
	if (!f.rc) {
		f.rc = rc;
		f.why = why;
	}
}

static err_t on_head(httpc_state_t *conn, void *arg, struct pbuf *hdr, u16_t hdr_len,
		     u32_t lwip_len)
{
	struct http_head h;
	const char *why = "";

	(void)conn;
	(void)arg;
	(void)lwip_len;
	if (hdr_len >= sizeof(head) || pbuf_copy_partial(hdr, head, hdr_len, 0) != hdr_len) {
		fail(-EPROTO, "the server's response head is larger than 4 KiB");
		return ERR_ABRT;
	}
	if (http_parse_head(head, hdr_len, &h, &why)) {
		fail(-EPROTO, why);
		return ERR_ABRT;
	}
	if (h.status != 200) {
		snprintf(f.reason, sizeof(f.reason), "the server answered %u %s%s", h.status,
			 h.reason,
			 h.status >= 300 && h.status < 400 ? " (redirects are not followed)" : "");
		fail(-ENOENT, f.reason);
		return ERR_ABRT;
	}
	if (h.chunked || !h.has_length) {
		fail(-EPROTO, "the server sent no Content-Length (Tern needs the size first, to "
			      "allocate the image in one piece)");
		return ERR_ABRT;
	}
	int rc = f.ops->begin(f.ctx, h.length, &why);
	if (rc) {
		fail(rc, why);
		return ERR_ABRT;
	}
	f.began = true;
	f.len = h.length;
	return ERR_OK;
}

static err_t on_body(void *arg, struct altcp_pcb *pcb, struct pbuf *p, err_t err)
{
	const char *why = "";
	u16_t n = p->tot_len;

	(void)arg;
	(void)err;
	if (f.got + n > f.len) {
		snprintf(f.reason, sizeof(f.reason),
			 "the server sent more than the %llu bytes it announced",
			 (unsigned long long)f.len);
		fail(-EMSGSIZE, f.reason);
	}
	for (struct pbuf *q = p; q && !f.rc; q = q->next) {
		int rc = f.ops->data(f.ctx, q->payload, q->len, &why);
		if (rc)
			fail(rc, why);
	}
	if (f.rc) {
		/* The err callback runs inside the abort: the client app
		 * reports (on_result) and frees its state. */
		pbuf_free(p);
		altcp_abort(pcb);
		return ERR_ABRT;
	}
	f.got += n;
	altcp_recved(pcb, n);
	pbuf_free(p);
	return ERR_OK;
}

static const char *result_reason(httpc_result_t result, err_t err)
{
	switch (result) {
	case HTTPC_RESULT_ERR_CONNECT:
		return err == ERR_RST ? "connection refused" : "could not connect to the server";
	case HTTPC_RESULT_ERR_TIMEOUT:
		return f.began ? "timed out: the server sent nothing for 30 s"
			       : "timed out: no answer from the server for 30 s";
	case HTTPC_RESULT_ERR_MEM:
		return "out of network memory";
	case HTTPC_RESULT_ERR_CLOSED:
		if (!f.began)
			return "the server closed the connection without an answer";
		snprintf(f.reason, sizeof(f.reason),
			 "the connection was reset after %llu of %llu bytes",
			 (unsigned long long)f.got, (unsigned long long)f.len);
		return f.reason;
	default:
		return "the transfer failed";
	}
}

static void on_result(void *arg, httpc_result_t result, u32_t rx_len, u32_t status, err_t err)
{
	int rc = f.rc;
	const char *why = f.why;

	(void)arg;
	(void)rx_len;
	(void)status;
	/* A reset after every announced byte (an abortive close) loses
	 * nothing: the body is whole, and no more bytes can follow. */
	bool whole = f.began && f.got == f.len;
	bool closed = result == HTTPC_RESULT_OK || result == HTTPC_RESULT_ERR_CONTENT_LEN ||
		      (result == HTTPC_RESULT_ERR_CLOSED && whole);
	if (!rc) {
		if (closed && f.began) {
			if (f.got != f.len) {
				snprintf(f.reason, sizeof(f.reason),
					 "short read: the server closed the connection after %llu "
					 "of %llu bytes",
					 (unsigned long long)f.got, (unsigned long long)f.len);
				rc = -EPIPE, why = f.reason;
			}
		} else {
			rc = result == HTTPC_RESULT_ERR_TIMEOUT	  ? -ETIMEDOUT
			     : result == HTTPC_RESULT_ERR_CONNECT ? -ECONNREFUSED
								  : -EIO;
			why = result_reason(result, err);
		}
	}
	/* The client app closes (or has freed) the pcb after this returns. */
	const struct http_fetch_ops *ops = f.ops;
	void *ctx = f.ctx;
	f.busy = false;
	f.pcb = NULL;
	ops->end(ctx, rc, rc ? why : "");
}

static const httpc_connection_t settings = {
	.altcp_allocator = &allocator,
	.result_fn = on_result,
	.headers_done_fn = on_head,
};

int http_fetch_start(const struct http_url *u, const struct http_fetch_ops *ops, void *ctx,
		     const char **why)
{
	ip_addr_t ip;
	httpc_state_t *conn;

	if (f.busy)
		return *why = "a fetch is already running", -EBUSY;
	if (!net_up() || !net_host() || ip4_addr_isany_val(*netif_ip4_addr(&net_host()->netif)))
		return *why = "Tern has no IP address (set one with 'net ip' or ip= at boot)",
		       -ENETDOWN;
	memset(&f, 0, sizeof(f));
	f.ops = ops;
	f.ctx = ctx;
	f.busy = true;
	ip_addr_set_ip4_u32(&ip, u->ip);
	err_t e = httpc_get_file(&ip, u->port, u->path, &settings, on_body, NULL, &conn);
	if (e != ERR_OK) {
		f.busy = false;
		f.pcb = NULL;
		return *why = e == ERR_RTE   ? "no route to the server"
			      : e == ERR_MEM ? "out of network memory"
					     : "could not start the request",
		       -EIO;
	}
	return 0;
}

bool http_fetch_busy(void)
{
	return f.busy;
}

void http_fetch_cancel(void)
{
	if (!f.busy || !f.pcb)
		return;
	fail(-ECANCELED, "cancelled");
	altcp_abort(f.pcb);
}
