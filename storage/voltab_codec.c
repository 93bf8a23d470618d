/* One copy of the volume table in bytes: encoding it, checking and
 * decoding it (every field against docs/storage.md, whose tables the byte
 * offsets below are), and reading it from the disk. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate/le.h"
#include "storage/crc32c.h"
#include "storage/voltab.h"
#include "storage/voltab_private.h"

/* Header fields (docs/storage.md, "Header"). */
#define H_MAGIC 0
#define H_VERSION 8
#define H_HEADER_BYTES 12
#define H_COPY_BYTES 16
#define H_CRC 20
#define H_GENERATION 24
#define H_INCOMPAT 32
#define H_RO_COMPAT 36
#define H_COMPAT 40
#define H_COPY_INDEX 44
#define H_BLOCK_SIZE 48
#define H_ENTRY_BYTES 52
#define H_MAX_ENTRIES 56
#define H_NVOLUMES 60
#define H_DEVICE_BLOCKS 64
#define H_DATA_START 72
#define H_NEXT_ID 80
#define H_UUID 88
#define H_CREATED 104
#define H_UPDATED 112
#define H_ENTRIES_OFFSET 120
/* With VOLTAB_INCOMPAT_BITMAPS (zero without): the bitmap directory. */
#define H_NBITMAPS 124
#define H_BM_DIR 128
#define H_BM_ENTRY_BYTES 132
#define H_BITS_OFFSET 136
#define H_BITS_BYTES 140
/* 144..255 reserved, zero. */

/* Volume entry fields (docs/storage.md, "Volume entry"). */
#define E_NAME 0
#define E_ID 32
#define E_SIZE 40
#define E_START 48
#define E_FLAGS 56
#define E_CREATED 64
#define E_PARENT 72
/* With VOLTAB_INCOMPAT_CLONES (zero without). */
#define E_SHA256 80
#define E_MAP_BYTES 112
#define E_MAP_GRAN 120
/* 60..63 and 124..127 reserved, zero. */

/* Bitmap directory entry fields (docs/storage.md, "Dirty bitmaps"). */
#define B_NAME 0
#define B_VOL 32
#define B_GRAN 40
#define B_FLAGS 44
#define B_OFF 48
#define B_BYTES 52
#define B_CRC 56
/* 60..63 reserved, zero. */

_Static_assert(VOLTAB_HEADER_BYTES + VOLTAB_MAX_VOLUMES * VOLTAB_ENTRY_BYTES <= VOLTAB_COPY_BYTES,
	       "the entries fit one copy");
_Static_assert(VOLTAB_COPY0_OFFSET + VOLTAB_COPY_ROOM <= VOLTAB_COPY1_OFFSET &&
		       VOLTAB_COPY1_OFFSET + VOLTAB_COPY_ROOM <= VOLTAB_DATA_OFFSET,
	       "the copies' rooms do not overlap each other or the data");
_Static_assert(VOLTAB_BITMAP_DIR_OFFSET + VOLTAB_MAX_BITMAPS * VOLTAB_BITMAP_ENTRY_BYTES <=
		       VOLTAB_COPY_BYTES,
	       "the bitmap directory is inside the checksummed part");

const uint32_t voltab_copy_offset[2] = {VOLTAB_COPY0_OFFSET, VOLTAB_COPY1_OFFSET};

/* Where a bitmap's bits go in the room: packed in table order, each
 * 8-byte aligned. */
static uint64_t bits_span(const struct bitmap *m)
{
	return (bitmap_bytes(m) + 7) & ~7ull;
}

uint64_t voltab_bits_used(const struct voltab *t)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < t->nbitmaps; i++)
		if (t->bm[i].persistent)
			n += bits_span(&t->bm[i].map);
	return n;
}

/* A damaged copy: the reason in ci->why. */
#define BAD(fmt, ...) (snprintf(ci->why, sizeof(ci->why), fmt, ##__VA_ARGS__), -EBADMSG)

