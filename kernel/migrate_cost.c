/* A migration's view of the host's time (migrate_cost.h). */
#include "kernel/migrate_cost.h"

#include <stdio.h>

#include "arch/x86/asm.h"
#include "kernel/loop.h"
#include "kernel/time.h"
#include "net/mig_tcp.h"
#include "net/net.h"

void mig_cost_snap(struct mig_cost_snap *s)
{
	struct mig_tcp_costs tc;

	mig_tcp_costs(&tc);
	*s = (struct mig_cost_snap){
		.tsc = rdtsc(),
		.vm = loop_poll_cycles("vm"),
		.net = loop_poll_cycles("net"),
		.migrate = loop_poll_cycles("migrate"),
		.console = loop_poll_cycles("console"),
		.idle = loop_idle_cycles(),
		.tcp_write_ns = tc.write_ns,
		.tcp_output_ns = tc.output_ns,
		.nic_tx_ns = net_uplink_tx_ns(),
	};
}

static unsigned pct(uint64_t part, uint64_t whole)
{
	return whole ? (unsigned)((part * 100 + whole / 2) / whole) : 0;
}

static unsigned long long ms(uint64_t ns)
{
	return (unsigned long long)((ns + 500000) / 1000000);
}

int mig_cost_lines(const struct mig_cost_snap *since, char *buf, size_t cap)
{
	struct mig_cost_snap now;

	mig_cost_snap(&now);
	uint64_t all = now.tsc - since->tsc;
	/* The rest of the loop: its own bookkeeping, and polls not listed. */
	return snprintf(buf, cap,
			"host CPU:     guests %u %%, migration %u %%, network %u %%, console %u %%, "
			"idle %u %%\n"
			"stream cost:  write %llu ms (TLS, TCP copy), output %llu ms (TCP, IP, NIC), "
			"NIC transmit %llu ms in all",
			pct(now.vm - since->vm, all), pct(now.migrate - since->migrate, all),
			pct(now.net - since->net, all), pct(now.console - since->console, all),
			pct(now.idle - since->idle, all), ms(now.tcp_write_ns - since->tcp_write_ns),
			ms(now.tcp_output_ns - since->tcp_output_ns),
			ms(now.nic_tx_ns - since->nic_tx_ns));
}
