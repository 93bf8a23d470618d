/* Host builds of the guest devices (unit tests, fuzzers) have no network
 * to announce a migrated guest on: net/guest_port.h's announcements do
 * nothing. Each test keeps its own net_vswitch(). */
#include "net/guest_port.h"

int net_announce_on(int port, const uint8_t *mac, uint32_t ip)
{
	(void)port, (void)mac, (void)ip;
	return 0;
}

void net_announce_guest(const uint8_t *mac, uint32_t ip)
{
	(void)mac, (void)ip;
}
