/* Test doubles for migrate/; see fake.h. */
#include "tests/unit/migrate/fake.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static uint64_t clock_now(void *ctx)
{
	struct fake_clock *c = ctx;
	c->now += c->tick;
	return c->now;
}

static int clock_random(void *ctx, void *buf, size_t len)
{
	struct fake_clock *c = ctx;
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)xorshift(&c->rng);
	return 0;
}

struct mig_host fake_host(struct fake_clock *c)
{
	return (struct mig_host){.now_us = clock_now, .random = clock_random, .ctx = c};
}

void fake_src_init(struct fake_src *g, uint64_t npages, uint32_t vcpus, uint32_t ndev)
{
	memset(g, 0, sizeof(*g));
	g->npages = npages;
	g->mem = calloc(npages, MIG_PAGE_SIZE);
	g->log = calloc((npages + 63) / 64, 8);
	g->rng = 42;
	/* A third of the pages hold data, the rest are zero. */
	for (uint64_t i = 0; i < npages; i++)
		if (i % 3 == 0)
			for (unsigned j = 0; j < MIG_PAGE_SIZE; j++)
				g->mem[i * MIG_PAGE_SIZE + j] = (uint8_t)(i * 7 + j);
	snprintf(g->cfg.name, sizeof(g->cfg.name), "web1");
	g->cfg.ram_bytes = npages * MIG_PAGE_SIZE;
	g->cfg.vcpu_count = vcpus;
	g->cfg.device_count = ndev;
	for (uint32_t i = 0; i < ndev; i++) {
		g->cfg.devices[i].id = 10 + i;
		g->cfg.devices[i].kind = i;
		snprintf(g->cfg.devices[i].name, sizeof(g->cfg.devices[i].name), "dev%u", i);
	}
	memcpy(g->cfg.mac, (uint8_t[]){0x52, 0x54, 0x00, 0x12, 0x34, 0x56}, 6);
	g->cfg.has_ipv4 = true;
	memcpy(g->cfg.ipv4, (uint8_t[]){10, 0, 0, 42}, 4);
	g->cfg.cpuid_id = 1;
	g->cfg.cpuid_len = 48;
	memset(g->cfg.cpuid, 0xc1, 48);
}

void fake_src_fini(struct fake_src *g)
{
	free(g->mem);
	free(g->log);
	free(g->disk);
	free(g->disk_log);
	free(g->disk_held);
}

void fake_src_make_clone(struct fake_src *g)
{
	g->disk_held = calloc((g->disk_blocks + 63) / 64, 8);
	/* Every seventh block written since the clone was made, one zeroed. */
	for (uint64_t b = 3; b < g->disk_blocks; b += 7) {
		memset(g->disk + b * MIG_DISK_BLOCK, b == 3 ? 0 : 0x5A, MIG_DISK_BLOCK);
		g->disk_held[b / 64] |= 1ull << (b % 64);
		g->disk_held_at_start++;
	}
	g->cfg.disk_has_base = true;
	snprintf(g->cfg.disk_base_name, sizeof(g->cfg.disk_base_name), "base-web1");
	memset(g->cfg.disk_base_sha256, 0xAB, 32);
}

void fake_disk_base_fill(uint8_t *disk, uint64_t nblocks)
{
	memset(disk, 0, nblocks * MIG_DISK_BLOCK);
	for (uint64_t i = 0; i < nblocks; i += 2)
		memset(disk + i * MIG_DISK_BLOCK, (int)(i % 251) + 1, MIG_DISK_BLOCK);
}

void fake_src_add_disk(struct fake_src *g, uint64_t nblocks)
{
	g->disk_blocks = nblocks;
	g->disk = calloc(nblocks, MIG_DISK_BLOCK);
	g->disk_log = calloc((nblocks + 63) / 64, 8);
	g->disk_read_fail = UINT64_MAX;
	fake_disk_base_fill(g->disk, nblocks);
	g->cfg.has_disk = true;
	snprintf(g->cfg.disk_volume, sizeof(g->cfg.disk_volume), "vol-web1");
	g->cfg.disk_bytes = nblocks * MIG_DISK_BLOCK;
}

