/* The management API's commands (docs/mgmt-api.md "Commands"). Those that
 * change state, or show what the console shows, run the console command of
 * the same meaning with its output captured (kernel/kprintf.h): one
 * implementation of every check and every error text, whether the operator
 * types it or a script sends it. The API builds the command's words itself
 * from typed JSON members, so no client text is ever tokenized: a value
 * cannot smuggle in a second option. The rest (lists, status) is read from
 * the subsystems and written as JSON. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernel/console/cmd.h"
#include "kernel/kprintf.h"
#include "kernel/log.h"
#include "kernel/metrics.h"
#include "kernel/mgmt_api.h"
#include "kernel/mgmt_api_int.h"
#include "kernel/migrate_info.h"
#include "kernel/mm/frame.h"
#include "kernel/mm/heap.h"
#include "kernel/vm.h"
#include "kernel/vm_api.h"
#include "kernel/vm_dirty.h"
#include "migrate/stats.h"
#include "net/mgmt_tcp.h"
#include "net/net.h"
#include "lwip/netif.h"

#define TAG "mgmt"
#define WORDS 40
#define ARENA 8192
#define CAPTURE 12288
#define LOG_LINES_MAX 1000

/* The words of the console command being built. */
static struct {
	char *argv[WORDS];
	int argc;
	char arena[ARENA];
	size_t used;
	bool full;
} w;
static char captured[CAPTURE];

static void words_reset(void)
{
	w.argc = 0;
	w.used = 0;
	w.full = false;
}

