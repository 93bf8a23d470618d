/* libFuzzer target: the destination state machine fed a hostile source.
 * The first input byte picks the mode: bit 0 set, the input follows a
 * valid handshake (so the fuzzer reaches GUEST_CONFIG, pages, state and
 * END, and PAGE_DELTA: its HELLO offers DELTA, as the fake destination
 * does); clear, it is the whole stream from the header on. Bits 1-4 pick
 * how many bytes each transport read returns (1 to 32768), to shake the
 * decoder's fragment handling. */
#include <stdint.h>
#include <string.h>

#include "migrate/recv.h"
#include "tests/fuzz/harness.h"
#include "tests/unit/migrate/fake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hpipe rx, tx;
	struct hconn conn = {&rx, &tx, false};
	struct hclock clock = {1000000, HARNESS_DST_FILL};
	struct fake_dst dst = {.max_pages = HARNESS_MAX_PAGES};
	struct mig_recv *r;
	struct mig_recv_params p = {(const uint8_t *)HARNESS_KEY, strlen(HARNESS_KEY), 0};
	uint8_t prefix[256];

	if (size < 1)
		return 0;
	hpipe_init(&rx, size + sizeof(prefix));
	hpipe_init(&tx, 4096);
	if (data[0] & 1)
		hpipe_put(&rx, prefix, harness_prefix(prefix, sizeof(prefix), MIG_CAP_DELTA | MIG_CAP_HELD));
	hpipe_put(&rx, data + 1, size - 1);
	rx.chunk = (size_t)1 << ((data[0] >> 1) & 15);
	rx.eof = true;

	struct mig_transport tp = hconn_transport(&conn);
	struct mig_dst_guest g = fake_dst_ops(&dst);
	struct mig_host h = hclock_host(&clock);
	if (mig_recv_start(&r, &p, &tp, &g, &h, NULL))
		__builtin_trap();
	int ret = 1;
	/* The input ends in EOF and the clock runs, so this always ends. */
	for (int i = 0; i < 100000 && ret > 0; i++) {
		ret = mig_recv_poll(r);
		clock.now += 1000;
	}
	if (ret > 0)
		__builtin_trap();
	fake_dst_check(&dst, mig_recv_result(r));
	mig_recv_free(r);
	fake_dst_fini(&dst);
	hpipe_free(&rx);
	hpipe_free(&tx);
	return 0;
}
