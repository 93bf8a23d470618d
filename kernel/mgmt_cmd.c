/* The `mgmt` command: what Tern offers to management tools on the network
 * (docs/mgmt-api.md). The Prometheus metrics (net/metrics_http.c) are on
 * from boot once the network is up; the JSON API (kernel/mgmt_api.c) once
 * the operator sets a management key, which starts its listener. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "kernel/console/cmd.h"
#include "kernel/kprintf.h"
#include "kernel/log.h"
#include "kernel/mgmt_api.h"
#include "kernel/random.h"
#include "net/metrics_http.h"
#include "net/mgmt_tcp.h"

void mgmt_init(void);

/* net/ provides these; weak so Tern links without it. */
bool net_up(void) __attribute__((weak, visibility("hidden")));
int metrics_http_start(uint16_t port) __attribute__((weak, visibility("hidden")));
void metrics_http_stop(void) __attribute__((weak, visibility("hidden")));
void metrics_http_stats(struct metrics_http_stats *out) __attribute__((weak, visibility("hidden")));
void mgmt_tcp_stats(struct mgmt_tcp_stats *out) __attribute__((weak, visibility("hidden")));

#define KEY_GENERATED 32 /* random bytes of `mgmt key --generate`, as hex */

static bool have_net(void)
{
	return net_up && net_up() && metrics_http_start && mgmt_tcp_stats;
}

static void show(void)
{
	struct metrics_http_stats st;
	struct mgmt_tcp_stats api;

	if (!have_net()) {
		kputs("api: off (no network)\nmetrics: off (no network)\n");
		return;
	}
	mgmt_tcp_stats(&api);
	if (api.on)
		kprintf("api: listening on TCP port %u (TLS), %u connected, %u authenticated; "
			"%lu accepted, %lu evicted, %lu timed out\n",
			api.port, api.open, api.authed, api.accepted, api.evicted, api.timed_out);
	else
		kprintf("api: off (%s)\n", mgmt_api_has_key()
						   ? "'mgmt listen on' starts it"
						   : "'mgmt key' sets a key and starts it");
	metrics_http_stats(&st);
	if (st.on)
		kprintf("metrics: serving GET /metrics on TCP port %u (%lu scrapes, %lu refused, "
			"%lu dropped)\n",
			st.port, st.scrapes, st.refused, st.dropped);
	else
		kputs("metrics: off ('mgmt metrics on' serves them)\n");
}

/* on|off [PORT] into *on and *port (0: the default). */
static int on_off_port(int argc, char **argv, bool *on, unsigned long long *port)
{
	*port = 0;
	if (argc < 3 || argc > 4 || cmd_parse_on_off(argv[2], on) ||
	    (argc == 4 && (!*on || cmd_parse_u64(argv[3], port) || !*port || *port > 65535)))
		return CMD_USAGE;
	return 0;
}

static int metrics(int argc, char **argv)
{
	bool on;
	unsigned long long port;

	if (on_off_port(argc, argv, &on, &port))
		return CMD_USAGE;
	if (!have_net()) {
		cmd_error("mgmt metrics: no network");
		return -ENETDOWN;
	}
	metrics_http_stop(); /* off, or on again, perhaps on another port */
	if (!on) {
		kputs("metrics: off\n");
		return 0;
	}
	int rc = metrics_http_start((uint16_t)port);
	if (rc) {
		cmd_error("mgmt metrics: cannot listen on TCP port %llu: %s",
			  port ? port : METRICS_HTTP_PORT, strerror(-rc));
		return rc;
	}
	show();
	return 0;
}

static int listen_api(bool on, unsigned long long port)
{
	int rc = mgmt_api_listen(on, (uint16_t)port);
	if (rc == -ENOENT) {
		cmd_error("mgmt listen: no management key ('mgmt key SECRET' or 'mgmt key "
			  "--generate')");
		return rc;
	}
	if (rc) {
		cmd_error("mgmt listen: cannot listen on TCP port %llu: %s",
			  port ? port : MGMT_PORT, strerror(-rc));
		return rc;
	}
	show();
	return 0;
}

static int listen(int argc, char **argv)
{
	bool on;
	unsigned long long port;

	if (on_off_port(argc, argv, &on, &port))
		return CMD_USAGE;
	if (!have_net()) {
		cmd_error("mgmt listen: no network");
		return -ENETDOWN;
	}
	return listen_api(on, port);
}

static int set_key(const char *arg)
{
	char hex[2 * KEY_GENERATED + 1];
	bool generated = !strcmp(arg, "--generate");

	if (generated) {
		uint8_t raw[KEY_GENERATED];
		int rc = random_bytes(raw, sizeof(raw));
		if (rc) {
			cmd_error("mgmt key: no random bytes: %s", strerror(-rc));
			return rc;
		}
		for (size_t i = 0; i < sizeof(raw); i++)
			snprintf(hex + 2 * i, 3, "%02x", raw[i]);
		arg = hex;
	}
	if (mgmt_api_set_key(arg)) {
		cmd_error("mgmt key: the secret must be %d to %d characters (try 'mgmt key "
			  "--generate')",
			  MGMT_KEY_MIN, MGMT_KEY_MAX);
		return -EINVAL;
	}
	if (generated)
		kprintf("management key set: %s\n(put it in ternctl's key file)\n", hex);
	else
		kputs("management key set\n");
	/* A new key, a new listener and certificate: connections that
	 * authenticated with the old key are closed. */
	return have_net() ? listen_api(true, 0) : 0;
}

static int cmd_mgmt(int argc, char **argv)
{
	if (argc == 1) {
		show();
		return 0;
	}
	if (!strcmp(argv[1], "metrics"))
		return metrics(argc, argv);
	if (!strcmp(argv[1], "listen"))
		return listen(argc, argv);
	if (!strcmp(argv[1], "key") && argc == 3)
		return set_key(argv[2]);
	return CMD_USAGE;
}

static const struct cmd mgmt_cmd = {
	.name = "mgmt",
	.summary =
		"management tools' access: the JSON API (TLS, port 7100), metrics (HTTP, port 80)",
	.usage = "mgmt                          what is served, and its counters\n"
		 "mgmt key SECRET|--generate    the API's key (16-128 characters); starts its "
		 "listener\n"
		 "mgmt listen on [PORT]|off     the API's listener (default port 7100)\n"
		 "mgmt metrics on [PORT]|off    GET /metrics (default port 80; on at boot)",
	.run = cmd_mgmt,
};

void mgmt_init(void)
{
	cmd_register(&mgmt_cmd);
	if (!have_net())
		return;
	int rc = metrics_http_start(0);
	if (rc)
		log_warn("mgmt", "not serving metrics: %s", strerror(-rc));
	else
		log_info("mgmt", "serving metrics: GET http://<this host>:%u/metrics",
			 METRICS_HTTP_PORT);
}
