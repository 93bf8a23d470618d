/* The pre-copy stop rule of DESIGN.md ("Policy"), after Xen's: stop when
 * the rest fits the downtime target at the last round's rate, at the
 * round limit, or when the guest dirties faster than we send. */
#include "migrate/policy.h"

void mig_policy_init(struct mig_policy *p, uint32_t downtime_ms, uint32_t max_rounds, bool offline)
{
	p->downtime_ms = downtime_ms;
	p->max_rounds = max_rounds ? max_rounds : 1;
	p->offline = offline;
	p->best_left = UINT64_MAX;
	p->stalled = 0;
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
	if (fits(p, r))
		return MIG_STOP_DOWNTIME;
	if (r->round + 1 >= p->max_rounds)
		return MIG_STOP_MAX_ROUNDS;
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
