/* The source's state, shared by send.c (the state machine: handshake,
 * answers, state records, the transport), send_pages.c (the rounds: the
 * page loop and its delta cache) and send_disk.c (what a disk adds: its
 * blocks' place in the round bitmap, its bitmaps, copy-storage inc's
 * round 0). Private to those files. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migrate/auth.h"
#include "migrate/delta.h"
#include "migrate/delta_cache.h"
#include "migrate/link.h"
#include "migrate/policy.h"
#include "migrate/send.h"

#define TAG "migrate"

/* Disk blocks read with one request at most (256 KiB): a run of dirty
 * blocks from the one taken, so round 0 reads the disk in big pieces and
 * a lone dirty block costs one block's read. */
#define DISK_READ_BLOCKS 64u

/* What may happen next depends on the state alone, and on one fact that is
 * read from the output buffer rather than remembered: whether the last byte
 * of END has been taken by the transport (end_left). */
enum send_state {
	S_START,
	S_WAIT_AUTH,   /* sent HELLO; waiting for the destination's HELLO + AUTH */
	S_WAIT_ACCEPT, /* sent AUTH + GUEST_CONFIG */
	S_ROUND,       /* sending a round's pages */
	S_ROUND_DRAIN, /* END_OF_ROUND queued; the round ends when it is out */
	S_PRE_PAUSE,   /* iterating stopped; the guest runs until the transport is empty */
	S_STATE,       /* paused, final pages queued: vCPU and device state, END */
	/* Entered the moment END is queued; nothing is produced after it.
	 * While part of END is still queued the destination cannot have
	 * started the guest; once all of it left, only HANDOFF_DONE or ERROR
	 * may follow, and losing the peer leaves the outcome unknown. */
	S_HANDOFF,
	S_LINGER, /* finished; flushing a last ERROR */
	S_CLOSED,
};

/* One page of the round, looked at: what goes on the wire for it. */
struct page_out {
	uint32_t type; /* MIG_REC_PAGE_DATA, MIG_REC_PAGE_DELTA or MIG_REC_DISK_DATA; 0: none */
	uint64_t gfn;  /* DISK_DATA: the block */
	const uint8_t *data; /* PAGE_DATA: the 4 KiB to send, NULL for ZERO */
	uint32_t enc_len;    /* PAGE_DELTA: bytes in enc */
};

struct mig_send {
	uint64_t poll_end_us; /* this poll's pre-copy time is up (POLL_TIME_US) */
	uint64_t now_seen;    /* the clock's last reading in this poll (stage times) */
	uint8_t key[MIG_AUTH_KEY_MAX];
	size_t key_len;
	bool offline;
	bool authenticated;
	uint32_t bandwidth_mbit;
	uint64_t timeout_us;
	struct mig_src_guest g;
	struct mig_send_events ev;
	struct mig_link link;
	struct mig_policy policy;
	uint32_t throttle_pct; /* what the guest has now (set_throttle) */
	enum send_state state;

	struct mig_guest_config cfg;
	uint64_t npages;
	/* One bitmap for what a round sends: bits 0 .. npages - 1 the guest's
	 * pages, then, from the word-aligned bit disk_base, its disk's
	 * blocks (copy-storage), so the rounds, the stop rule and
	 * auto-converge weigh dirty blocks as they weigh dirty pages. */
	uint64_t disk_base, disk_blocks;
	uint64_t space;	  /* bits that may be set: npages, or disk_base + disk_blocks */
	uint64_t *bitmap; /* pages (and blocks) still to send in this round */
	size_t nwords;
	uint64_t cursor;
	/* Blocks read ahead: the run of dirty blocks from the one taken, up to
	 * DISK_READ_BLOCKS, not a request per block. Emptied when a round
	 * starts, so no round sends what was read before its harvest. */
	uint8_t *disk_buf;
	uint64_t disk_buf_first;
	uint32_t disk_buf_n;
	int disk_err; /* a disk read of disk_err_n blocks at disk_err_block failed: the end */
	uint64_t disk_err_block;
	uint32_t disk_err_n;
	bool disk_dirty_on;
	/* A page taken from the bitmap that did not fit the batch then open
	 * (the other record type): the next batch starts with it. */
	struct page_out held;
	uint64_t round_todo; /* pages the bitmap held at the start of the round */
	uint32_t round;
	bool final;
	bool dirty_on;
	bool paused;
	bool end_noted; /* the moment END left was recorded (t_end, last row) */
	uint32_t next_vcpu, next_dev, next_bitmap;

