/*
 * tcpseq: a TCP stream of 8-byte big-endian sequence numbers (0, 1, 2,
 * ...), to show whether a connection survives a live migration intact.
 *   tcpseq -l PORT [-s STALL_MS] [-i PROGRESS_MS] [-1]   server
 *   tcpseq -c HOST:PORT [-r RATE] [-n COUNT] [-k SEQ] [-a COUNT]   client
 * The server reports every gap, reset, close and stall (silence longer
 * than STALL_MS) with a CLOCK_REALTIME timestamp in ms. Every line is
 * "tcpseq: EVENT key=value ..."; formats in guest/linux/README.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long ms_clock(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}
static long long wall_ms(void) { return ms_clock(CLOCK_REALTIME); }
static long long mono_ms(void) { return ms_clock(CLOCK_MONOTONIC); }

static void usage(void)
{
	fprintf(stderr,
		"usage: tcpseq -l PORT [-s STALL_MS] [-i PROGRESS_MS] [-1]\n"
		"       tcpseq -c HOST:PORT [-r RATE] [-n COUNT] [-k SEQ] [-a COUNT]\n"
		"  -s  report a stall after STALL_MS without data (default 1000)\n"
		"  -i  progress line every PROGRESS_MS (default 1000)\n"
		"  -1  serve one connection, exit 0 if it closed cleanly with no gap\n"
		"  -r  numbers per second (default 0: as fast as possible)\n"
		"  -n  send COUNT numbers, then close (default: forever)\n"
		"  -k  test only: skip sequence number SEQ\n"
		"  -a  test only: abort (reset) the connection after COUNT numbers\n");
	exit(2);
}

struct conn_stats {
	uint64_t expect, received, gaps, stalls;
};

/* One connection; returns 0 when it closed cleanly without a gap. */
static int serve(int fd, const char *peer, long stall_ms, long progress_ms)
{
	struct conn_stats st = { 0 };
	unsigned char buf[65536 + 8];
	size_t have = 0;
	long long last_data = mono_ms(), last_progress = last_data;
	int stalled = 0, result = 0;

	printf("tcpseq: connect t=%lld peer=%s\n", wall_ms(), peer);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long long now = mono_ms();
		long wait = progress_ms - (long)(now - last_progress);
		if (!stalled && stall_ms - (now - last_data) < wait)
			wait = stall_ms - (long)(now - last_data);
		int r = poll(&pfd, 1, wait < 0 ? 0 : (int)wait);
		now = mono_ms();
		if (r < 0 && errno != EINTR) {
			perror("tcpseq: poll");
			return 1;
		}
		if (!stalled && now - last_data >= stall_ms) {
			stalled = 1;
			st.stalls++;
			printf("tcpseq: stall t=%lld seq=%llu silent_ms=%lld\n", wall_ms(),
			       (unsigned long long)st.expect, now - last_data);
		}
		if (now - last_progress >= progress_ms) {
			last_progress = now;
			printf("tcpseq: progress t=%lld seq=%llu received=%llu gaps=%llu stalls=%llu\n",
			       wall_ms(), (unsigned long long)st.expect,
			       (unsigned long long)st.received, (unsigned long long)st.gaps,
			       (unsigned long long)st.stalls);
		}
		if (r <= 0)
			continue;
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				printf("tcpseq: reset t=%lld seq=%llu error=%s\n", wall_ms(),
				       (unsigned long long)st.expect, strerror(errno));
			else
				printf("tcpseq: close t=%lld seq=%llu partial_bytes=%zu\n", wall_ms(),
				       (unsigned long long)st.expect, have);
			result = n < 0 || have || st.gaps;
			break;
		}
		if (stalled)
			printf("tcpseq: resume t=%lld seq=%llu silent_ms=%lld\n", wall_ms(),
			       (unsigned long long)st.expect, now - last_data);
		stalled = 0;
		last_data = now;
		have += (size_t)n;
		size_t off = 0;
		for (; have - off >= 8; off += 8) {
			uint64_t v = 0;
			for (int i = 0; i < 8; i++)
				v = v << 8 | buf[off + i];
			if (v != st.expect) {
				st.gaps++;
				printf("tcpseq: gap t=%lld expected=%llu got=%llu\n", wall_ms(),
				       (unsigned long long)st.expect, (unsigned long long)v);
			}
			st.expect = v + 1;
			st.received++;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	printf("tcpseq: summary t=%lld seq=%llu received=%llu gaps=%llu stalls=%llu\n",
	       wall_ms(), (unsigned long long)st.expect, (unsigned long long)st.received,
	       (unsigned long long)st.gaps, (unsigned long long)st.stalls);
	close(fd);
	return result;
}

