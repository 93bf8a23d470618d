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
	MIG_STOP_NO_PROGRESS, /* two rounds in a row did not shrink the dirty set
			       * (with auto-converge: and the throttle is at its most) */
	MIG_STOP_OFFLINE,     /* offline migration: one round, guest paused */
};

/* Auto-converge, after QEMU's: a round whose guest dirtied more than half
 * the bytes it sent is hot; the second hot round in a row starts throttling
 * the guest's vCPU at INITIAL %, and every further hot round raises it by
 * STEP %, or by half of what is left once that is less, up to MAX %; by two
 * such steps when the guest dirtied 90 % or more of the bytes the round
 * sent (its real rate is then unknown: the link capped what it showed). */
#define MIG_THROTTLE_INITIAL 20u
#define MIG_THROTTLE_STEP 20u
#define MIG_THROTTLE_MAX 99u
/* The throttle after `pct` (0: the first). */
uint32_t mig_policy_next_throttle(uint32_t pct);

/* Two TSC rates a guest can move between: the guest's clock then runs at
 * most this far off (parts per million), as neither emulator Tern runs in
 * nor Tern itself scales the TSC. Tern's own calibrations of one rate
 * differ by up to 1 % under QEMU TCG (2096-2116 MHz seen), so 2 %; rates
 * of different CPU models differ by more (a Bochs host's TSC runs at
 * 100 MHz, a QEMU host's at the host's 2.1 GHz). */
#define MIG_TSC_TOLERANCE_PPM 20000u
bool mig_policy_tsc_rates_match(uint32_t a_khz, uint32_t b_khz);

/* Bytes a page costs on the wire: its entry and its data. */
#define MIG_POLICY_PAGE_WIRE_BYTES 4112u
/* A remainder that fits the downtime target is shrunk by more rounds while
 * each halves it, down to this many pages (policy.c, shrink_more). */
#define MIG_POLICY_SHRINK_FLOOR 8u

struct mig_policy {
	uint32_t downtime_ms;
	uint32_t max_rounds; /* live rounds, round 0 included */
	bool offline;
	uint64_t best_left; /* smallest dirty set seen after a round */
	uint64_t last_left; /* the dirty set after the round before this one */
	uint32_t stalled;   /* rounds in a row that did not beat best_left */
	bool auto_converge;
	uint32_t hot;	       /* hot rounds in a row */
	uint32_t throttle_pct; /* share of the vCPU's time taken away, for the next round */
	uint32_t throttle_max; /* the highest so far */
};

struct mig_policy_round {
	uint32_t round;	     /* 0, 1, ... */
	uint64_t bytes;	     /* put on the wire during the round */
	uint64_t elapsed_us; /* the round's duration */
	uint64_t dirty_left; /* pages dirty at its end: the next round's work */
	uint64_t dirtied;    /* pages the guest wrote during it */
};

void mig_policy_init(struct mig_policy *p, uint32_t downtime_ms, uint32_t max_rounds, bool offline,
		     bool auto_converge);
/* Decide after a round; updates the progress tracking and the throttle
 * (p->throttle_pct, for the next round) in p. */
enum mig_stop mig_policy_decide(struct mig_policy *p, const struct mig_policy_round *r);
/* Time to send pages at bytes/elapsed_us, or UINT64_MAX if no rate is
 * known yet. */
uint64_t mig_policy_expected_us(uint64_t pages, uint64_t bytes, uint64_t elapsed_us);
const char *mig_policy_reason(enum mig_stop why);
