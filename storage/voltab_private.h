/* What voltab.c shares with the files that add to the table's operations
 * (voltab_clone.c: entering a new volume) and with voltab_codec.c (one
 * copy in bytes). Private to storage/voltab*.c. */
#pragma once
#include "storage/voltab.h"

/* Enters v (name, size, and for a clone flags, parent and map_bytes set)
 * first-fit as a new volume of voltab_extent_bytes(v), and writes the
 * table. prepare, if any, runs once v's place (start_lba) is known and
 * before the table names it; its error leaves nothing. 0 and *out, or
 * voltab_create's errors. */
int voltab_add(struct voltab *t, struct voltab_volume *v,
	       int (*prepare)(struct voltab *t, const struct voltab_volume *v), uint64_t now_ns,
	       const struct voltab_volume **out);

/* Where copy 0 and copy 1 start on the disk, in bytes. */
extern const uint32_t voltab_copy_offset[2];

static inline uint64_t voltab_bytes_to_blocks(const struct voltab *t, uint64_t bytes)
{
	return bytes / t->dev->block_size;
}

/* The end of the area volumes may use: the device's last whole MiB. */
static inline uint64_t voltab_data_end_lba(const struct voltab *t)
{
	uint64_t per_mib = VOLTAB_ALIGN / t->dev->block_size;
	return t->dev->blocks / per_mib * per_mib;
}

static inline uint64_t voltab_data_start_lba(const struct voltab *t)
{
	return VOLTAB_DATA_OFFSET / t->dev->block_size;
}

/* voltab_codec.c. Fills b with copy `copy` of t; the bytes to write (the
 * checksummed part, then the persistent bitmaps' bits). */
uint64_t voltab_encode(struct voltab *t, int copy, uint8_t *b);
/* Checks copy `copy` in b and takes its header and volumes into t: 0, or
 * -ENOENT (no table), -EPROTONOSUPPORT (a newer format) or -EBADMSG with
 * the reason in ci->why. */
int voltab_decode(struct voltab *t, int copy, const uint8_t *b, struct voltab_copy_info *ci);
/* The persistent bitmaps of a decoded copy into t (0 or -ENOMEM). */
int voltab_take_bitmaps(struct voltab *t, const uint8_t *b);
/* Reads copy `copy` into t->buf: the checksummed part, and the bits room
 * when the copy says it holds bitmaps. */
int voltab_read_copy(struct voltab *t, int copy);
