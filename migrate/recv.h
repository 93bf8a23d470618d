/* The destination side of a migration: a non-blocking state machine the
 * main loop polls, one per accepted connection. It answers the pre-check,
 * creates the guest, writes what arrives, and starts the guest only after
 * the whole stream checked out; on any failure it destroys what it
 * created. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "migrate/migrate.h"
#include "migrate/stats.h"

struct mig_recv_params {
	const uint8_t *key; /* the pre-shared key; copied */
	size_t key_len;	    /* 0: no key set, every source is refused (AUTH) */
	uint32_t timeout_ms; /* source silent this long: give up; 0: 10 s */
};

struct mig_recv_events {
	void (*done)(void *ctx, const struct mig_incoming_summary *summary);
	void *ctx;
};

struct mig_recv;

int mig_recv_start(struct mig_recv **out, const struct mig_recv_params *p,
		   const struct mig_transport *tp, const struct mig_dst_guest *g,
		   const struct mig_host *h, const struct mig_recv_events *ev);
/* Before the first poll: answer the source's HELLO with a REFUSE (code
 * AUTH) giving this reason, e.g. a plain connection to a host that
 * requires TLS. */
void mig_recv_refuse(struct mig_recv *r, const char *why);
/* Bounded work; > 0 while it wants more polls, then 0 (the guest runs
 * here) or a negative errno (nothing kept). Free it once <= 0. */
int mig_recv_poll(struct mig_recv *r);
/* Abandon an incoming migration (for example `migrate listen off`);
 * -EALREADY when finished. Never undoes a guest already started. */
int mig_recv_cancel(struct mig_recv *r, const char *why);
enum mig_result mig_recv_result(const struct mig_recv *r);
const char *mig_recv_reason(const struct mig_recv *r);
/* The incoming guest's name once GUEST_CONFIG arrived, else "". */
const char *mig_recv_name(const struct mig_recv *r);
const struct mig_incoming_summary *mig_recv_summary(const struct mig_recv *r);
void mig_recv_free(struct mig_recv *r);