static void word(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void word(const char *fmt, ...)
{
	va_list ap;
	if (w.full || w.argc == WORDS) {
		w.full = true;
		return;
	}
	va_start(ap, fmt);
	int n = vsnprintf(w.arena + w.used, ARENA - w.used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= ARENA - w.used) {
		w.full = true;
		return;
	}
	w.argv[w.argc++] = w.arena + w.used;
	w.used += (size_t)n + 1;
}

static const char *error_class(int rc)
{
	switch (rc) {
	case -ENOENT:
		return "NotFound";
	case -EBUSY:
	case -EALREADY:
		return "Busy";
	case -EINVAL:
	case -E2BIG:
	case -ERANGE:
		return "InvalidParameter";
	case -ENOMEM:
	case -ENOSPC:
	case -EEXIST:
	case -EACCES:
	case -EPERM:
	case -EOPNOTSUPP:
	case -ENETDOWN:
	case -ECONNREFUSED:
		return "Refused";
	default:
		return "GenericError";
	}
}

/* The first "error: " line of the capture, without the prefix and the
 * newline, into out. */
static void error_line(char *out, size_t cap, const char *fallback)
{
	const char *e = strstr(captured, "error: ");
	if (!e) {
		snprintf(out, cap, "%s", fallback);
		return;
	}
	e += 7;
	size_t n = strcspn(e, "\r\n");
	if (n >= cap)
		n = cap - 1;
	memcpy(out, e, n);
	out[n] = 0;
}

/* Runs the words as the console would, output captured. 0, or the
 * command's error (sent to the client). */
static int run_words(const struct mgmt_req *r)
{
	char line[256];
	size_t at = 0;
	struct kcapture cap;

	if (w.full) {
		mgmt_fail(r, "TooLarge", "the arguments are too long");
		return -E2BIG;
	}
	const struct cmd *cmd = cmd_find(w.argv[0]);
	if (!cmd) {
		mgmt_fail(r, "CommandNotFound", "'%s' is not in this build", w.argv[0]);
		return -ENOENT;
	}
	for (int i = 0; i < w.argc && at < sizeof(line); i++)
		at += (size_t)snprintf(line + at, sizeof(line) - at, "%s%s", i ? " " : "", w.argv[i]);
	log_info(TAG, "%s ran: %s", mgmt_conn_peer(r->c), line);
	w.argv[w.argc] = NULL;
	kcapture_begin(&cap, captured, sizeof(captured));
	int rc = cmd->run(w.argc, w.argv);
	kcapture_end();
	if (rc) {
		char desc[400], usage[300];
		/* A usage error prints no line of its own: name what it takes. */
		snprintf(usage, sizeof(usage), "the arguments do not fit: %.*s",
			 (int)strcspn(cmd->usage, "\n"), cmd->usage);
		error_line(desc, sizeof(desc), rc == CMD_USAGE ? usage : strerror(-rc));
		mgmt_fail(r, error_class(rc), "%s", desc);
	}
	return rc;
}

/* ---- typed arguments into words ----------------------------------------------------- */

static int arg(const struct mgmt_req *r, const char *name)
{
	return r->args < 0 ? -1 : json_obj_get(r->text, r->toks, r->args, name);
}

/* A string member without control characters into out; 1 if present, 0
 * if absent, -1 after sending the error. */
static int arg_str(const struct mgmt_req *r, const char *name, char *out, size_t cap)
{
	int i = arg(r, name);
	if (i < 0)
		return 0;
	if (json_str(r->text, r->toks, i, out, cap) < 0) {
		mgmt_fail(r, "InvalidParameter", "'%s' must be a string of at most %u bytes", name,
			  (unsigned)cap - 1);
		return -1;
	}
	for (const char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			mgmt_fail(r, "InvalidParameter", "'%s' holds a control character", name);
			return -1;
		}
	return 1;
}

static int arg_u64(const struct mgmt_req *r, const char *name, uint64_t *v)
{
	int i = arg(r, name);
	if (i < 0)
		return 0;
	if (json_u64(r->text, r->toks, i, v)) {
		mgmt_fail(r, "InvalidParameter", "'%s' must be a non-negative integer", name);
		return -1;
	}
	return 1;
}

static int arg_bool(const struct mgmt_req *r, const char *name, bool *v)
{
	int i = arg(r, name);
	if (i < 0)
		return 0;
	if (json_bool(r->toks, i, v)) {
		mgmt_fail(r, "InvalidParameter", "'%s' must be true or false", name);
		return -1;
	}
	return 1;
}

/* The required string `name` as a word; false after sending the error. */
static bool need_name(const struct mgmt_req *r, const char *what)
{
	char v[VM_NAME_MAX + 8];
	int k = arg_str(r, what, v, sizeof(v));
	if (k < 0)
		return false;
	if (!k || !*v) {
		mgmt_fail(r, "InvalidParameter", "'%s' is missing", what);
		return false;
	}
	word("%s", v);
	return true;
}

static void reply_empty(const struct mgmt_req *r)
{
	struct json_out *o = mgmt_begin();
	jo_obj_begin(o);
	jo_obj_end(o);
	mgmt_done(r, o);
}

/* The captured output as {"lines": [...]}. */
static void reply_lines(const struct mgmt_req *r)
{
	struct json_out *o = mgmt_begin();
	jo_obj_begin(o);
	jo_key(o, "lines");
	jo_arr_begin(o);
	for (char *p = captured; *p;) {
		size_t n = strcspn(p, "\n");
		char keep = p[n];
		p[n] = 0;
		size_t m = n;
		if (m && p[m - 1] == '\r')
			p[--m] = 0;
		jo_str(o, p);
		p += n + (keep ? 1 : 0);
		if (!keep)
			break;
	}
	jo_arr_end(o);
	jo_key(o, "truncated");
	jo_raw(o, strlen(captured) + 1 >= sizeof(captured) ? "true" : "false");
	jo_obj_end(o);
	mgmt_done(r, o);
}

/* ---- the commands ------------------------------------------------------------------- */

static const char *const no_args[] = {NULL};
static const char *const name_only[] = {"name", NULL};

static void query_version(const struct mgmt_req *r)
{
	struct json_out *o = mgmt_begin();
	jo_obj_begin(o);
	jo_key(o, "api");
	jo_u64(o, MGMT_API_VERSION);
	jo_key(o, "version");
	jo_str(o, "tern");
	jo_obj_end(o);
	mgmt_done(r, o);
}

static void query_host(const struct mgmt_req *r)
{
	struct frame_stats st;
	struct migrate_metrics m;
	char ip[16] = "0.0.0.0";
	unsigned guests = 0;

	frame_get_stats(&st);
	migrate_metrics_get(&m);
	for (int k = 0; k < VM_MAX; k++)
		guests += vm_at(k) != NULL;
	struct host_netif *h = net_host();
	if (h)
		snprintf(ip, sizeof(ip), "%s", ip4addr_ntoa(netif_ip4_addr(&h->netif)));
	struct json_out *o = mgmt_begin();
	jo_obj_begin(o);
	jo_key(o, "ip");
	jo_str(o, ip);
	jo_key(o, "backend");
	jo_str(o, vm_backend());
	jo_key(o, "memory");
	jo_obj_begin(o);
	jo_key(o, "total");
	jo_u64(o, st.ram_bytes);
	jo_key(o, "free");
	jo_u64(o, st.free_bytes);
	jo_obj_end(o);
	jo_key(o, "guests");
	jo_u64(o, guests);
	jo_key(o, "migrations_active");
	jo_u64(o, m.active_out + m.active_in);
	jo_obj_end(o);
	mgmt_done(r, o);
}

static void api_vm_list(const struct mgmt_req *r)
{
	struct json_out *o = mgmt_begin();
	jo_arr_begin(o);
	for (int k = 0; k < VM_MAX; k++) {
		struct vm *vm = vm_at(k);
		char mac[18], ip[16];
		if (!vm)
			continue;
		const uint8_t *a = (const uint8_t *)&vm->ip;
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", vm->mac[0], vm->mac[1],
			 vm->mac[2], vm->mac[3], vm->mac[4], vm->mac[5]);
		snprintf(ip, sizeof(ip), "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
		jo_obj_begin(o);
		jo_key(o, "name");
		jo_str(o, vm->name);
		jo_key(o, "state");
		jo_str(o, vm_state_name(vm->state));
		jo_key(o, "memory");
		jo_u64(o, vm->mem_bytes);
		jo_key(o, "exits");
		jo_u64(o, vm->vcpu.exits);
		jo_key(o, "dirty");
		jo_str(o, vm_dirty_name(vm->dirty));
		jo_key(o, "mac");
		jo_str(o, mac);
		jo_key(o, "ip");
		if (vm->ip)
			jo_str(o, ip);
		else
			jo_raw(o, "null");
		jo_key(o, "migrating");
		jo_raw(o, vm->migrating ? "true" : "false");
		jo_obj_end(o);
	}
	jo_arr_end(o);
	mgmt_done(r, o);
}

static const char *const create_args[] = {
	"name",	 "memory", "image",	"kernel",      "initrd",   "args",   "mac", "ip",
	"disk",	 "cpu",	   "on_reboot", "on_poweroff", "on_crash", "paused", NULL};

static void api_vm_create(const struct mgmt_req *r)
{
	/* Console options that are name=value strings, in the API's names. */
	static const char *const strs[] = {"image", "kernel",	 "initrd",	"args",	   "mac",
					   "ip",    "disk",	 "cpu",		"on_reboot", "on_poweroff",
					   "on_crash", NULL};
	static char v[4096];
	uint64_t mib;
	bool paused = false;
	char name[VM_NAME_MAX + 8];

	words_reset();
	word("vm");
	word("create");
	if (!need_name(r, "name"))
		return;
	snprintf(name, sizeof(name), "%s", w.argv[2]);
	int k = arg_u64(r, "memory", &mib);
	if (k < 0)
		return;
	if (!k) {
		mgmt_fail(r, "InvalidParameter", "'memory' (MiB) is missing");
		return;
	}
	word("mem=%llu", (unsigned long long)mib);
	for (const char *const *s = strs; *s; s++) {
		if ((k = arg_str(r, *s, v, sizeof(v))) < 0)
			return;
		if (k)
			word("%s=%s", *s, v);
	}
	if (arg_bool(r, "paused", &paused) < 0)
		return;
	if (paused)
		word("--paused");
	if (run_words(r))
		return;
	struct vm *vm = vm_find(name);
	struct json_out *o = mgmt_begin();
	jo_obj_begin(o);
	jo_key(o, "name");
	jo_str(o, name);
	jo_key(o, "state");
	jo_str(o, vm ? vm_state_name(vm->state) : "gone");
	jo_obj_end(o);
	mgmt_done(r, o);
}

static void vm_simple(const struct mgmt_req *r, const char *sub)
{
	words_reset();
	word("vm");
	word("%s", sub);
	if (need_name(r, "name") && !run_words(r))
		reply_empty(r);
}

static void vm_pause(const struct mgmt_req *r)
{
	vm_simple(r, "pause");
}

static void vm_resume(const struct mgmt_req *r)
{
	vm_simple(r, "resume");
}

static void api_vm_destroy(const struct mgmt_req *r)
{
	vm_simple(r, "destroy");
}

static const char *const migrate_args[] = {
	"name",	      "host",	    "port",	     "insecure",      "offline",
	"downtime_ms", "max_rounds", "bandwidth_mbit", "auto_converge", "delta",
	"delta_cache_mib", "copy_storage", NULL};

static void migrate(const struct mgmt_req *r)
{
	static const struct {
		const char *arg, *opt;
	} nums[] = {{"port", "--port"},
		    {"downtime_ms", "--downtime-ms"},
		    {"max_rounds", "--max-rounds"},
		    {"bandwidth_mbit", "--bandwidth"},
		    {"delta_cache_mib", "--delta-cache"}},
	  flags[] = {{"insecure", "--insecure"}, {"offline", "--offline"}},
	  on_off[] = {{"auto_converge", "--auto-converge"}, {"delta", "--delta"}};
	char v[64];
	uint64_t n;
	bool b;
	int k;

	words_reset();
	word("migrate");
	if (!need_name(r, "name") || !need_name(r, "host"))
		return;
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if ((k = arg_u64(r, nums[i].arg, &n)) < 0)
			return;
		if (k) {
			word("%s", nums[i].opt);
			word("%llu", (unsigned long long)n);
		}
	}
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if ((k = arg_bool(r, flags[i].arg, &b)) < 0)
			return;
		if (k && b)
			word("%s", flags[i].opt);
	}
	for (size_t i = 0; i < sizeof(on_off) / sizeof(on_off[0]); i++) {
		if ((k = arg_bool(r, on_off[i].arg, &b)) < 0)
			return;
		if (k) {
			word("%s", on_off[i].opt);
			word("%s", b ? "on" : "off");
		}
	}
	if ((k = arg_str(r, "copy_storage", v, sizeof(v))) < 0)
		return;
	if (k && strcmp(v, "all") && strcmp(v, "inc")) {
		mgmt_fail(r, "InvalidParameter", "'copy_storage' must be \"all\" or \"inc\"");
		return;
	}
	if (k) {
		word("--copy-storage");
		word("%s", v);
	}
	if (!run_words(r))
		reply_empty(r);
}

