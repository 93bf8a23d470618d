/* The volume table on disk: encoding, checking, the two-copy rule, and
 * first-fit allocation. docs/storage.md is the spec; the byte offsets
 * below are its tables. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate/le.h"
#include "storage/crc32c.h"
#include "storage/voltab.h"

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
/* 124..255 reserved, zero: room for a section directory (bitmaps). */

/* Volume entry fields (docs/storage.md, "Volume entry"). */
#define E_NAME 0
#define E_ID 32
#define E_SIZE 40
#define E_START 48
#define E_FLAGS 56
#define E_CREATED 64
#define E_PARENT 72
/* 60..63 and 80..127 reserved, zero. */

_Static_assert(VOLTAB_HEADER_BYTES + VOLTAB_MAX_VOLUMES * VOLTAB_ENTRY_BYTES <= VOLTAB_COPY_BYTES,
	       "the entries fit one copy");
_Static_assert(VOLTAB_COPY0_OFFSET + VOLTAB_COPY_ROOM <= VOLTAB_COPY1_OFFSET &&
		       VOLTAB_COPY1_OFFSET + VOLTAB_COPY_ROOM <= VOLTAB_DATA_OFFSET,
	       "the copies' rooms do not overlap each other or the data");

static const uint32_t copy_offset[2] = {VOLTAB_COPY0_OFFSET, VOLTAB_COPY1_OFFSET};

const char *voltab_name_error(const char *name)
{
	size_t n = strlen(name);

	if (!n)
		return "a name needs at least one character";
	if (n > VOLTAB_NAME_MAX)
		return "a name has at most 31 characters";
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return "a name has only letters, digits, '.', '_' and '-'";
	}
	return NULL;
}

static uint64_t bytes_to_blocks(const struct voltab *t, uint64_t bytes)
{
	return bytes / t->dev->block_size;
}

/* The end of the area volumes may use: the device's last whole MiB. */
static uint64_t data_end_lba(const struct voltab *t)
{
	uint64_t per_mib = VOLTAB_ALIGN / t->dev->block_size;
	return t->dev->blocks / per_mib * per_mib;
}

static uint64_t data_start_lba(const struct voltab *t)
{
	return VOLTAB_DATA_OFFSET / t->dev->block_size;
}

static int ensure_buf(struct voltab *t)
{
	if (!t->buf)
		t->buf = malloc(VOLTAB_COPY_BYTES);
	return t->buf ? 0 : -ENOMEM;
}

/* --- encoding ---------------------------------------------------------------- */

static void encode(const struct voltab *t, int copy, uint8_t *b)
{
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
	le64_put(b + H_DATA_START, data_start_lba(t));
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
	}
	/* The checksum covers the whole copy with its own field zero. */
	le32_put(b + H_CRC, crc32c_update(0, b, VOLTAB_COPY_BYTES));
}

#define BAD(fmt, ...) (snprintf(ci->why, sizeof(ci->why), fmt, ##__VA_ARGS__), -EBADMSG)

/* Checks one copy read into b and, when it is valid, decodes it into t.
 * Every field is checked against the device and the other entries before
 * it is believed: a damaged copy whose checksum happens to match must
 * not place a volume over another or past the disk's end. */
static int decode(struct voltab *t, int copy, const uint8_t *b, struct voltab_copy_info *ci)
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
	if (le64_get(b + H_DATA_START) != data_start_lba(t))
		return BAD("data area does not start at 1 MiB");
	uint32_t n = le32_get(b + H_NVOLUMES);
	if (n > VOLTAB_MAX_VOLUMES)
		return BAD("%u volumes (at most %u)", n, VOLTAB_MAX_VOLUMES);
	uint64_t next_id = le64_get(b + H_NEXT_ID);
	uint64_t end = data_end_lba(t), prev_end = data_start_lba(t);
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
		uint64_t blocks = bytes_to_blocks(t, v->size);
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
	t->nvolumes = n;
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

static int read_copy(struct voltab *t, int copy)
{
	uint32_t bs = t->dev->block_size;
	return blkdev_read(t->dev, copy_offset[copy] / bs, VOLTAB_COPY_BYTES / bs, t->buf);
}

