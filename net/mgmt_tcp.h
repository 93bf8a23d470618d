/* The management API's connections (docs/mgmt-api.md): a TLS listener on
 * lwIP's altcp, each connection's lines in and its output queue out, and
 * the limits on what a client can hold (connections, line length, time).
 * The protocol is kernel/mgmt_api.c's. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MGMT_PORT 7100
#define MGMT_CONNS 8
#define MGMT_LINE_MAX (64 * 1024)  /* bytes of one request line, newline excluded */
#define MGMT_OUT_MAX (1024 * 1024) /* queued output before the client is cut off */
#define MGMT_AUTH_MS 10000	   /* connect to authenticated */
#define MGMT_IDLE_MS 300000	   /* authenticated, silent */

struct mgmt_conn;

/* What the protocol is told. Lines come without their newline, NUL
 * terminated, one at a time, from the main loop (never inside a callback
 * of lwIP: a command may do anything a console command does); the next is
 * read only once the handler returned. too_long: the client sent
 * MGMT_LINE_MAX bytes without one (the rest of the stream is ignored from
 * then on). ready comes from inside lwIP: it only queues the greeting. */
struct mgmt_handlers {
	void (*ready)(struct mgmt_conn *c); /* TLS is up: greet */
	void (*line)(struct mgmt_conn *c, char *line, size_t len);
	void (*too_long)(struct mgmt_conn *c);
	void (*closed)(struct mgmt_conn *c); /* gone: forget it */
};

int mgmt_tcp_listen(uint16_t port, const struct mgmt_handlers *h);
void mgmt_tcp_unlisten(void); /* closes every connection too */
/* Queues text for the client; false (and the connection is dropped) when
 * more than MGMT_OUT_MAX would wait. */
bool mgmt_conn_send(struct mgmt_conn *c, const char *text, size_t len);
/* Closes once everything queued is sent; nothing more is read. */
void mgmt_conn_close(struct mgmt_conn *c);
/* The protocol marks a connection authenticated: it may then stay idle up
 * to MGMT_IDLE_MS and is never evicted for a newcomer. */
void mgmt_conn_set_authed(struct mgmt_conn *c);
/* Bytes queued for the client, not yet taken by TCP. */
size_t mgmt_conn_queued(const struct mgmt_conn *c);
/* Calls fn for every authenticated connection that is not closing. */
void mgmt_conn_each_authed(void (*fn)(struct mgmt_conn *c, void *ctx), void *ctx);
const char *mgmt_conn_peer(const struct mgmt_conn *c);
/* The protocol's own state for the connection. */
void *mgmt_conn_state(struct mgmt_conn *c);
void mgmt_conn_set_state(struct mgmt_conn *c, void *state);

struct mgmt_tcp_stats {
	bool on;
	uint16_t port;
	unsigned open, authed;
	uint64_t accepted, evicted, timed_out;
};
void mgmt_tcp_stats(struct mgmt_tcp_stats *out);