static void migrate_cancel(const struct mgmt_req *r)
{
	words_reset();
	word("migrate");
	word("cancel");
	if (arg(r, "name") >= 0 && !need_name(r, "name"))
		return;
	if (!run_words(r))
		reply_empty(r);
}

static void migrate_status(const struct mgmt_req *r)
{
	struct migrate_session s[4];
	struct migrate_listen l;
	int n = migrate_sessions(s, 4, &l);
	struct json_out *o = mgmt_begin();

	jo_obj_begin(o);
	jo_key(o, "migrations");
	jo_arr_begin(o);
	for (int i = 0; i < n; i++) {
		jo_obj_begin(o);
		jo_key(o, "direction");
		jo_str(o, s[i].out ? "out" : "in");
		jo_key(o, "name");
		if (s[i].name[0])
			jo_str(o, s[i].name);
		else
			jo_raw(o, "null");
		jo_key(o, "elapsed_ms");
		jo_u64(o, s[i].elapsed_ms);
		if (s[i].out) {
			jo_key(o, "peer");
			jo_str(o, s[i].peer);
			jo_key(o, "phase");
			jo_str(o, s[i].st.phase);
			jo_key(o, "round");
			jo_u64(o, s[i].st.round);
			jo_key(o, "percent_sent");
			jo_u64(o, s[i].st.percent_sent);
			jo_key(o, "pages_left");
			jo_u64(o, s[i].st.pages_left);
			jo_key(o, "rate_mbit");
			jo_u64(o, s[i].st.rate_mbit_x10 / 10);
			jo_key(o, "expected_downtime_ms");
			if (s[i].st.expected_downtime_us == UINT64_MAX)
				jo_raw(o, "null");
			else
				jo_u64(o, s[i].st.expected_downtime_us / 1000);
		}
		jo_obj_end(o);
	}
	jo_arr_end(o);
	jo_key(o, "incoming");
	jo_obj_begin(o);
	jo_key(o, "listening");
	jo_raw(o, l.listening ? "true" : "false");
	jo_key(o, "port");
	jo_u64(o, l.port);
	jo_key(o, "key_set");
	jo_raw(o, l.key_set ? "true" : "false");
	jo_key(o, "insecure");
	jo_raw(o, l.insecure ? "true" : "false");
	jo_obj_end(o);
	jo_obj_end(o);
	mgmt_done(r, o);
}