void fake_src_run(struct fake_src *g, unsigned n)
{
	if (g->paused || g->destroyed)
		return;
	for (unsigned i = 0; i < n; i++) {
		uint64_t r = xorshift(&g->rng);
		uint64_t gfn = r % g->npages;
		uint8_t *page = g->mem + gfn * MIG_PAGE_SIZE;
		if ((r >> 32) % 16 == 0)
			memset(page, 0, MIG_PAGE_SIZE);
		else
			page[(r >> 20) % MIG_PAGE_SIZE] = (uint8_t)(r >> 40) | 1;
		g->writes++;
		if (g->tracking)
			g->log[gfn / 64] |= 1ull << (gfn % 64);
		/* Every fourth write also goes to the disk, a few zeroing a block. */
		if (g->disk && (r >> 8) % 4 == 0) {
			uint64_t b = (r >> 12) % g->disk_blocks;
			uint8_t *blk = g->disk + b * MIG_DISK_BLOCK;
			if ((r >> 36) % 8 == 0)
				memset(blk, 0, MIG_DISK_BLOCK);
			else
				blk[(r >> 24) % MIG_DISK_BLOCK] = (uint8_t)(r >> 48) | 1;
			if (g->disk_tracking)
				g->disk_log[b / 64] |= 1ull << (b % 64);
			if (g->disk_held)
				g->disk_held[b / 64] |= 1ull << (b % 64);
		}
	}
}

void fake_blob(const struct fake_src *g, uint32_t which, uint8_t out[FAKE_BLOB_LEN])
{
	for (unsigned i = 0; i < FAKE_BLOB_LEN; i++)
		out[i] = (uint8_t)(which * 31 + g->writes * 13 + i);
}

static int src_config(void *ctx, struct mig_guest_config *cfg)
{
	*cfg = ((struct fake_src *)ctx)->cfg;
	return 0;
}

static const void *src_page(void *ctx, uint64_t gfn)
{
	struct fake_src *g = ctx;

	if (gfn >= g->npages)
		abort();
	return g->mem + gfn * MIG_PAGE_SIZE;
}

static int src_dirty_start(void *ctx)
{
	struct fake_src *g = ctx;

	if (g->tracking)
		abort();
	memset(g->log, 0, (g->npages + 63) / 64 * 8);
	g->tracking = true;
	g->starts++;
	return 0;
}

static int src_dirty_harvest(void *ctx, uint64_t *bitmap, uint64_t npages)
{
	struct fake_src *g = ctx;

	if (!g->tracking || npages != g->npages)
		abort();
	for (uint64_t i = 0; i < (npages + 63) / 64; i++) {
		bitmap[i] |= g->log[i];
		g->log[i] = 0;
	}
	g->harvests++;
	return 0;
}

static void src_dirty_stop(void *ctx)
{
	struct fake_src *g = ctx;

	if (!g->tracking)
		abort();
	g->tracking = false;
	g->stops++;
}

static int src_pause(void *ctx)
{
	struct fake_src *g = ctx;

	if (g->pause_ret)
		return g->pause_ret;
	if (g->paused)
		abort();
	g->paused = true;
	g->pauses++;
	return 0;
}

static int src_resume(void *ctx)
{
	struct fake_src *g = ctx;

	if (!g->paused)
		abort();
	g->paused = false;
	g->resumes++;
	return 0;
}

static int src_vcpu_state(void *ctx, uint32_t index, void *buf, size_t cap)
{
	struct fake_src *g = ctx;

	if (!g->paused || index >= g->cfg.vcpu_count || cap < FAKE_BLOB_LEN)
		abort();
	fake_blob(g, index, buf);
	g->vcpu_reads++;
	return FAKE_BLOB_LEN;
}

static int src_device_state(void *ctx, uint32_t id, void *buf, size_t cap)
{
	struct fake_src *g = ctx;

	if (!g->paused || cap < FAKE_BLOB_LEN)
		abort();
	fake_blob(g, id | 0x100, buf);
	return FAKE_BLOB_LEN;
}

static void src_destroy(void *ctx)
{
	struct fake_src *g = ctx;

	if (g->destroyed || !g->paused || g->tracking || g->disk_tracking)
		abort();
	g->destroyed = true;
}

/* Read only while our copy still exists, after the destination started
 * the guest (the source knows that from HANDOFF_DONE). */
static int src_held_frame(void *ctx, unsigned i, const uint8_t **frame, size_t *len)
{
	struct fake_src *g = ctx;

	if (g->destroyed || !g->paused)
		abort();
	g->held_reads++;
	if (i >= g->held_count)
		return -ENOENT;
	*frame = g->held[i];
	*len = sizeof(g->held[i]);
	return 0;
}

