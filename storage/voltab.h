/* The volume table: which guest volumes live on a disk, and where. Kept
 * on the disk itself in two checksummed copies (docs/storage.md is the
 * format's spec; this code follows it). Volumes are contiguous extents,
 * placed first-fit after the metadata area, sized in whole MiB.
 *
 * The table sees the disk only as a struct blkdev, so host unit tests run
 * it on a RAM disk. It neither logs nor prints: failures come back as a
 * negative errno and, on load, a reason per copy. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "drivers/blkdev.h"
#include "storage/bitmap.h"

/* --- the on-disk format, version 1 (docs/storage.md) ----------------------- */
#define VOLTAB_MAGIC "TernVTab" /* 8 bytes, no NUL */
#define VOLTAB_VERSION 1	/* this Tern reads and writes version 1 only */
#define VOLTAB_COPY0_OFFSET (64u << 10)
#define VOLTAB_COPY1_OFFSET (512u << 10)
#define VOLTAB_COPY_BYTES (64u << 10) /* what version 1 writes and checksums */
#define VOLTAB_COPY_ROOM (448u << 10) /* what each copy may grow to later */
#define VOLTAB_DATA_OFFSET (1u << 20) /* volumes start here */
#define VOLTAB_ALIGN (1u << 20)	      /* volume sizes and starts: whole MiB */
#define VOLTAB_HEADER_BYTES 256
#define VOLTAB_ENTRY_BYTES 128
#define VOLTAB_MAX_VOLUMES 256
#define VOLTAB_NAME_MAX 31

/* Feature bits (ext4's scheme): a reader refuses a table with an
 * incompatible bit it does not know, only reads one with an unknown
 * read-only-compatible bit (no change to the table, and no guest or
 * import writes a volume), and keeps unknown compatible bits as they are.
 * BITMAPS is set while the table holds persistent dirty bitmaps. It is
 * incompatible, not read-only compatible, because a version-1 Tern
 * without it lets guests write the volumes of a read-only table: the
 * bitmaps would miss those writes and nothing would tell. */
#define VOLTAB_INCOMPAT_BITMAPS (1u << 0)
/* CLONES is set while a volume is a clone or a hashed base: a Tern
 * without clones would take a clone for a plain volume and hand its guest
 * stale blocks where the base's belong. */
#define VOLTAB_INCOMPAT_CLONES (1u << 1)
#define VOLTAB_INCOMPAT_KNOWN (VOLTAB_INCOMPAT_BITMAPS | VOLTAB_INCOMPAT_CLONES)
#define VOLTAB_RO_COMPAT_KNOWN 0u

/* Persistent dirty bitmaps (docs/storage.md, "Dirty bitmaps"): a directory
 * of 64-byte entries after the volume entries, inside the checksummed
 * 64 KiB, and each bitmap's bits, with a CRC-32C of their own, in the
 * copy's room after those 64 KiB. The limit on bitmaps in memory (both
 * kinds) is the directory's. */
#define VOLTAB_MAX_BITMAPS 64
#define VOLTAB_BITMAP_ENTRY_BYTES 64
#define VOLTAB_BITMAP_DIR_OFFSET (VOLTAB_HEADER_BYTES + VOLTAB_MAX_VOLUMES * VOLTAB_ENTRY_BYTES)
#define VOLTAB_BITS_OFFSET VOLTAB_COPY_BYTES
#define VOLTAB_BITS_ROOM (VOLTAB_COPY_ROOM - VOLTAB_COPY_BYTES)
#define VOLTAB_BM_IN_USE (1u << 0)	 /* a VM may be writing the volume: bits not final */
#define VOLTAB_BM_INCONSISTENT (1u << 1) /* found in use at load: never trusted again */
#define VOLTAB_BM_FLAGS_KNOWN (VOLTAB_BM_IN_USE | VOLTAB_BM_INCONSISTENT)

/* Volume flags. READONLY: no guest may write it (a clone's base).
 * HASHED (with READONLY, feature CLONES): sha256 holds its content's hash,
 * which names the base on every host (`--copy-storage inc`). */
#define VOLTAB_VOL_READONLY (1u << 0)
#define VOLTAB_VOL_HASHED (1u << 1)
#define VOLTAB_VOL_FLAGS_KNOWN (VOLTAB_VOL_READONLY | VOLTAB_VOL_HASHED)

/* A clone's map: a bit per granule of the clone, set once the clone holds
 * that granule itself (written by its guest); a clear bit reads from the
 * base. It lives in the data area right after the clone's blocks, in whole
 * MiB (docs/storage.md, "Clones"). */
#define VOLTAB_CLONE_GRAN 4096u

