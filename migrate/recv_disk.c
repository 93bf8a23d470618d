/* What a guest's disk adds to the destination (copy-storage): DISK_DATA
 * and DISK_BITMAP records. */
#include <errno.h>
#include <stdio.h>

#include "migrate/record.h"
#include "migrate/recv_private.h"

/* Blocks of the guest's disk: checked as a whole (every block on the
 * disk), written, then made durable before the next record is read. */
int recv_on_disk(struct mig_recv *r, const struct mig_stream_rec *rec)
{
	struct mig_page_iter it;
	const uint8_t *data;
	uint64_t block, t = now(r);
	int n, ret;

	if (!r->disk_blocks)
		return recv_fail(r, -EPROTO, MIG_CODE_PROTOCOL,
				 "DISK_DATA for a guest without a disk");
	n = mig_record_pages_begin(rec, r->disk_blocks, &it);
	if (n < 0)
		return recv_fail(r, n, n == -E2BIG ? MIG_CODE_LIMIT : MIG_CODE_PROTOCOL,
				 "malformed DISK_DATA in round %u", r->round);
	for (int i = 0; i < n; i++) {
		mig_record_pages_next(&it, &block, &data);
		ret = r->g.write_disk(r->g.ctx, block, data);
		if (ret < 0)
			return recv_fail(r, ret, MIG_CODE_GUEST,
					 "writing disk block %llu failed (%d)",
					 (unsigned long long)block, ret);
		if (data)
			r->summary.blocks_sent++;
		else
			r->summary.blocks_zero++;
	}
	ret = r->g.disk_sync(r->g.ctx);
	if (ret < 0)
		return recv_fail(r, ret, MIG_CODE_GUEST, "writing the disk failed (%d)", ret);
	r->round_entries += (uint64_t)n;
	r->summary.pages_us += now(r) - t;
	return 0;
}

/* A dirty bitmap of the disk: checked whole, then made on the new volume
 * (ahead of round 0) or given its final bits (after the FINAL round). */
int recv_on_bitmap(struct mig_recv *r, const struct mig_stream_rec *rec)
{
	struct mig_disk_bitmap b;
	char what[64];

	if (!r->disk_blocks || !r->g.set_disk_bitmap)
		return recv_fail(r, -EPROTO, MIG_CODE_PROTOCOL,
				 "DISK_BITMAP for a guest without a disk");
	if (mig_record_get_bitmap(rec, r->cfg.disk_bytes, &b))
		return recv_fail(r, -EBADMSG, MIG_CODE_PROTOCOL, "malformed DISK_BITMAP");
	int ret = r->g.set_disk_bitmap(r->g.ctx, &b);
	if (ret) {
		snprintf(what, sizeof(what), "disk bitmap %s", b.name);
		return recv_refused(r, ret, what);
	}
	if (r->state == R_STATE)
		r->summary.bitmaps++;
	return 0;
}
