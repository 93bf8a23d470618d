/* Stand-ins for what lwIP's test harness expects from a NO_SYS=0 build.
 * lwip_unittests.c lists every suite, so a suite that cannot build against
 * Tern's options is replaced by an empty one here (net/README.md says why
 * for each), and tcpip_thread_poll_one(), which the ip4 suite's teardown
 * calls, gets its NO_SYS meaning. */
#include "lwip_check.h"
#include "api/test_sockets.h"
#include "mdns/test_mdns.h"
#include "mqtt/test_mqtt.h"
#include "lwip/netif.h"

/* The socket API needs NO_SYS=0 (Tern has none), and test_sockets.c in
 * 2.1.3 does not compile without it. */
Suite *sockets_suite(void)
{
	return create_suite("SOCKETS (no socket API in Tern)", NULL, 0, NULL, NULL);
}

/* Tern does not build the mDNS responder (it needs IGMP and responder
 * options Tern turns off). */
Suite *mdns_suite(void)
{
	return create_suite("MDNS (not built in Tern)", NULL, 0, NULL, NULL);
}

/* Tern does not build the MQTT client, and the suite reaches into its pcb as
 * a struct tcp_pcb, which only holds with LWIP_ALTCP=0 (Tern uses altcp). */
Suite *mqtt_suite(void)
{
	return create_suite("MQTT (not built in Tern)", NULL, 0, NULL, NULL);
}

/* Under NO_SYS nothing waits in a tcpip mailbox; the only deferred work is
 * the loopback queue, which netif_poll_all() drains. */
int tcpip_thread_poll_one(void)
{
	netif_poll_all();
	return 0;
}
