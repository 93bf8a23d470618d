/* copy-storage on the destination: the volume an incoming guest's disk
 * arrives in. It is made at pre-check (GUEST_CONFIG), filled block by
 * block from DISK_DATA, and deleted again if the migration fails, so a
 * failed move leaves nothing behind; once the guest runs here it is this
 * host's volume like any other. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "kernel/vm.h"

struct disk_incoming {
	bool made;		/* this migration created the volume */
	char volume[32];	/* its name */
	uint8_t *buf;		/* blocks waiting to be written together */
	uint64_t first;		/* the first of them */
	uint32_t n;
	bool zeros;		/* the n blocks are zeros (nothing in buf) */
	uint64_t unflushed;	/* data blocks written since the last flush */
};

/* Creates the volume (name and size from GUEST_CONFIG) and attaches it to
 * vm as its disk; with base (copy-storage inc), a clone of this host's
 * volume of that name, which must be a base of the same size and hash.
 * 0, or -EEXIST (a volume of that name exists here), -ENOSPC (no room),
 * -ENOENT (no such base here), -ENODEV (no usable disk here), -ENOMEM,
 * with *why saying which. On failure nothing is left. */
int disk_incoming_create(struct disk_incoming *in, struct vm *vm, const char *volume,
			 uint64_t bytes, const char *base, const uint8_t base_sha256[32],
			 const char **why);
/* One MIG_DISK_BLOCK (zeros for NULL) at block; kept until contiguous
 * blocks stop coming, the buffer is full or disk_incoming_sync. */
int disk_incoming_write(struct disk_incoming *in, struct vm *vm, uint64_t block,
			const void *data);
int disk_incoming_sync(struct disk_incoming *in, struct vm *vm);
/* A round ended: flushes the disk if a bulk of blocks (round 0's, most
 * often) was written since the last flush, so the flush before the guest
 * runs here has little left; small rounds wait for that one. */
int disk_incoming_flush(struct disk_incoming *in, struct vm *vm);
/* A dirty bitmap of the source's volume, made on this one with its bits
 * (the guest's device is attached: a persistent one is written IN_USE).
 * 0, or a negative errno with *why. */
struct mig_disk_bitmap;
int disk_incoming_bitmap(struct disk_incoming *in, const struct mig_disk_bitmap *b,
			 const char **why);
/* The guest runs here: the volume stays, its blocks (and a clone's map)
 * flushed to the disk first. */
void disk_incoming_keep(struct disk_incoming *in, struct vm *vm);
/* The migration failed and the VM is destroyed (its claim released):
 * the volume goes. */
void disk_incoming_discard(struct disk_incoming *in);