struct voltab_volume {
	char name[VOLTAB_NAME_MAX + 1];
	uint64_t id;	     /* unique on this table, never reused */
	uint64_t size;	     /* bytes, a multiple of VOLTAB_ALIGN */
	uint64_t start_lba;  /* first block on the device */
	uint32_t flags;	     /* VOLTAB_VOL_* */
	uint64_t created_ns; /* wall clock, ns since 1970 (0: unknown) */
	uint64_t parent_id;  /* a clone: its base's id; else 0 */
	uint8_t sha256[32];  /* HASHED: the content's SHA-256 */
	uint64_t map_bytes;  /* a clone: its map's extent after size, whole MiB; else 0 */
};

/* The bytes a volume takes on the disk: its blocks and a clone's map. */
static inline uint64_t voltab_extent_bytes(const struct voltab_volume *v)
{
	return v->size + v->map_bytes;
}

/* The map extent a clone of `size` bytes needs. */
static inline uint64_t voltab_clone_map_bytes(uint64_t size)
{
	uint64_t bits = (size + VOLTAB_CLONE_GRAN - 1) / VOLTAB_CLONE_GRAN;
	return ((bits + 7) / 8 + VOLTAB_ALIGN - 1) / VOLTAB_ALIGN * VOLTAB_ALIGN;
}

/* A named dirty bitmap of a volume. Persistent ones are part of the
 * table and written with it; the others live in memory only, here too so
 * that one list is marked and shown. */
struct voltab_bitmap {
	char name[VOLTAB_NAME_MAX + 1];
	uint64_t vol_id;
	bool persistent;
	bool in_use;	   /* persistent: flagged IN_USE on the disk (a VM writes the volume) */
	bool inconsistent; /* found IN_USE at load: it may miss writes; clear or remove it */
	bool on_disk_inconsistent; /* as loaded: INCONSISTENT was set on the disk */
	struct bitmap map;
};

/* What voltab_load found in each copy. */
struct voltab_copy_info {
	int rc; /* 0: valid; -ENOENT blank; -EBADMSG damaged; -EPROTONOSUPPORT newer; -EIO */
	uint64_t generation; /* when rc == 0 */
	char why[192];	     /* when rc != 0: "checksum mismatch", ... */
};

struct voltab_load_info {
	struct voltab_copy_info copy[2];
	int used;		 /* the copy loaded, or -1 */
	bool repair;		 /* the other copy is bad or older: the next write fixes it */
	uint64_t max_generation; /* highest generation seen in a valid-looking copy */
};

struct voltab {
	struct blkdev *dev;
	bool loaded;   /* the fields below hold a valid table */
	bool readonly; /* unknown read-only-compatible feature: no changes, no guest writes */
	uint64_t generation;
	uint8_t uuid[16]; /* the table's identity, random at `disk init` */
	uint64_t created_ns, updated_ns;
	uint64_t next_id;
	uint32_t incompat, ro_compat, compat;
	int good_copy;		      /* a copy known to hold the current table (written last) */
	int load_rc;		      /* the last voltab_load's result */
	struct voltab_load_info info; /* what that load found in each copy */
	unsigned nvolumes;
	struct voltab_volume vol[VOLTAB_MAX_VOLUMES]; /* by start_lba */
	unsigned nbitmaps;
	struct voltab_bitmap bm[VOLTAB_MAX_BITMAPS]; /* persistent ones in table order */
	uint8_t *buf;				     /* VOLTAB_COPY_ROOM of I/O buffer */
};

/* The reason a name is refused ("too long", ...), or NULL if it is valid:
 * 1 to VOLTAB_NAME_MAX characters of [A-Za-z0-9._-]. */
const char *voltab_name_error(const char *name);

/* Reads both copies and loads the valid one with the higher generation.
 * 0; -ENOENT when neither copy holds a table (a blank disk); -EBADMSG when
 * both are damaged; -EPROTONOSUPPORT when a copy was written by a newer
 * Tern (the table is then never touched, even if the other copy is
 * fine); -EIO when neither could be read; -ENOSPC for a disk too small to
 * hold one; -ENOMEM. The result is also in t->load_rc, and t->info says
 * what was found in each copy. On failure t->loaded is false. */
int voltab_load(struct voltab *t, struct blkdev *dev);

/* Writes a new, empty table (both copies) with generation `generation`
 * (pass one more than any seen, so an old copy can never win), and loads
 * it. Refusing to format over a valid table is the caller's job. When a
 * write fails, the table is loaded again from the disk (voltab_load), so
 * t holds what the disk holds (one copy may have been written), and the
 * write's error is returned. */
int voltab_format(struct voltab *t, struct blkdev *dev, const uint8_t uuid[16], uint64_t now_ns,
		  uint64_t generation);

