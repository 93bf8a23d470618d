/* The last migrations that ended (`migrate history`, the API's
 * migrate-history) and their MIGRATION_END event. */
#include <stdio.h>
#include <string.h>
#include "kernel/kprintf.h"
#include "kernel/mgmt_events.h"
#include "kernel/migrate_info.h"
#include "kernel/time.h"
#include "migrate/stats.h"

#define HISTORY MIGRATE_HISTORY

static struct migrate_ended history[HISTORY];
static bool history_used[HISTORY];
static unsigned history_next;

void migrate_ended(bool is_out, enum mig_result res, const char *name, const char *peer,
		   const char *why, uint64_t total_us, uint64_t bytes, uint64_t downtime_us)
{
	struct migrate_ended *h = &history[history_next];

	history_used[history_next] = true;
	h->when_ms = time_ms();
	h->out = is_out;
	h->result = res;
	snprintf(h->name, sizeof(h->name), "%s", name && *name ? name : "?");
	snprintf(h->peer, sizeof(h->peer), "%s", is_out ? peer : "");
	snprintf(h->reason, sizeof(h->reason), "%s", res == MIG_DONE || !why ? "" : why);
	history_next = (history_next + 1) % HISTORY;

	struct json_out *o = mgmt_event_begin("MIGRATION_END");
	if (!o)
		return;
	jo_key(o, "name");
	jo_str(o, h->name);
	jo_key(o, "direction");
	jo_str(o, is_out ? "out" : "in");
	jo_key(o, "peer");
	if (is_out)
		jo_str(o, peer);
	else
		jo_raw(o, "null");
	jo_key(o, "result");
	jo_str(o, mig_stats_result_name(res));
	jo_key(o, "reason");
	if (h->reason[0])
		jo_str(o, h->reason);
	else
		jo_raw(o, "null");
	jo_key(o, "downtime_ms");
	if (is_out && res == MIG_DONE && downtime_us != UINT64_MAX) {
		char ms[32];
		snprintf(ms, sizeof(ms), "%lu.%03lu", downtime_us / 1000, downtime_us % 1000);
		jo_raw(o, ms);
	} else {
		jo_raw(o, "null");
	}
	jo_key(o, "total_ms");
	jo_u64(o, total_us / 1000);
	jo_key(o, "bytes");
	jo_u64(o, bytes);
	mgmt_event_end(o);
}

int migrate_history_get(struct migrate_ended *h, int max)
{
	int n = 0;
	for (unsigned k = 0; k < HISTORY && n < max; k++) {
		unsigned i = (history_next + k) % HISTORY;
		if (history_used[i])
			h[n++] = history[i];
	}
	return n;
}

int migrate_history_print(void)
{
	struct migrate_ended h[HISTORY];
	int n = migrate_history_get(h, HISTORY);

	for (int i = 0; i < n; i++) {
		kprintf("[%6lu.%03lu] ", h[i].when_ms / 1000, h[i].when_ms % 1000);
		if (h[i].out && h[i].result == MIG_DONE)
			kprintf("out %s -> %s: done\n", h[i].name, h[i].peer);
		else if (h[i].out)
			kprintf("out %s -> %s: %s (%s)\n", h[i].name, h[i].peer,
				mig_stats_result_name(h[i].result), h[i].reason);
		else if (h[i].result == MIG_DONE)
			kprintf("in  %s: done\n", h[i].name);
		else
			kprintf("in  %s: failed (%s)\n", h[i].name, h[i].reason);
	}
	if (!n)
		kputs("no migrations yet\n");
	return 0;
}