static int load(struct voltab *t, struct blkdev *dev)
{
	struct voltab_load_info *info = &t->info;
	uint8_t *buf = t->buf;
	int rc;

	memset(t, 0, sizeof(*t));
	t->buf = buf;
	t->dev = dev;
	info->used = -1;
	if ((rc = ensure_buf(t)))
		return rc;
	if (dev->block_size > VOLTAB_ALIGN || VOLTAB_ALIGN % dev->block_size ||
	    dev->blocks < data_start_lba(t) + VOLTAB_ALIGN / dev->block_size) {
		for (int c = 0; c < 2; c++) {
			info->copy[c].rc = -ENOSPC;
			snprintf(info->copy[c].why, sizeof(info->copy[c].why), "disk under 2 MiB");
		}
		return -ENOSPC;
	}
	/* Decode each copy to learn its state and generation, then decode
	 * the winner once more: t holds one copy at a time. */
	for (int c = 0; c < 2; c++) {
		struct voltab_copy_info *ci = &info->copy[c];
		ci->rc = read_copy(t, c);
		if (ci->rc) {
			snprintf(ci->why, sizeof(ci->why), "read failed (%d)", ci->rc);
			ci->rc = -EIO;
			continue;
		}
		ci->rc = decode(t, c, t->buf, ci);
		if (!ci->rc && ci->generation > info->max_generation)
			info->max_generation = ci->generation;
	}
	int c0 = info->copy[0].rc, c1 = info->copy[1].rc;
	if (c0 == -EPROTONOSUPPORT || c1 == -EPROTONOSUPPORT)
		return -EPROTONOSUPPORT;
	if (c0 && c1) {
		if (c0 == -ENOENT && c1 == -ENOENT)
			return -ENOENT;
		return c0 == -EIO && c1 == -EIO ? -EIO : -EBADMSG;
	}
	int use = c0 ? 1 : c1 ? 0 : info->copy[1].generation > info->copy[0].generation;
	info->used = use;
	info->repair =
		info->copy[1 - use].rc || info->copy[0].generation != info->copy[1].generation;
	/* t holds whatever was decoded last, perhaps half of a bad copy:
	 * decode the winner once more. */
	if ((rc = read_copy(t, use)))
		return rc;
	if ((rc = decode(t, use, t->buf, &info->copy[use])))
		return rc; /* changed under us: report, do not guess */
	t->good_copy = use;
	t->loaded = true;
	return 0;
}

int voltab_load(struct voltab *t, struct blkdev *dev)
{
	int rc = load(t, dev);

	t->load_rc = rc;
	return rc;
}

/* After a failed write: what is on the disk now is whatever the writes
 * left, one copy new or none. Loading it again makes memory agree with
 * the next boot, instead of guessing. */
static int reload_after(struct voltab *t, int write_rc)
{
	voltab_load(t, t->dev);
	return write_rc;
}

/* The two-copy rule: the copy that may be stale or damaged is written and
 * flushed first, the one holding the current table last. A write torn at
 * any point leaves one valid copy: the old table or the new one. */
static int commit(struct voltab *t)
{
	uint32_t bs = t->dev->block_size;
	int order[2] = {1 - t->good_copy, t->good_copy};
	int rc;

	t->generation++;
	for (int i = 0; i < 2; i++) {
		int c = order[i];
		encode(t, c, t->buf);
		rc = blkdev_write(t->dev, copy_offset[c] / bs, VOLTAB_COPY_BYTES / bs, t->buf);
		if (!rc)
			rc = blkdev_flush(t->dev);
		if (rc)
			return rc;
		/* The copy just written holds the newest table from now on. */
		t->good_copy = c;
	}
	for (int c = 0; c < 2; c++) {
		t->info.copy[c].rc = 0;
		t->info.copy[c].generation = t->generation;
		t->info.copy[c].why[0] = 0;
	}
	t->info.used = t->good_copy;
	t->info.repair = false;
	t->info.max_generation = t->generation;
	return 0;
}

