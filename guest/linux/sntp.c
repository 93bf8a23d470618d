/*
 * sntp: a one-shot SNTP client and a minimal SNTP server (RFC 4330), so a
 * Linux guest can take its clock from the lab to the millisecond (its CMOS
 * clock gives whole seconds) and show afterwards how far it has drifted.
 *   sntp -l PORT [-o MS]  serve this machine's CLOCK_REALTIME (-o: plus MS,
 *                         for tests of the client)
 *   sntp -q HOST[:PORT]   print HOST's clock minus this one (offset_ms)
 *   sntp -s HOST[:PORT]   the same, then step this clock by that offset
 * The client sends four requests and keeps the one with the shortest
 * round trip (an NTP client's clock filter, reduced to its core). Lines
 * are "sntp: EVENT key=value ..."; formats in guest/linux/README.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NTP_UNIX_EPOCH 2208988800ull /* seconds from 1900 to 1970 */
#define NTP_PACKET 48
#define MODE_CLIENT 3
#define MODE_SERVER 4
#define TRIES 4
#define REPLY_TIMEOUT_MS 1000

/* NTP timestamps: 32.32 fixed point seconds since 1900, big-endian. */
static uint64_t to_ntp(const struct timespec *ts)
{
	uint64_t frac = ((uint64_t)ts->tv_nsec << 32) / 1000000000ull;
	return ((uint64_t)ts->tv_sec + NTP_UNIX_EPOCH) << 32 | frac;
}

static int64_t serve_shift; /* -o: added to what the server answers, 2^-32 s */

static uint64_t now_ntp(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return to_ntp(&ts);
}

static uint64_t served_now(void)
{
	return now_ntp() + (uint64_t)serve_shift;
}

/* Differences of timestamps taken within 68 years of each other fit a
 * signed 64-bit count of 2^-32 s (RFC 4330, section 5). */
static double ntp_diff_s(uint64_t a, uint64_t b)
{
	return (double)(int64_t)(a - b) / 4294967296.0;
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (56 - 8 * i));
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void usage(void)
{
	fprintf(stderr, "usage: sntp -l PORT [-o MS] | -q HOST[:PORT] | -s HOST[:PORT]\n"
			"  -l  serve this machine's clock on UDP port PORT (NTP's is 123)\n"
			"  -o  test only: serve this clock plus MS milliseconds\n"
			"  -q  print HOST's clock minus this one, and the round trip\n"
			"  -s  the same, then step this clock to HOST's\n");
	exit(2);
}

static int serve(int port)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons(port) };
	if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
		printf("sntp: error bind port=%d: %s\n", port, strerror(errno));
		return 1;
	}
	printf("sntp: serving port=%d\n", port);
	for (;;) {
		unsigned char p[NTP_PACKET];
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);
		ssize_t n = recvfrom(fd, p, sizeof(p), 0, (struct sockaddr *)&peer, &plen);
		uint64_t received = served_now();
		if (n < NTP_PACKET || (p[0] & 7) != MODE_CLIENT)
			continue; /* not a client request: no answer (RFC 4330, section 6) */
		uint64_t origin = get64(p + 40);
		memset(p + 1, 0, NTP_PACKET - 1);
		p[0] = (p[0] & 0x38) | MODE_SERVER; /* LI 0, the client's version */
		p[1] = 1;                           /* stratum 1: a reference clock */
		p[3] = (unsigned char)-20;          /* precision about 1 us */
		memcpy(p + 12, "LOCL", 4);
		put64(p + 16, received);
		put64(p + 24, origin);
		put64(p + 32, received);
		put64(p + 40, served_now());
		sendto(fd, p, sizeof(p), 0, (struct sockaddr *)&peer, plen);
	}
}

struct sample {
	double offset_s, delay_s;
};

/* One request and its answer: 0, or -1 with *why set. */
static int ask(int fd, struct sample *s, const char **why)
{
	unsigned char p[NTP_PACKET] = { 4 << 3 | MODE_CLIENT };
	uint64_t t1 = now_ntp();
	put64(p + 40, t1);
	if (send(fd, p, sizeof(p), 0) != sizeof(p)) {
		*why = strerror(errno);
		return -1;
	}
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	for (;;) {
		if (poll(&pfd, 1, REPLY_TIMEOUT_MS) <= 0) {
			*why = "no answer";
			return -1;
		}
		ssize_t n = recv(fd, p, sizeof(p), 0);
		uint64_t t4 = now_ntp();
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			*why = strerror(errno); /* ICMP port unreachable: ECONNREFUSED */
			return -1;
		}
		if (n < NTP_PACKET || (p[0] & 7) != MODE_SERVER || get64(p + 24) != t1)
			continue; /* a stray or late answer to an earlier request */
		if (p[1] == 0) {
			*why = "the server refuses (kiss-o'-death, stratum 0)";
			return -1;
		}
		uint64_t t2 = get64(p + 32), t3 = get64(p + 40);
		s->offset_s = (ntp_diff_s(t2, t1) + ntp_diff_s(t3, t4)) / 2;
		s->delay_s = ntp_diff_s(t4, t1) - ntp_diff_s(t3, t2);
		return 0;
	}
}

static int query(const char *arg, int set)
{
	char host[64];
	int port = 123;
	const char *colon = strchr(arg, ':');
	size_t hlen = colon ? (size_t)(colon - arg) : strlen(arg);
	if (hlen == 0 || hlen >= sizeof(host))
		usage();
	memcpy(host, arg, hlen);
	host[hlen] = 0;
	if (colon)
		port = atoi(colon + 1);
	struct sockaddr_in srv = { .sin_family = AF_INET, .sin_port = htons(port) };
	if (inet_pton(AF_INET, host, &srv.sin_addr) != 1 || port <= 0 || port > 65535)
		usage();

	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&srv, sizeof(srv)) < 0) {
		printf("sntp: error server=%s: %s\n", arg, strerror(errno));
		return 1;
	}
	struct sample best = { 0, -1 };
	const char *why = "no answer";
	for (int i = 0; i < TRIES; i++) {
		struct sample s;
		if (ask(fd, &s, &why) == 0 && (best.delay_s < 0 || s.delay_s < best.delay_s))
			best = s;
	}
	if (best.delay_s < 0) {
		printf("sntp: error server=%s: %s\n", arg, why);
		return 1;
	}
	if (set) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		long long ns = ts.tv_sec * 1000000000LL + ts.tv_nsec + (long long)(best.offset_s * 1e9);
		ts.tv_sec = ns / 1000000000LL;
		ts.tv_nsec = ns % 1000000000LL;
		if (clock_settime(CLOCK_REALTIME, &ts) < 0) {
			printf("sntp: error set: %s\n", strerror(errno));
			return 1;
		}
	}
	printf("sntp: %s server=%s offset_ms=%.3f delay_ms=%.3f\n", set ? "set" : "offset", arg,
	       best.offset_s * 1e3, best.delay_s * 1e3);
	return 0;
}

int main(int argc, char **argv)
{
	const char *server = NULL;
	int port = 0, set = 0, opt;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "l:o:q:s:")) != -1) {
		switch (opt) {
		case 'l': port = atoi(optarg); break;
		case 'o': serve_shift = (int64_t)(strtod(optarg, NULL) / 1e3 * 4294967296.0); break;
		case 's': set = 1; /* fall through */
		case 'q': server = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || !port == !server || (port && (port < 1 || port > 65535)))
		usage();
	return server ? query(server, set) : serve(port);
}
