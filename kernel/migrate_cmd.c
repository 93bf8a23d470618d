/* Live migration as the operator drives it: the `migrate` command and the
 * sessions behind it. One outgoing migration at a time and a few incoming
 * ones, each a state machine of migrate/ polled from the main loop, so the
 * console stays usable while a guest moves. The glue: VMs through
 * kernel/vm_migrate.c, the byte stream through net/mig_tcp.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernel/console/cmd.h"
#include "kernel/console/console.h"
#include "kernel/kprintf.h"
#include "kernel/log.h"
#include "kernel/migrate_cost.h"
#include "kernel/loop.h"
#include "kernel/metrics.h"
#include "kernel/mgmt_events.h"
#include "kernel/migrate_info.h"
#include "kernel/mm/frame.h"
#include "kernel/time.h"
#include "kernel/vm_api.h"
#include "kernel/vm_disk.h"
#include "kernel/vm_migrate.h"
#include "migrate/recv.h"
#include "migrate/send.h"
#include "migrate/stats.h"
#include "net/addr.h"
#include "net/lwip_port.h"
#include "net/mig_tcp.h"
#include "net/mig_tls.h"
#include "kernel/random.h"

/* True once net/ has lwIP running (net/net.c); weak so Tern links without it. */
bool net_up(void) __attribute__((weak, visibility("hidden")));

#define KEY_MAX 128
/* A shorter secret could be guessed offline from one recorded handshake. */
#define KEY_MIN 16
#define KEY_GENERATED 32 /* bytes; printed as 64 hex digits */
#define MAX_INCOMING 2
/* Plain connections to a TLS-only host get a REFUSE that says why, from
 * slots of their own: unauthenticated peers never hold a migration slot. */
#define MAX_REFUSING 2
#define SLOTS (MAX_INCOMING + MAX_REFUSING)
/* From the moment a connection is handed over (TLS done, or plain bytes
 * seen) until GUEST_CONFIG: a peer that idles here loses its slot. */
#define SLOT_DEADLINE_MS 10000

static uint8_t key[KEY_MAX];
static size_t key_len;
/* Plain (unencrypted) migrations in and out: off unless the operator
 * allows them (`migrate insecure on`). */
static bool insecure_ok;
static bool listening;
static uint16_t listen_port = MIG_DEFAULT_PORT;

static struct {
	struct mig_send *s;
	struct vm *vm;
	char name[VM_NAME_MAX];
	char peer[24];
	uint64_t started_ms;
	struct mig_cost_snap cost;
	/* From the summary, for MIGRATION_END. */
	bool downtime_known;
	uint64_t downtime_us, total_us, bytes;
} out;

static struct incoming {
	struct mig_recv *r;
	struct vm_incoming guest;
	uint64_t started_ms;
	struct mig_cost_snap cost;
	uint64_t total_us, bytes; /* from the summary, for MIGRATION_END */
} in[SLOTS];

static struct migrate_metrics counts; /* for /metrics */

static unsigned result_index(enum mig_result r)
{
	return r == MIG_DONE ? MIG_METRIC_COMPLETED
	       : r == MIG_UNCERTAIN ? MIG_METRIC_UNCERTAIN
				    : MIG_METRIC_FAILED;
}

void migrate_metrics_get(struct migrate_metrics *m)
{
	*m = counts;
	m->active_out = out.s != NULL;
	m->active_in = 0;
	for (int i = 0; i < MAX_INCOMING; i++)
		m->active_in += in[i].r != NULL;
}

int migrate_sessions(struct migrate_session *s, int max, struct migrate_listen *l)
{
	int n = 0;
	uint64_t now = time_ms();

	if (out.s && n < max) {
		memset(&s[n], 0, sizeof(s[n]));
		s[n].out = true;
		snprintf(s[n].name, sizeof(s[n].name), "%s", out.name);
		snprintf(s[n].peer, sizeof(s[n].peer), "%s", out.peer);
		s[n].elapsed_ms = now - out.started_ms;
		mig_send_status(out.s, &s[n].st);
		n++;
	}
	for (int i = 0; i < SLOTS && n < max; i++) {
		if (!in[i].r)
			continue;
		const char *name = mig_recv_name(in[i].r);
		memset(&s[n], 0, sizeof(s[n]));
		snprintf(s[n].name, sizeof(s[n].name), "%s", name ? name : "");
		s[n].elapsed_ms = now - in[i].started_ms;
		n++;
	}
	l->listening = listening;
	l->port = listen_port;
	l->key_set = key_len > 0;
	l->insecure = insecure_ok;
	return n;
}