int voltab_format(struct voltab *t, struct blkdev *dev, const uint8_t uuid[16], uint64_t now_ns,
		  uint64_t generation)
{
	uint8_t *buf = t->buf;
	int rc;

	memset(t, 0, sizeof(*t));
	t->buf = buf;
	t->dev = dev;
	if ((rc = ensure_buf(t)))
		return rc;
	if (dev->block_size > VOLTAB_ALIGN || VOLTAB_ALIGN % dev->block_size ||
	    dev->blocks < data_start_lba(t) + VOLTAB_ALIGN / dev->block_size)
		return voltab_load(t, dev); /* -ENOSPC, with the reason in t->info */
	memcpy(t->uuid, uuid, 16);
	t->created_ns = t->updated_ns = now_ns;
	t->next_id = 1;
	t->generation = generation ? generation - 1 : 0;
	t->good_copy = 1; /* copy 0 is written first */
	rc = commit(t);
	if (rc)
		return reload_after(t, rc);
	t->loaded = true;
	t->load_rc = 0;
	return 0;
}

const struct voltab_volume *voltab_find(const struct voltab *t, const char *name)
{
	for (unsigned i = 0; i < t->nvolumes; i++)
		if (!strcmp(t->vol[i].name, name))
			return &t->vol[i];
	return NULL;
}

static void remove_at(struct voltab *t, unsigned at)
{
	memmove(&t->vol[at], &t->vol[at + 1], (t->nvolumes - at - 1) * sizeof(t->vol[0]));
	t->nvolumes--;
}

static void insert_at(struct voltab *t, unsigned at, const struct voltab_volume *v)
{
	memmove(&t->vol[at + 1], &t->vol[at], (t->nvolumes - at) * sizeof(t->vol[0]));
	t->vol[at] = *v;
	t->nvolumes++;
}

/* Writes the changed table. */
static int commit_change(struct voltab *t, uint64_t now_ns)
{
	if (now_ns)
		t->updated_ns = now_ns;
	return commit(t);
}

int voltab_create(struct voltab *t, const char *name, uint64_t size, uint64_t now_ns,
		  const struct voltab_volume **out)
{
	if (!t->loaded)
		return -ENODEV;
	if (voltab_name_error(name) || !size || size % VOLTAB_ALIGN)
		return -EINVAL;
	if (t->readonly)
		return -EROFS;
	if (voltab_find(t, name))
		return -EEXIST;
	if (t->nvolumes == VOLTAB_MAX_VOLUMES)
		return -EMFILE;
	uint64_t need = bytes_to_blocks(t, size), end = data_end_lba(t);
	/* First fit over the gaps between volumes sorted by start. */
	uint64_t at = data_start_lba(t);
	unsigned slot = 0;
	for (; slot < t->nvolumes; slot++) {
		if (t->vol[slot].start_lba - at >= need)
			break;
		at = t->vol[slot].start_lba + bytes_to_blocks(t, t->vol[slot].size);
	}
	if (slot == t->nvolumes && (at > end || end - at < need))
		return -ENOSPC;
	struct voltab_volume v = {0};
	memcpy(v.name, name, strlen(name) + 1);
	v.id = t->next_id++;
	v.size = size;
	v.start_lba = at;
	v.created_ns = now_ns;
	insert_at(t, slot, &v);
	int rc = commit_change(t, now_ns);
	if (rc)
		return reload_after(t, rc);
	if (out)
		*out = &t->vol[slot];
	return 0;
}

int voltab_delete(struct voltab *t, const char *name, uint64_t now_ns)
{
	if (!t->loaded)
		return -ENODEV;
	const struct voltab_volume *v = voltab_find(t, name);
	if (!v)
		return -ENOENT;
	if (t->readonly)
		return -EROFS;
	unsigned at = (unsigned)(v - t->vol);
	remove_at(t, at);
	int rc = commit_change(t, now_ns);
	return rc ? reload_after(t, rc) : 0;
}

void voltab_space(const struct voltab *t, struct voltab_space *s)
{
	memset(s, 0, sizeof(*s));
	if (!t->loaded)
		return;
	uint64_t bs = t->dev->block_size, end = data_end_lba(t), at = data_start_lba(t);
	s->data_bytes = (end - at) * bs;
	for (unsigned i = 0; i < t->nvolumes; i++) {
		const struct voltab_volume *v = &t->vol[i];
		if ((v->start_lba - at) * bs > s->largest_free)
			s->largest_free = (v->start_lba - at) * bs;
		s->used_bytes += v->size;
		at = v->start_lba + v->size / bs;
	}
	if ((end - at) * bs > s->largest_free)
		s->largest_free = (end - at) * bs;
	s->free_bytes = s->data_bytes - s->used_bytes;
}

void voltab_close(struct voltab *t)
{
	free(t->buf);
	memset(t, 0, sizeof(*t));
}
