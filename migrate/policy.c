/* The pre-copy stop rule of DESIGN.md ("Policy"), after Xen's: stop when
 * the rest fits the downtime target at the last round's rate (unless one
 * more round would halve it), at the round limit, or when the guest
 * dirties faster than we send. */
#include "migrate/policy.h"

void mig_policy_init(struct mig_policy *p, uint32_t downtime_ms, uint32_t max_rounds, bool offline,
		     bool auto_converge)
{
	*p = (struct mig_policy){
		.downtime_ms = downtime_ms,
		.max_rounds = max_rounds ? max_rounds : 1,
		.offline = offline,
		.best_left = UINT64_MAX,
		.last_left = UINT64_MAX,
		.auto_converge = auto_converge && !offline,
	};
}

uint64_t mig_policy_expected_us(uint64_t pages, uint64_t bytes, uint64_t elapsed_us)
{
	if (!pages)
		return 0;
	if (!bytes || !elapsed_us)
		return UINT64_MAX;
	unsigned __int128 t = (unsigned __int128)pages * MIG_POLICY_PAGE_WIRE_BYTES * elapsed_us;
	t = (t + bytes - 1) / bytes;
	return t > UINT64_MAX ? UINT64_MAX : (uint64_t)t;
}

static bool fits(const struct mig_policy *p, const struct mig_policy_round *r)
{
	uint64_t need = mig_policy_expected_us(r->dirty_left, r->bytes, r->elapsed_us);

	return need != UINT64_MAX && need <= (uint64_t)p->downtime_ms * 1000;
}

/* The rest fits the target, yet one more round still pays while it is
 * expected to at least halve what the pause must carry: that round takes
 * no longer than the target, and the guest, dirtying at the last round's
 * rate, writes at most half as many pages meanwhile. The pause's copy runs
 * at Tern's link rate (an emulated NIC: a page costs 0.13 ms at 250
 * Mbit/s), so a smaller remainder is a shorter downtime; a moderate writer
 * went from 12.7 ms to about a tenth of that. At MIG_POLICY_SHRINK_FLOOR
 * pages the pause's fixed costs (vCPU and device state, the hand-off)
 * dominate and another round buys nothing. */
static bool shrink_more(const struct mig_policy *p, const struct mig_policy_round *r)
{
	if (p->offline || r->round + 1 >= p->max_rounds || r->dirty_left <= MIG_POLICY_SHRINK_FLOOR ||
	    !r->elapsed_us)
		return false;
	/* A round has a floor the estimate does not see (the guest's time
	 * slice, the harvest): once the last round failed to halve what was
	 * left before it, the next will not either. */
	if (p->last_left != UINT64_MAX && r->dirty_left * 2 > p->last_left)
		return false;
	uint64_t need = mig_policy_expected_us(r->dirty_left, r->bytes, r->elapsed_us);
	unsigned __int128 next = (unsigned __int128)r->dirtied * need / r->elapsed_us;
	return next * 2 <= r->dirty_left;
}

/* QEMU's rule (migration/ram.c, "dirty_rate_high_cnt"), with faster steps
 * once it has started: each of Tern's rounds already takes seconds on an
 * emulated link, and waiting two rounds per step took QEMU 35 s. */
uint32_t mig_policy_next_throttle(uint32_t pct)
{
	if (!pct)
		return MIG_THROTTLE_INITIAL;
	/* 20, 40, 60, 80, then 90, 95, 97, 98, 99: the last few percent of
	 * the CPU are what a writer that rewrites its working set in a few
	 * milliseconds still has. */
	uint32_t step = (100 - pct) / 2;
	step = step > MIG_THROTTLE_STEP ? MIG_THROTTLE_STEP : step ? step : 1;
	return pct + step < MIG_THROTTLE_MAX ? pct + step : MIG_THROTTLE_MAX;
}

static bool throttle_up(struct mig_policy *p, const struct mig_policy_round *r)
{
	if (!p->auto_converge)
		return false;
	if (r->dirtied * 4096 <= r->bytes / 2) {
		p->hot = 0;
		return false;
	}
	if (++p->hot < 2 || p->throttle_pct == MIG_THROTTLE_MAX)
		return false;
	/* Saturated: the guest dirtied about as much as the round sent, so
	 * the dirty figure shows the link's rate, not the guest's, which may
	 * be many times more. One step at a time then took six rounds of
	 * seconds each for a guest rewriting 256 MiB; take two. */
	bool saturated = p->throttle_pct && r->dirtied * 4096 * 10 >= r->bytes * 9;
	p->throttle_pct = mig_policy_next_throttle(p->throttle_pct);
	if (saturated)
		p->throttle_pct = mig_policy_next_throttle(p->throttle_pct);
	if (p->throttle_pct > p->throttle_max)
		p->throttle_max = p->throttle_pct;
	return true;
}

enum mig_stop mig_policy_decide(struct mig_policy *p, const struct mig_policy_round *r)
{
	/* Progress is measured against the best round so far, not the last
	 * one, so a dirty set that merely wobbles still counts as stuck. */
	if (r->dirty_left < p->best_left) {
		p->best_left = r->dirty_left;
		p->stalled = 0;
	} else {
		p->stalled++;
	}
	if (p->offline)
		return MIG_STOP_OFFLINE;
	bool shrink = shrink_more(p, r);
	p->last_left = r->dirty_left;
	if (fits(p, r))
		return shrink ? MIG_STOP_CONTINUE : MIG_STOP_DOWNTIME;
	if (r->round + 1 >= p->max_rounds)
		return MIG_STOP_MAX_ROUNDS;
	/* A new throttle gets two rounds to shrink the dirty set. */
	if (throttle_up(p, r))
		p->stalled = 0;
	if (p->stalled >= 2)
		return MIG_STOP_NO_PROGRESS;
	return MIG_STOP_CONTINUE;
}

const char *mig_policy_reason(enum mig_stop why)
{
	switch (why) {
	case MIG_STOP_CONTINUE:
		return "still iterating";
	case MIG_STOP_DOWNTIME:
		return "remaining dirty pages fit the downtime target";
	case MIG_STOP_MAX_ROUNDS:
		return "maximum number of rounds reached";
	case MIG_STOP_NO_PROGRESS:
		return "no progress: two rounds did not shrink the dirty set";
	case MIG_STOP_OFFLINE:
		return "offline migration: one round with the guest paused";
	}
	return "unknown";
}

bool mig_policy_tsc_rates_match(uint32_t a_khz, uint32_t b_khz)
{
	uint64_t hi = a_khz > b_khz ? a_khz : b_khz, lo = a_khz > b_khz ? b_khz : a_khz;

	return (hi - lo) * 1000000 <= (uint64_t)MIG_TSC_TOLERANCE_PPM * hi;
}