/* ---- host services for migrate/ --------------------------------------------- */

static uint64_t host_now_us(void *ctx)
{
	(void)ctx;
	return time_us();
}

static int host_random(void *ctx, void *buf, size_t len)
{
	(void)ctx;
	return random_bytes(buf, len);
}

/* The delta cache in free page frames (identity-mapped), not the 32 MiB
 * heap that holds every connection's buffers. */
static void *host_alloc_big(void *ctx, size_t bytes)
{
	(void)ctx;
	return (void *)(uintptr_t)frame_alloc(bytes / FRAME_SIZE, 1);
}

static void host_free_big(void *ctx, void *p, size_t bytes)
{
	(void)ctx;
	frame_free((uint64_t)(uintptr_t)p, bytes / FRAME_SIZE);
}

static const struct mig_host host = {host_now_us, host_random, host_alloc_big, host_free_big,
				     NULL};

/* Progress and results arrive while the operator may be typing: each
 * starts on a line of its own and ends its line. */
static void print_block(const char *text)
{
	size_t n = strlen(text);

	console_break_line();
	kputs(text);
	if (n && text[n - 1] != '\n')
		kputs("\n");
}

/* ---- outgoing --------------------------------------------------------------------- */

static void on_round(void *ctx, const struct mig_round_row *row)
{
	char line[200];
	(void)ctx;
	mig_stats_row(row, line, sizeof(line));
	print_block(line);
	struct json_out *o = mgmt_event_begin("MIGRATION_ROUND");
	if (!o)
		return;
	jo_key(o, "name");
	jo_str(o, out.name);
	jo_key(o, "round");
	jo_u64(o, row->round);
	jo_key(o, "final");
	jo_raw(o, row->final ? "true" : "false");
	jo_key(o, "pages_sent");
	jo_u64(o, row->pages_sent);
	jo_key(o, "pages_zero");
	jo_u64(o, row->pages_zero);
	jo_key(o, "pages_dirtied");
	jo_u64(o, row->pages_dirtied);
	jo_key(o, "pages_left");
	jo_u64(o, row->pages_left);
	jo_key(o, "bytes");
	jo_u64(o, row->bytes);
	jo_key(o, "round_ms");
	jo_u64(o, row->elapsed_us / 1000);
	jo_key(o, "throttle_pct");
	jo_u64(o, row->throttle_pct);
	mgmt_event_end(o);
}

static void on_send_done(void *ctx, const struct mig_summary *sum)
{
	char text[1024];
	(void)ctx;
	counts.bytes_sent += sum->bytes;
	out.downtime_known = sum->result == MIG_DONE && sum->downtime_known;
	out.downtime_us = sum->downtime_src_us + sum->downtime_dst_us;
	out.total_us = sum->total_us;
	out.bytes = sum->bytes;
	if (sum->result == MIG_DONE && sum->downtime_known) {
		counts.last_downtime_us = sum->downtime_src_us + sum->downtime_dst_us;
		counts.downtimes++;
	}
	int n = mig_stats_summary(sum, text, sizeof(text));
	if (n > 0 && (size_t)n < sizeof(text))
		mig_cost_lines(&out.cost, text + n, sizeof(text) - (size_t)n);
	print_block(text);
}

static void finish_outgoing(void)
{
	enum mig_result res = mig_send_result(out.s);
	const char *why = mig_send_reason(out.s);

	counts.out[result_index(res)]++;
	if (res == MIG_DONE) {
		/* The source copy was freed by the destroy op. */
	} else {
		if (vm_find(out.name) == out.vm)
			out.vm->migrating = false;
		console_break_line();
		if (res == MIG_UNCERTAIN)
			cmd_error("migrate %s: hand-off unknown (%s); the guest stays paused here: check %s, "
				  "then 'vm resume %s' or 'vm destroy %s'",
				  out.name, why, out.peer, out.name, out.name);
		else if (vm_find(out.name) == out.vm && out.vm->state == VM_PAUSED)
			/* The operator had paused it: a failure leaves it so. */
			cmd_error("migrate %s: failed: %s; the guest stays paused here, as it was", out.name,
				  why);
		else
			cmd_error("migrate %s: failed: %s; the guest keeps running here", out.name, why);
	}
	migrate_ended(true, res, out.name, out.peer, why, out.total_us, out.bytes,
		      out.downtime_known ? out.downtime_us : UINT64_MAX);
	mig_send_free(out.s);
	out.s = NULL;
	out.vm = NULL;
}