void fake_src_add_bitmaps(struct fake_src *g)
{
	static const char *const names[] = {"backup", "tmp"};
	uint64_t nbits = (g->disk_blocks * MIG_DISK_BLOCK + 65535) / 65536;

	if (nbits > 64 * 8)
		abort();
	g->nbitmaps = 2;
	for (unsigned i = 0; i < 2; i++) {
		struct mig_disk_bitmap *b = &g->bitmaps[i];
		memset(b, 0, sizeof(*b));
		snprintf(b->name, sizeof(b->name), "%s", names[i]);
		b->granularity = 65536;
		b->persistent = i == 0;
		b->nbits = nbits;
		b->bits = g->bitmap_bits[i];
		g->bitmap_bits[i][0] = (uint8_t)(0x5 << i);
		g->bitmap_bits[i][(nbits - 1) / 8] |= (uint8_t)(1u << ((nbits - 1) % 8));
	}
}

static int src_disk_bitmap(void *ctx, unsigned i, struct mig_disk_bitmap *b)
{
	struct fake_src *g = ctx;

	if (i >= g->nbitmaps)
		return -ENOENT;
	*b = g->bitmaps[i];
	return 0;
}

static int src_disk_read(void *ctx, uint64_t block, uint32_t count, void *buf)
{
	struct fake_src *g = ctx;

	if (!g->disk || !count || block + count > g->disk_blocks)
		abort();
	if (g->disk_read_fail >= block && g->disk_read_fail < block + count)
		return -EIO;
	memcpy(buf, g->disk + block * MIG_DISK_BLOCK, (size_t)count * MIG_DISK_BLOCK);
	g->disk_reads++;
	return 0;
}

static int src_disk_held(void *ctx, uint64_t *bitmap, uint64_t nblocks)
{
	struct fake_src *g = ctx;

	if (!g->disk_held || nblocks != g->disk_blocks)
		abort();
	g->disk_held_reads++;
	for (uint64_t i = 0; i < (nblocks + 63) / 64; i++)
		bitmap[i] |= g->disk_held[i];
	return 0;
}

static int src_disk_dirty_start(void *ctx)
{
	struct fake_src *g = ctx;

	if (!g->disk || g->disk_tracking)
		abort();
	memset(g->disk_log, 0, (g->disk_blocks + 63) / 64 * 8);
	g->disk_tracking = true;
	g->disk_starts++;
	return 0;
}

static int src_disk_dirty_harvest(void *ctx, uint64_t *bitmap, uint64_t nblocks)
{
	struct fake_src *g = ctx;

	if (!g->disk_tracking || nblocks != g->disk_blocks)
		abort();
	for (uint64_t i = 0; i < (nblocks + 63) / 64; i++) {
		bitmap[i] |= g->disk_log[i];
		g->disk_log[i] = 0;
	}
	return 0;
}

static void src_disk_dirty_stop(void *ctx)
{
	struct fake_src *g = ctx;

	if (!g->disk_tracking)
		abort();
	g->disk_tracking = false;
	g->disk_stops++;
}

struct mig_src_guest fake_src_ops(struct fake_src *g)
{
	struct mig_src_guest ops = {
		.get_config = src_config,
		.page = src_page,
		.dirty_start = src_dirty_start,
		.dirty_harvest = src_dirty_harvest,
		.dirty_stop = src_dirty_stop,
		.pause = src_pause,
		.resume = src_resume,
		.vcpu_state = src_vcpu_state,
		.device_state = src_device_state,
		.held_frame = src_held_frame,
		.destroy = src_destroy,
		.ctx = g,
	};
	if (g->disk) {
		ops.disk_read = src_disk_read;
		ops.disk_dirty_start = src_disk_dirty_start;
		ops.disk_dirty_harvest = src_disk_dirty_harvest;
		ops.disk_dirty_stop = src_disk_dirty_stop;
		ops.disk_bitmap = src_disk_bitmap;
		if (g->disk_held)
			ops.disk_held = src_disk_held;
	}
	return ops;
}

static int dst_check_cpuid(void *ctx, uint32_t id, const void *blob, size_t len)
{
	(void)id, (void)blob, (void)len;
	return ((struct fake_dst *)ctx)->cpuid_ret;
}

