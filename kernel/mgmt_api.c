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
#include "kernel/mgmt_api.h"
#include "kernel/mgmt_api_int.h"
#include "kernel/mgmt_events.h"
#include "kernel/random.h"
#include "lwip/netif.h"
#include "mgmt/json.h"
#include "net/mgmt_tcp.h"
#include "net/mgmt_tls.h"
#include "net/net.h"
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#define TAG "mgmt"
#define NONCE_LEN MGMT_NONCE_LEN
#define MAX_TOKS 512
#define MAX_DEPTH 16
#define REPLY_MAX 16384
#define ID_MAX 256

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
static void vfail(struct mgmt_conn *c, const char *id, const char *class, const char *fmt,
		  va_list ap)
{
	char desc[512];
	struct json_out o;

	vsnprintf(desc, sizeof(desc), fmt, ap);
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

static void fail(struct mgmt_conn *c, const char *id, const char *class, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fail(struct mgmt_conn *c, const char *id, const char *class, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(c, id, class, fmt, ap);
	va_end(ap);
}

void mgmt_fail(const struct mgmt_req *r, const char *class, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(r->c, r->id, class, fmt, ap);
	va_end(ap);
}

static struct json_out out;

struct json_out *mgmt_begin(void)
{
	jo_init(&out, reply, sizeof(reply));
	jo_obj_begin(&out);
	jo_key(&out, "return");
	return &out;
}

void mgmt_done(const struct mgmt_req *r, struct json_out *o)
{
	if (r->id) {
		jo_key(o, "id");
		jo_raw(o, r->id);
	}
	jo_obj_end(o);
	send_out(r->c, o);
}

static void ready(struct mgmt_conn *c)
{
	struct mgmt_session *s = calloc(1, sizeof(*s));
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
	struct mgmt_session *s = mgmt_conn_state(c);
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

bool mgmt_only_args(const struct mgmt_req *r, const char *const *allowed)
{
	if (r->args < 0)
		return true;
	const struct json_tok *t = r->toks;
	for (int i = r->args + 1, m = 0; m < (int)t[r->args].size; m++, i = (int)t[i + 1].next) {
		char name[64];
		if (json_str(r->text, t, i, name, sizeof(name)) < 0) {
			mgmt_fail(r, "InvalidParameter", "an argument's name is too long");
			return false;
		}
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = !strcmp(*a, name);
		if (!ok) {
			mgmt_fail(r, "InvalidParameter", "unknown argument '%s'", name);
			return false;
		}
	}
	return true;
}

static void cmd_auth(const struct mgmt_req *r, struct mgmt_session *s)
{
	struct mgmt_conn *c = r->c;
	const char *line = r->text;
	int args = r->args;
	static const char *const allowed[] = {"nonce", "proof", NULL};
	char nonce_hex[2 * NONCE_LEN + 2], proof_hex[2 * 32 + 2];
	uint8_t nc[NONCE_LEN], theirs[32], want[32], ours[32];
	int in = args < 0 ? -1 : json_obj_get(line, toks, args, "nonce");
	int ip = args < 0 ? -1 : json_obj_get(line, toks, args, "proof");

	if (s->authed) {
		mgmt_fail(r, "GenericError", "already authenticated");
		return;
	}
	if (!mgmt_only_args(r, allowed))
		return;
	if (in < 0 || ip < 0 || json_str(line, toks, in, nonce_hex, sizeof(nonce_hex)) < 0 ||
	    json_str(line, toks, ip, proof_hex, sizeof(proof_hex)) < 0 ||
	    cmd_parse_hex(nonce_hex, nc, NONCE_LEN) || cmd_parse_hex(proof_hex, theirs, 32)) {
		mgmt_fail(r, "InvalidParameter", "auth needs nonce and proof: 64 hex digits each");
		return;
	}
	if (proof("tern-mgmt-v1 client", s->nonce, nc, want) || !same(want, theirs, 32)) {
		log_warn(TAG, "%s: authentication failed (wrong management key?)",
			 mgmt_conn_peer(c));
		mgmt_fail(r, "AuthFailed", "wrong proof: this host has another management key");
		mgmt_conn_close(c);
		return;
	}
	if (proof("tern-mgmt-v1 server", s->nonce, nc, ours)) {
		mgmt_fail(r, "GenericError", "cannot compute the proof");
		mgmt_conn_close(c);
		return;
	}
	char ours_hex[65];
	hex(ours_hex, ours, 32);
	s->authed = true;
	mgmt_conn_set_authed(c);
	log_info(TAG, "%s authenticated", mgmt_conn_peer(c));
	struct json_out *o = mgmt_begin();
	jo_obj_begin(o);
	jo_key(o, "proof");
	jo_str(o, ours_hex);
	jo_obj_end(o);
	mgmt_done(r, o);
}

static void line(struct mgmt_conn *c, char *text, size_t len)
{
	struct mgmt_session *s = mgmt_conn_state(c);
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
	struct mgmt_req r = {c, text, toks, ia, id};
	if (!strcmp(name, "auth")) {
		cmd_auth(&r, s);
		return;
	}
	if (!s->authed) {
		fail(c, id, "AuthRequired", "authenticate first (auth)");
		return;
	}
	const struct mgmt_command *cmd = mgmt_command_find(name);
	if (!cmd)
		fail(c, id, "CommandNotFound", "no command '%s'", name);
	else if (mgmt_only_args(&r, cmd->args))
		cmd->run(&r);
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
	mgmt_events_init(); /* nothing to watch for before an API can listen */
	mgmt_tcp_unlisten();
	int rc = mgmt_tls_make();
	if (rc)
		return rc;
	return mgmt_tcp_listen(port ? port : MGMT_PORT, &handlers);
}
