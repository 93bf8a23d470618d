/* Migration transport over lwIP TCP, in TLS by default (see mig_tcp.c). */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "migrate/migrate.h"

/* Accepted connections that have not yet finished their TLS handshake (or,
 * for plain TCP, sent their first bytes) are "pending": at most this many
 * at once, the oldest dropped for a new one, each dropped after
 * MIG_TCP_HANDSHAKE_MS. They hold no migration slot. */
#define MIG_TCP_MAX_PENDING 8
#define MIG_TCP_HANDSHAKE_MS 10000
/* The listener's SYN backlog (enforced: TCP_LISTEN_BACKLOG in lwipopts.h). */
#define MIG_TCP_BACKLOG 8

/* Starts connecting to ip (network order):port, over TLS unless plain;
 * the transport's send() returns 0 until the connection is up (for TLS:
 * the handshake done), then the peer's refusal or silence shows as a
 * negative errno from send()/recv(). -EACCES: TLS without a key set. */
int mig_tcp_connect(uint32_t ip, uint16_t port, bool plain, struct mig_transport *tp);

struct mig_tcp_peer {
	bool tls;      /* false: the peer spoke plain TCP */
	char addr[16]; /* dotted quad */
};

/* Called for each connection that finished its TLS handshake (or sent
 * its first plain bytes); return 0 to take the transport (and later
 * close it), or a negative errno to refuse it. */
typedef int (*mig_tcp_accept_fn)(void *ctx, const struct mig_transport *tp,
				 const struct mig_tcp_peer *peer);
int mig_tcp_listen(uint16_t port, mig_tcp_accept_fn fn, void *ctx);
void mig_tcp_unlisten(void);
/* Connections waiting for their handshake (`migrate status`). */
unsigned mig_tcp_pending(void);

/* Nanoseconds inside the send path since boot, every connection: writing
 * (TLS encryption when on, copying into TCP's send queue) and pushing
 * segments out (TCP, IP, the NIC). For a migration's summary. */
struct mig_tcp_costs {
	uint64_t write_ns, output_ns;
};
void mig_tcp_costs(struct mig_tcp_costs *out);
