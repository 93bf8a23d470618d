/* The source side of a migration: a non-blocking state machine the main
 * loop polls. It moves one guest over one connection through pre-check,
 * transfer rounds, suspend and hand-off (docs/migration-stream.md, "Order
 * and failure"), and leaves the guest running here on any failure before
 * hand-off. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migrate/migrate.h"
#include "migrate/stats.h"

#define MIG_DEFAULT_DOWNTIME_MS 50u
#define MIG_DEFAULT_MAX_ROUNDS 30u
#define MIG_DEFAULT_TIMEOUT_MS 10000u
#define MIG_DEFAULT_DELTA_CACHE_MIB 64u /* as QEMU's XBZRLE cache */

struct mig_send_params {
	const uint8_t *key; /* the pre-shared key; copied */
	size_t key_len;
	bool offline;		 /* pause first, then one round */
	uint32_t downtime_ms;	 /* 0: MIG_DEFAULT_DOWNTIME_MS */
	uint32_t max_rounds;	 /* live rounds; 0: MIG_DEFAULT_MAX_ROUNDS */
	uint32_t bandwidth_mbit; /* cap while the guest runs; 0: none */
	bool auto_converge;	 /* throttle a guest that dirties faster than we send */
	/* Pages sent again go as deltas against the copy sent before
	 * (docs/migration-stream.md, "PAGE_DELTA"), from a cache of that
	 * many MiB; 0: MIG_DEFAULT_DELTA_CACHE_MIB. */
	bool delta_off;
	uint32_t delta_cache_mib;
	uint32_t timeout_ms; /* peer silent this long: give up; 0: default */
	/* The transport authenticates every byte from the destination (TLS):
	 * nobody on the path can forge a record. Only then is an ERROR that
	 * arrives after END proof that the destination did not start the
	 * guest, and the guest resumes here; on a plain connection it stays
	 * paused and the hand-off is reported uncertain. */
	bool authenticated;
};

/* Optional; called from inside mig_send_poll. */
struct mig_send_events {
	void (*round)(void *ctx, const struct mig_round_row *row);
	void (*done)(void *ctx, const struct mig_summary *summary);
	void *ctx;
};

/* For `migrate status`. */
struct mig_send_status {
	const char *phase; /* pre-check, transfer, suspend, hand-off, done, failed, uncertain */
	uint32_t round;
	uint32_t percent_sent;	/* of guest RAM, through round 0 */
	uint64_t pages_left;	/* dirty pages still to send in this round */
	uint64_t rate_mbit_x10; /* last finished round */
	uint64_t elapsed_us;
	uint64_t expected_downtime_us; /* UINT64_MAX while unknown */
};

struct mig_send;

/* Fetches the guest's config and allocates everything the migration
 * needs (a dirty bitmap, ~1.3 MiB of buffers and the delta cache; without
 * memory for the cache it goes without deltas); nothing is sent until the
 * first poll. The ops structs are copied. */
int mig_send_start(struct mig_send **out, const struct mig_send_params *p,
		   const struct mig_transport *tp, const struct mig_src_guest *g,
		   const struct mig_host *h, const struct mig_send_events *ev);
/* Bounded work; > 0 while it wants more polls, then 0 (the guest runs on
 * the destination) or a negative errno (mig_send_result/_reason say
 * more). Call mig_send_free once it returned <= 0. */
int mig_send_poll(struct mig_send *s);
/* Abandon the migration; the guest keeps (or resumes) running here.
 * -EBUSY once the last byte has left (the hand-off can no longer be
 * stopped), -EALREADY when already finished. */
int mig_send_cancel(struct mig_send *s, const char *why);
enum mig_result mig_send_result(const struct mig_send *s);
const char *mig_send_reason(const struct mig_send *s);
const struct mig_summary *mig_send_summary(const struct mig_send *s);
void mig_send_status(const struct mig_send *s, struct mig_send_status *st);
void mig_send_free(struct mig_send *s);
