/* Test doubles for migrate/: a guest whose "vCPU" keeps writing its memory
 * with an exact dirty log, a destination guest that records what it is
 * given, a manual clock, and non-blocking socketpair transports. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "migrate/migrate.h"

struct fake_clock {
	uint64_t now;
	uint64_t rng;  /* for the nonces */
	uint64_t tick; /* microseconds each reading of the clock advances it */
};

struct mig_host fake_host(struct fake_clock *c);
/* A GUEST_CONFIG with every field set: a name, 3 devices, a MAC and an
 * IPv4 address, 100 bytes of CPUID (the record tests spoil it). */
void fake_config_fill(struct mig_guest_config *c);

#define FAKE_BLOB_LEN 96
#define FAKE_DISK_MAX (4u << 20) /* the biggest disk a fake destination makes (fuzzed configs) */

struct fake_src {
	struct mig_guest_config cfg;
	uint64_t npages;
	uint8_t *mem;
	uint64_t *log; /* the dirty log: exact, one bit per page written */
	bool tracking, paused, destroyed;
	int pauses, resumes, harvests, starts, stops;
	int vcpu_reads;
	uint64_t writes; /* also the vCPUs' "program counter" */
	uint64_t rng;
	int pause_ret;
	/* Frames its network port took after its device state was read
	 * (held_frame), and how often they were asked for. */
	unsigned held_count;
	uint8_t held[4][64];
	int held_reads;
	/* A disk (fake_src_add_disk): the guest writes it too, and its log
	 * is as exact as the memory's. disk_read_fail: the read of this
	 * block fails with -EIO (UINT64_MAX: none). */
	uint64_t disk_blocks;
	uint8_t *disk;
	uint64_t *disk_log;
	bool disk_tracking;
	int disk_starts, disk_stops;
	uint64_t disk_reads, disk_read_fail;
	/* A clone's disk (fake_src_make_clone): the blocks that differ from
	 * its base, which the guest's writes add to. */
	uint64_t *disk_held;
	uint64_t disk_held_at_start;
	int disk_held_reads;
	/* Its dirty bitmaps (64 KiB granules), read only while paused. */
	unsigned nbitmaps;
	struct mig_disk_bitmap bitmaps[2];
	uint8_t bitmap_bits[2][64];
};

void fake_src_init(struct fake_src *g, uint64_t npages, uint32_t vcpus, uint32_t ndev);
void fake_src_fini(struct fake_src *g);
/* A disk of nblocks MIG_DISK_BLOCKs, called "vol-web1": half its blocks
 * hold data, the rest are zero. */
void fake_src_add_disk(struct fake_src *g, uint64_t nblocks);
/* That disk as a clone of base "base-web1" (what fake_disk_base_fill
 * makes, which a destination holds too): every seventh block differs. */
void fake_src_make_clone(struct fake_src *g);
void fake_disk_base_fill(uint8_t *disk, uint64_t nblocks);
/* Two bitmaps of 64 KiB granules on it, "backup" (persistent) and "tmp",
 * with a few bits set. */
void fake_src_add_bitmaps(struct fake_src *g);
/* The guest runs: n writes to random pages, some zeroing a whole page.
 * Nothing happens while it is paused. */
void fake_src_run(struct fake_src *g, unsigned n);
struct mig_src_guest fake_src_ops(struct fake_src *g);
/* The state blob the fake gives for vCPU i (or device id | 0x100). */
void fake_blob(const struct fake_src *g, uint32_t which, uint8_t out[FAKE_BLOB_LEN]);

struct fake_dst {
	struct mig_guest_config cfg;
	uint64_t max_pages; /* create() beyond this: -ENOMEM; 0: no limit */
	uint64_t npages;
	uint8_t *mem;
	bool created, started;
	int creates, destroys, starts;
	int create_ret, cpuid_ret, write_ret, start_ret;
	/* set_vcpu_state / set_device_state refuse with these (a blob this
	 * host cannot run), saying why_text through the why op. */
	int vcpu_ret, dev_ret;
	const char *why_text;
	int refusals;
	/* The first FAKE_BLOB_LEN bytes of each state blob, and its length. */
	uint8_t vcpu[MIG_MAX_VCPUS][FAKE_BLOB_LEN];
	uint8_t dev[MIG_MAX_DEVICES][FAKE_BLOB_LEN];
	size_t vcpu_len[MIG_MAX_VCPUS], dev_len[MIG_MAX_DEVICES];
	uint64_t vcpu_late_us; /* the last set_vcpu_state's late_us */
	uint64_t pages_written;
	uint64_t pages_patched; /* pages handed out by the page op, for a delta */
	/* Frames deliver_frame gave the started guest, the first 64 bytes of each. */
	unsigned delivered;
	uint8_t frames[8][64];
	bool no_frames; /* offers no deliver_frame: an older destination */
	/* Its disk, made by create (filled with 0xEE: the source must send
	 * every block, zeros too); no_disk: no write_disk op; disk_ret:
	 * create refuses a disk with it, saying why_text. */
	uint8_t *disk;
	uint64_t disk_blocks;
	bool no_disk;
	int disk_ret;
	uint64_t blocks_written, blocks_synced, syncs;
	uint64_t flushes; /* disk_flush calls */
	/* The bitmaps set_disk_bitmap made (bitmap_ret: it refuses them). */
	unsigned nbitmaps, bitmap_updates;
	struct mig_disk_bitmap bitmaps[2];
	uint8_t bitmap_bits[2][64];
	int bitmap_ret;
};

void fake_dst_fini(struct fake_dst *d);
/* Aborts if the destination broke a promise for this result: a guest
 * started and destroyed, or memory left reserved after a failure. */
void fake_dst_check(const struct fake_dst *d, enum mig_result r);
struct mig_dst_guest fake_dst_ops(struct fake_dst *d);

/* One end of a socketpair as a transport. corrupt_at flips one received
 * byte at that stream offset (UINT64_MAX: never). */
struct fake_sock {
	int fd;
	uint64_t received;
	uint64_t corrupt_at;
	bool closed;
};

void fake_sock_pair(struct fake_sock *a, struct fake_sock *b);
struct mig_transport fake_sock_ops(struct fake_sock *s);
void fake_sock_shut(struct fake_sock *s); /* the cable is cut */

/* An in-memory connection with no buffer limit, so one poll can move as
 * much as the machine wants; `cap` bounds what the sending side has been
 * allowed to hand over in total (UINT64_MAX: no bound), so a test decides
 * exactly when the last byte of a record leaves. */
struct fake_pipe {
	uint8_t *buf;
	size_t len, off, size;
	uint64_t sent, cap;
	bool eof; /* the writer closed */
};

struct fake_mem {
	struct fake_pipe to_dst, to_src;
	bool src_closed, dst_closed;
	size_t src_unacked; /* what the source's transport says the peer has not acknowledged */
	uint64_t dst_rx_age_us; /* what the destination's says of its newest bytes' age */
};

void fake_mem_init(struct fake_mem *m);
void fake_mem_fini(struct fake_mem *m);
struct mig_transport fake_mem_src(struct fake_mem *m);
struct mig_transport fake_mem_dst(struct fake_mem *m);
/* Bytes put straight into a pipe, as an attacker on the path would. */
void fake_pipe_inject(struct fake_pipe *p, const void *data, size_t len);
