/* Migration statistics and the lines the console prints for them: one
 * header, one row per round, a summary. docs/migration.md explains every
 * column. Formatting is for the console only, never in the page loop. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migrate/migrate.h"
#include "migrate/policy.h"

struct mig_round_row {
	uint32_t round;
	bool final;		/* sent with the guest paused (stop-and-copy) */
	uint64_t pages_sent;	/* pages sent with data: their 4 KiB, or a delta */
	uint64_t pages_delta;	/* of those, sent as a delta (not printed in the row) */
	uint64_t delta_saved;	/* bytes those deltas saved over whole pages */
	uint64_t pages_zero;	/* zero pages: skipped in round 0, ZERO entries after */
	uint64_t bytes;		/* stream bytes put on the wire during the round */
	uint64_t elapsed_us;	/* round start to its last byte taken by the transport */
	uint64_t pages_dirtied; /* pages the guest wrote during the round */
	uint64_t pages_left;	/* dirty at the end of the round: the next round's work */
	uint32_t throttle_pct;	/* auto-converge's throttle on the guest during the round */
	bool disk;		/* a disk moves: the row shows its two columns */
	uint64_t blocks_sent;	/* disk blocks sent with data (copy-storage) */
	uint64_t blocks_zero;	/* disk blocks sent as ZERO entries */
};

/* Delta compression, as the summary's `delta pages:` line tells it. */
enum mig_delta_use {
	MIG_DELTA_OFF,	     /* not asked for (or offline): no line */
	MIG_DELTA_ON,	     /* the cache was made and the destination takes deltas */
	MIG_DELTA_NO_MEMORY, /* no memory for the cache: whole pages only */
	MIG_DELTA_PEER,	     /* the destination does not take deltas */
};

/* The source's summary. */
struct mig_summary {
	enum mig_result result;
	const char *reason; /* why it failed, or why it is uncertain */
	uint64_t total_us;  /* start to HANDOFF_DONE (or to failure) */
	uint64_t setup_us;  /* start to ACCEPT: connect, authenticate, pre-check, create */
	bool downtime_known;
	uint64_t downtime_src_us; /* pause to last byte of END taken by the transport */
	uint64_t downtime_dst_us; /* destination: END received to guest started */
	uint64_t downtime_max_us; /* pause to HANDOFF_DONE received */
	uint64_t bytes;		  /* source stream bytes put on the wire */
	uint64_t pages_sent;
	uint64_t pages_zero;
	uint64_t ram_pages;
	uint32_t rounds;	   /* including the final one */
	uint32_t throttle_max_pct; /* auto-converge's highest throttle; 0: none */
	enum mig_delta_use delta;
	uint64_t delta_cache_bytes;
	uint64_t pages_delta; /* pages sent as a delta (also in pages_sent) */
	uint64_t delta_saved; /* what whole pages would have cost more */
	enum mig_stop stop;
	/* Where the migration's own time went (the `time in:` line): */
	uint64_t harvest_us; /* reading and clearing the dirty log */
	uint64_t pages_us;   /* zero checks, copying pages into records */
	uint64_t send_us;    /* handing bytes to the transport (TLS, TCP) */
	uint32_t frames_held; /* frames for the guest passed on in HELD_FRAMES */
	/* copy-storage: the disk's size in blocks (0: no disk moved) and the
	 * blocks sent with data and as ZERO entries, all rounds. */
	uint64_t disk_blocks;
	uint64_t blocks_sent, blocks_zero;
	uint32_t bitmaps; /* the disk's dirty bitmaps sent */
};

/* The destination's summary. */
struct mig_incoming_summary {
	enum mig_result result;
	const char *reason;
	char name[MIG_NAME_FIELD];
	uint64_t total_us;    /* first byte received to HANDOFF_DONE sent (or to failure) */
	uint64_t resume_us;   /* END received to guest started */
	uint64_t bytes;	      /* received */
	uint64_t pages_sent;  /* with data: whole or as a delta */
	uint64_t pages_delta; /* of those, as a delta */
	uint64_t pages_zero;
	uint32_t rounds;
	uint64_t pages_us; /* checking page records, copying them into the guest */
	uint64_t recv_us;  /* taking bytes from the transport, decoding records */
	uint32_t frames_held; /* frames the source held, given to the guest after it started */
	uint64_t blocks_sent; /* disk blocks received with data */
	uint64_t blocks_zero; /* disk blocks received as ZERO entries */
	uint32_t bitmaps;     /* the disk's dirty bitmaps made here */
};

/* Each returns the length written (as snprintf does, truncating to cap). */
int mig_stats_header(char *buf, size_t cap, bool disk);
int mig_stats_row(const struct mig_round_row *row, char *buf, size_t cap);
/* Several lines, each ended by '\n'. */
int mig_stats_summary(const struct mig_summary *s, char *buf, size_t cap);
int mig_stats_incoming(const struct mig_incoming_summary *s, char *buf, size_t cap);
const char *mig_stats_result_name(enum mig_result r);
