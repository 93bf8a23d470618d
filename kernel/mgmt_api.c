/* The management API's protocol (docs/mgmt-api.md) over net/mgmt_tcp.c's
 * connections: the greeting, mutual authentication by the management key,
 * then one JSON request per line, one reply line each. Requests are parsed
 * strictly (mgmt/json.h); anything that is not a JSON object ends the
 * connection after a ParseError line, since a client that broke the framing
 * once cannot be trusted to find the next line. Commands run in the main
 * loop, like console commands, and change nothing before their checks pass. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernel/console/cmd.h"
#include "kernel/log.h"
#include "kernel/metrics.h"
#include "kernel/mgmt_api.h"
#include "kernel/mm/frame.h"
#include "kernel/random.h"
#include "kernel/vm.h"
#include "kernel/vm_api.h"
#include "kernel/vm_dirty.h"
#include "lwip/netif.h"
#include "mgmt/json.h"
#include "net/mgmt_tcp.h"
#include "net/mgmt_tls.h"
#include "net/net.h"
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#define TAG "mgmt"
#define NONCE_LEN 32
#define MAX_TOKS 512
#define MAX_DEPTH 16
#define REPLY_MAX 16384
#define ID_MAX 256

struct session {
	bool authed;
	uint8_t nonce[NONCE_LEN]; /* ours, in the greeting */
};

static char key[MGMT_KEY_MAX + 1];
static size_t key_len;
static struct json_tok toks[MAX_TOKS];
static char reply[REPLY_MAX];

int mgmt_api_set_key(const char *k)
{
	size_t n = strlen(k);
	if (n < MGMT_KEY_MIN || n > MGMT_KEY_MAX)
		return -EINVAL;
	memcpy(key, k, n + 1);
	key_len = n;
	return 0;
}

bool mgmt_api_has_key(void)
{
	return key_len > 0;
}

static void hex(char *out, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* HMAC-SHA256(key, label || Ns || Nc || H), H the certificate's hash. */
static int proof(const char *label, const uint8_t *ns, const uint8_t *nc, uint8_t out[32])
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	mbedtls_md_context_t ctx;
	int ret;

	mbedtls_md_init(&ctx);
	if (!(ret = mbedtls_md_setup(&ctx, md, 1)) &&
	    !(ret = mbedtls_md_hmac_starts(&ctx, (const unsigned char *)key, key_len)) &&
	    !(ret = mbedtls_md_hmac_update(&ctx, (const unsigned char *)label, strlen(label))) &&
	    !(ret = mbedtls_md_hmac_update(&ctx, ns, NONCE_LEN)) &&
	    !(ret = mbedtls_md_hmac_update(&ctx, nc, NONCE_LEN)) &&
	    !(ret = mbedtls_md_hmac_update(&ctx, mgmt_tls_cert_hash(), 32)))
		ret = mbedtls_md_hmac_finish(&ctx, out);
	mbedtls_md_free(&ctx);
	return ret ? -EIO : 0;
}