static int server(const char *port, long stall_ms, long progress_ms, int once)
{
	int s = socket(AF_INET6, SOCK_STREAM, 0), one = 1, zero = 0;
	if (s < 0) { /* a kernel without IPv6 */
		s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0) {
			perror("tcpseq: socket");
			return 1;
		}
	}
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int family = 0;
	socklen_t flen = sizeof(family);
	getsockopt(s, SOL_SOCKET, SO_DOMAIN, &family, &flen);
	if (family == AF_INET6) {
		setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)atoi(port));
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)atoi(port));
		len = sizeof(*a);
	}
	if (bind(s, (struct sockaddr *)&ss, len) < 0 || listen(s, 4) < 0) {
		perror("tcpseq: bind/listen");
		return 1;
	}
	printf("tcpseq: listen t=%lld port=%s\n", wall_ms(), port);
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd = accept(s, (struct sockaddr *)&peer, &plen);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			perror("tcpseq: accept");
			return 1;
		}
		char host[INET6_ADDRSTRLEN] = "?", name[INET6_ADDRSTRLEN + 8];
		unsigned port_no = 0;
		if (peer.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&peer;
			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
			port_no = ntohs(a->sin6_port);
			if (!strncmp(host, "::ffff:", 7)) /* v4-mapped: print the v4 address */
				memmove(host, host + 7, strlen(host + 7) + 1);
		} else if (peer.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&peer;
			inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
			port_no = ntohs(a->sin_port);
		}
		snprintf(name, sizeof(name), "%s:%u", host, port_no);
		int r = serve(fd, name, stall_ms, progress_ms);
		if (once)
			return r;
	}
}

static int client(const char *target, long rate, long long count, long long skip, long long abort_at)
{
	char host[256];
	const char *colon = strrchr(target, ':');
	if (!colon || (size_t)(colon - target) >= sizeof(host))
		usage();
	memcpy(host, target, (size_t)(colon - target));
	host[colon - target] = 0;
	/* Numeric addresses only: a static binary has no NSS for names. */
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	uint16_t port = (uint16_t)atoi(colon + 1);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') { /* [v6]:port */
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = 0;
	}
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		len = sizeof(*a4);
	} else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		len = sizeof(*a6);
	} else {
		printf("tcpseq: error: %s: not a numeric address\n", target);
		return 1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len) < 0) {
		printf("tcpseq: error: connect %s: %s\n", target, strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	printf("tcpseq: connected t=%lld peer=%s\n", wall_ms(), target);

	long long start = mono_ms();
	uint64_t seq = 0;
	long long sent = 0;
	unsigned char buf[8 * 512];
	for (;;) {
		if (count >= 0 && sent >= count)
			break;
		if (abort_at >= 0 && sent >= abort_at) {
			/* SO_LINGER 0: close() sends an RST instead of a FIN. */
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			printf("tcpseq: abort t=%lld seq=%llu sent=%lld\n", wall_ms(),
			       (unsigned long long)seq, sent);
			close(fd);
			return 0;
		}
		long long batch = (long long)(sizeof(buf) / 8);
		if (rate > 0) {
			long long due = (mono_ms() - start) * rate / 1000 + 1 - sent;
			if (due <= 0) {
				struct timespec ts = { 0, 1000000 };
				nanosleep(&ts, NULL);
				continue;
			}
			if (due < batch)
				batch = due;
		}
		if (count >= 0 && count - sent < batch)
			batch = count - sent;
		if (abort_at >= 0 && abort_at - sent < batch)
			batch = abort_at - sent;
		for (long long b = 0; b < batch; b++) {
			if (skip >= 0 && seq == (uint64_t)skip)
				seq++;
			for (int i = 0; i < 8; i++)
				buf[b * 8 + i] = (unsigned char)(seq >> (56 - 8 * i));
			seq++;
		}
		size_t len = (size_t)batch * 8, off = 0;
		while (off < len) {
			ssize_t n = write(fd, buf + off, len - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				printf("tcpseq: error: write t=%lld seq=%llu: %s\n", wall_ms(),
				       (unsigned long long)seq, strerror(errno));
				return 1;
			}
			off += (size_t)n;
		}
		sent += batch;
	}
	close(fd);
	printf("tcpseq: sent t=%lld seq=%llu sent=%lld\n", wall_ms(), (unsigned long long)seq, sent);
	return 0;
}

int main(int argc, char **argv)
{
	const char *listen_port = NULL, *target = NULL;
	long stall_ms = 1000, progress_ms = 1000, rate = 0;
	long long count = -1, skip = -1, abort_at = -1;
	int once = 0, opt;

	while ((opt = getopt(argc, argv, "l:c:s:i:r:n:k:a:1")) != -1) {
		switch (opt) {
		case 'l': listen_port = optarg; break;
		case 'c': target = optarg; break;
		case 's': stall_ms = strtol(optarg, NULL, 0); break;
		case 'i': progress_ms = strtol(optarg, NULL, 0); break;
		case 'r': rate = strtol(optarg, NULL, 0); break;
		case 'n': count = strtoll(optarg, NULL, 0); break;
		case 'k': skip = strtoll(optarg, NULL, 0); break;
		case 'a': abort_at = strtoll(optarg, NULL, 0); break;
		case '1': once = 1; break;
		default: usage();
		}
	}
	if (optind != argc || !listen_port == !target || stall_ms <= 0 || progress_ms <= 0)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	return listen_port ? server(listen_port, stall_ms, progress_ms, once)
			   : client(target, rate, count, skip, abort_at);
}
