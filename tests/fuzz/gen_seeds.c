/* Records real source streams (a small fake guest migrated to the fuzz
 * harness's destination) as libFuzzer seeds, so fuzzing starts from
 * streams that reach the end and mutates from there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate/recv.h"
#include "migrate/send.h"
#include "tests/fuzz/harness.h"
#include "tests/unit/migrate/fake.h"

static int n_seeds;

static void write_seed(const char *dir, uint8_t mode, const uint8_t *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-%02d", dir, n_seeds++);
	f = fopen(path, "wb");
	if (!f || fwrite(&mode, 1, 1, f) != 1 || fwrite(data, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static void record(const char *dir, bool offline, unsigned writes, uint32_t bandwidth_mbit)
{
	struct hpipe a2b, b2a;
	struct hconn src_conn = {&b2a, &a2b, false}, dst_conn = {&a2b, &b2a, false};
	struct hclock src_clock = {1000000, HARNESS_SRC_FILL},
		      dst_clock = {1000000, HARNESS_DST_FILL};
	struct fake_src src;
	struct fake_dst dst = {.max_pages = HARNESS_MAX_PAGES};
	struct mig_send *s;
	struct mig_recv *r;
	struct mig_send_params sp = {.key = (const uint8_t *)HARNESS_KEY,
				     .key_len = strlen(HARNESS_KEY),
				     .offline = offline,
				     .bandwidth_mbit = bandwidth_mbit};
	struct mig_recv_params rp = {(const uint8_t *)HARNESS_KEY, strlen(HARNESS_KEY), 0};
	uint8_t prefix[256];

	hpipe_init(&a2b, 1 << 20);
	hpipe_init(&b2a, 4096);
	fake_src_init(&src, 8, 2, 1);
	struct mig_transport stp = hconn_transport(&src_conn), dtp = hconn_transport(&dst_conn);
	struct mig_src_guest sg = fake_src_ops(&src);
	struct mig_dst_guest dg = fake_dst_ops(&dst);
	struct mig_host sh = hclock_host(&src_clock), dh = hclock_host(&dst_clock);
	if (mig_send_start(&s, &sp, &stp, &sg, &sh, NULL) ||
	    mig_recv_start(&r, &rp, &dtp, &dg, &dh, NULL))
		exit(1);
	int sret = 1, rret = 1;
	for (int i = 0; i < 100000 && (sret > 0 || rret > 0); i++) {
		if (sret > 0)
			sret = mig_send_poll(s);
		fake_src_run(&src, writes);
		if (rret > 0)
			rret = mig_recv_poll(r);
		src_clock.now = dst_clock.now += 50;
	}
	if (sret || rret || mig_recv_result(r) != MIG_DONE) {
		fprintf(stderr, "gen_seeds: migration failed: %s / %s\n", mig_send_reason(s),
			mig_recv_reason(r));
		exit(1);
	}
	/* A live source offers DELTA, an offline one has no use for it; both
	 * pass on held frames. */
	size_t plen = harness_prefix(prefix, sizeof(prefix), (offline ? 0 : MIG_CAP_DELTA) | MIG_CAP_HELD);
	if (a2b.len < plen || memcmp(a2b.buf, prefix, plen)) {
		fprintf(stderr, "gen_seeds: harness_prefix no longer matches the source\n");
		exit(1);
	}
	/* Mode bytes: whole stream read 8 or 32768 bytes at a time; after
	 * the handshake, read 8, 16 or 32768 bytes at a time. */
	write_seed(dir, 0x06, a2b.buf, a2b.len);
	write_seed(dir, 0x1e, a2b.buf, a2b.len);
	write_seed(dir, 0x07, a2b.buf + plen, a2b.len - plen);
	write_seed(dir, 0x09, a2b.buf + plen, a2b.len - plen);
	write_seed(dir, 0x1f, a2b.buf + plen, a2b.len - plen);
	mig_send_free(s);
	mig_recv_free(r);
	fake_src_fini(&src);
	fake_dst_fini(&dst);
	hpipe_free(&a2b);
	hpipe_free(&b2a);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_seeds DIR\n");
		return 2;
	}
	record(argv[1], false, 0, 0);
	record(argv[1], false, 3, 0);
	record(argv[1], true, 0, 0);
	/* Capped, round 0 lasts long enough for the guest to rewrite its
	 * pages: later rounds carry PAGE_DELTA. */
	record(argv[1], false, 1, 1);
	printf("gen_seeds: %d seeds in %s\n", n_seeds, argv[1]);
	return 0;
}
