/* Migration transport over lwIP TCP (see mig_tcp.c). */
#pragma once
#include <stdint.h>
#include "migrate/migrate.h"

/* Starts connecting to ip (network order):port; the transport's send()
 * returns 0 until the connection is up, then the peer's refusal or
 * silence shows as a negative errno from send()/recv(). */
int mig_tcp_connect(uint32_t ip, uint16_t port, struct mig_transport *tp);

/* Called for each accepted connection; return 0 to take the transport
 * (and later close it), or a negative errno to refuse it. */
typedef int (*mig_tcp_accept_fn)(void *ctx, const struct mig_transport *tp);
int mig_tcp_listen(uint16_t port, mig_tcp_accept_fn fn, void *ctx);
void mig_tcp_unlisten(void);
