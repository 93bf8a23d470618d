/* The network's families of /metrics (kernel/metrics.h): the uplink NIC's
 * counters and every vswitch port's. A port is labelled by its name in
 * `net switch` (the guest's name for a guest port), so a guest's traffic
 * is its own series wherever it runs. */
#include <stddef.h>
#include <stdint.h>
#include "kernel/metrics_text.h"
#include "net/net.h"

void net_metrics(struct metrics_text *t);

static void nic(struct metrics_text *t)
{
	struct nic *n = net_nic();
	if (!n)
		return;
	const struct nic_counters *c = &n->counters;
	const char *rx[] = {"nic", n->name, "direction", "rx", NULL};
	const char *tx[] = {"nic", n->name, "direction", "tx", NULL};

	mt_family(t, "tern_nic_packets_total", "counter",
		  "Frames the host's NIC received and sent");
	mt_sample(t, "tern_nic_packets_total", rx, c->rx_packets);
	mt_sample(t, "tern_nic_packets_total", tx, c->tx_packets);
	mt_family(t, "tern_nic_bytes_total", "counter", "Bytes the host's NIC received and sent");
	mt_sample(t, "tern_nic_bytes_total", rx, c->rx_bytes);
	mt_sample(t, "tern_nic_bytes_total", tx, c->tx_bytes);
	mt_family(t, "tern_nic_drops_total", "counter",
		  "Frames lost for want of a buffer (rx) or a free descriptor (tx)");
	mt_sample(t, "tern_nic_drops_total", rx, c->rx_drops);
	mt_sample(t, "tern_nic_drops_total", tx, c->tx_drops);
	mt_family(t, "tern_nic_errors_total", "counter",
		  "Frames the hardware flagged bad (rx) or did not send (tx)");
	mt_sample(t, "tern_nic_errors_total", rx, c->rx_errors);
	mt_sample(t, "tern_nic_errors_total", tx, c->tx_errors);
}

/* One family of per-port counters: which member of the stats, per
 * direction where there are two. */
static void ports(struct metrics_text *t, const struct vswitch *sw, const char *name,
		  const char *help, size_t rx_off, size_t tx_off)
{
	mt_family(t, name, "counter", help);
	for (int p = 0; p < VSWITCH_PORTS_MAX; p++) {
		const struct vswitch_port *port = vswitch_port_get(sw, p);
		if (!port || !port->in_use)
			continue;
		const uint8_t *s = (const uint8_t *)&port->stats;
		if (tx_off == SIZE_MAX) {
			mt_sample(t, name, (const char *[]){"port", port->name, NULL},
				  *(const uint64_t *)(s + rx_off));
			continue;
		}
		mt_sample(t, name, (const char *[]){"port", port->name, "direction", "rx", NULL},
			  *(const uint64_t *)(s + rx_off));
		mt_sample(t, name, (const char *[]){"port", port->name, "direction", "tx", NULL},
			  *(const uint64_t *)(s + tx_off));
	}
}

#define OFF(f) offsetof(struct vswitch_port_stats, f)

void net_metrics(struct metrics_text *t)
{
	const struct vswitch *sw = net_vswitch();

	nic(t);
	if (!sw)
		return;
	ports(t, sw, "tern_vswitch_frames_total",
	      "Frames a switch port's device gave the switch (rx) and the switch gave it (tx)",
	      OFF(rx_frames), OFF(tx_frames));
	ports(t, sw, "tern_vswitch_bytes_total", "Bytes of those frames", OFF(rx_bytes),
	      OFF(tx_bytes));
	ports(t, sw, "tern_vswitch_drops_total",
	      "Frames from a port not switched (rx: runt, bad source) or refused by its device "
	      "(tx)",
	      OFF(rx_drops), OFF(tx_drops));
	ports(t, sw, "tern_vswitch_flooded_total",
	      "Frames from a port sent to all others (broadcast, unknown destination)", OFF(floods),
	      SIZE_MAX);
	ports(t, sw, "tern_vswitch_spoofed_total",
	      "Frames from a port with a source MAC it may not use, dropped", OFF(spoofed),
	      SIZE_MAX);
}