static bool same(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint8_t d = 0;
	for (size_t i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return !d;
}

static void send_out(struct mgmt_conn *c, struct json_out *o)
{
	static const char too_large[] =
		"{\"error\": {\"class\": \"GenericError\", \"desc\": \"reply too large\"}}\n";

	jo_nl(o);
	/* Cannot happen with today's commands; never send half a line. */
	if (o->overflow)
		mgmt_conn_send(c, too_large, sizeof(too_large) - 1);
	else
		mgmt_conn_send(c, o->buf, o->len);
}

/* {"error": {...}, "id": ...}; id is the request's raw text or NULL. */
static void fail(struct mgmt_conn *c, const char *id, const char *class, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fail(struct mgmt_conn *c, const char *id, const char *class, const char *fmt, ...)
{
	char desc[256];
	struct json_out o;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	jo_init(&o, reply, sizeof(reply));
	jo_obj_begin(&o);
	jo_key(&o, "error");
	jo_obj_begin(&o);
	jo_key(&o, "class");
	jo_str(&o, class);
	jo_key(&o, "desc");
	jo_str(&o, desc);
	jo_obj_end(&o);
	if (id) {
		jo_key(&o, "id");
		jo_raw(&o, id);
	}
	jo_obj_end(&o);
	send_out(c, &o);
}

/* Starts {"return": ; the command writes its value; done() closes it. */
static void begin(struct json_out *o)
{
	jo_init(o, reply, sizeof(reply));
	jo_obj_begin(o);
	jo_key(o, "return");
}

static void done(struct mgmt_conn *c, struct json_out *o, const char *id)
{
	if (id) {
		jo_key(o, "id");
		jo_raw(o, id);
	}
	jo_obj_end(o);
	send_out(c, o);
}

static void ready(struct mgmt_conn *c)
{
	struct session *s = calloc(1, sizeof(*s));
	char nonce[2 * NONCE_LEN + 1], ip[16] = "0.0.0.0", line[256];

	if (!s) {
		mgmt_conn_close(c);
		return;
	}
	mgmt_conn_set_state(c, s);
	random_bytes(s->nonce, NONCE_LEN);
	hex(nonce, s->nonce, NONCE_LEN);
	struct host_netif *h = net_host();
	if (h)
		snprintf(ip, sizeof(ip), "%s", ip4addr_ntoa(netif_ip4_addr(&h->netif)));
	int n = snprintf(line, sizeof(line),
			 "{\"tern\": {\"api\": %d, \"version\": \"tern\", \"host\": \"%s\", "
			 "\"nonce\": \"%s\"}}\n",
			 MGMT_API_VERSION, ip, nonce);
	mgmt_conn_send(c, line, (size_t)n);
}

static void closed(struct mgmt_conn *c)
{
	struct session *s = mgmt_conn_state(c);
	if (s) {
		mbedtls_platform_zeroize(s, sizeof(*s));
		free(s);
	}
	mgmt_conn_set_state(c, NULL);
}

static void too_long(struct mgmt_conn *c)
{
	log_warn(TAG, "%s sent a line over %u KiB: closed", mgmt_conn_peer(c),
		 MGMT_LINE_MAX / 1024);
	fail(c, NULL, "TooLarge", "a line of more than %u bytes", MGMT_LINE_MAX);
	mgmt_conn_close(c);
}

/* The arguments object must have exactly these members (names, NULL
 * terminated); false (and the error sent) otherwise. */
static bool only_args(struct mgmt_conn *c, const char *line, int args, const char *id,
		      const char *const *allowed)
{
	if (args < 0)
		return true;
	for (int i = args + 1, m = 0; m < (int)toks[args].size; m++, i = (int)toks[i + 1].next) {
		char name[64];
		if (json_str(line, toks, i, name, sizeof(name)) < 0) {
			fail(c, id, "InvalidParameter", "an argument's name is too long");
			return false;
		}
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = !strcmp(*a, name);
		if (!ok) {
			fail(c, id, "InvalidParameter", "unknown argument '%s'", name);
			return false;
		}
	}
	return true;
}

static void cmd_auth(struct mgmt_conn *c, struct session *s, const char *line, int args,
		     const char *id)
{
	static const char *const allowed[] = {"nonce", "proof", NULL};
	char nonce_hex[2 * NONCE_LEN + 2], proof_hex[2 * 32 + 2];
	uint8_t nc[NONCE_LEN], theirs[32], want[32], ours[32];
	int in = args < 0 ? -1 : json_obj_get(line, toks, args, "nonce");
	int ip = args < 0 ? -1 : json_obj_get(line, toks, args, "proof");

	if (s->authed) {
		fail(c, id, "GenericError", "already authenticated");
		return;
	}
	if (!only_args(c, line, args, id, allowed))
		return;
	if (in < 0 || ip < 0 || json_str(line, toks, in, nonce_hex, sizeof(nonce_hex)) < 0 ||
	    json_str(line, toks, ip, proof_hex, sizeof(proof_hex)) < 0 ||
	    cmd_parse_hex(nonce_hex, nc, NONCE_LEN) || cmd_parse_hex(proof_hex, theirs, 32)) {
		fail(c, id, "InvalidParameter", "auth needs nonce and proof: 64 hex digits each");
		return;
	}
	if (proof("tern-mgmt-v1 client", s->nonce, nc, want) || !same(want, theirs, 32)) {
		log_warn(TAG, "%s: authentication failed (wrong management key?)",
			 mgmt_conn_peer(c));
		fail(c, id, "AuthFailed", "wrong proof: this host has another management key");
		mgmt_conn_close(c);
		return;
	}
	if (proof("tern-mgmt-v1 server", s->nonce, nc, ours)) {
		fail(c, id, "GenericError", "cannot compute the proof");
		mgmt_conn_close(c);
		return;
	}
	char ours_hex[65];
	struct json_out o;
	hex(ours_hex, ours, 32);
	s->authed = true;
	mgmt_conn_set_authed(c);
	log_info(TAG, "%s authenticated", mgmt_conn_peer(c));
	begin(&o);
	jo_obj_begin(&o);
	jo_key(&o, "proof");
	jo_str(&o, ours_hex);
	jo_obj_end(&o);
	done(c, &o, id);
}

static void cmd_query_version(struct mgmt_conn *c, const char *id)
{
	struct json_out o;
	begin(&o);
	jo_obj_begin(&o);
	jo_key(&o, "api");
	jo_u64(&o, MGMT_API_VERSION);
	jo_key(&o, "version");
	jo_str(&o, "tern");
	jo_obj_end(&o);
	done(c, &o, id);
}

static void cmd_query_host(struct mgmt_conn *c, const char *id)
{
	struct frame_stats st;
	struct migrate_metrics m;
	struct json_out o;
	char ip[16] = "0.0.0.0";
	unsigned guests = 0;

	frame_get_stats(&st);
	migrate_metrics_get(&m);
	for (int k = 0; k < VM_MAX; k++)
		guests += vm_at(k) != NULL;
	struct host_netif *h = net_host();
	if (h)
		snprintf(ip, sizeof(ip), "%s", ip4addr_ntoa(netif_ip4_addr(&h->netif)));
	begin(&o);
	jo_obj_begin(&o);
	jo_key(&o, "ip");
	jo_str(&o, ip);
	jo_key(&o, "backend");
	jo_str(&o, vm_backend());
	jo_key(&o, "memory");
	jo_obj_begin(&o);
	jo_key(&o, "total");
	jo_u64(&o, st.ram_bytes);
	jo_key(&o, "free");
	jo_u64(&o, st.free_bytes);
	jo_obj_end(&o);
	jo_key(&o, "guests");
	jo_u64(&o, guests);
	jo_key(&o, "migrations_active");
	jo_u64(&o, m.active_out + m.active_in);
	jo_obj_end(&o);
	done(c, &o, id);
}

static void cmd_vm_list(struct mgmt_conn *c, const char *id)
{
	struct json_out o;

	begin(&o);
	jo_arr_begin(&o);
	for (int k = 0; k < VM_MAX; k++) {
		struct vm *vm = vm_at(k);
		char mac[18], ip[16];
		if (!vm)
			continue;
		const uint8_t *a = (const uint8_t *)&vm->ip;
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", vm->mac[0], vm->mac[1],
			 vm->mac[2], vm->mac[3], vm->mac[4], vm->mac[5]);
		snprintf(ip, sizeof(ip), "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
		jo_obj_begin(&o);
		jo_key(&o, "name");
		jo_str(&o, vm->name);
		jo_key(&o, "state");
		jo_str(&o, vm_state_name(vm->state));
		jo_key(&o, "memory");
		jo_u64(&o, vm->mem_bytes);
		jo_key(&o, "exits");
		jo_u64(&o, vm->vcpu.exits);
		jo_key(&o, "dirty");
		jo_str(&o, vm_dirty_name(vm->dirty));
		jo_key(&o, "mac");
		jo_str(&o, mac);
		jo_key(&o, "ip");
		if (vm->ip)
			jo_str(&o, ip);
		else
			jo_raw(&o, "null");
		jo_key(&o, "migrating");
		jo_raw(&o, vm->migrating ? "true" : "false");
		jo_obj_end(&o);
	}
	jo_arr_end(&o);
	done(c, &o, id);
}

static void line(struct mgmt_conn *c, char *text, size_t len)
{
	struct session *s = mgmt_conn_state(c);
	struct json_err err = {"not a JSON object", 0};
	char name[40], id_buf[ID_MAX + 1];
	const char *id = NULL;

	if (!s)
		return; /* before the greeting: TLS is up, so this cannot be */
	int n = json_parse(text, len, toks, MAX_TOKS, MAX_DEPTH, &err);
	if (n == -E2BIG) {
		fail(c, NULL, "TooLarge", "more than %d values or %d levels of nesting", MAX_TOKS,
		     MAX_DEPTH);
		mgmt_conn_close(c);
		return;
	}
	if (n < 0 || toks[0].type != JSON_OBJECT) {
		if (n < 0)
			fail(c, NULL, "ParseError", "%s at byte %u", err.why, (unsigned)err.at);
		else
			fail(c, NULL, "ParseError", "not a JSON object");
		mgmt_conn_close(c);
		return;
	}
	int ii = json_obj_get(text, toks, 0, "id");
	if (ii >= 0) {
		/* Echoed as the client wrote it (a string with its quotes). */
		const struct json_tok *t = &toks[ii];
		if (t->type != JSON_STRING && t->type != JSON_NUMBER) {
			fail(c, NULL, "InvalidParameter", "an id must be a string or a number");
			return;
		}
		uint32_t a = t->type == JSON_STRING ? t->start - 1 : t->start;
		uint32_t b = t->type == JSON_STRING ? t->end + 1 : t->end;
		if (b - a > ID_MAX) {
			fail(c, NULL, "InvalidParameter", "an id of more than %d bytes", ID_MAX);
			return;
		}
		memcpy(id_buf, text + a, b - a);
		id_buf[b - a] = 0;
		id = id_buf;
	}
	for (int i = 1, m = 0; m < (int)toks[0].size; m++, i = (int)toks[i + 1].next) {
		char member[16];
		if (json_str(text, toks, i, member, sizeof(member)) < 0 ||
		    (strcmp(member, "execute") && strcmp(member, "arguments") &&
		     strcmp(member, "id"))) {
			fail(c, id, "InvalidParameter",
			     "a request has execute, arguments and id only");
			return;
		}
	}
	int ie = json_obj_get(text, toks, 0, "execute");
	int ia = json_obj_get(text, toks, 0, "arguments");
	if (ie < 0 || json_str(text, toks, ie, name, sizeof(name)) < 0) {
		fail(c, id, "InvalidParameter", "no command: \"execute\" must name one");
		return;
	}
	if (ia >= 0 && toks[ia].type != JSON_OBJECT) {
		fail(c, id, "InvalidParameter", "\"arguments\" must be an object");
		return;
	}
	if (!strcmp(name, "auth")) {
		cmd_auth(c, s, text, ia, id);
		return;
	}
	if (!s->authed) {
		fail(c, id, "AuthRequired", "authenticate first (auth)");
		return;
	}
	static const char *const none[] = {NULL};
	if (!strcmp(name, "query-version")) {
		if (only_args(c, text, ia, id, none))
			cmd_query_version(c, id);
	} else if (!strcmp(name, "query-host")) {
		if (only_args(c, text, ia, id, none))
			cmd_query_host(c, id);
	} else if (!strcmp(name, "vm-list")) {
		if (only_args(c, text, ia, id, none))
			cmd_vm_list(c, id);
	} else {
		fail(c, id, "CommandNotFound", "no command '%s'", name);
	}
}

static const struct mgmt_handlers handlers = {
	.ready = ready, .line = line, .too_long = too_long, .closed = closed};

int mgmt_api_listen(bool on, uint16_t port)
{
	if (!on) {
		mgmt_tcp_unlisten();
		return 0;
	}
	if (!key_len)
		return -ENOENT;
	mgmt_tcp_unlisten();
	int rc = mgmt_tls_make();
	if (rc)
		return rc;
	return mgmt_tcp_listen(port ? port : MGMT_PORT, &handlers);
}
