/* `net ping`: ICMP echo (RFC 792) through an lwIP raw pcb, after lwIP's
 * contrib ping app but without its thread: requests go out from an lwIP
 * timer, replies come in from the main loop's poll, and each one prints
 * as it arrives, so the console stays usable while a ping runs. One ping
 * session at a time. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define PING_DATA_BYTES 56    /* as iputils' ping: 64-byte ICMP messages */
#define PING_INTERVAL_MS 1000 /* default gap between requests */
#define PING_WAIT_MS 2000     /* how long the last request waits for its reply */
#define PING_COUNT_MAX 100000

/* Sends the first request now, then one every interval_ms until count have
 * gone; prints "PING ..." first. 0, -EBUSY while a session runs, -EINVAL
 * for a count or interval out of range, -ENETUNREACH when lwIP has no
 * route (no address), -ENOMEM. */
int ping_start(uint32_t ip, unsigned count, unsigned interval_ms);
/* Ends the session now and prints its summary; false if none ran. */
bool ping_stop(void);
bool ping_running(void);
