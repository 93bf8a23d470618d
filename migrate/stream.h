/* Framing of the migration stream (docs/migration-stream.md, "Header" and
 * "Records"): building records into a byte buffer, decoding them from
 * arbitrary fragments, and the stream checksum END carries. Knows nothing
 * of what a payload means; record.c does. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The END checksum, fed any number of bytes at a time. */
struct mig_stream_sum {
	uint64_t a, b;
	uint32_t word;
	uint32_t nbytes;
};

void mig_stream_sum_init(struct mig_stream_sum *s);
void mig_stream_sum_update(struct mig_stream_sum *s, const void *data, size_t len);

/* Outgoing: records are built in place, then drained by the transport. */
struct mig_stream_out {
	uint8_t *buf;
	size_t cap;
	size_t head; /* first byte the transport has not taken */
	size_t tail; /* end of the committed records */
	size_t open; /* start of the record between begin and commit, or SIZE_MAX */
	struct mig_stream_sum sum;
};

void mig_stream_out_init(struct mig_stream_out *o, void *buf, size_t cap);
int mig_stream_out_header(struct mig_stream_out *o);
/* Room for a payload of up to max_len bytes, or NULL while the buffer is
 * too full (drain it and retry). Commit with the length actually used. */
uint8_t *mig_stream_out_begin(struct mig_stream_out *o, uint32_t type, uint32_t max_len);
void mig_stream_out_commit(struct mig_stream_out *o, uint32_t len);
void mig_stream_out_abort(struct mig_stream_out *o);
/* Forget everything not yet taken by the transport. */
void mig_stream_out_discard(struct mig_stream_out *o);
int mig_stream_out_put(struct mig_stream_out *o, uint32_t type, const void *payload, uint32_t len);
size_t mig_stream_out_pending(const struct mig_stream_out *o);
const uint8_t *mig_stream_out_data(const struct mig_stream_out *o);
void mig_stream_out_consume(struct mig_stream_out *o, size_t n);

/* Incoming. One entry per record type this end accepts. */
struct mig_stream_limit {
	uint32_t type;
	uint32_t min_len;
	uint32_t max_len;
};

struct mig_stream_rec {
	uint32_t type;
	uint32_t len;
	const uint8_t *payload;		  /* valid until the next feed */
	struct mig_stream_sum sum_before; /* checksum of the stream before this record */
};

struct mig_stream_in {
	const struct mig_stream_limit *limits;
	size_t nlimits;
	uint8_t *buf;
	size_t cap;
	int state;
	uint8_t hdr[16];
	uint32_t have;
	uint32_t type, len, got, pad;
	uint32_t version;
	struct mig_stream_sum sum, rec_start;
	uint64_t offset; /* bytes consumed so far, for messages */
	int err;
	const char *why;
	char why_buf[64]; /* a why that names numbers */
};

/* buf must hold the largest max_len in limits. */
int mig_stream_in_init(struct mig_stream_in *in, const struct mig_stream_limit *limits,
		       size_t nlimits, void *buf, size_t cap);
/* Consumes input until one record is complete (returns 1 and fills rec),
 * or all of it is consumed (returns 0), or the stream is bad (negative,
 * sticky; mig_stream_in_why says why). *used is what was consumed. */
int mig_stream_in_feed(struct mig_stream_in *in, const void *data, size_t len, size_t *used,
		       struct mig_stream_rec *rec);
/* The input ended: fine at a record boundary after the header, otherwise
 * -EBADMSG (truncated). */
int mig_stream_in_eof(struct mig_stream_in *in);
bool mig_stream_in_started(const struct mig_stream_in *in);
const char *mig_stream_in_why(const struct mig_stream_in *in);
const char *mig_stream_type_name(uint32_t type);
