/* The destination machine fed from memory: shared by the libFuzzer target
 * and the program that records its seed streams, so both agree on the
 * key, the nonces and the handshake bytes. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migrate/migrate.h"

#define HARNESS_KEY "fuzz-key"
#define HARNESS_SRC_FILL 0x11 /* every nonce byte of the source */
#define HARNESS_DST_FILL 0x22 /* every nonce byte of the destination */
#define HARNESS_MAX_PAGES 64  /* the destination refuses bigger guests */

/* One direction of a connection, kept whole: what was read stays in buf. */
struct hpipe {
	uint8_t *buf;
	size_t len, cap, off;
	size_t chunk; /* most bytes one recv returns */
	bool eof;     /* once drained, recv reports the peer closed */
};

struct hconn {
	struct hpipe *rx, *tx;
	bool closed;
};

struct hclock {
	uint64_t now;
	uint8_t fill;
};

void hpipe_init(struct hpipe *p, size_t cap);
void hpipe_free(struct hpipe *p);
void hpipe_put(struct hpipe *p, const void *data, size_t len);
struct mig_transport hconn_transport(struct hconn *c);
struct mig_host hclock_host(struct hclock *c);
/* The source's first bytes up to and including its AUTH, as the real
 * source sends them with HARNESS_* nonces and key, offering caps in its
 * HELLO. */
size_t harness_prefix(uint8_t *buf, size_t cap, uint64_t caps);