/* --- encoding ---------------------------------------------------------------- */

/* Fills b with copy `copy` of the table; the bytes to write (the
 * checksummed part, then the persistent bitmaps' bits). */
uint64_t voltab_encode(struct voltab *t, int copy, uint8_t *b)
{
	uint64_t bits_end = VOLTAB_BITS_OFFSET;
	unsigned nbm = 0;

	/* The feature bit says exactly whether a directory is there, so a
	 * table without persistent bitmaps stays writable by older Terns. */
	t->incompat &= ~(VOLTAB_INCOMPAT_BITMAPS | VOLTAB_INCOMPAT_CLONES);
	for (unsigned i = 0; i < t->nbitmaps; i++)
		if (t->bm[i].persistent)
			t->incompat |= VOLTAB_INCOMPAT_BITMAPS;
	for (unsigned i = 0; i < t->nvolumes; i++)
		if (t->vol[i].parent_id || (t->vol[i].flags & VOLTAB_VOL_HASHED))
			t->incompat |= VOLTAB_INCOMPAT_CLONES;
	memset(b, 0, VOLTAB_COPY_BYTES);
	memcpy(b + H_MAGIC, VOLTAB_MAGIC, 8);
	le32_put(b + H_VERSION, VOLTAB_VERSION);
	le32_put(b + H_HEADER_BYTES, VOLTAB_HEADER_BYTES);
	le32_put(b + H_COPY_BYTES, VOLTAB_COPY_BYTES);
	le64_put(b + H_GENERATION, t->generation);
	le32_put(b + H_INCOMPAT, t->incompat);
	le32_put(b + H_RO_COMPAT, t->ro_compat);
	le32_put(b + H_COMPAT, t->compat);
	le32_put(b + H_COPY_INDEX, (uint32_t)copy);
	le32_put(b + H_BLOCK_SIZE, t->dev->block_size);
	le32_put(b + H_ENTRY_BYTES, VOLTAB_ENTRY_BYTES);
	le32_put(b + H_MAX_ENTRIES, VOLTAB_MAX_VOLUMES);
	le32_put(b + H_NVOLUMES, t->nvolumes);
	le64_put(b + H_DEVICE_BLOCKS, t->dev->blocks);
	le64_put(b + H_DATA_START, voltab_data_start_lba(t));
	le64_put(b + H_NEXT_ID, t->next_id);
	memcpy(b + H_UUID, t->uuid, 16);
	le64_put(b + H_CREATED, t->created_ns);
	le64_put(b + H_UPDATED, t->updated_ns);
	le32_put(b + H_ENTRIES_OFFSET, VOLTAB_HEADER_BYTES);
	for (unsigned i = 0; i < t->nvolumes; i++) {
		const struct voltab_volume *v = &t->vol[i];
		uint8_t *e = b + VOLTAB_HEADER_BYTES + i * VOLTAB_ENTRY_BYTES;
		memcpy(e + E_NAME, v->name, strlen(v->name)); /* NUL-padded by the memset */
		le64_put(e + E_ID, v->id);
		le64_put(e + E_SIZE, v->size);
		le64_put(e + E_START, v->start_lba);
		le32_put(e + E_FLAGS, v->flags);
		le64_put(e + E_CREATED, v->created_ns);
		le64_put(e + E_PARENT, v->parent_id);
		if (v->flags & VOLTAB_VOL_HASHED)
			memcpy(e + E_SHA256, v->sha256, 32);
		if (v->parent_id) {
			le64_put(e + E_MAP_BYTES, v->map_bytes);
			le32_put(e + E_MAP_GRAN, VOLTAB_CLONE_GRAN);
		}
	}
	for (unsigned i = 0; i < t->nbitmaps; i++) {
		const struct voltab_bitmap *m = &t->bm[i];
		if (!m->persistent)
			continue;
		uint8_t *e = b + VOLTAB_BITMAP_DIR_OFFSET + nbm++ * VOLTAB_BITMAP_ENTRY_BYTES;
		uint64_t n = bitmap_bytes(&m->map), span = bits_span(&m->map);
		memcpy(e + B_NAME, m->name, strlen(m->name));
		le64_put(e + B_VOL, m->vol_id);
		le32_put(e + B_GRAN, bitmap_gran(&m->map));
		le32_put(e + B_FLAGS, (m->in_use ? VOLTAB_BM_IN_USE : 0) |
					      (m->inconsistent ? VOLTAB_BM_INCONSISTENT : 0));
		le32_put(e + B_OFF, (uint32_t)bits_end);
		le32_put(e + B_BYTES, (uint32_t)n);
		memcpy(b + bits_end, m->map.bits, n);
		memset(b + bits_end + n, 0, span - n);
		le32_put(e + B_CRC, crc32c_update(0, b + bits_end, n));
		bits_end += span;
	}
	le32_put(b + H_INCOMPAT, t->incompat);
	if (nbm) {
		le32_put(b + H_NBITMAPS, nbm);
		le32_put(b + H_BM_DIR, VOLTAB_BITMAP_DIR_OFFSET);
		le32_put(b + H_BM_ENTRY_BYTES, VOLTAB_BITMAP_ENTRY_BYTES);
		le32_put(b + H_BITS_OFFSET, VOLTAB_BITS_OFFSET);
		le32_put(b + H_BITS_BYTES, VOLTAB_BITS_ROOM);
	}
	/* The checksum covers the whole copy with its own field zero; the
	 * bits have theirs in the directory, which it covers. */
	le32_put(b + H_CRC, crc32c_update(0, b, VOLTAB_COPY_BYTES));
	uint32_t bs = t->dev->block_size;
	return (bits_end + bs - 1) / bs * bs;
}

