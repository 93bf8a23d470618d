/* The `mgmt` command: what Tern offers to management tools on the network.
 * Today the Prometheus metrics (net/metrics_http.c, on by default once
 * the network is up); the JSON API of docs/mgmt-api.md comes next. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include "kernel/console/cmd.h"
#include "kernel/kprintf.h"
#include "kernel/log.h"
#include "net/metrics_http.h"

void mgmt_init(void);

/* net/ provides these; weak so Tern links without it. */
bool net_up(void) __attribute__((weak, visibility("hidden")));
int metrics_http_start(uint16_t port) __attribute__((weak, visibility("hidden")));
void metrics_http_stop(void) __attribute__((weak, visibility("hidden")));
void metrics_http_stats(struct metrics_http_stats *out) __attribute__((weak, visibility("hidden")));

static bool have_net(void)
{
	return net_up && net_up() && metrics_http_start;
}

static void show(void)
{
	struct metrics_http_stats st;

	if (!have_net()) {
		kputs("metrics: off (no network)\n");
		return;
	}
	metrics_http_stats(&st);
	if (st.on)
		kprintf("metrics: serving GET /metrics on TCP port %u (%lu scrapes, %lu refused, "
			"%lu dropped)\n",
			st.port, st.scrapes, st.refused, st.dropped);
	else
		kputs("metrics: off ('mgmt metrics on' serves them)\n");
}

static int metrics(int argc, char **argv)
{
	bool on;
	unsigned long long port = 0;

	if (argc < 3 || argc > 4 || cmd_parse_on_off(argv[2], &on) ||
	    (argc == 4 && (!on || cmd_parse_u64(argv[3], &port) || !port || port > 65535)))
		return CMD_USAGE;
	if (!have_net()) {
		cmd_error("mgmt metrics: no network");
		return -ENETDOWN;
	}
	if (!on) {
		metrics_http_stop();
		kputs("metrics: off\n");
		return 0;
	}
	metrics_http_stop(); /* on again, perhaps on another port */
	int rc = metrics_http_start((uint16_t)port);
	if (rc) {
		cmd_error("mgmt metrics: cannot listen on TCP port %llu: %s",
			  port ? port : METRICS_HTTP_PORT, strerror(-rc));
		return rc;
	}
	show();
	return 0;
}

static int cmd_mgmt(int argc, char **argv)
{
	if (argc == 1) {
		show();
		return 0;
	}
	if (!strcmp(argv[1], "metrics"))
		return metrics(argc, argv);
	return CMD_USAGE;
}

static const struct cmd mgmt_cmd = {
	.name = "mgmt",
	.summary = "what management tools can reach: Prometheus metrics on HTTP port 80",
	.usage = "mgmt                       what is served, and its counters\n"
		 "mgmt metrics on [PORT]     serve GET /metrics (default port 80; on at boot)\n"
		 "mgmt metrics off           stop serving them",
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
