/* When to stop iterating pre-copy rounds and pause the guest. Pure
 * functions of the per-round figures: no clock, no I/O, so every decision
 * can be tested exactly. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

enum mig_stop {
	MIG_STOP_CONTINUE,    /* run another live round */
	MIG_STOP_DOWNTIME,    /* what is left fits the downtime target */
	MIG_STOP_MAX_ROUNDS,  /* the round limit is reached */
	MIG_STOP_NO_PROGRESS, /* two rounds in a row did not shrink the dirty set */
	MIG_STOP_OFFLINE,     /* offline migration: one round, guest paused */
};

/* Bytes a page costs on the wire: its entry and its data. */
#define MIG_POLICY_PAGE_WIRE_BYTES 4112u

struct mig_policy {
	uint32_t downtime_ms;
	uint32_t max_rounds; /* live rounds, round 0 included */
	bool offline;
	uint64_t best_left; /* smallest dirty set seen after a round */
	uint32_t stalled;   /* rounds in a row that did not beat best_left */
};

struct mig_policy_round {
	uint32_t round;	     /* 0, 1, ... */
	uint64_t bytes;	     /* put on the wire during the round */
	uint64_t elapsed_us; /* the round's duration */
	uint64_t dirty_left; /* pages dirty at its end: the next round's work */
};

void mig_policy_init(struct mig_policy *p, uint32_t downtime_ms, uint32_t max_rounds, bool offline);
/* Decide after a round; updates the progress tracking in p. */
enum mig_stop mig_policy_decide(struct mig_policy *p, const struct mig_policy_round *r);
/* Time to send pages at bytes/elapsed_us, or UINT64_MAX if no rate is
 * known yet. */
uint64_t mig_policy_expected_us(uint64_t pages, uint64_t bytes, uint64_t elapsed_us);
const char *mig_policy_reason(enum mig_stop why);