static void migrate_history(const struct mgmt_req *r)
{
	struct migrate_ended h[MIGRATE_HISTORY];
	int n = migrate_history_get(h, MIGRATE_HISTORY);
	struct json_out *o = mgmt_begin();

	jo_arr_begin(o);
	for (int i = 0; i < n; i++) {
		jo_obj_begin(o);
		jo_key(o, "uptime_ms");
		jo_u64(o, h[i].when_ms);
		jo_key(o, "direction");
		jo_str(o, h[i].out ? "out" : "in");
		jo_key(o, "name");
		jo_str(o, h[i].name);
		jo_key(o, "peer");
		if (h[i].out)
			jo_str(o, h[i].peer);
		else
			jo_raw(o, "null");
		jo_key(o, "result");
		jo_str(o, mig_stats_result_name(h[i].result));
		jo_key(o, "reason");
		if (h[i].reason[0])
			jo_str(o, h[i].reason);
		else
			jo_raw(o, "null");
		jo_obj_end(o);
	}
	jo_arr_end(o);
	mgmt_done(r, o);
}

static void net_show(const struct mgmt_req *r)
{
	words_reset();
	word("net");
	word("show");
	if (!run_words(r))
		reply_lines(r);
}

static void mem(const struct mgmt_req *r)
{
	struct frame_stats st;
	uint64_t heap_size, heap_used;

	frame_get_stats(&st);
	heap_stats(&heap_size, &heap_used);
	struct json_out *o = mgmt_begin();
	jo_obj_begin(o);
	jo_key(o, "total");
	jo_u64(o, st.ram_bytes);
	jo_key(o, "free");
	jo_u64(o, st.free_bytes);
	jo_key(o, "heap_size");
	jo_u64(o, heap_size);
	jo_key(o, "heap_used");
	jo_u64(o, heap_used);
	jo_obj_end(o);
	mgmt_done(r, o);
}

