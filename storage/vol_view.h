/* A volume as a struct blkdev, whatever it is: a plain volume is the disk
 * itself from the volume's first LBA; a clone is its view over the base
 * (vol_clone.h) from 0. A clone's view is shared by everyone who has the
 * volume open (its guest's disk, `disk sha256`, a migration), so they all
 * see the one map in memory; the last to close it writes the map. */
#pragma once
#include <stdint.h>

#include "drivers/blkdev.h"
#include "storage/vol_clone.h"
#include "storage/voltab.h"

struct vol_view {
	struct blkdev *dev;   /* read and write the volume's blocks here ... */
	uint64_t start;	      /* ... from this LBA */
	struct vol_clone *clone; /* a clone: its view (dev points at it); else NULL */
	uint64_t vol_id;
};

/* 0, or -ENODEV (no disk or table), -ENOENT (its base is gone), -ENOSPC
 * (too many clones open), -ENOMEM, or the map's read error. */
int vol_view_open(const struct voltab_volume *v, struct vol_view *out);
/* 0, or the error writing a clone's map when this was the last user. */
int vol_view_close(struct vol_view *w);