/* The directory of a copy whose entries were checked (t->vol holds them):
 * every bitmap names a volume of the table, has a valid name unique on
 * its volume, a granularity the volume and disk allow, the exact bit
 * count for the volume's size, bits inside the room and not overlapping,
 * and their checksum. Bits that do not match their checksum make the
 * copy damaged: a torn write of one copy leaves the other to load. */
static int check_bitmaps(struct voltab *t, const uint8_t *b, struct voltab_copy_info *ci)
{
	uint32_t n = le32_get(b + H_NBITMAPS);
	uint64_t prev_end = VOLTAB_BITS_OFFSET;

	if (n > VOLTAB_MAX_BITMAPS || le32_get(b + H_BM_DIR) != VOLTAB_BITMAP_DIR_OFFSET ||
	    le32_get(b + H_BM_ENTRY_BYTES) != VOLTAB_BITMAP_ENTRY_BYTES ||
	    le32_get(b + H_BITS_OFFSET) != VOLTAB_BITS_OFFSET ||
	    le32_get(b + H_BITS_BYTES) != VOLTAB_BITS_ROOM)
		return BAD("bitmap directory fields are not version 1's");
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = b + VOLTAB_BITMAP_DIR_OFFSET + i * VOLTAB_BITMAP_ENTRY_BYTES;
		char name[VOLTAB_NAME_MAX + 1] = {0};
		if (e[B_NAME + VOLTAB_NAME_MAX])
			return BAD("bitmap %u: name not terminated", i);
		memcpy(name, e + B_NAME, VOLTAB_NAME_MAX);
		if (voltab_name_error(name))
			return BAD("bitmap %u: invalid name", i);
		uint64_t vol = le64_get(e + B_VOL);
		const struct voltab_volume *v = NULL;
		for (unsigned k = 0; k < t->nvolumes && !v; k++)
			if (t->vol[k].id == vol)
				v = &t->vol[k];
		if (!v)
			return BAD("bitmap %s: no volume with id %lu", name, (unsigned long)vol);
		for (uint32_t k = 0; k < i; k++) {
			const uint8_t *o =
				b + VOLTAB_BITMAP_DIR_OFFSET + k * VOLTAB_BITMAP_ENTRY_BYTES;
			if (le64_get(o + B_VOL) == vol && !strcmp((const char *)o + B_NAME, name))
				return BAD("bitmap %s: name used twice on volume %s", name,
					   v->name);
		}
		uint32_t gran = le32_get(e + B_GRAN), flags = le32_get(e + B_FLAGS);
		uint64_t off = le32_get(e + B_OFF), bytes = le32_get(e + B_BYTES);
		if (!bitmap_gran_ok(gran, t->dev->block_size))
			return BAD("bitmap %s: granularity %u not allowed", name, gran);
		if (flags & ~VOLTAB_BM_FLAGS_KNOWN)
			return BAD("bitmap %s: unknown flags 0x%x", name, flags);
		if (bytes != bitmap_bytes_for(v->size, gran))
			return BAD("bitmap %s: %lu bytes of bits for a %lu MiB volume", name,
				   (unsigned long)bytes, (unsigned long)(v->size >> 20));
		/* 8-byte aligned, so packing them again never needs more room */
		if (off < prev_end || off % 8 || off > VOLTAB_COPY_ROOM ||
		    bytes > VOLTAB_COPY_ROOM - off)
			return BAD("bitmap %s: bits overlap others or pass the room", name);
		uint32_t crc = crc32c_update(0, b + off, bytes);
		if (crc != le32_get(e + B_CRC))
			return BAD("bitmap %s: bits checksum mismatch (stored %08x, computed "
				   "%08x)",
				   name, le32_get(e + B_CRC), crc);
		prev_end = off + bytes;
	}
	return 0;
}

