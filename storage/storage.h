/* The host's disk: the NVMe namespace found at boot and the volume table
 * on it (storage/voltab.h). One disk for now, the first NVMe controller's
 * namespace 1. Everything here runs from the console or at boot, never
 * from the main loop's hot path. */
#pragma once
#include <stdint.h>

#include "drivers/blkdev.h"
#include "storage/voltab.h"

struct storage_disk {
	struct blkdev *dev; /* NULL: no disk */
	int probe_rc;	    /* when dev is NULL: 0 no controller, else why it failed */
	struct voltab tab;  /* tab.load_rc: 0 loaded, -ENOENT blank, ...; tab.info: each copy */
};

/* Probes NVMe, loads the volume table, logs one line saying what it found
 * ("storage: nvme0n1 1024 MiB, 512-byte blocks, table generation 7, 2
 * volumes", or why not), and registers the `disk` command. A missing or
 * failed disk is reported, never fatal. */
void storage_init(void);
struct storage_disk *storage_disk(void);

/* The reason a table could not be loaded, for error lines:
 * "no volume table (blank disk: 'disk init' creates one)", ... */
const char *storage_table_problem(const struct storage_disk *s, char *buf, unsigned size);

/* Wall-clock time for the table's timestamps (0 when unknown). */
uint64_t storage_now_ns(void);

void disk_register_commands(void);
/* `disk bitmap ...` (disk_bitmap_cmd.c); argv as the console split it. */
int disk_bitmap_cmd(int argc, char **argv);
