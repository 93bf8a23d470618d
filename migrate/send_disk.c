/* What a guest's disk adds to the source (copy-storage): its blocks' bits
 * after the pages' in the round bitmap, its dirty bitmaps, and round 0 of
 * copy-storage inc. The blocks themselves go out in send_pages.c's loop,
 * the same as pages. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "migrate/record.h"
#include "migrate/send_private.h"

int send_disk_setup(struct mig_send *s)
{
	const struct mig_src_guest *g = &s->g;

	if (!g->disk_read || !g->disk_dirty_start || !g->disk_dirty_harvest ||
	    !g->disk_dirty_stop || (s->cfg.disk_has_base && !g->disk_held))
		return -EINVAL;
	s->disk_base = (s->npages + 63) / 64 * 64;
	s->disk_blocks = s->cfg.disk_bytes / MIG_DISK_BLOCK;
	s->space = s->disk_base + s->disk_blocks;
	s->disk_buf = malloc(DISK_READ_BLOCKS * MIG_DISK_BLOCK);
	return s->disk_buf ? 0 : -ENOMEM;
}

int send_put_bitmap(struct mig_send *s, unsigned i)
{
	struct mig_disk_bitmap b;

	if (!s->cfg.has_disk || !s->g.disk_bitmap || s->g.disk_bitmap(s->g.ctx, i, &b))
		return 0;
	int ret = mig_record_put_bitmap(&s->link.out, &b);
	if (ret == -E2BIG)
		return send_fail(s, ret, MIG_CODE_GUEST, false,
				 "disk bitmap %s is too large to send (%llu bits)", b.name,
				 (unsigned long long)b.nbits);
	return ret < 0 ? ret : 1;
}

/* As they are now, ahead of round 0: the destination makes them (a
 * volume table write each, for a persistent one) while the guest still
 * runs here, and the final ones (produce_state) only update their bits. */
int send_put_bitmaps_early(struct mig_send *s)
{
	int ret = 1;

	for (unsigned i = 0; i < MIG_MAX_BITMAPS && ret > 0; i++)
		ret = send_put_bitmap(s, i);
	if (ret == -ENOSPC) /* the output holds only HELLO, AUTH and GUEST_CONFIG */
		return send_fail(s, ret, MIG_CODE_GUEST, false,
				 "no room to send the disk's bitmaps");
	return ret < 0 ? ret : 0;
}

/* copy-storage inc: of the disk, round 0 sends the blocks the clone holds;
 * the base's are on the destination already. */
int send_disk_round0(struct mig_send *s)
{
	if (!s->cfg.disk_has_base)
		return 0;
	memset(s->bitmap + s->disk_base / 64, 0, (s->nwords - s->disk_base / 64) * 8);
	int ret = s->g.disk_held(s->g.ctx, s->bitmap + s->disk_base / 64, s->disk_blocks);
	return ret < 0 ? send_fail(s, ret, MIG_CODE_GUEST, false,
				   "reading the clone's map failed (%d)", ret)
		       : 0;
}