/* The checked directory of b into t->bm: bits copied out of the buffer.
 * A bitmap found IN_USE was being written by a guest when the table was
 * last written: Tern stopped without storing it, so it may miss writes
 * (QEMU's rule): it is inconsistent from now on, until cleared. */
int voltab_take_bitmaps(struct voltab *t, const uint8_t *b)
{
	uint32_t n = t->incompat & VOLTAB_INCOMPAT_BITMAPS ? le32_get(b + H_NBITMAPS) : 0;

	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = b + VOLTAB_BITMAP_DIR_OFFSET + i * VOLTAB_BITMAP_ENTRY_BYTES;
		struct voltab_bitmap *m = &t->bm[t->nbitmaps];
		uint64_t vol = le64_get(e + B_VOL), size = 0;
		for (unsigned k = 0; k < t->nvolumes; k++)
			if (t->vol[k].id == vol)
				size = t->vol[k].size;
		memset(m, 0, sizeof(*m));
		int rc = bitmap_init(&m->map, size, le32_get(e + B_GRAN));
		if (rc)
			return rc;
		t->nbitmaps++;
		memcpy(m->name, e + B_NAME, VOLTAB_NAME_MAX);
		m->vol_id = vol;
		m->persistent = true;
		m->inconsistent = le32_get(e + B_FLAGS) & VOLTAB_BM_FLAGS_KNOWN;
		m->on_disk_inconsistent = le32_get(e + B_FLAGS) & VOLTAB_BM_INCONSISTENT;
		memcpy(m->map.bits, b + le32_get(e + B_OFF), bitmap_bytes(&m->map));
	}
	return 0;
}

/* Checks one copy read into b and, when it is valid, decodes it into t.
 * Every field is checked against the device and the other entries before
 * it is believed: a damaged copy whose checksum happens to match must
 * not place a volume over another or past the disk's end. */
