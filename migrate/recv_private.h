/* The destination's state, shared by recv.c (the state machine) and
 * recv_disk.c (a guest's disk: DISK_DATA, DISK_BITMAP). Private to them. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migrate/auth.h"
#include "migrate/link.h"
#include "migrate/recv.h"

#define TAG "migrate"

#define OUT_CAP 4096u
#define RX_CAP (64u * 1024)
#define POLL_BUDGET (4u * 1024 * 1024)
#define DEFAULT_TIMEOUT 10000u

enum recv_state {
	R_WAIT_HELLO,
	R_WAIT_AUTH,
	R_WAIT_CONFIG,
	R_ROUNDS, /* ACCEPT sent: pages and END_OF_ROUND until the FINAL one */
	/* After the FINAL END_OF_ROUND: each state blob is checked and
	 * applied as it arrives, so every one of them has been accepted
	 * before END can start the guest. */
	R_STATE,
	R_HELD,	  /* done; HANDOFF_DONE sent, HELD_FRAMES may follow (MIG_CAP_HELD) */
	R_LINGER, /* finished; flushing the last answer */
	R_CLOSED,
};

struct mig_recv {
	uint8_t key[MIG_AUTH_KEY_MAX];
	size_t key_len;
	char refuse[120]; /* mig_recv_refuse(), "" if none */
	uint64_t timeout_us;
	struct mig_dst_guest g;
	struct mig_recv_events ev;
	struct mig_link link;
	enum recv_state state;
	bool header_sent;
	bool accepted; /* ACCEPT sent: answers are ERROR from now on */
	bool created;  /* create() succeeded and the guest is not yet started */

	uint8_t nonce_src[MIG_NONCE_LEN], nonce_dst[MIG_NONCE_LEN];
	struct mig_guest_config cfg;
	uint64_t npages;
	bool delta;	      /* both HELLOs offered DELTA: PAGE_DELTA may come */
	bool held;	      /* both HELLOs offered HELD: HELD_FRAMES follows HANDOFF_DONE */
	bool disk;	      /* both HELLOs offered DISK: a guest's disk may come */
	bool disk_base;	      /* ... and DISK_BASE: as what differs from a base */
	uint64_t disk_blocks; /* the guest's disk (GUEST_CONFIG), 0: none */
	uint64_t held_since;  /* when R_HELD began */
	/* With delta: pages whose last entry carried data, the only ones a
	 * delta may apply to (docs/migration-stream.md, "PAGE_DELTA"). */
	uint64_t *has_data;

	uint32_t round; /* the next END_OF_ROUND expected */
	uint64_t round_entries, entries_total;
	uint64_t vcpus_seen;
	uint32_t devs_seen;

	uint64_t t_start;
	enum mig_result result;
	int err;
	char reason[200];
	struct mig_incoming_summary summary;
};

static inline uint64_t now(const struct mig_recv *r)
{
	return mig_link_now(&r->link);
}

/* Give up: destroy what create() reserved, tell the source why (REFUSE
 * before ACCEPT, ERROR after) unless it was the source that gave up;
 * returns r->err. */
__attribute__((format(printf, 4, 5))) int recv_fail(struct mig_recv *r, int err, uint32_t code,
						    const char *fmt, ...);
/* A refused blob or bitmap (what: "vCPU 0", "disk bitmap b") fails the
 * migration here, before END: the source hears ERROR, keeps its guest,
 * and nothing that cannot run is ever started. */
int recv_refused(struct mig_recv *r, int ret, const char *what);
/* recv_disk.c: the records of a guest's disk; 0, or failed. */
int recv_on_disk(struct mig_recv *r, const struct mig_stream_rec *rec);
int recv_on_bitmap(struct mig_recv *r, const struct mig_stream_rec *rec);