static void log_lines(const struct mgmt_req *r)
{
	uint64_t n = 100;
	if (arg_u64(r, "lines", &n) < 0)
		return;
	if (n < 1 || n > LOG_LINES_MAX) {
		mgmt_fail(r, "InvalidParameter", "'lines' must be 1 to %d", LOG_LINES_MAX);
		return;
	}
	words_reset();
	word("log");
	word("%llu", (unsigned long long)n);
	if (!run_words(r))
		reply_lines(r);
}

static const char *const log_args[] = {"lines", NULL};

static const struct mgmt_command commands[] = {
	{"query-version", no_args, query_version},
	{"query-host", no_args, query_host},
	{"vm-list", no_args, api_vm_list},
	{"vm-create", create_args, api_vm_create},
	{"vm-pause", name_only, vm_pause},
	{"vm-resume", name_only, vm_resume},
	{"vm-destroy", name_only, api_vm_destroy},
	{"migrate", migrate_args, migrate},
	{"migrate-status", no_args, migrate_status},
	{"migrate-cancel", name_only, migrate_cancel},
	{"migrate-history", no_args, migrate_history},
	{"net-show", no_args, net_show},
	{"mem", no_args, mem},
	{"log", log_args, log_lines},
};

const struct mgmt_command *mgmt_command_find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}
