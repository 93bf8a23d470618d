/* The transports of the test doubles (fake.h): a socketpair, and two
 * in-memory pipes whose capacity, end of file, acknowledgements and
 * receive age a test sets. */
#include "tests/unit/migrate/fake.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static ssize_t sock_send(void *ctx, const void *buf, size_t len)
{
	struct fake_sock *s = ctx;

	if (s->closed)
		abort(); /* the machines must not use a transport after close */
	if (s->fd < 0)
		return -EPIPE;
	ssize_t n = send(s->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	return n;
}

static ssize_t sock_recv(void *ctx, void *buf, size_t len)
{
	struct fake_sock *s = ctx;

	if (s->closed)
		abort();
	if (s->fd < 0)
		return -ECONNRESET;
	ssize_t n = recv(s->fd, buf, len, MSG_DONTWAIT);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	if (s->corrupt_at >= s->received && s->corrupt_at < s->received + (uint64_t)n)
		((uint8_t *)buf)[s->corrupt_at - s->received] ^= 0x5a;
	s->received += (uint64_t)n;
	return n;
}

static void sock_close(void *ctx)
{
	struct fake_sock *s = ctx;

	if (s->closed)
		abort();
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->closed = true;
}

void fake_sock_pair(struct fake_sock *a, struct fake_sock *b)
{
	int fd[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fd))
		abort();
	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	a->fd = fd[0];
	b->fd = fd[1];
	a->corrupt_at = b->corrupt_at = UINT64_MAX;
}

struct mig_transport fake_sock_ops(struct fake_sock *s)
{
	return (struct mig_transport){
		.send = sock_send, .recv = sock_recv, .close = sock_close, .ctx = s};
}

void fake_sock_shut(struct fake_sock *s)
{
	if (s->fd >= 0)
		shutdown(s->fd, SHUT_RDWR);
}

void fake_mem_init(struct fake_mem *m)
{
	memset(m, 0, sizeof(*m));
	m->to_dst.cap = m->to_src.cap = UINT64_MAX;
}

void fake_mem_fini(struct fake_mem *m)
{
	free(m->to_dst.buf);
	free(m->to_src.buf);
}

void fake_pipe_inject(struct fake_pipe *p, const void *data, size_t len)
{
	if (p->len + len > p->size) {
		p->size = (p->len + len) * 2;
		p->buf = realloc(p->buf, p->size);
		if (!p->buf)
			abort();
	}
	memcpy(p->buf + p->len, data, len);
	p->len += len;
}

static ssize_t pipe_send(struct fake_pipe *out, bool closed, bool peer_closed, const void *buf,
			 size_t len)
{
	if (closed)
		abort();
	if (peer_closed)
		return -EPIPE;
	if (out->sent + len > out->cap)
		len = (size_t)(out->cap - out->sent);
	if (!len)
		return 0;
	fake_pipe_inject(out, buf, len);
	out->sent += len;
	return (ssize_t)len;
}

static ssize_t pipe_recv(struct fake_pipe *in, bool closed, void *buf, size_t len)
{
	if (closed)
		abort();
	if (in->off == in->len)
		return in->eof ? -ECONNRESET : 0;
	if (len > in->len - in->off)
		len = in->len - in->off;
	memcpy(buf, in->buf + in->off, len);
	in->off += len;
	return (ssize_t)len;
}

static ssize_t mem_src_send(void *ctx, const void *buf, size_t len)
{
	struct fake_mem *m = ctx;
	return pipe_send(&m->to_dst, m->src_closed, m->dst_closed, buf, len);
}

static ssize_t mem_src_recv(void *ctx, void *buf, size_t len)
{
	struct fake_mem *m = ctx;
	return pipe_recv(&m->to_src, m->src_closed, buf, len);
}

static void mem_src_close(void *ctx)
{
	struct fake_mem *m = ctx;
	if (m->src_closed)
		abort();
	m->src_closed = true;
	m->to_dst.eof = true;
}

static ssize_t mem_dst_send(void *ctx, const void *buf, size_t len)
{
	struct fake_mem *m = ctx;
	return pipe_send(&m->to_src, m->dst_closed, m->src_closed, buf, len);
}

static ssize_t mem_dst_recv(void *ctx, void *buf, size_t len)
{
	struct fake_mem *m = ctx;
	return pipe_recv(&m->to_dst, m->dst_closed, buf, len);
}

static void mem_dst_close(void *ctx)
{
	struct fake_mem *m = ctx;
	if (m->dst_closed)
		abort();
	m->dst_closed = true;
	m->to_src.eof = true;
}

static size_t mem_src_unacked(void *ctx)
{
	return ((struct fake_mem *)ctx)->src_unacked;
}

struct mig_transport fake_mem_src(struct fake_mem *m)
{
	return (struct mig_transport){.send = mem_src_send,
				      .recv = mem_src_recv,
				      .close = mem_src_close,
				      .unacked = mem_src_unacked,
				      .ctx = m};
}

static uint64_t mem_dst_rx_age_us(void *ctx)
{
	return ((struct fake_mem *)ctx)->dst_rx_age_us;
}

struct mig_transport fake_mem_dst(struct fake_mem *m)
{
	return (struct mig_transport){.send = mem_dst_send,
				      .recv = mem_dst_recv,
				      .close = mem_dst_close,
				      .rx_age_us = mem_dst_rx_age_us,
				      .ctx = m};
}