int voltab_decode(struct voltab *t, int copy, const uint8_t *b, struct voltab_copy_info *ci)
{
	static const uint8_t zero[16];

	if (memcmp(b + H_MAGIC, VOLTAB_MAGIC, 8)) {
		bool blank = true;
		for (unsigned i = 0; i < VOLTAB_HEADER_BYTES && blank; i += sizeof(zero))
			blank = !memcmp(b + i, zero, sizeof(zero));
		if (blank) {
			snprintf(ci->why, sizeof(ci->why), "blank");
			return -ENOENT;
		}
		return BAD("no table magic");
	}
	/* The version before anything else: a newer layout may have moved
	 * every other field, its checksum included. */
	uint32_t version = le32_get(b + H_VERSION);
	if (version > VOLTAB_VERSION) {
		snprintf(ci->why, sizeof(ci->why),
			 "written by a newer Tern (format version %u, this Tern reads %u)", version,
			 VOLTAB_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (version != VOLTAB_VERSION)
		return BAD("format version %u is not valid", version);
	if (le32_get(b + H_HEADER_BYTES) != VOLTAB_HEADER_BYTES ||
	    le32_get(b + H_COPY_BYTES) != VOLTAB_COPY_BYTES ||
	    le32_get(b + H_ENTRY_BYTES) != VOLTAB_ENTRY_BYTES ||
	    le32_get(b + H_MAX_ENTRIES) != VOLTAB_MAX_VOLUMES ||
	    le32_get(b + H_ENTRIES_OFFSET) != VOLTAB_HEADER_BYTES)
		return BAD("header sizes are not version 1's");
	uint32_t want = le32_get(b + H_CRC);
	uint32_t crc = crc32c_update(0, b, H_CRC);
	crc = crc32c_update(crc, zero, 4);
	crc = crc32c_update(crc, b + H_CRC + 4, VOLTAB_COPY_BYTES - H_CRC - 4);
	if (crc != want)
		return BAD("checksum mismatch (stored %08x, computed %08x)", want, crc);
	uint32_t incompat = le32_get(b + H_INCOMPAT), ro = le32_get(b + H_RO_COMPAT);
	if (incompat & ~VOLTAB_INCOMPAT_KNOWN) {
		snprintf(ci->why, sizeof(ci->why),
			 "written by a newer Tern (incompatible features 0x%x)",
			 incompat & ~VOLTAB_INCOMPAT_KNOWN);
		return -EPROTONOSUPPORT;
	}
	if (le32_get(b + H_COPY_INDEX) != (uint32_t)copy)
		return BAD("holds copy %u's index", le32_get(b + H_COPY_INDEX));
	uint32_t bs = le32_get(b + H_BLOCK_SIZE);
	if (bs != t->dev->block_size)
		return BAD("written for %u-byte blocks, the disk has %u", bs, t->dev->block_size);
	if (le64_get(b + H_DATA_START) != voltab_data_start_lba(t))
		return BAD("data area does not start at 1 MiB");
	uint32_t n = le32_get(b + H_NVOLUMES);
	if (n > VOLTAB_MAX_VOLUMES)
		return BAD("%u volumes (at most %u)", n, VOLTAB_MAX_VOLUMES);
	uint64_t next_id = le64_get(b + H_NEXT_ID);
	uint64_t end = voltab_data_end_lba(t), prev_end = voltab_data_start_lba(t);
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = b + VOLTAB_HEADER_BYTES + i * VOLTAB_ENTRY_BYTES;
		struct voltab_volume *v = &t->vol[i];
		memset(v, 0, sizeof(*v));
		if (e[E_NAME + VOLTAB_NAME_MAX])
			return BAD("volume %u: name not terminated", i);
		memcpy(v->name, e + E_NAME, VOLTAB_NAME_MAX);
		if (voltab_name_error(v->name))
			return BAD("volume %u: invalid name", i);
		v->id = le64_get(e + E_ID);
		v->size = le64_get(e + E_SIZE);
		v->start_lba = le64_get(e + E_START);
		v->flags = le32_get(e + E_FLAGS);
		v->created_ns = le64_get(e + E_CREATED);
		v->parent_id = le64_get(e + E_PARENT);
		if (v->flags & VOLTAB_VOL_HASHED)
			memcpy(v->sha256, e + E_SHA256, 32);
		if (v->parent_id) {
			v->map_bytes = le64_get(e + E_MAP_BYTES);
			if (le32_get(e + E_MAP_GRAN) != VOLTAB_CLONE_GRAN ||
			    v->map_bytes != voltab_clone_map_bytes(v->size))
				return BAD("clone %s: map size or granularity is wrong", v->name);
		}
		if (!(incompat & VOLTAB_INCOMPAT_CLONES) &&
		    (v->parent_id || (v->flags & VOLTAB_VOL_HASHED)))
			return BAD("volume %s: a clone or base without the CLONES feature",
				   v->name);
		if ((v->flags & VOLTAB_VOL_HASHED) && !(v->flags & VOLTAB_VOL_READONLY))
			return BAD("volume %s: hashed but writable", v->name);
		uint64_t blocks = voltab_bytes_to_blocks(t, voltab_extent_bytes(v));
		if (!v->id || v->id >= next_id)
			return BAD("volume %s: id %lu out of range", v->name, (unsigned long)v->id);
		if (!v->size || v->size % VOLTAB_ALIGN || v->start_lba % (VOLTAB_ALIGN / bs))
			return BAD("volume %s: size or start not whole MiB", v->name);
		/* Entries are sorted by start: one pass finds overlaps. */
		if (v->start_lba < prev_end || v->start_lba > end || blocks > end - v->start_lba)
			return BAD("volume %s: extent overlaps another or passes the disk's end",
				   v->name);
		if (v->flags & ~VOLTAB_VOL_FLAGS_KNOWN)
			return BAD("volume %s: unknown flags 0x%x", v->name, v->flags);
		prev_end = v->start_lba + blocks;
		for (uint32_t k = 0; k < i; k++)
			if (t->vol[k].id == v->id || !strcmp(t->vol[k].name, v->name))
				return BAD("volume %s: name or id used twice", v->name);
	}
	/* A clone's base: a hashed, read-only plain volume of its size. */
	for (uint32_t i = 0; i < n; i++) {
		const struct voltab_volume *v = &t->vol[i], *base = NULL;
		if (!v->parent_id)
			continue;
		for (uint32_t k = 0; k < n; k++)
			if (t->vol[k].id == v->parent_id)
				base = &t->vol[k];
		if (!base || base->parent_id || !(base->flags & VOLTAB_VOL_HASHED) ||
		    base->size != v->size)
			return BAD("clone %s: its base (id %lu) is not a base of its size", v->name,
				   (unsigned long)v->parent_id);
	}
	t->nvolumes = n;
	int rc;
	if ((incompat & VOLTAB_INCOMPAT_BITMAPS) && (rc = check_bitmaps(t, b, ci)))
		return rc;
	t->generation = le64_get(b + H_GENERATION);
	t->incompat = incompat;
	t->ro_compat = ro;
	t->compat = le32_get(b + H_COMPAT);
	t->readonly = ro & ~VOLTAB_RO_COMPAT_KNOWN;
	t->next_id = next_id;
	memcpy(t->uuid, b + H_UUID, 16);
	t->created_ns = le64_get(b + H_CREATED);
	t->updated_ns = le64_get(b + H_UPDATED);
	ci->generation = t->generation;
	return 0;
}

/* The checksummed part, and the bits room when the copy says it holds
 * bitmaps (checked by decode like every other field). */
int voltab_read_copy(struct voltab *t, int copy)
{
	uint32_t bs = t->dev->block_size;
	int rc = blkdev_read(t->dev, voltab_copy_offset[copy] / bs, VOLTAB_COPY_BYTES / bs, t->buf);

	if (rc || memcmp(t->buf + H_MAGIC, VOLTAB_MAGIC, 8) ||
	    le32_get(t->buf + H_VERSION) != VOLTAB_VERSION ||
	    !(le32_get(t->buf + H_INCOMPAT) & VOLTAB_INCOMPAT_BITMAPS))
		return rc;
	return blkdev_read(t->dev, (voltab_copy_offset[copy] + VOLTAB_BITS_OFFSET) / bs,
			   VOLTAB_BITS_ROOM / bs, t->buf + VOLTAB_BITS_OFFSET);
}
