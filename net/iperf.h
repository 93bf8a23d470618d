/* `net iperf`: lwIP's lwiperf (iperf 2 over TCP, port 5001), so Debian's
 * `iperf` is a real peer: `iperf -c TERN` against `net iperf server`,
 * `iperf -s` against `net iperf client`. One server and one client at a
 * time; each finished session prints one line (iperf.c). */
#pragma once
#include <stdint.h>

#include "lwip/apps/lwiperf.h"

#define IPERF_PORT LWIPERF_TCP_PORT_DEFAULT
#define IPERF_SECONDS 10 /* iperf 2's default -t */
#define IPERF_SECONDS_MAX 3600

/* 0, -EBUSY if the server runs, -ENOMEM, -EADDRINUSE. */
int iperf_server_start(void);
/* Sends to ip:5001 for `seconds`, or `bytes` when that is not 0 (iperf's
 * -t and -n). 0, -EBUSY while a client runs, -EINVAL, -ENOMEM. */
int iperf_client_start(uint32_t ip, unsigned seconds, uint32_t bytes);
/* Stops the server and the client with their sessions; how many there were. */
int iperf_stop(void);

/* Declared here, not in lwiperf.h: net/patches/lwiperf-fixes.patch adds
 * it to lwiperf.c. amount < 0: time in 10 ms units; > 0: bytes. */
void *lwiperf_start_tcp_client_amount(const ip_addr_t *remote_addr, u16_t remote_port,
				      enum lwiperf_client_type type, s32_t amount,
				      lwiperf_report_fn report_fn, void *report_arg);