struct migrate_opts {
	bool offline, insecure, auto_converge, delta;
	enum vm_copy_storage copy_storage; /* --copy-storage all|inc */
	unsigned long long downtime_ms, max_rounds, bandwidth, port, delta_cache_mib;
};

/* Unless told, QEMU's 64 MiB, but no more than a quarter of the host's
 * free memory: guests arriving or created meanwhile need the rest. */
static unsigned long long default_delta_cache_mib(void)
{
	struct frame_stats st;

	frame_get_stats(&st);
	uint64_t mib = st.free_bytes / 4 >> 20;
	return mib > MIG_DEFAULT_DELTA_CACHE_MIB ? MIG_DEFAULT_DELTA_CACHE_MIB : mib ? mib : 1;
}

static int parse_opts(int argc, char **argv, struct migrate_opts *o)
{
	*o = (struct migrate_opts){false, false, true, true, VM_COPY_NONE, MIG_DEFAULT_DOWNTIME_MS,
				   MIG_DEFAULT_MAX_ROUNDS, 0, MIG_DEFAULT_PORT, 0};
	for (int i = 3; i < argc; i++) {
		unsigned long long *v = NULL;
		if (!strcmp(argv[i], "--offline")) {
			o->offline = true;
			continue;
		}
		if (!strcmp(argv[i], "--insecure")) {
			o->insecure = true;
			continue;
		}
		if (!strcmp(argv[i], "--auto-converge")) {
			if (i + 1 == argc || cmd_parse_on_off(argv[i + 1], &o->auto_converge))
				return CMD_USAGE;
			i++;
			continue;
		}
		if (!strcmp(argv[i], "--delta")) {
			if (i + 1 == argc || cmd_parse_on_off(argv[i + 1], &o->delta))
				return CMD_USAGE;
			i++;
			continue;
		}
		if (!strcmp(argv[i], "--copy-storage")) {
			if (i + 1 == argc)
				return CMD_USAGE;
			if (!strcmp(argv[i + 1], "inc"))
				o->copy_storage = VM_COPY_INC;
			else if (!strcmp(argv[i + 1], "all"))
				o->copy_storage = VM_COPY_ALL;
			else
				return CMD_USAGE;
			i++;
			continue;
		}
		if (!strcmp(argv[i], "--downtime-ms"))
			v = &o->downtime_ms;
		else if (!strcmp(argv[i], "--max-rounds"))
			v = &o->max_rounds;
		else if (!strcmp(argv[i], "--bandwidth"))
			v = &o->bandwidth;
		else if (!strcmp(argv[i], "--port"))
			v = &o->port;
		else if (!strcmp(argv[i], "--delta-cache"))
			v = &o->delta_cache_mib;
		if (!v || i + 1 == argc || cmd_parse_u64(argv[i + 1], v))
			return CMD_USAGE;
		i++;
	}
	if (!o->downtime_ms || !o->max_rounds || o->max_rounds > 1000 || !o->port || o->port > 65535 ||
	    o->bandwidth > 1000000 || o->downtime_ms > 600000 || o->delta_cache_mib > 65536) {
		cmd_error("migrate: option out of range");
		return -EINVAL;
	}
	if (!o->delta_cache_mib)
		o->delta_cache_mib = default_delta_cache_mib();
	return 0;
}

