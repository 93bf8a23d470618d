/* See harness.h. Aborts are findings: the fuzzer reports them. */
#include "tests/fuzz/harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "migrate/auth.h"
#include "migrate/record.h"
#include "migrate/stream.h"

void hpipe_init(struct hpipe *p, size_t cap)
{
	memset(p, 0, sizeof(*p));
	p->buf = malloc(cap ? cap : 1);
	p->cap = cap;
	p->chunk = SIZE_MAX;
	if (!p->buf)
		abort();
}

void hpipe_free(struct hpipe *p)
{
	free(p->buf);
	p->buf = NULL;
}

void hpipe_put(struct hpipe *p, const void *data, size_t len)
{
	if (p->len + len > p->cap) {
		size_t cap = (p->len + len) * 2;
		p->buf = realloc(p->buf, cap);
		if (!p->buf)
			abort();
		p->cap = cap;
	}
	memcpy(p->buf + p->len, data, len);
	p->len += len;
}

static ssize_t conn_send(void *ctx, const void *buf, size_t len)
{
	struct hconn *c = ctx;

	if (c->closed)
		abort();
	hpipe_put(c->tx, buf, len);
	return (ssize_t)len;
}

static ssize_t conn_recv(void *ctx, void *buf, size_t len)
{
	struct hconn *c = ctx;
	struct hpipe *p = c->rx;
	size_t n = p->len - p->off;

	if (c->closed)
		abort();
	if (n == 0)
		return p->eof ? -ECONNRESET : 0;
	if (n > len)
		n = len;
	if (n > p->chunk)
		n = p->chunk;
	memcpy(buf, p->buf + p->off, n);
	p->off += n;
	return (ssize_t)n;
}

static void conn_close(void *ctx)
{
	struct hconn *c = ctx;

	if (c->closed)
		abort();
	c->closed = true;
}

struct mig_transport hconn_transport(struct hconn *c)
{
	return (struct mig_transport){.send = conn_send, .recv = conn_recv, .close = conn_close, .ctx = c};
}

static uint64_t clock_now(void *ctx)
{
	return ((struct hclock *)ctx)->now;
}

static int clock_random(void *ctx, void *buf, size_t len)
{
	memset(buf, ((struct hclock *)ctx)->fill, len);
	return 0;
}

struct mig_host hclock_host(struct hclock *c)
{
	return (struct mig_host){.now_us = clock_now, .random = clock_random, .ctx = c};
}

size_t harness_prefix(uint8_t *buf, size_t cap, uint64_t caps)
{
	struct mig_stream_out o;
	struct mig_hello h = {.caps = caps, .page_shift = MIG_PAGE_SHIFT, .software = "tern"};
	uint8_t ns[MIG_NONCE_LEN], nd[MIG_NONCE_LEN], proof[MIG_PROOF_LEN];

	memset(ns, HARNESS_SRC_FILL, sizeof(ns));
	memset(nd, HARNESS_DST_FILL, sizeof(nd));
	memcpy(h.nonce, ns, sizeof(ns));
	if (mig_auth_proof(MIG_AUTH_SOURCE, (const uint8_t *)HARNESS_KEY, strlen(HARNESS_KEY), ns,
			   nd, proof))
		abort();
	mig_stream_out_init(&o, buf, cap);
	if (mig_stream_out_header(&o) || mig_record_put_hello(&o, &h) ||
	    mig_stream_out_put(&o, MIG_REC_AUTH, proof, sizeof(proof)))
		abort();
	return mig_stream_out_pending(&o);
}
