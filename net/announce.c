/* Gratuitous ARP and RARP announcements in rounds (see announce.h). */
#include <errno.h>
#include <string.h>

#include "net/announce.h"

static const uint8_t broadcast[ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* Ethernet header and the ARP fields both frames share. */
static void build_arp(uint8_t *frame, const uint8_t *mac, uint16_t ethertype, uint16_t op)
{
	memset(frame, 0, ANNOUNCE_FRAME_LEN);
	memcpy(frame + ETH_OFF_DST, broadcast, ETH_ALEN);
	memcpy(frame + ETH_OFF_SRC, mac, ETH_ALEN);
	ether_put16(frame + ETH_OFF_TYPE, ethertype);
	ether_put16(frame + ARP_OFF_HTYPE, ARP_HTYPE_ETHER);
	ether_put16(frame + ARP_OFF_PTYPE, ETH_P_IP);
	frame[ARP_OFF_HLEN] = ETH_ALEN;
	frame[ARP_OFF_PLEN] = 4;
	ether_put16(frame + ARP_OFF_OP, op);
	memcpy(frame + ARP_OFF_SHA, mac, ETH_ALEN);
}

size_t announce_build_garp(uint8_t *frame, const uint8_t *mac, uint32_t ip)
{
	build_arp(frame, mac, ETH_P_ARP, ARP_OP_REQUEST);
	/* RFC 5227 sec. 3: sender and target protocol address both the
	 * announced one, target hardware address zero. */
	memcpy(frame + ARP_OFF_SPA, &ip, 4);
	memcpy(frame + ARP_OFF_TPA, &ip, 4);
	return ANNOUNCE_FRAME_LEN;
}

size_t announce_build_rarp(uint8_t *frame, const uint8_t *mac)
{
	/* As QEMU's announce_self_create(): "who am I" about mac itself. */
	build_arp(frame, mac, ETH_P_RARP, ARP_OP_RREQUEST);
	memcpy(frame + ARP_OFF_THA, mac, ETH_ALEN);
	return ANNOUNCE_FRAME_LEN;
}

void announce_init(struct announcer *a, announce_send_fn send, void *ctx)
{
	memset(a, 0, sizeof(*a));
	a->params = (struct announce_params){
		.rounds = ANNOUNCE_ROUNDS,
		.initial_ms = ANNOUNCE_INITIAL_MS,
		.step_ms = ANNOUNCE_STEP_MS,
		.max_ms = ANNOUNCE_MAX_MS,
	};
	a->send = send;
	a->ctx = ctx;
}

int announce_set_params(struct announcer *a, const struct announce_params *p)
{
	if (p->rounds == 0 || p->max_ms < p->initial_ms)
		return -EINVAL;
	a->params = *p;
	return 0;
}

static struct announce_slot *slot_of(struct announcer *a, const uint8_t *mac)
{
	for (int i = 0; i < ANNOUNCE_SLOTS; i++)
		if (a->slots[i].active && ether_equal(a->slots[i].mac, mac))
			return &a->slots[i];
	return NULL;
}

int announce_start(struct announcer *a, const uint8_t *mac, uint32_t ip, int origin,
		   uint64_t now_ms)
{
	struct announce_slot *s;

	if (!ether_is_valid_source(mac))
		return -EINVAL;
	s = slot_of(a, mac);
	for (int i = 0; !s && i < ANNOUNCE_SLOTS; i++)
		if (!a->slots[i].active)
			s = &a->slots[i];
	if (!s)
		return -ENOSPC;
	*s = (struct announce_slot){
		.active = true, .ip = ip, .origin = origin, .params = a->params, .due_ms = now_ms};
	memcpy(s->mac, mac, ETH_ALEN);
	return 0;
}

int announce_cancel(struct announcer *a, const uint8_t *mac)
{
	struct announce_slot *s = slot_of(a, mac);

	if (!s)
		return -ENOENT;
	s->active = false;
	return 0;
}

/* The gap after round number sent (1-based), as QEMU's
 * qemu_announce_next_step(): initial, then step more each round, capped. */
static uint64_t gap_after(const struct announce_params *p, unsigned sent)
{
	uint64_t gap = p->initial_ms + (uint64_t)(sent - 1) * p->step_ms;

	return gap < p->max_ms ? gap : p->max_ms;
}

void announce_poll(struct announcer *a, uint64_t now_ms)
{
	uint8_t frame[ANNOUNCE_FRAME_LEN];

	for (int i = 0; i < ANNOUNCE_SLOTS; i++) {
		struct announce_slot *s = &a->slots[i];

		if (!s->active || now_ms < s->due_ms)
			continue;
		/* The GARP first: it is what updates neighbours' ARP caches; the
		 * RARP then reaches switches that only learn from RARP. */
		if (s->ip)
			a->send(a->ctx, s->origin, frame,
				announce_build_garp(frame, s->mac, s->ip));
		a->send(a->ctx, s->origin, frame, announce_build_rarp(frame, s->mac));
		s->sent++;
		if (s->sent >= s->params.rounds)
			s->active = false;
		else
			s->due_ms = now_ms + gap_after(&s->params, s->sent);
	}
}

int announce_pending(const struct announcer *a)
{
	int n = 0;

	for (int i = 0; i < ANNOUNCE_SLOTS; i++)
		n += a->slots[i].active;
	return n;
}