static int start_outgoing(int argc, char **argv)
{
	struct migrate_opts o;
	uint32_t ip;
	struct mig_transport tp;
	struct mig_src_guest g;
	int rc;

	struct vm *vm = vm_find(argv[1]);
	if ((rc = parse_opts(argc, argv, &o)))
		return rc;
	/* The guest's disk is a volume of this host's NVMe: it moves only
	 * when asked to (libvirt's rule: no silent copy of a disk). */
	if (vm && vm->disk.on && !o.copy_storage) {
		cmd_error("migrate %s: it has a local disk (%s): add --copy-storage all to move "
			  "the disk with it",
			  vm->name, vm->disk.volume);
		return -EOPNOTSUPP;
	}
	/* inc sends what differs from a base the destination holds too: only
	 * a clone has one. */
	char base[32];
	uint8_t base_sha[32];
	if (vm && vm->disk.on && o.copy_storage == VM_COPY_INC &&
	    vm_disk_base(vm, base, sizeof(base), base_sha)) {
		cmd_error("migrate %s: --copy-storage inc sends what differs from the disk's base, "
			  "and disk %s is no clone ('disk clone'): use --copy-storage all",
			  vm->name, vm->disk.volume);
		return -EINVAL;
	}
	if (!net_up || !net_up()) {
		cmd_error("migrate: the network is not up (see 'net show')");
		return -ENETDOWN;
	}
	if (!vm) {
		cmd_error("migrate: no VM named '%s' (see 'vm list')", argv[1]);
		return -ENOENT;
	}
	if (addr_parse_ipv4(argv[2], &ip)) {
		cmd_error("migrate: '%s' is not an IPv4 address", argv[2]);
		return -EINVAL;
	}
	if (out.s) {
		cmd_error("migrate: %s is already being migrated ('migrate cancel' first)", out.name);
		return -EBUSY;
	}
	if (!key_len) {
		cmd_error("migrate: no key set: run 'migrate key SECRET' with the same secret on both hosts");
		return -EACCES;
	}
	if (vm->migrating || vm->state == VM_STOPPED || vm->state == VM_INCOMING) {
		cmd_error("migrate: %s is %s and cannot be migrated", vm->name,
			  vm->migrating ? "being migrated" : vm_state_name(vm->state));
		return -EINVAL;
	}
	if (o.insecure && !insecure_ok) {
		cmd_error("migrate: --insecure is not allowed on this host ('migrate insecure on' allows "
			  "it; the destination must allow it too)");
		return -EPERM;
	}
	if ((rc = mig_tcp_connect(ip, (uint16_t)o.port, o.insecure, &tp))) {
		cmd_error("migrate: cannot open a connection to %s: %s", argv[2], strerror(-rc));
		return rc;
	}
	struct mig_send_params p = {
		.key = key, .key_len = key_len, .offline = o.offline,
		.downtime_ms = (uint32_t)o.downtime_ms, .max_rounds = (uint32_t)o.max_rounds,
		.bandwidth_mbit = (uint32_t)o.bandwidth, .auto_converge = o.auto_converge,
		.delta_off = !o.delta, .delta_cache_mib = (uint32_t)o.delta_cache_mib,
		.authenticated = !o.insecure, /* TLS: every record is the destination's */
	};
	struct mig_send_events ev = {on_round, on_send_done, NULL};
	vm_migrate_src_ops(vm, o.copy_storage, &g);
	if ((rc = mig_send_start(&out.s, &p, &tp, &g, &host, &ev))) {
		tp.close(tp.ctx);
		cmd_error("migrate: cannot start: %s", strerror(-rc));
		return rc;
	}
	vm->migrating = true;
	out.vm = vm;
	snprintf(out.name, sizeof(out.name), "%s", vm->name);
	snprintf(out.peer, sizeof(out.peer), "%s:%llu", argv[2], o.port);
	out.started_ms = time_ms();
	out.downtime_known = false;
	out.total_us = out.bytes = 0;
	mig_cost_snap(&out.cost);
	char disk[120] = "";
	if (vm->disk.copy_inc)
		snprintf(disk, sizeof(disk), ", disk %s of %llu MiB: what differs from base %s",
			 vm->disk.volume,
			 (unsigned long long)(vm->disk.cfg.blocks * vm->disk.cfg.dev->block_size >> 20),
			 base);
	else if (vm->disk.copy)
		snprintf(disk, sizeof(disk), ", disk %s of %llu MiB copied", vm->disk.volume,
			 (unsigned long long)(vm->disk.cfg.blocks * vm->disk.cfg.dev->block_size >> 20));
	kprintf("migrate %s -> %s: started (%s, downtime target %llu ms, at most %llu rounds%s%s%s%s, %s)\n",
		vm->name, out.peer, o.offline ? "offline" : "live", o.downtime_ms, o.max_rounds,
		o.bandwidth ? ", bandwidth capped" : "",
		o.auto_converge || o.offline ? "" : ", auto-converge off",
		o.delta || o.offline ? "" : ", delta off", disk,
		o.insecure ? "INSECURE: plain TCP, not encrypted" : mig_tls_cipher_name());
	char hdr[200];
	mig_stats_header(hdr, sizeof(hdr), vm->disk.copy);
	kputs(hdr);
	struct json_out *started = mgmt_event_begin("MIGRATION_STARTED");
	if (started) {
		jo_key(started, "name");
		jo_str(started, out.name);
		jo_key(started, "peer");
		jo_str(started, out.peer);
		jo_key(started, "direction");
		jo_str(started, "out");
		mgmt_event_end(started);
	}
	return 0;
}

