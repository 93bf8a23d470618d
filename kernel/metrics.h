/* What `GET /metrics` serves (net/metrics_http.c): the host's memory, its
 * guests, its NIC and switch, its migrations, as Prometheus text
 * (kernel/metrics_text.h). docs/mgmt-api.md lists every metric. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Migrations since boot, kept by kernel/migrate_cmd.c. */
enum { MIG_METRIC_COMPLETED, MIG_METRIC_FAILED, MIG_METRIC_UNCERTAIN, MIG_METRIC_RESULTS };
struct migrate_metrics {
	uint64_t out[MIG_METRIC_RESULTS], in[MIG_METRIC_RESULTS];
	uint64_t active_out, active_in;
	uint64_t bytes_sent, bytes_received; /* stream bytes, over all migrations */
	uint64_t last_downtime_us;	     /* of the last completed outgoing one */
	uint64_t downtimes;		     /* how many the figure above has seen */
};
void migrate_metrics_get(struct migrate_metrics *m);

/* The exposition, NUL-terminated, into buf; its length. Returns 0 if it
 * did not fit. */
size_t metrics_render(char *buf, size_t cap);
