/* net/announce: the exact GARP and RARP bytes, and the round schedule. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/announce.h"

#define SENT_MAX 128
#define NO_ORIGIN (-1) /* as VSWITCH_NO_PORT: not on behalf of a port */

struct sent {
	uint64_t at_ms;
	int origin;
	uint16_t ethertype;
	uint8_t frame[ANNOUNCE_FRAME_LEN];
	size_t len;
};

static struct announcer ann;
static struct sent sent[SENT_MAX];
static int nsent;
static uint64_t now;

static const uint8_t mac[ETH_ALEN] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t ip_bytes[4] = {192, 168, 7, 10};

static uint32_t ip(void)
{
	uint32_t v;

	memcpy(&v, ip_bytes, 4);
	return v;
}

static void record(void *ctx, int origin, const uint8_t *frame, size_t len)
{
	struct sent *s;

	assert_ptr_equal(ctx, &ann);
	assert_true(nsent < SENT_MAX);
	s = &sent[nsent++];
	assert_int_equal(len, ANNOUNCE_FRAME_LEN);
	s->at_ms = now;
	s->origin = origin;
	s->ethertype = ether_get16(frame + ETH_OFF_TYPE);
	memcpy(s->frame, frame, len);
	s->len = len;
}

static int setup(void **state)
{
	(void)state;
	announce_init(&ann, record, &ann);
	memset(sent, 0, sizeof(sent));
	nsent = 0;
	now = 0;
	return 0;
}

/* Polls every millisecond from now up to end. */
static void run_until(uint64_t end)
{
	for (; now <= end; now++)
		announce_poll(&ann, now);
}

static void test_garp_frame_is_broadcast_request_with_sender_equal_target(void **state)
{
	static const uint8_t want[ANNOUNCE_FRAME_LEN] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* destination: broadcast */
		0x52, 0x54, 0x00, 0x12, 0x34, 0x56, /* source: the guest */
		0x08, 0x06,			    /* ARP */
		0x00, 0x01, 0x08, 0x00, 0x06, 0x04, /* Ethernet, IPv4, 6, 4 */
		0x00, 0x01,			    /* request */
		0x52, 0x54, 0x00, 0x12, 0x34, 0x56, /* sender hardware: the guest */
		192,  168,  7,	  10,		    /* sender IP */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* target hardware: zero */
		192,  168,  7,	  10,		    /* target IP = sender IP */
	};					    /* zero padding to 60 */
	uint8_t frame[ANNOUNCE_FRAME_LEN];

	(void)state;
	memset(frame, 0xa5, sizeof(frame));
	assert_int_equal(announce_build_garp(frame, mac, ip()), 60);
	assert_memory_equal(frame, want, sizeof(want));
}

static void test_rarp_frame_matches_qemu_announce_self(void **state)
{
	static const uint8_t want[ANNOUNCE_FRAME_LEN] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* destination: broadcast */
		0x52, 0x54, 0x00, 0x12, 0x34, 0x56, /* source: the guest */
		0x80, 0x35,			    /* RARP */
		0x00, 0x01, 0x08, 0x00, 0x06, 0x04, /* Ethernet, IPv4, 6, 4 */
		0x00, 0x03,			    /* request reverse */
		0x52, 0x54, 0x00, 0x12, 0x34, 0x56, /* sender hardware */
		0x00, 0x00, 0x00, 0x00,		    /* sender IP: zero */
		0x52, 0x54, 0x00, 0x12, 0x34, 0x56, /* target hardware */
		0x00, 0x00, 0x00, 0x00,		    /* target IP: zero */
	};					    /* zero padding to 60 */
	uint8_t frame[ANNOUNCE_FRAME_LEN];

	(void)state;
	memset(frame, 0xa5, sizeof(frame));
	assert_int_equal(announce_build_rarp(frame, mac), 60);
	assert_memory_equal(frame, want, sizeof(want));
}

static void test_default_rounds_follow_qemu_schedule(void **state)
{
	static const uint64_t at[] = {1000, 1050, 1200, 1450, 1800};

	(void)state;
	now = 1000;
	assert_int_equal(announce_start(&ann, mac, ip(), 7, now), 0);
	run_until(5000);
	assert_int_equal(nsent, 10);
	for (int r = 0; r < 5; r++) {
		assert_int_equal(sent[2 * r].at_ms, at[r]);
		assert_int_equal(sent[2 * r].ethertype, ETH_P_ARP);
		assert_int_equal(sent[2 * r + 1].at_ms, at[r]);
		assert_int_equal(sent[2 * r + 1].ethertype, ETH_P_RARP);
		assert_int_equal(sent[2 * r].origin, 7);
	}
	assert_int_equal(announce_pending(&ann), 0);
}

static void test_without_ip_only_rarp_is_sent(void **state)
{
	(void)state;
	assert_int_equal(announce_start(&ann, mac, 0, NO_ORIGIN, 0), 0);
	run_until(2000);
	assert_int_equal(nsent, 5);
	for (int i = 0; i < nsent; i++)
		assert_int_equal(sent[i].ethertype, ETH_P_RARP);
	assert_int_equal(sent[0].origin, NO_ORIGIN);
}