	struct mig_delta_cache cache; /* slots 0: no deltas */
	bool delta;		      /* the cache is there and the destination takes deltas */
	bool pass_frames; /* both HELLOs offered HELD: HELD_FRAMES follows HANDOFF_DONE */
	/* A page about to go as a delta is encoded from this snapshot, and the
	 * snapshot is what the cache keeps: the guest may write the page
	 * meanwhile, and the cache must hold exactly what the destination
	 * will. */
	uint8_t snap[MIG_PAGE_SIZE];
	uint8_t enc[MIG_DELTA_MAX];

	uint8_t nonce_src[MIG_NONCE_LEN], nonce_dst[MIG_NONCE_LEN];
	bool have_peer_hello;

	struct mig_round_row row;
	uint64_t round_start_us, round_bytes0;
	uint64_t round_entries, entries_total;
	uint64_t last_rate_x10, last_bytes, last_elapsed;
	uint64_t pages_left;

	uint64_t t_start, t_accept, t_pause, t_end;
	uint64_t t_stop; /* iterating stopped (S_PRE_PAUSE began) */
	uint64_t tokens_bits, tokens_at;

	enum mig_result result;
	int err;
	enum mig_stop stop;
	char reason[200];
	struct mig_summary summary;
};

static inline uint64_t now(const struct mig_send *s)
{
	return mig_link_now(&s->link);
}

/* send_pages.c */
/* Give up (send.c): the reason, the guest kept or not, an ERROR to the
 * peer; returns s->err. */
__attribute__((format(printf, 5, 6))) int send_fail(struct mig_send *s, int err, uint32_t code,
						    bool peer_said, const char *fmt, ...);

/* send_disk.c: at start, the disk's bits after the pages' and the read
 * buffer (0, -EINVAL for a guest without the disk ops, -ENOMEM); bitmap
 * i (1 put, 0 past the last, -ENOSPC no room in the output yet, or
 * failed); all of them ahead of round 0 (0 or failed); round 0's disk
 * bits for copy-storage inc (0 or failed). */
int send_disk_setup(struct mig_send *s);
int send_put_bitmap(struct mig_send *s, unsigned i);
int send_put_bitmaps_early(struct mig_send *s);
int send_disk_round0(struct mig_send *s);

void send_start_delta(struct mig_send *s, uint32_t mib);
uint64_t send_count_bits(const uint64_t *bitmap, size_t nwords);
void send_mask_space(struct mig_send *s);
void send_start_round(struct mig_send *s, uint32_t round, bool final, uint64_t t);
/* Pre-copy's time in this poll is up (the final round runs to its end). */
bool send_time_up(struct mig_send *s);
/* One batch of the round's pages; at the round's end, END_OF_ROUND and the
 * next state. 1 if it did something, 0 if the output had no room, the
 * disk read's negative errno if one failed (disk_err_block). */
int send_produce_batch(struct mig_send *s);

/* send.c: whether END has wholly left (the destination may hold all of
 * it); the first time it is seen gone, the final round's row and the wait
 * for HANDOFF_DONE; both dirty logs on before round 0; the end of the
 * migration (summary, linger, the done event). */
bool send_end_left(const struct mig_send *s);
void send_note_end_left(struct mig_send *s);
int send_dirty_start_all(struct mig_send *s);
void send_finish(struct mig_send *s);
/* send_answers.c: one record from the destination; 1 or 0 when taken,
 * negative once the migration failed. */
int send_on_record(struct mig_send *s, const struct mig_stream_rec *rec);
