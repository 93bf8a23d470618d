/* See metrics.h. Counters count from Tern's boot (Prometheus sees a
 * restart as a reset); a guest's series are named by the guest and end
 * when it leaves the host. */
#include <stdio.h>
#include "kernel/metrics.h"
#include "kernel/metrics_text.h"
#include "kernel/mm/frame.h"
#include "kernel/mm/heap.h"
#include "kernel/time.h"
#include "kernel/vm.h"
#include "kernel/vm_api.h"

/* The NIC's and the switch's families (net/metrics_net.c); weak so Tern
 * links without net/. */
void net_metrics(struct metrics_text *t) __attribute__((weak, visibility("hidden")));

static void host(struct metrics_text *t)
{
	struct frame_stats st;
	uint64_t heap_size, heap_used;

	frame_get_stats(&st);
	heap_stats(&heap_size, &heap_used);
	mt_family(t, "tern_memory_bytes", "gauge",
		  "RAM of the host: total, free for guests and buffers");
	mt_sample(t, "tern_memory_bytes", (const char *[]){"kind", "total", NULL}, st.ram_bytes);
	mt_sample(t, "tern_memory_bytes", (const char *[]){"kind", "free", NULL}, st.free_bytes);
	mt_family(t, "tern_heap_bytes", "gauge", "Tern's own heap: its size and what is used");
	mt_sample(t, "tern_heap_bytes", (const char *[]){"kind", "size", NULL}, heap_size);
	mt_sample(t, "tern_heap_bytes", (const char *[]){"kind", "used", NULL}, heap_used);
	mt_family(t, "tern_uptime_seconds", "gauge", "Time since Tern's main loop started");
	mt_sample_micro(t, "tern_uptime_seconds", NULL, time_ms() * 1000);
}

static void guests(struct metrics_text *t)
{
	static const enum vm_state states[] = {VM_RUNNING, VM_PAUSED, VM_HALTED, VM_STOPPED,
					       VM_INCOMING};
	uint64_t n[sizeof(states) / sizeof(states[0])] = {0};

	for (int k = 0; k < VM_MAX; k++)
		if (vm_at(k))
			n[vm_at(k)->state]++;
	mt_family(t, "tern_guests", "gauge", "Guests on this host by state");
	for (unsigned i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		mt_sample(t, "tern_guests",
			  (const char *[]){"state", vm_state_name(states[i]), NULL}, n[i]);

	static const struct {
		const char *name, *type, *help;
	} per[] = {
		{"tern_guest_memory_bytes", "gauge", "A guest's RAM"},
		{"tern_guest_exits_total", "counter", "A guest's exits to Tern"},
		{"tern_guest_dirty_pages_total", "counter",
		 "Pages a guest (or its devices) wrote, as its dirty log found them (while a "
		 "migration or `vm dirty` logs)"},
		{"tern_guest_dirty_log", "gauge", "1 while a guest's writes are logged"},
	};
	for (unsigned f = 0; f < sizeof(per) / sizeof(per[0]); f++) {
		mt_family(t, per[f].name, per[f].type, per[f].help);
		for (int k = 0; k < VM_MAX; k++) {
			struct vm *vm = vm_at(k);
			if (!vm || vm->state == VM_INCOMING)
				continue;
			const char *l[] = {"guest", vm->name, NULL};
			uint64_t v = f == 0   ? vm->mem_bytes
				     : f == 1 ? vm->vcpu.exits
				     : f == 2 ? vm->dirty_pages_total
					      : vm->dirty != DIRTY_OFF;
			mt_sample(t, per[f].name, l, v);
		}
	}
}

static void migrations(struct metrics_text *t)
{
	static const char *const results[MIG_METRIC_RESULTS] = {"completed", "failed", "uncertain"};
	struct migrate_metrics m;

	migrate_metrics_get(&m);
	mt_family(t, "tern_migrations_total", "counter",
		  "Migrations that ended, by direction (out: from this host) and result");
	for (unsigned r = 0; r < MIG_METRIC_RESULTS; r++) {
		mt_sample(t, "tern_migrations_total",
			  (const char *[]){"direction", "out", "result", results[r], NULL},
			  m.out[r]);
		mt_sample(t, "tern_migrations_total",
			  (const char *[]){"direction", "in", "result", results[r], NULL}, m.in[r]);
	}
	mt_family(t, "tern_migrations_active", "gauge", "Migrations in progress, by direction");
	mt_sample(t, "tern_migrations_active", (const char *[]){"direction", "out", NULL},
		  m.active_out);
	mt_sample(t, "tern_migrations_active", (const char *[]){"direction", "in", NULL},
		  m.active_in);
	mt_family(t, "tern_migration_stream_bytes_total", "counter",
		  "Bytes of migration streams, sent (out) and received (in)");
	mt_sample(t, "tern_migration_stream_bytes_total",
		  (const char *[]){"direction", "out", NULL}, m.bytes_sent);
	mt_sample(t, "tern_migration_stream_bytes_total", (const char *[]){"direction", "in", NULL},
		  m.bytes_received);
	if (m.downtimes) {
		mt_family(t, "tern_migration_last_downtime_seconds", "gauge",
			  "Downtime of the last migration from this host that completed");
		mt_sample_micro(t, "tern_migration_last_downtime_seconds", NULL,
				m.last_downtime_us);
	}
}

size_t metrics_render(char *buf, size_t cap)
{
	struct metrics_text t;

	mt_init(&t, buf, cap);
	host(&t);
	guests(&t);
	migrations(&t);
	if (net_metrics)
		net_metrics(&t);
	return t.truncated ? 0 : t.len;
}
