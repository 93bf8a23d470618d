/* The harness of the state-machine tests (test_migrate*.c): a source and a
 * destination machine joined by a real non-blocking socketpair or an
 * in-memory pipe, both polled in turn by one thread while the fake guest
 * keeps writing its memory; and a scripted source ("raw") that speaks
 * records of its own choosing to a real destination machine. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migrate/record.h"
#include "migrate/recv.h"
#include "migrate/send.h"
#include "tests/unit/migrate/fake.h"

#define KEY "correct horse battery staple"
#define NPAGES 1024
#define MAX_POLLS 200000

struct run {
	struct fake_clock clock;
	struct fake_src src;
	struct fake_dst dst;
	struct fake_sock ss, ds; /* the source's and the destination's end */
	struct fake_mem mem;	 /* or an in-memory connection (run_new_on) */
	bool use_mem;
	struct mig_send *s;
	struct mig_recv *r;
	int sret, rret;
	unsigned writes_per_poll;
	uint64_t step_us;
	int polls;
	struct mig_round_row rows[64];
	int nrows;
	struct mig_summary sum;
	char sum_reason[256];
	int sum_calls;
	struct mig_incoming_summary isum;
	int isum_calls;
};

/* The next run's guest was paused by the operator (GUEST_CONFIG says so). */
extern bool start_paused;
/* The next run's destination has no page op: it takes no deltas. */
extern bool dst_without_deltas;
/* The next run's destination has no deliver_frame op (an older one). */
extern bool dst_without_frames;
/* The next run's guest has a disk of this many blocks (0: none), and its
 * destination no write_disk op (an older one). */
extern uint64_t src_disk_blocks;
extern bool dst_without_disk;
extern bool src_disk_clone; /* ... and it is a clone (copy-storage inc) */
/* The TSC rates the source states and the destination has (0: none). */
extern uint32_t src_tsc_khz, dst_tsc_khz;

/* Both machines started, the source's guest at NPAGES pages with 2 vCPUs
 * and 2 devices; over the in-memory pipe (t->mem) if mem, else over the
 * socketpair (t->ss, t->ds). */
struct run *run_new_on(const struct mig_send_params *sp, const char *dst_key, bool mem);
struct run *run_new(const struct mig_send_params *sp, const char *dst_key);
/* One step: the source, the guest's writes, the destination, the clock. */
void run_poll(struct run *t);
/* Until both machines are done (each has told its summary once). */
void run_to_end(struct run *t);
void run_free(struct run *t);
/* Until the destination has written this many pages, both still going. */
void run_until_pages(struct run *t, uint64_t pages);
/* Poll both ends until the source has handed over all the pipe allows. */
void run_until_blocked(struct run *t);

uint64_t nonzero_pages(const struct fake_src *g);
/* Every page holds data. */
void fill_all_pages(struct run *t);
/* A record to the source as if from the destination (in-memory runs). */
void inject_to_source(struct run *t, uint32_t type, const void *payload, uint32_t len);

/* The guest moved: done on both ends, the destination holds it byte for
 * byte and runs it, the source destroyed it. */
void assert_moved(struct run *t);
/* The guest left running on the source, nothing on the destination. */
void assert_stayed(struct run *t, int err);
/* The guest runs on at most one host, whatever happened. */
void assert_never_on_both(const struct run *t);

/* A scripted source speaking raw records to a real destination machine. */
struct raw {
	struct run *t;
	uint8_t *out_mem, in_mem[4096];
	struct mig_stream_out out;
	struct mig_stream_in in;
	uint8_t ns[32], nd[32];
};

/* HELLO (with these capabilities) sent, the destination's HELLO and AUTH
 * read and checked. */
struct raw *raw_new_caps(uint64_t caps);
struct raw *raw_new(void);
/* Sends what was written and polls the destination a few times. */
void raw_flush(struct raw *w);
/* The next record the destination sent (0: none yet). */
uint32_t raw_answer(struct raw *w, struct mig_stream_rec *rec);
/* The right proof and the guest's config; the destination accepts. */
void raw_auth_and_config(struct raw *w);
void raw_free(struct raw *w);
/* Records written, not yet sent (raw_flush). A PAGE_DATA of one page
 * (ZERO if data is NULL); */
void raw_page_data(struct raw *w, uint64_t gfn, const void *data);
/* a PAGE_DELTA of this page, then a good one of page 7; */
void raw_delta(struct raw *w, uint64_t gfn, const void *enc, uint32_t len);
/* an END_OF_ROUND. */
void raw_eor(struct raw *w, uint32_t round, uint64_t pages);
