/* Tern's own TCP/IP endpoint: an lwIP netif that is the vswitch's host
 * port. Frames lwIP sends enter the switch as if they came from a NIC on
 * that port; frames the switch forwards to the port go to lwIP's
 * ethernet_input(). The MAC is the uplink NIC's (`net show`), the address
 * static (`ip=`, `net ip`) or from DHCP. */
#pragma once
#include <stdint.h>

#include "lwip/netif.h"
#include "net/vswitch.h"

struct host_netif {
	struct netif netif;
	struct vswitch *sw;
	int port;
	uint64_t rx_nobuf; /* frames for lwIP lost for want of a pool pbuf */
};

/* Adds the host port to sw and the netif to lwIP (after lwip_init()), up,
 * link up, no address yet, and makes it lwIP's default netif. 0, or a
 * negative errno (-ENOSPC: no free vswitch port). */
int host_netif_init(struct host_netif *h, struct vswitch *sw, const uint8_t *mac);
/* Static address (all network byte order; gw 0 for none). 0, or -EINVAL
 * for a zero or group address. */
int host_netif_set_ip(struct host_netif *h, uint32_t ip, uint32_t mask, uint32_t gw);
