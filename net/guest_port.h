/* What net/ offers the guests' network devices (kernel/vdev/virtio_net.c):
 * the switch they plug into and the announcer they call after a guest moved
 * here. The dependency runs one way, kernel/vdev -> net: net/ never calls a
 * device model. Host unit tests of the devices provide these three. */
#pragma once
#include <stdint.h>

#include "net/vswitch.h"

/* The switch guest ports are added to; NULL while the network is down. */
struct vswitch *net_vswitch(void);
/* Starts announcing mac (and ip, network byte order, 0 for RARP only)
 * from port, so this switch learns it there too (VSWITCH_NO_PORT: out of
 * every port). 0, -ENOENT for a port not in use, or a negative errno. */
int net_announce_on(int port, const uint8_t *mac, uint32_t ip);
/* net_announce() with a warning in the log when it cannot start (a guest
 * that has no port of its own here). */
void net_announce_guest(const uint8_t *mac, uint32_t ip);
