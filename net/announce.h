/* Announcing a guest's MAC (and IPv4 address) after it resumes on this host,
 * so that switches re-learn its port and neighbours refresh their ARP
 * caches at once: a gratuitous ARP (RFC 5227 sec. 3, request form) when the
 * IP is known, and a RARP request (RFC 903) like QEMU's
 * qemu_announce_self(), which also reaches switches that ignore ARP. Sent in
 * rounds with growing gaps, because one frame can be lost or arrive before
 * the switch has noticed the link. QEMU's defaults: 5 rounds, 50 ms before
 * the second, then 100 ms more before each next one (0, 50, 200, 450, 800
 * ms), no gap over 550 ms.
 *
 * Frames are built into fixed buffers and handed to a send callback; the
 * announcer never reads a clock: announce_poll(now_ms) from the main loop. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/ether.h"

#define ANNOUNCE_FRAME_LEN ETH_ZLEN /* both frames, zero-padded as QEMU does */
#define ANNOUNCE_ROUNDS 5
#define ANNOUNCE_INITIAL_MS 50
#define ANNOUNCE_STEP_MS 100
#define ANNOUNCE_MAX_MS 550
#define ANNOUNCE_SLOTS 16 /* announcements in progress at once */

/* Gratuitous ARP request: broadcast from mac; sender = target = ip (network
 * byte order), sender hardware mac, target hardware zero. Fills
 * ANNOUNCE_FRAME_LEN bytes and returns that length. */
size_t announce_build_garp(uint8_t *frame, const uint8_t *mac, uint32_t ip);
/* RARP "request reverse": broadcast from mac, sender and target hardware
 * address mac, protocol addresses zero. Fills ANNOUNCE_FRAME_LEN bytes and
 * returns that length. */
size_t announce_build_rarp(uint8_t *frame, const uint8_t *mac);

/* origin is what announce_start() was given (the guest's vswitch port, or
 * VSWITCH_NO_PORT), so the sender can hand the frame to vswitch_inject().
 * The frame is valid only during the call. It must not start or cancel
 * announcements. */
typedef void (*announce_send_fn)(void *ctx, int origin, const uint8_t *frame, size_t len);

struct announce_params {
	unsigned rounds;     /* 1..: frames sets sent */
	unsigned initial_ms; /* gap after the first round */
	unsigned step_ms;    /* added to the gap after each further round */
	unsigned max_ms;     /* no gap longer than this */
};

struct announce_slot {
	bool active;
	uint8_t mac[ETH_ALEN];
	uint32_t ip; /* network byte order; 0: unknown, RARP only */
	int origin;
	struct announce_params params; /* as when started */
	unsigned sent;		       /* rounds sent so far */
	uint64_t due_ms;
};

struct announcer {
	struct announce_slot slots[ANNOUNCE_SLOTS];
	struct announce_params params;
	announce_send_fn send;
	void *ctx;
};

/* QEMU's defaults (ANNOUNCE_*); send must not be NULL. */
void announce_init(struct announcer *a, announce_send_fn send, void *ctx);
/* Parameters for announcements started after this (`net announce` options);
 * those in progress keep theirs. -EINVAL for zero rounds, or a max below
 * initial. */
int announce_set_params(struct announcer *a, const struct announce_params *p);
/* Starts announcing mac (and ip, network byte order, unless 0): the first
 * round goes out at the first announce_poll() at or after now_ms. Starting
 * a MAC already being announced restarts it with the new ip and origin.
 * 0, -EINVAL for a group or zero MAC, -ENOSPC when all slots are busy. */
int announce_start(struct announcer *a, const uint8_t *mac, uint32_t ip, int origin,
		   uint64_t now_ms);
/* Stops announcing mac. 0, or -ENOENT. */
int announce_cancel(struct announcer *a, const uint8_t *mac);
/* Sends every round that is due: at most one per announcement per call, so
 * a main loop that was held up does not burst; the next gap counts from
 * now. */
void announce_poll(struct announcer *a, uint64_t now_ms);
/* Announcements still in progress. */
int announce_pending(const struct announcer *a);
