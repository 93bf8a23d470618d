/* One end of a migration connection, shared by send.c and recv.c: the
 * output buffer drained into the transport, the decoder fed from it, and
 * the time of the last byte moved, for timeouts. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migrate/migrate.h"
#include "migrate/stream.h"

struct mig_link {
	struct mig_transport tp;
	struct mig_host host;
	struct mig_stream_out out;
	struct mig_stream_in in;
	uint8_t *rx;
	size_t rx_cap, rx_len, rx_off;
	uint64_t last_io_us;
	uint64_t linger_from; /* when the side finished, 0 before */
	size_t linger_unacked; /* the transport's unacked() at the last linger step */
	uint64_t bytes_out, bytes_in;
	bool peer_closed;
	bool closed;
	int tx_err;	 /* the transport failed sending: nothing more goes out */
	int rx_err;	 /* closed by the peer, failed receiving, or a bad stream */
	const char *why; /* what went wrong first, for messages */
};

int mig_link_init(struct mig_link *l, const struct mig_transport *tp, const struct mig_host *host,
		  size_t out_cap, const struct mig_stream_limit *limits, size_t nlimits,
		  size_t in_cap, size_t rx_cap);
/* Closes the transport if still open and frees the buffers. */
void mig_link_fini(struct mig_link *l);
/* Hand up to max pending bytes to the transport; returns how many it took
 * or a negative errno (l->why says what happened). */
ssize_t mig_link_flush(struct mig_link *l, size_t max);
/* The next complete record: 1 (rec filled, valid until the next call),
 * 0 (nothing complete yet), negative errno (closed, or a bad stream). */
int mig_link_next(struct mig_link *l, struct mig_stream_rec *rec);
void mig_link_close(struct mig_link *l);
/* After a side finished, its last queued bytes (an ERROR behind whole
 * records) go out, and are acknowledged when the transport can tell
 * (unacked), before the close. mig_link_linger hands them on and
 * answers 1 while the wait goes on; then it closes the transport and
 * answers 0 when all were taken, or a negative errno (-ETIMEDOUT: the wait
 * ran out). It waits as long as bytes keep moving, but MIG_LINGER_IDLE_US
 * at most without progress and MIG_LINGER_MAX_US in all: a peer that
 * stopped reading cannot hold a finished connection open, and one that is
 * merely slow, or recovering a lost segment, still gets the whole ERROR
 * rather than a cut record (lwIP's first retransmission comes after 1 to
 * 1.5 s on a LAN: one second was too short for that). mig_link_linger_start answers whether there
 * is anything to wait for. */
#define MIG_LINGER_IDLE_US 3000000u
#define MIG_LINGER_MAX_US 10000000u
bool mig_link_linger_start(struct mig_link *l);
int mig_link_linger(struct mig_link *l);
/* Bytes the transport took that the peer has not acknowledged (0 when the
 * transport cannot tell, or the link is closed). */
size_t mig_link_unacked(const struct mig_link *l);
/* Microseconds since the newest received bytes arrived (0 when the
 * transport cannot tell, or the link is closed). */
uint64_t mig_link_rx_age_us(const struct mig_link *l);
/* Whether a last record (ERROR, REFUSE) can still go out. */
bool mig_link_can_send(const struct mig_link *l);
uint64_t mig_link_now(const struct mig_link *l);
