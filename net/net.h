/* Tern's network, wired at boot by net_init() (kernel/subsystems.c calls it
 * when net/ is linked): the first supported NIC as the vswitch uplink in
 * promiscuous mode, lwIP with Tern's own netif on the host port, the
 * announcer, the address from the boot command line (net/netcfg.h), the
 * `net` console command, and one main-loop poll:
 *
 *     NIC receive -> vswitch_input, vswitch_tick, announce_poll,
 *     sys_check_timeouts (lwIP's timers: TCP, ARP, DHCP, ping, iperf)
 *
 * Without a NIC the switch, lwIP and the guests' ports still work; Tern's
 * netif then has a random locally administered MAC. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "drivers/nic.h"
#include "net/announce.h"
#include "net/host_netif.h"
#include "net/netcfg.h"
#include "net/guest_port.h"
#include "net/vswitch.h"

void net_init(void);
/* True once lwIP runs (migration checks it before it opens TCP). */
bool net_up(void);

/* For the console and other subsystems (guest ports, migration). NULL /
 * VSWITCH_NO_PORT while absent. */
struct nic *net_nic(void);
int net_uplink_port(void);
struct host_netif *net_host(void);
struct announcer *net_announcer(void);
/* Nanoseconds spent handing frames to the uplink NIC since boot (the
 * driver's copy and doorbell, and whatever the NIC does then): a
 * migration's summary takes the difference over its window. */
uint64_t net_uplink_tx_ns(void);

/* Applies an address (`net ip`, ip= at boot): static, DHCP or none. 0, or
 * a negative errno. */
int net_configure(const struct net_config *cfg);
/* What was configured last (the live address: net_host()->netif). */
const struct net_config *net_config(void);

/* Starts announcing mac (and ip, network byte order, 0 for RARP only).
 * The frames enter the vswitch on the port of the guest that owns mac,
 * when one has used it, so the switch learns it there too; otherwise they
 * go out every port. 0 or a negative errno (announce_start). */
int net_announce(const uint8_t *mac, uint32_t ip);
/* net_vswitch(), net_announce_on() and net_announce_guest(): see
 * net/guest_port.h (what guest devices use). */

/* Output that arrives later than its command (a ping reply, an iperf
 * report): on a line of its own; the prompt is not printed again
 * (console_break_line). */
void net_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The subcommands of `net` that live in their own files. */
void net_cmd_register(void);