/* First-fit: the lowest free extent of `size` bytes (a positive multiple
 * of VOLTAB_ALIGN). 0 and *out; -EINVAL (name or size, see
 * voltab_name_error), -EEXIST (name taken), -EMFILE (table full),
 * -ENOSPC (no free extent that large), -EROFS, -ENODEV (no table loaded),
 * or the device's error writing the table. After a write error the table
 * is loaded again from the disk, like voltab_format: the volume exists if
 * the write got far enough (voltab_find tells), and t->loaded is false if
 * even the reload failed. */
int voltab_create(struct voltab *t, const char *name, uint64_t size, uint64_t now_ns,
		  const struct voltab_volume **out);
/* 0, -ENOENT, -EROFS, -ENODEV, -EBUSY (clones use it as their base), or
 * the device's error (as voltab_create). */
int voltab_delete(struct voltab *t, const char *name, uint64_t now_ns);
const struct voltab_volume *voltab_find(const struct voltab *t, const char *name);
const struct voltab_volume *voltab_find_id(const struct voltab *t, uint64_t id);

/* --- clones -------------------------------------------------------------------- */
/* Makes volume `name` a base (sha256: its content's hash, taken by the
 * caller while nothing wrote it; flags READONLY | HASHED), or, with NULL,
 * writable again. 0; -ENOENT, -EINVAL (a clone cannot be a base), -EBUSY
 * (writable again while clones use it), -EROFS, -ENODEV, or a write error
 * (as voltab_create). */
int voltab_set_base(struct voltab *t, const char *name, const uint8_t sha256[32],
		    uint64_t now_ns);
/* A copy-on-write clone `name` of base `base` (READONLY | HASHED), its
 * size the base's: placed first-fit with its map after it, the map zeroed
 * (nothing copied yet) and flushed before the table names the clone. 0
 * and *out; -ENOENT (no base), -EPERM (not a base), and voltab_create's
 * errors. */
int voltab_clone(struct voltab *t, const char *base, const char *name, uint64_t now_ns,
		 const struct voltab_volume **out);
/* How many clones have volume id as their base. */
unsigned voltab_clones_of(const struct voltab *t, uint64_t id);

struct voltab_space {
	uint64_t data_bytes;   /* the area volumes may use */
	uint64_t used_bytes;   /* by volumes */
	uint64_t free_bytes;   /* data_bytes - used_bytes */
	uint64_t largest_free; /* the largest volume that can be created now */
};
void voltab_space(const struct voltab *t, struct voltab_space *s);

/* Writes the table as it is in memory now (both copies, the next
 * generation; for changes made outside this file: the bitmaps). 0, or
 * the device's error, after which the table is loaded again from the disk
 * as by voltab_create. */
int voltab_write(struct voltab *t, uint64_t now_ns);

/* --- dirty bitmaps ----------------------------------------------------------- */
/* Adds an empty bitmap to volume vol. 0 and *out; -ENOENT (no volume),
 * -EINVAL (name, or granularity: bitmap_gran_ok), -EEXIST, -EMFILE (table
 * of bitmaps full), -ENOSPC (persistent: its bits do not fit the room
 * left; *need says how many bytes they take), -EROFS (persistent on a
 * read-only table), -ENOMEM, -ENODEV, or a write error (as voltab_create).
 * A persistent bitmap of a volume in use (vol_in_use) is written IN_USE. */
int voltab_bitmap_add(struct voltab *t, const char *vol, const char *name, uint32_t gran,
		      bool persistent, bool vol_in_use, uint64_t now_ns, uint64_t *need);
struct voltab_bitmap *voltab_bitmap_find(struct voltab *t, uint64_t vol_id, const char *name);
/* 0, -ENOENT, -EROFS (persistent), or a write error. */
int voltab_bitmap_remove(struct voltab *t, struct voltab_bitmap *b, uint64_t now_ns);
/* Empties it and forgets that it was inconsistent; a persistent one is
 * written (keeping IN_USE as it is). 0, -EROFS, or a write error. */
int voltab_bitmap_clear(struct voltab *t, struct voltab_bitmap *b, uint64_t now_ns);
/* A VM starts (in_use) or stops writing volume vol_id: the volume's
 * persistent bitmaps are written with IN_USE set or cleared, their bits
 * as they are now. 0 (also with none to write), -EROFS, or a write error;
 * on failure to set IN_USE the bitmaps are marked inconsistent, as they
 * could not be trusted after a crash. */
int voltab_bitmaps_in_use(struct voltab *t, uint64_t vol_id, bool in_use, uint64_t now_ns);
/* The guests' write path: marks bytes [off, off + len) of volume vol_id
 * in each of its bitmaps. No allocation, no I/O. */
void voltab_bitmaps_mark(struct voltab *t, uint64_t vol_id, uint64_t off, uint64_t len);
/* Bytes of the bits room the persistent bitmaps take. */
uint64_t voltab_bits_used(const struct voltab *t);

/* Releases the I/O buffer; the table is no longer loaded. */
void voltab_close(struct voltab *t);
