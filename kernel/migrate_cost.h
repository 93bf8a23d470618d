/* Where the host's CPU went while a migration ran: the main loop's share
 * per poll (guests, network, migrations, console, idle) and the costs of
 * the stream's send path, printed under a migration's summary so that a
 * slow stream says what to fix (docs/migration.md, "Where the time went"). */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct mig_cost_snap {
	uint64_t tsc;
	uint64_t vm, net, migrate, console, idle; /* TSC cycles (kernel/loop.h) */
	uint64_t tcp_write_ns, tcp_output_ns, nic_tx_ns;
};

void mig_cost_snap(struct mig_cost_snap *s);
/* The lines for the window from `since` to now: `host CPU:` and
 * `stream cost:`. Returns what snprintf would. */
int mig_cost_lines(const struct mig_cost_snap *since, char *buf, size_t cap);