static int dst_create(void *ctx, const struct mig_guest_config *cfg)
{
	struct fake_dst *d = ctx;

	if (d->created || d->started)
		abort();
	if (d->create_ret)
		return d->create_ret;
	if (d->max_pages && cfg->ram_bytes / MIG_PAGE_SIZE > d->max_pages)
		return -ENOMEM;
	d->cfg = *cfg;
	d->npages = cfg->ram_bytes / MIG_PAGE_SIZE;
	if (cfg->has_disk && d->disk_ret)
		return d->disk_ret;
	/* A fuzzed config may ask for 64 GiB: no room for more than this. */
	if (cfg->has_disk && cfg->disk_bytes > FAKE_DISK_MAX)
		return -ENOSPC;
	d->mem = calloc(d->npages, MIG_PAGE_SIZE);
	if (!d->mem)
		return -ENOMEM;
	if (cfg->has_disk) {
		d->disk_blocks = cfg->disk_bytes / MIG_DISK_BLOCK;
		d->disk = malloc(cfg->disk_bytes);
		/* A clone starts as this host's copy of its base. */
		if (cfg->disk_has_base)
			fake_disk_base_fill(d->disk, d->disk_blocks);
		else
			memset(d->disk, 0xEE, cfg->disk_bytes);
	}
	d->created = true;
	d->creates++;
	return 0;
}

static int dst_write_page(void *ctx, uint64_t gfn, const void *data)
{
	struct fake_dst *d = ctx;

	if (!d->created || d->started || gfn >= d->npages)
		abort();
	if (d->write_ret)
		return d->write_ret;
	if (data)
		memcpy(d->mem + gfn * MIG_PAGE_SIZE, data, MIG_PAGE_SIZE);
	else
		memset(d->mem + gfn * MIG_PAGE_SIZE, 0, MIG_PAGE_SIZE);
	d->pages_written++;
	return 0;
}

/* Blocks count as written only once synced: the machine must sync
 * before it reads on. */
static int dst_write_disk(void *ctx, uint64_t block, const void *data)
{
	struct fake_dst *d = ctx;

	if (!d->created || d->started || !d->disk || block >= d->disk_blocks)
		abort();
	if (data)
		memcpy(d->disk + block * MIG_DISK_BLOCK, data, MIG_DISK_BLOCK);
	else
		memset(d->disk + block * MIG_DISK_BLOCK, 0, MIG_DISK_BLOCK);
	d->blocks_written++;
	return 0;
}

static int dst_disk_sync(void *ctx)
{
	struct fake_dst *d = ctx;

	if (!d->created || d->started || !d->disk)
		abort();
	d->blocks_synced = d->blocks_written;
	d->syncs++;
	return 0;
}

static int dst_disk_flush(void *ctx)
{
	struct fake_dst *d = ctx;

	if (!d->created || d->started || !d->disk)
		abort();
	d->flushes++;
	return 0;
}

static int dst_set_disk_bitmap(void *ctx, const struct mig_disk_bitmap *b)
{
	struct fake_dst *d = ctx;

	if (!d->created || d->started || !d->disk || b->nbits > 64 * 8)
		abort();
	if (d->bitmap_ret)
		return d->bitmap_ret;
	unsigned i = 0;
	while (i < d->nbitmaps && strcmp(d->bitmaps[i].name, b->name))
		i++;
	if (i == 2)
		abort();
	if (i == d->nbitmaps)
		d->nbitmaps++;
	else
		d->bitmap_updates++;
	d->bitmaps[i] = *b;
	memcpy(d->bitmap_bits[i], b->bits, (b->nbits + 7) / 8);
	d->bitmaps[i].bits = d->bitmap_bits[i];
	return 0;
}

static void *dst_page(void *ctx, uint64_t gfn)
{
	struct fake_dst *d = ctx;

	if (!d->created || d->started || gfn >= d->npages)
		abort();
	d->pages_patched++;
	return d->mem + gfn * MIG_PAGE_SIZE;
}

/* Every byte is read, so ASan sees a blob shorter than claimed. */
static void keep_blob(uint8_t *dst, size_t *dst_len, const void *blob, size_t len)
{
	volatile uint8_t sink = 0;

	if (len > MIG_MAX_BLOB)
		abort();
	for (size_t i = 0; i < len; i++)
		sink ^= ((const uint8_t *)blob)[i];
	memcpy(dst, blob, len < FAKE_BLOB_LEN ? len : FAKE_BLOB_LEN);
	*dst_len = len;
}