/* ---- incoming ----------------------------------------------------------------------- */

static void on_recv_done(void *ctx, const struct mig_incoming_summary *sum)
{
	struct incoming *x = ctx;
	char text[600];
	counts.bytes_received += sum->bytes;
	x->total_us = sum->total_us;
	x->bytes = sum->bytes;
	int n = mig_stats_incoming(sum, text, sizeof(text));
	if (sum->result == MIG_DONE && n > 0 && (size_t)n + 1 < sizeof(text)) {
		text[n++] = '\n';
		mig_cost_lines(&x->cost, text + n, sizeof(text) - (size_t)n);
	}
	print_block(text);
}

static int on_accept(void *ctx, const struct mig_transport *tp, const struct mig_tcp_peer *who)
{
	(void)ctx;
	const char *refuse = NULL;
	if (!who->tls && !insecure_ok) {
		refuse = "this host accepts only TLS migrations ('migrate insecure on' there allows plain ones)";
		log_err("migrate", "refused a plain (unencrypted) migration from %s: %s", who->addr,
			"this host requires TLS ('migrate insecure on' allows plain ones)");
	}
	for (int i = refuse ? MAX_INCOMING : 0; i < (refuse ? SLOTS : MAX_INCOMING); i++) {
		struct incoming *x = &in[i];
		if (x->r)
			continue;
		struct mig_dst_guest g;
		struct mig_recv_params p = {key, key_len, 0};
		struct mig_recv_events ev = {on_recv_done, x};
		vm_migrate_dst_ops(&x->guest, &g);
		/* With no key set, the machine still answers: it refuses the
		 * source's HELLO saying so, and the source prints why. */
		int rc = mig_recv_start(&x->r, &p, tp, &g, &host, &ev);
		if (rc) {
			log_warn("migrate", "incoming connection dropped: %s", strerror(-rc));
			return rc;
		}
		if (refuse)
			mig_recv_refuse(x->r, refuse);
		x->started_ms = time_ms();
		x->total_us = x->bytes = 0;
		mig_cost_snap(&x->cost);
		log_info("migrate", "incoming migration connection from %s (%s)", who->addr,
			 who->tls ? "TLS" : "plain TCP, not encrypted");
		return 0;
	}
	if (refuse)
		log_warn("migrate", "dropped a plain connection from %s: %d others being refused", who->addr,
			 MAX_REFUSING);
	else
		log_warn("migrate", "incoming connection refused: %d migrations already in progress",
			 MAX_INCOMING);
	return -EBUSY;
}

static void finish_incoming(struct incoming *x)
{
	enum mig_result res = mig_recv_result(x->r);
	const char *name = mig_recv_name(x->r);

	counts.in[result_index(res)]++;
	if (res == MIG_DONE) {
		if (x->guest.vm && x->guest.vm->state == VM_PAUSED)
			kprintf("incoming %s: paused, as it was on the source; 'vm resume %s' runs it\n",
				name, name);
	} else {
		console_break_line();
		cmd_error("incoming migration%s%s failed: %s; nothing was kept", name && *name ? " of " : "",
			  name ? name : "", mig_recv_reason(x->r));
	}
	migrate_ended(false, res, name, NULL, mig_recv_reason(x->r), x->total_us, x->bytes,
		      UINT64_MAX);
	mig_recv_free(x->r);
	x->r = NULL;
}

