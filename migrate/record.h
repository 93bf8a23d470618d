/* Payloads of the migration stream records (docs/migration-stream.md,
 * "Payloads"): encode into a mig_stream_out, decode and check from a
 * mig_stream_rec. Decoders check every field against the spec's limits
 * and return -EBADMSG (malformed) or -E2BIG (over a limit). */
#pragma once
#include <stdint.h>

#include "migrate/migrate.h"
#include "migrate/stream.h"

struct mig_hello {
	uint64_t caps;
	uint32_t page_shift;
	uint8_t nonce[MIG_NONCE_LEN];
	char software[MIG_SOFTWARE_LEN + 1];
};

struct mig_text {
	uint32_t code;
	char text[MIG_MAX_TEXT + 1];
};

struct mig_eor {
	uint32_t round;
	uint32_t flags;
	uint64_t pages;
};

struct mig_end {
	uint32_t rounds;
	uint64_t pages;
	uint64_t sum_a, sum_b;
};

struct mig_blob {
	uint32_t index; /* vCPU index or device id */
	uint32_t len;
	const uint8_t *data;
};

/* Built in place in the output buffer: the page loop copies each page
 * (or its delta) once, straight into the record. */
struct mig_batch {
	uint32_t type; /* MIG_REC_PAGE_DATA, MIG_REC_PAGE_DELTA or MIG_REC_DISK_DATA */
	uint8_t *payload;
	uint32_t count;
	uint32_t len;
};

struct mig_page_iter {
	const uint8_t *p, *end;
};

/* Records per direction, with their length bounds, for mig_stream_in_init. */
extern const struct mig_stream_limit mig_record_src_limits[];
extern const size_t mig_record_src_nlimits;
extern const struct mig_stream_limit mig_record_dst_limits[];
extern const size_t mig_record_dst_nlimits;

int mig_record_put_hello(struct mig_stream_out *o, const struct mig_hello *h);
int mig_record_get_hello(const struct mig_stream_rec *r, struct mig_hello *h);
int mig_record_put_config(struct mig_stream_out *o, const struct mig_guest_config *c);
int mig_record_get_config(const struct mig_stream_rec *r, struct mig_guest_config *c);
/* GUEST_CONFIG's payload length for c. */
uint32_t mig_record_config_len(const struct mig_guest_config *c);
int mig_record_put_text(struct mig_stream_out *o, uint32_t type, uint32_t code, const char *text);
int mig_record_get_text(const struct mig_stream_rec *r, struct mig_text *t);
int mig_record_put_eor(struct mig_stream_out *o, const struct mig_eor *e);
int mig_record_get_eor(const struct mig_stream_rec *r, struct mig_eor *e);
int mig_record_put_end(struct mig_stream_out *o, const struct mig_end *e);
int mig_record_get_end(const struct mig_stream_rec *r, struct mig_end *e);
int mig_record_put_handoff(struct mig_stream_out *o, uint64_t resume_us);
int mig_record_get_handoff(const struct mig_stream_rec *r, uint64_t *resume_us);
int mig_record_get_blob(const struct mig_stream_rec *r, struct mig_blob *b);

/* HELD_FRAMES: frame(ctx, i, ...) gives frame i (0 the oldest) or non-zero
 * past the last; the record takes up to MIG_HELD_MAX_FRAMES of them, and
 * *count says how many. */
typedef int (*mig_held_frame_fn)(void *ctx, unsigned i, const uint8_t **frame, size_t *len);
int mig_record_put_held(struct mig_stream_out *o, mig_held_frame_fn frame, void *ctx,
			uint32_t *count);
/* Checks the whole record (count, every length, nothing after the last
 * frame) before the first frame is given out: -EBADMSG, or 0. */
struct mig_held_iter {
	const uint8_t *p;
	uint32_t left;
};
int mig_record_held_begin(const struct mig_stream_rec *r, struct mig_held_iter *it);
bool mig_record_held_next(struct mig_held_iter *it, const uint8_t **frame, size_t *len);

/* A blob record (VCPU_STATE/DEVICE_STATE) filled by a callback: begin
 * returns where the blob goes (cap MIG_MAX_BLOB), commit its length. */
uint8_t *mig_record_blob_begin(struct mig_stream_out *o, uint32_t type, uint32_t index);
void mig_record_blob_commit(struct mig_stream_out *o, uint32_t len);

int mig_record_batch_begin(struct mig_stream_out *o, struct mig_batch *b);
/* The same for type MIG_REC_DISK_DATA, whose entries are a PAGE_DATA's
 * with block numbers for gfns (mig_record_pages_begin reads both). */
int mig_record_blocks_begin(struct mig_stream_out *o, struct mig_batch *b, uint32_t type);
/* Returns where the page's data now is in the record (NULL for a ZERO
 * entry): the copy that is sent, whatever the guest writes meanwhile. */
const uint8_t *mig_record_batch_add(struct mig_batch *b, uint64_t gfn, const void *data);
/* Commits a PAGE_DATA or a PAGE_DELTA batch. */
void mig_record_batch_commit(struct mig_stream_out *o, struct mig_batch *b);
/* Checks the whole batch (structure, flags, every gfn below npages,
 * exact length) and only then returns its page count. */
int mig_record_pages_begin(const struct mig_stream_rec *r, uint64_t npages,
			   struct mig_page_iter *it);
/* data is NULL for a ZERO entry. */
void mig_record_pages_next(struct mig_page_iter *it, uint64_t *gfn, const uint8_t **data);

/* PAGE_DELTA, the same way; len is at most MIG_DELTA_MAX. */
int mig_record_delta_begin(struct mig_stream_out *o, struct mig_batch *b);
void mig_record_delta_add(struct mig_batch *b, uint64_t gfn, const void *enc, uint32_t len);
/* Checks the structure (every gfn below npages, every len at most
 * MIG_DELTA_MAX, exact length), not the encodings (delta.h), and only then
 * returns the entry count. */
int mig_record_deltas_begin(const struct mig_stream_rec *r, uint64_t npages,
			    struct mig_page_iter *it);
void mig_record_deltas_next(struct mig_page_iter *it, uint64_t *gfn, const uint8_t **enc,
			    uint32_t *len);

/* DISK_BITMAP. The getter checks everything against the disk's size
 * (granularity, the bit count it implies, the length, no bit set past the
 * last) before it returns; b->bits then points into the record. */
int mig_record_put_bitmap(struct mig_stream_out *o, const struct mig_disk_bitmap *b);
int mig_record_get_bitmap(const struct mig_stream_rec *r, uint64_t disk_bytes,
			  struct mig_disk_bitmap *b);

/* ERROR/REFUSE codes against local errno values. */
uint32_t mig_record_code_of(int err);
int mig_record_err_of(uint32_t code);
const char *mig_record_code_name(uint32_t code);
