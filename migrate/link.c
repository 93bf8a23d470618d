/* The byte-moving half of a migration connection. */
#include "migrate/link.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/log.h"

#define TAG "migrate"

int mig_link_init(struct mig_link *l, const struct mig_transport *tp, const struct mig_host *host,
		  size_t out_cap, const struct mig_stream_limit *limits, size_t nlimits,
		  size_t in_cap, size_t rx_cap)
{
	memset(l, 0, sizeof(*l));
	l->tp = *tp;
	l->host = *host;
	/* Everything this connection needs is allocated here, once: the
	 * page loop and the receive path never allocate. */
	uint8_t *out = malloc(out_cap), *in = malloc(in_cap);
	l->rx = malloc(rx_cap);
	if (!out || !in || !l->rx) {
		free(out);
		free(in);
		free(l->rx);
		l->rx = NULL;
		return -ENOMEM;
	}
	mig_stream_out_init(&l->out, out, out_cap);
	int ret = mig_stream_in_init(&l->in, limits, nlimits, in, in_cap);
	if (ret) {
		free(out);
		free(in);
		free(l->rx);
		l->rx = NULL;
		return ret;
	}
	l->rx_cap = rx_cap;
	l->last_io_us = mig_link_now(l);
	return 0;
}

uint64_t mig_link_now(const struct mig_link *l)
{
	return l->host.now_us(l->host.ctx);
}

void mig_link_close(struct mig_link *l)
{
	if (!l->closed && l->tp.close)
		l->tp.close(l->tp.ctx);
	l->closed = true;
}

void mig_link_fini(struct mig_link *l)
{
	if (!l->rx)
		return;
	mig_link_close(l);
	free(l->out.buf);
	free(l->in.buf);
	free(l->rx);
	l->rx = NULL;
}

static int link_fail(struct mig_link *l, int *slot, int err, const char *why)
{
	if (!l->why)
		l->why = why;
	if (!*slot)
		*slot = err;
	return *slot;
}

bool mig_link_linger_start(struct mig_link *l)
{
	l->linger_from = mig_link_now(l);
	l->linger_unacked = SIZE_MAX;
	/* Not only queued bytes: those the transport took but the peer has
	 * not acknowledged are lost just the same if the close turns into a
	 * reset (a cancelled source's ERROR arrived cut that way). */
	return mig_link_can_send(l) &&
	       (mig_stream_out_pending(&l->out) || mig_link_unacked(l));
}

size_t mig_link_unacked(const struct mig_link *l)
{
	return l->tp.unacked && !l->closed ? l->tp.unacked(l->tp.ctx) : 0;
}

uint64_t mig_link_rx_age_us(const struct mig_link *l)
{
	return l->tp.rx_age_us && !l->closed ? l->tp.rx_age_us(l->tp.ctx) : 0;
}

int mig_link_linger(struct mig_link *l)
{
	ssize_t n = l->closed ? 0 : mig_link_flush(l, SIZE_MAX);
	uint64_t t = mig_link_now(l);
	/* Until the peer has acknowledged it all: a close can turn into a
	 * reset (lwIP sends one when received data is unread), and a reset
	 * drops whatever the transport still holds for the peer. */
	size_t held = mig_link_unacked(l);
	if (held < l->linger_unacked)
		l->last_io_us = t; /* acknowledgements are progress too */
	l->linger_unacked = held;
	uint64_t moved = l->last_io_us > l->linger_from ? l->last_io_us : l->linger_from;

	if (n >= 0 && (mig_stream_out_pending(&l->out) || held) && !l->closed &&
	    t - moved < MIG_LINGER_IDLE_US && t - l->linger_from < MIG_LINGER_MAX_US)
		return 1;
	if (n >= 0 && (mig_stream_out_pending(&l->out) || held))
		log_info(TAG, "closing with %llu bytes queued and %llu unacknowledged, after %llu ms",
			 (unsigned long long)mig_stream_out_pending(&l->out), (unsigned long long)held,
			 (unsigned long long)((t - l->linger_from) / 1000));
	mig_link_close(l);
	if (n < 0)
		return (int)n;
	return mig_stream_out_pending(&l->out) ? -ETIMEDOUT : 0;
}

bool mig_link_can_send(const struct mig_link *l)
{
	return !l->tx_err && !l->closed;
}

ssize_t mig_link_flush(struct mig_link *l, size_t max)
{
	size_t done = 0;

	if (l->tx_err)
		return l->tx_err;
	if (l->closed)
		return link_fail(l, &l->tx_err, -ENOTCONN, "connection closed");
	while (done < max && mig_stream_out_pending(&l->out)) {
		size_t n = mig_stream_out_pending(&l->out);
		if (n > max - done)
			n = max - done;
		ssize_t ret = l->tp.send(l->tp.ctx, mig_stream_out_data(&l->out), n);
		if (ret == 0)
			break;
		if (ret < 0)
			return link_fail(l, &l->tx_err, (int)ret, "connection lost while sending");
		if ((size_t)ret > n)
			return link_fail(l, &l->tx_err, -EIO,
					 "transport claims to have sent more than it was given");
		mig_stream_out_consume(&l->out, (size_t)ret);
		done += (size_t)ret;
		l->bytes_out += (uint64_t)ret;
		l->last_io_us = mig_link_now(l);
	}
	return (ssize_t)done;
}

int mig_link_next(struct mig_link *l, struct mig_stream_rec *rec)
{
	if (l->rx_err)
		return l->rx_err;
	for (;;) {
		if (l->rx_off < l->rx_len) {
			size_t used;
			int ret = mig_stream_in_feed(&l->in, l->rx + l->rx_off,
						     l->rx_len - l->rx_off, &used, rec);
			l->rx_off += used;
			if (ret < 0)
				return link_fail(l, &l->rx_err, ret, mig_stream_in_why(&l->in));
			if (ret)
				return 1;
			continue;
		}
		if (l->closed)
			return 0;
		ssize_t n = l->tp.recv(l->tp.ctx, l->rx, l->rx_cap);
		if (n == 0)
			return 0;
		if (n < 0) {
			l->peer_closed = true;
			int eof = mig_stream_in_eof(&l->in);
			if (eof && mig_stream_in_started(&l->in))
				return link_fail(l, &l->rx_err, (int)n,
						 "connection closed in the middle of a record");
			return link_fail(l, &l->rx_err, (int)n, "connection closed by the peer");
		}
		if ((size_t)n > l->rx_cap)
			return link_fail(l, &l->rx_err, -EIO,
					 "transport returned more than it was asked for");
		l->rx_len = (size_t)n;
		l->rx_off = 0;
		l->bytes_in += (uint64_t)n;
		l->last_io_us = mig_link_now(l);
	}
}