static void test_late_poll_sends_one_round_and_counts_gap_from_then(void **state)
{
	(void)state;
	assert_int_equal(announce_start(&ann, mac, 0, 0, 0), 0);
	now = 0;
	announce_poll(&ann, now); /* round 1 at 0; round 2 due at 50 */
	now = 1000;
	announce_poll(&ann, now); /* held up: round 2 only */
	assert_int_equal(nsent, 2);
	now = 1149;
	announce_poll(&ann, now);
	assert_int_equal(nsent, 2);
	now = 1150;
	announce_poll(&ann, now); /* round 3, 150 ms after round 2 */
	assert_int_equal(nsent, 3);
}

static void test_custom_params_cap_gaps_at_max(void **state)
{
	const struct announce_params p = {
		.rounds = 4, .initial_ms = 100, .step_ms = 300, .max_ms = 500};
	static const uint64_t at[] = {0, 100, 500, 1000};

	(void)state;
	assert_int_equal(announce_set_params(&ann, &p), 0);
	assert_int_equal(announce_start(&ann, mac, 0, 0, 0), 0);
	run_until(3000);
	assert_int_equal(nsent, 4);
	for (int r = 0; r < 4; r++)
		assert_int_equal(sent[r].at_ms, at[r]);
}

static void test_params_change_leaves_running_announcement_alone(void **state)
{
	const struct announce_params one = {
		.rounds = 1, .initial_ms = 50, .step_ms = 100, .max_ms = 550};

	(void)state;
	assert_int_equal(announce_start(&ann, mac, 0, 0, 0), 0);
	assert_int_equal(announce_set_params(&ann, &one), 0);
	run_until(2000);
	assert_int_equal(nsent, 5);
}

static void test_bad_params_are_rejected(void **state)
{
	const struct announce_params zero = {.rounds = 0, .initial_ms = 50, .max_ms = 550};
	const struct announce_params inverted = {.rounds = 5, .initial_ms = 600, .max_ms = 550};

	(void)state;
	assert_int_equal(announce_set_params(&ann, &zero), -EINVAL);
	assert_int_equal(announce_set_params(&ann, &inverted), -EINVAL);
	assert_int_equal(ann.params.rounds, ANNOUNCE_ROUNDS);
}

static void test_restart_of_same_mac_takes_new_ip_and_starts_over(void **state)
{
	static const uint8_t new_ip[4] = {10, 0, 0, 5};
	uint32_t v;

	(void)state;
	assert_int_equal(announce_start(&ann, mac, 0, 0, 0), 0);
	run_until(100); /* rounds at 0 and 50 */
	assert_int_equal(nsent, 2);
	memcpy(&v, new_ip, 4);
	assert_int_equal(announce_start(&ann, mac, v, 3, now), 0);
	assert_int_equal(announce_pending(&ann), 1);
	run_until(5000);
	/* five full rounds of GARP + RARP after the restart */
	assert_int_equal(nsent, 2 + 10);
	assert_memory_equal(sent[2].frame + ARP_OFF_SPA, new_ip, 4);
	assert_int_equal(sent[2].origin, 3);
}

static void test_cancel_stops_announcement(void **state)
{
	(void)state;
	assert_int_equal(announce_start(&ann, mac, ip(), 0, 0), 0);
	announce_poll(&ann, 0);
	assert_int_equal(announce_cancel(&ann, mac), 0);
	run_until(2000);
	assert_int_equal(nsent, 2);
	assert_int_equal(announce_cancel(&ann, mac), -ENOENT);
}

static void test_group_or_zero_mac_is_rejected(void **state)
{
	static const uint8_t group[ETH_ALEN] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
	static const uint8_t zero[ETH_ALEN] = {0};

	(void)state;
	assert_int_equal(announce_start(&ann, group, 0, 0, 0), -EINVAL);
	assert_int_equal(announce_start(&ann, zero, 0, 0, 0), -EINVAL);
	assert_int_equal(announce_pending(&ann), 0);
}

static void test_slots_are_limited_and_run_independently(void **state)
{
	uint8_t m[ETH_ALEN] = {0x02, 0, 0, 0, 0, 0};

	(void)state;
	for (int i = 0; i < ANNOUNCE_SLOTS; i++) {
		m[5] = (uint8_t)(i + 1);
		assert_int_equal(announce_start(&ann, m, 0, i, (uint64_t)i), 0);
	}
	m[5] = 0xee;
	assert_int_equal(announce_start(&ann, m, 0, 0, 0), -ENOSPC);
	assert_int_equal(announce_pending(&ann), ANNOUNCE_SLOTS);
	run_until(5000);
	assert_int_equal(nsent, ANNOUNCE_SLOTS * ANNOUNCE_ROUNDS);
	assert_int_equal(announce_pending(&ann), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, setup)
		T(test_garp_frame_is_broadcast_request_with_sender_equal_target),
		T(test_rarp_frame_matches_qemu_announce_self),
		T(test_default_rounds_follow_qemu_schedule),
		T(test_without_ip_only_rarp_is_sent),
		T(test_late_poll_sends_one_round_and_counts_gap_from_then),
		T(test_custom_params_cap_gaps_at_max),
		T(test_params_change_leaves_running_announcement_alone),
		T(test_bad_params_are_rejected),
		T(test_restart_of_same_mac_takes_new_ip_and_starts_over),
		T(test_cancel_stops_announcement),
		T(test_group_or_zero_mac_is_rejected),
		T(test_slots_are_limited_and_run_independently),
#undef T
	};

	return cmocka_run_group_tests_name("announce", tests, NULL, NULL);
}