/* ---- the main-loop poll ------------------------------------------------------------- */

static bool migrate_poll(void)
{
	bool busy = false;

	if (out.s) {
		busy = true;
		if (mig_send_poll(out.s) <= 0)
			finish_outgoing();
	}
	for (int i = 0; i < SLOTS; i++) {
		if (!in[i].r)
			continue;
		busy = true;
		const char *name = mig_recv_name(in[i].r);
		if ((!name || !*name) && time_ms() - in[i].started_ms > SLOT_DEADLINE_MS)
			mig_recv_cancel(in[i].r, "no guest config within 10 s of connecting");
		if (mig_recv_poll(in[i].r) <= 0)
			finish_incoming(&in[i]);
	}
	return busy;
}

/* ---- console ------------------------------------------------------------------------ */

static int do_status(void)
{
	bool any = false;

	if (out.s) {
		struct mig_send_status st;
		mig_send_status(out.s, &st);
		/* With copy-storage the disk's blocks follow the pages: the
		 * share and what is left count both. */
		bool disk = vm_find(out.name) == out.vm && out.vm->disk.copy;
		kprintf("out %s -> %s: phase %s, round %u, %u%% of memory%s sent, %lu %s left, "
			"%lu.%lu Mbit/s, %lu ms elapsed",
			out.name, out.peer, st.phase, st.round, st.percent_sent,
			disk ? " and disk" : "", st.pages_left, disk ? "pages and blocks" : "pages",
			st.rate_mbit_x10 / 10, st.rate_mbit_x10 % 10, st.elapsed_us / 1000);
		if (st.expected_downtime_us != UINT64_MAX)
			kprintf(", expected downtime %lu ms", st.expected_downtime_us / 1000);
		kputs("\n");
		any = true;
	}
	for (int i = 0; i < SLOTS; i++) {
		if (!in[i].r)
			continue;
		const char *name = mig_recv_name(in[i].r);
		kprintf("in  %s: receiving for %lu ms\n", name && *name ? name : "(pre-check)",
			time_ms() - in[i].started_ms);
		any = true;
	}
	if (!any)
		kputs("no migration in progress\n");
	kprintf("incoming: %s", listening ? "listening" : "off");
	if (listening)
		kprintf(" on TCP port %u", listen_port);
	kprintf(", key %s, %s", key_len ? "set" : "not set",
		insecure_ok ? "plain TCP allowed (insecure on)" : "TLS only");
	if (mig_tcp_pending())
		kprintf(", %u connection(s) in handshake", mig_tcp_pending());
	kputs("\n");
	return 0;
}

static int do_cancel(int argc, char **argv)
{
	bool any = false;
	const char *name = argc == 3 ? argv[2] : NULL;

	if (out.s && (!name || !strcmp(name, out.name))) {
		int rc = mig_send_cancel(out.s, "by the operator");
		if (rc == -EBUSY) {
			cmd_error("migrate cancel: %s is already being handed off; too late to cancel", out.name);
			return rc;
		}
		kprintf("migrate %s: cancelling\n", out.name);
		any = true;
	}
	for (int i = 0; i < SLOTS; i++) {
		const char *n = in[i].r ? mig_recv_name(in[i].r) : NULL;
		if (in[i].r && (!name || (n && !strcmp(n, name)))) {
			mig_recv_cancel(in[i].r, "by the operator on the destination");
			kprintf("incoming %s: cancelling\n", n && *n ? n : "migration");
			any = true;
		}
	}
	if (!any) {
		cmd_error("migrate cancel: no migration%s%s in progress", name ? " of " : "", name ? name : "");
		return -ENOENT;
	}
	return 0;
}

static int set_listen(bool on, uint16_t port)
{
	if (on && (!net_up || !net_up()))
		return -ENETDOWN;
	if (!on) {
		mig_tcp_unlisten();
		listening = false;
		return 0;
	}
	int rc = mig_tcp_listen(port, on_accept, NULL);
	if (rc)
		return rc;
	listening = true;
	listen_port = port;
	return 0;
}