static int dst_set_vcpu(void *ctx, uint32_t index, const void *blob, size_t len, uint64_t late_us)
{
	struct fake_dst *d = ctx;

	if (!d->created || d->started || index >= d->cfg.vcpu_count)
		abort();
	if (d->vcpu_ret) {
		d->refusals++;
		return d->vcpu_ret;
	}
	keep_blob(d->vcpu[index], &d->vcpu_len[index], blob, len);
	d->vcpu_late_us = late_us;
	return 0;
}

static const char *dst_why(void *ctx)
{
	return ((struct fake_dst *)ctx)->why_text;
}

static int dst_set_device(void *ctx, uint32_t id, const void *blob, size_t len)
{
	struct fake_dst *d = ctx;

	if (!d->created || d->started)
		abort();
	if (d->dev_ret) {
		d->refusals++;
		return d->dev_ret;
	}
	for (uint32_t i = 0; i < d->cfg.device_count; i++)
		if (d->cfg.devices[i].id == id) {
			keep_blob(d->dev[i], &d->dev_len[i], blob, len);
			return 0;
		}
	abort();
}

static int dst_start(void *ctx)
{
	struct fake_dst *d = ctx;

	if (!d->created || d->started || d->blocks_synced != d->blocks_written)
		abort();
	if (d->start_ret)
		return d->start_ret;
	d->started = true;
	d->starts++;
	return 0;
}

static void dst_destroy(void *ctx)
{
	struct fake_dst *d = ctx;

	if (!d->created || d->started)
		abort();
	free(d->mem);
	d->mem = NULL;
	free(d->disk); /* the partly received volume is deleted */
	d->disk = NULL;
	d->created = false;
	d->destroys++;
}

/* Only a started guest takes frames. */
static void dst_deliver_frame(void *ctx, const uint8_t *frame, size_t len)
{
	struct fake_dst *d = ctx;

	if (!d->started || len < 14 || d->delivered >= 8)
		abort();
	memcpy(d->frames[d->delivered++], frame, len < 64 ? len : 64);
}

struct mig_dst_guest fake_dst_ops(struct fake_dst *d)
{
	return (struct mig_dst_guest){
		.check_cpuid = dst_check_cpuid,
		.create = dst_create,
		.write_page = dst_write_page,
		.write_disk = d->no_disk ? NULL : dst_write_disk,
		.disk_sync = d->no_disk ? NULL : dst_disk_sync,
		.set_disk_bitmap = d->no_disk ? NULL : dst_set_disk_bitmap,
		.disk_flush = d->no_disk ? NULL : dst_disk_flush,
		.page = dst_page,
		.set_vcpu_state = dst_set_vcpu,
		.set_device_state = dst_set_device,
		.why = dst_why,
		.start = dst_start,
		.deliver_frame = d->no_frames ? NULL : dst_deliver_frame,
		.destroy = dst_destroy,
		.ctx = d,
	};
}

void fake_dst_fini(struct fake_dst *d)
{
	free(d->mem);
	d->mem = NULL;
	free(d->disk);
	d->disk = NULL;
}

void fake_dst_check(const struct fake_dst *d, enum mig_result r)
{
	if (r == MIG_DONE && !(d->started && d->created && d->destroys == 0))
		abort();
	if (r == MIG_FAILED && (d->started || d->created || d->creates != d->destroys))
		abort();
	if (r == MIG_RUNNING || r == MIG_UNCERTAIN)
		abort();
}

void fake_config_fill(struct mig_guest_config *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->name, "web-1.test_a");
	c->ram_bytes = 64ull << 20;
	c->vcpu_count = 2;
	c->device_count = 3;
	for (uint32_t i = 0; i < 3; i++) {
		c->devices[i].id = i + 1;
		c->devices[i].kind = 100 + i;
		strcpy(c->devices[i].name, i == 2 ? "virtio-net0" : "uart");
	}
	memcpy(c->mac, (uint8_t[]){0x52, 0x54, 0, 1, 2, 3}, 6);
	c->has_ipv4 = true;
	memcpy(c->ipv4, (uint8_t[]){10, 0, 0, 5}, 4);
	c->cpuid_id = 7;
	c->cpuid_len = 100;
	for (int i = 0; i < 100; i++)
		c->cpuid[i] = (uint8_t)i;
}