static int set_key(const uint8_t *k, size_t n)
{
	int rc = mig_tls_set_key(k, n);
	if (rc) {
		cmd_error("migrate key: cannot derive the TLS key: %s", strerror(-rc));
		return rc;
	}
	memcpy(key, k, n);
	key_len = n;
	return 0;
}

static int do_key(const char *arg)
{
	if (!strcmp(arg, "--generate")) {
		uint8_t raw[KEY_GENERATED];
		char hex[2 * KEY_GENERATED + 1];
		int rc = random_bytes(raw, sizeof(raw));
		if (rc) {
			cmd_error("migrate key: no random bytes: %s", strerror(-rc));
			return rc;
		}
		for (size_t i = 0; i < sizeof(raw); i++)
			snprintf(hex + 2 * i, 3, "%02x", raw[i]);
		/* The hex text is the key, so it can be typed on the other host. */
		if ((rc = set_key((const uint8_t *)hex, strlen(hex))))
			return rc;
		kprintf("migration key set: %s\n(run 'migrate key %s' on the other host)\n", hex, hex);
		return 0;
	}
	size_t n = strlen(arg);
	if (n < KEY_MIN || n > KEY_MAX) {
		cmd_error("migrate key: the secret must be %d to %d characters (try 'migrate key --generate')",
			  KEY_MIN, KEY_MAX);
		return -EINVAL;
	}
	int rc = set_key((const uint8_t *)arg, n);
	if (!rc)
		kputs("migration key set\n");
	return rc;
}

static int cmd_migrate(int argc, char **argv)
{
	if (argc < 2)
		return CMD_USAGE;
	if (!strcmp(argv[1], "status") && argc == 2)
		return do_status();
	if (!strcmp(argv[1], "cancel") && argc <= 3)
		return do_cancel(argc, argv);
	if (!strcmp(argv[1], "history") && argc == 2)
		return migrate_history_print();
	if (!strcmp(argv[1], "key") && argc == 3)
		return do_key(argv[2]);
	if (!strcmp(argv[1], "insecure") && argc == 3) {
		bool on;
		if (cmd_parse_on_off(argv[2], &on))
			return CMD_USAGE;
		insecure_ok = on;
		kprintf("plain (unencrypted) migrations: %s\n", on ? "allowed, both ways" : "refused");
		return 0;
	}
	if (!strcmp(argv[1], "listen") && (argc == 3 || argc == 4)) {
		unsigned long long port = listen_port;
		bool on;
		if (cmd_parse_on_off(argv[2], &on) || (argc == 4 && (cmd_parse_u64(argv[3], &port) ||
								       !port || port > 65535)))
			return CMD_USAGE;
		int rc = set_listen(on, (uint16_t)port);
		if (rc) {
			cmd_error("migrate listen: cannot listen on TCP port %llu: %s", port, strerror(-rc));
			return rc;
		}
		kprintf("incoming migrations: %s\n", on ? "listening" : "off");
		return 0;
	}
	if (argc < 3 || argv[1][0] == '-')
		return CMD_USAGE;
	return start_outgoing(argc, argv);
}

static const struct cmd migrate_cmd = {
	.name = "migrate",
	.summary = "live-migrate a guest to another Tern host (TLS); status, cancel, history, key, insecure, listen",
	.usage = "migrate NAME HOST [--offline] [--downtime-ms N] [--max-rounds N] [--bandwidth MBIT] "
		 "[--auto-converge on|off] [--delta on|off] [--delta-cache MIB] "
		 "[--copy-storage all|inc] [--port P] [--insecure]\n"
		 "migrate status | migrate cancel [NAME] | migrate history\n"
		 "migrate key SECRET|--generate  (the same on both hosts, 16-128 characters)\n"
		 "migrate listen on|off [PORT]  (incoming; on by default, TCP port 7000)\n"
		 "migrate insecure on|off       (allow plain-TCP migrations, in and out; off by default)",
	.run = cmd_migrate,
};

void migrate_init(void)
{
	cmd_register(&migrate_cmd);
	loop_add("migrate", migrate_poll);
	if (!net_up || !net_up()) {
		log_warn("migrate", "no network: incoming migrations are off");
		return;
	}
	int rc = set_listen(true, MIG_DEFAULT_PORT);
	if (rc)
		log_warn("migrate", "not listening for incoming migrations: %s", strerror(-rc));
}
