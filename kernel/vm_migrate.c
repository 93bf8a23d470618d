/* A VM as migrate/ sees it: the source and destination ops of
 * migrate/migrate.h over struct vm, the hv backend and the guest's devices.
 * migrate/ never sees an x86 structure; the vCPU travels as the portable
 * struct vcpu_state (kernel/hv.h), the UART as a small packed blob, the PCI
 * bus, virtio-net, the LAPIC, the I/O APIC and the CMOS clock as the blobs
 * their models define (vpci_save, vnet_save, vlapic_save, vioapic_save,
 * vrtc_save). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arch/x86/guest_intr.h"
#include "kernel/log.h"
#include "kernel/time.h"
#include "kernel/vm_api.h"
#include "kernel/vm_dirty.h"
#include "kernel/vm_disk.h"
#include "kernel/vm_migrate.h"

/* Device ids in GUEST_CONFIG, and their kinds (the same numbers). */
enum {
	DEV_UART = 1,
	DEV_PCI = 2,
	DEV_NET = 3,
	DEV_LAPIC = 4,
	DEV_IOAPIC = 5,
	DEV_RTC = 6,
	DEV_BLK = 7
};
enum {
	KIND_UART16550 = 1,
	KIND_PCI_HOST = 2,
	KIND_VIRTIO_NET = 3,
	KIND_LAPIC = 4,
	KIND_IOAPIC = 5,
	KIND_CMOS_RTC = 6,
	KIND_VIRTIO_BLK = 7,
};

/* Every VM has the first VM_DEVICES; a VM whose disk moves with it also
 * the last. Id i + 1 is devices[i]. */
static const struct mig_device_desc vm_devices[] = {
	{DEV_UART, KIND_UART16550, "com1"},
	{DEV_PCI, KIND_PCI_HOST, "pci0"},
	{DEV_NET, KIND_VIRTIO_NET, "virtio-net0"},
	{DEV_LAPIC, KIND_LAPIC, "lapic0"},
	{DEV_IOAPIC, KIND_IOAPIC, "ioapic0"},
	{DEV_RTC, KIND_CMOS_RTC, "rtc0"},
	{DEV_BLK, KIND_VIRTIO_BLK, "virtio-blk0"},
};
#define VM_DEVICES 6u
#define VM_DEVICES_DISK 7u
/* GUEST_CONFIG's CPUID id: which model (arch/x86/cpuid_guest.c), in the
 * version of its baseline. A peer that knows only id 1 refuses a pool
 * guest with "CPUID baseline 2 is not available". */
#define CPUID_BASELINE_ID 1 /* the host model */
#define CPUID_POOL_ID 2     /* the pool model: the same table on every host */

/* The leaves whose values make up the CPUID baseline blob: two hosts can
 * exchange a guest when the guest's view is identical on both. */
static const uint32_t baseline_leaves[] = {0, 1, 7, 0x80000000, 0x80000001, 0x80000008};
#define BASELINE_LEN (sizeof(baseline_leaves) / sizeof(baseline_leaves[0]) * 16)

static void baseline_blob(enum guest_cpu_model m, uint8_t *out)
{
	const struct guest_cpu c = {.model = m};

	for (unsigned i = 0; i < sizeof(baseline_leaves) / sizeof(baseline_leaves[0]); i++) {
		uint32_t r[4];
		cpuid_guest(&c, baseline_leaves[i], 0, r);
		if (baseline_leaves[i] == 1)
			r[1] &= 0x00FFFFFF; /* initial APIC ID is per host, not part of the baseline */
		memcpy(out + 16 * i, r, 16);
	}
}

/* ---- source ---------------------------------------------------------------- */

static int src_get_config(void *ctx, struct mig_guest_config *cfg)
{
	struct vm *vm = ctx;

	/* `migrate` refuses such a guest first: a destination without its
	 * volume must never resume it. */
	if (vm->disk.on && !vm->disk.copy)
		return -EOPNOTSUPP;

	memset(cfg, 0, sizeof(*cfg));
	strncpy(cfg->name, vm->name, sizeof(cfg->name) - 1);
	cfg->ram_bytes = vm->mem_bytes;
	cfg->vcpu_count = 1;
	cfg->device_count = vm->disk.on ? VM_DEVICES_DISK : VM_DEVICES;
	memcpy(cfg->devices, vm_devices, cfg->device_count * sizeof(vm_devices[0]));
	if (vm->disk.on) {
		cfg->has_disk = true;
		snprintf(cfg->disk_volume, sizeof(cfg->disk_volume), "%s", vm->disk.volume);
		cfg->disk_bytes = vm->disk.cfg.blocks * vm->disk.cfg.dev->block_size;
		if (vm->disk.copy_inc && vm_disk_base(vm, cfg->disk_base_name,
						     sizeof(cfg->disk_base_name),
						     cfg->disk_base_sha256))
			return -ENOENT;
		cfg->disk_has_base = vm->disk.copy_inc;
	}
	memcpy(cfg->mac, vm->mac, 6);
	cfg->has_ipv4 = vm->ip != 0;
	memcpy(cfg->ipv4, &vm->ip, 4);
	/* `vm pause/resume` are refused while it migrates: this stays true. */
	cfg->paused = vm->state == VM_PAUSED;
	enum guest_cpu_model m = vm->vcpu.cpu.model;
	cfg->cpuid_id = m == GUEST_CPU_POOL ? CPUID_POOL_ID : CPUID_BASELINE_ID;
	cfg->cpuid_len = BASELINE_LEN;
	baseline_blob(m, cfg->cpuid);
	cfg->tsc_khz = (uint32_t)(vm->vcpu.cpu.tsc.hz / 1000);
	return 0;
}

static const void *src_page(void *ctx, uint64_t gfn)
{
	return vm_gpa_ptr(ctx, gfn << 12);
}

/* The cheapest exact method the CPU has (vm_dirty_best), guest and
 * device writes together (kernel/vm_dirty.c, as `vm dirty` uses). */
static int src_dirty_start(void *ctx)
{
	static const char *const names[] = {"off", "A/D bits", "PML", "write-protect"};
	struct vm *vm = ctx;
	enum dirty_mode m = vm_dirty_best();
	/* -EBUSY while `vm dirty` debugging is on: refused rather than stolen. */
	int rc = vm_dirty_start(vm, m);

	if (!rc)
		log_info("migrate", "%s: dirty logging with %s (%s)", vm->name, names[m], hv->name);
	return rc;
}

static int src_dirty_harvest(void *ctx, uint64_t *bitmap, uint64_t npages)
{
	long n = vm_dirty_harvest(ctx, bitmap, npages);
	return n < 0 ? (int)n : 0;
}

static void src_dirty_stop(void *ctx)
{
	vm_dirty_stop(ctx);
}

static int src_pause(void *ctx)
{
	struct vm *vm = ctx;

	/* Only the main loop runs vCPUs, and it is not running one now: the
	 * state change alone stops the guest. */
	if (vm->state == VM_RUNNING || vm->state == VM_HALTED) {
		vm->resume_state = vm->state;
		vm->state = VM_PAUSED;
	} else if (vm->state == VM_PAUSED) {
		/* The operator paused it: a failed migration leaves it so. */
		vm->resume_state = VM_PAUSED;
	} else {
		/* It stopped itself during the copy (a fault, a power-off):
		 * there is no running guest to move. */
		log_err("migrate", "%s cannot be paused: it stopped (%s)", vm->name,
			vm->stop_reason);
		return -EINVAL;
	}
	return 0;
}

static int src_resume(void *ctx)
{
	struct vm *vm = ctx;
	if (vm->state == VM_PAUSED)
		vm->state = vm->resume_state;
	return 0;
}

static int src_vcpu_state(void *ctx, uint32_t index, void *buf, size_t cap)
{
	struct vm *vm = ctx;
	struct vcpu_state *s = buf;

	if (index != 0)
		return -EINVAL;
	if (cap < sizeof(*s))
		return -ENOSPC;
	memset(s, 0, sizeof(*s));
	hv->get_state(&vm->vcpu, s);
	s->version = VCPU_STATE_VERSION;
	if (vm->resume_state == VM_HALTED)
		s->flags |= VCPU_HALTED;
	return sizeof(*s);
}

static int src_held_frame(void *ctx, unsigned i, const uint8_t **frame, size_t *len)
{
	struct vm *vm = ctx;
	return vnet_held_frame(&vm->net, i, frame, len);
}

static int src_device_state(void *ctx, uint32_t id, void *buf, size_t cap)
{
	struct vm *vm = ctx;

	if (id == DEV_PCI)
		return vpci_save(&vm->pci, buf, cap);
	if (id == DEV_NET)
		return vnet_save(&vm->net, buf, cap);
	if (id == DEV_UART)
		return vuart_save(&vm->uart, buf, cap);
	if (id == DEV_LAPIC)
		return vlapic_save(&vm->vcpu.lapic, buf, cap);
	if (id == DEV_IOAPIC)
		return vioapic_save(&vm->ioapic, buf, cap);
	if (id == DEV_RTC)
		return vrtc_save(&vm->rtc, buf, cap);
	if (id == DEV_BLK && vm->disk.on)
		return vblk_save(&vm->disk.dev, buf, cap);
	return -ENOENT;
}

static int src_disk_read(void *ctx, uint64_t block, uint32_t count, void *buf)
{
	return vm_disk_read_blocks(ctx, block, count, buf);
}

static int src_disk_dirty_start(void *ctx)
{
	return vm_disk_log_start(ctx);
}

static int src_disk_dirty_harvest(void *ctx, uint64_t *bitmap, uint64_t nblocks)
{
	return vm_disk_log_harvest(ctx, bitmap, nblocks);
}

static int src_disk_held(void *ctx, uint64_t *bitmap, uint64_t nblocks)
{
	return vm_disk_held(ctx, bitmap, nblocks);
}

static void src_disk_dirty_stop(void *ctx)
{
	vm_disk_log_stop(ctx);
}

static int src_disk_bitmap(void *ctx, unsigned i, struct mig_disk_bitmap *b)
{
	return vm_disk_bitmap(ctx, i, b);
}

static void src_throttle(void *ctx, uint32_t pct)
{
	struct vm *vm = ctx;

	vm->throttle_pct = pct < 100 ? pct : 99;
	vm->run_after_ns = 0;
}

static void src_destroy(void *ctx)
{
	struct vm *vm = ctx;
	log_info("migrate", "%s now runs on the destination; freeing it here", vm->name);
	/* libvirt's rule for copy-storage: the source's copy stays, the
	 * operator deletes it once the guest is known to be well there. */
	if (vm->disk.on)
		log_info("migrate", "%s: its volume %s stays on this host ('disk delete %s')",
			 vm->name, vm->disk.volume, vm->disk.volume);
	vm_destroy(vm);
}

void vm_migrate_src_ops(struct vm *vm, enum vm_copy_storage copy_storage,
			struct mig_src_guest *ops)
{
	vm->disk.copy = vm->disk.on && copy_storage != VM_COPY_NONE;
	vm->disk.copy_inc = vm->disk.copy && copy_storage == VM_COPY_INC;
	*ops = (struct mig_src_guest){
		.get_config = src_get_config,
		.page = src_page,
		.dirty_start = src_dirty_start,
		.dirty_harvest = src_dirty_harvest,
		.dirty_stop = src_dirty_stop,
		.pause = src_pause,
		.resume = src_resume,
		.throttle = src_throttle,
		.vcpu_state = src_vcpu_state,
		.device_state = src_device_state,
		.held_frame = src_held_frame,
		.destroy = src_destroy,
		.ctx = vm,
	};
	if (vm->disk.copy) {
		ops->disk_read = src_disk_read;
		ops->disk_dirty_start = src_disk_dirty_start;
		ops->disk_dirty_harvest = src_disk_dirty_harvest;
		ops->disk_dirty_stop = src_disk_dirty_stop;
		ops->disk_bitmap = src_disk_bitmap;
		if (vm->disk.copy_inc)
			ops->disk_held = src_disk_held;
	}
}

/* ---- destination ------------------------------------------------------------- */

static void vendor_of(const uint8_t *leaf0, char out[13])
{
	memcpy(out, leaf0 + 4, 4);
	memcpy(out + 4, leaf0 + 12, 4);
	memcpy(out + 8, leaf0 + 8, 4);
	out[12] = 0;
	for (int i = 0; i < 12; i++)
		if (out[i] < 0x20 || out[i] > 0x7E)
			out[i] = '?'; /* from the peer: printable only */
}

/* A host guest needs this host's CPUID and TSC rate; a pool guest needs
 * a host that can give the pool CPU, and any TSC rate will do (trapped
 * where it is not this host's: arch/x86/guest_tsc.h). */
static int dst_check_cpuid(void *ctx, uint32_t id, const void *blob, size_t len)
{
	struct vm_incoming *in = ctx;
	enum guest_cpu_model m = id == CPUID_POOL_ID ? GUEST_CPU_POOL : GUEST_CPU_HOST;
	uint8_t mine[BASELINE_LEN];
	const char *why = "";

	if (id != CPUID_BASELINE_ID && id != CPUID_POOL_ID)
		return -ENOTSUP;
	if (m == GUEST_CPU_POOL && cpuid_pool_supported(&why)) {
		in->why = why;
		return -ENOTSUP;
	}
	baseline_blob(m, mine);
	if (len != sizeof(mine) || memcmp(blob, mine, sizeof(mine))) {
		/* Leaf 0 first: EBX, ECX, EDX hold the vendor as EBX EDX ECX. */
		char theirs[13] = "?", ours[13];
		if (len >= 16)
			vendor_of(blob, theirs);
		vendor_of(mine, ours);
		if (strcmp(theirs, ours))
			snprintf(in->why_buf, sizeof(in->why_buf),
				 "its CPU is its source's (%s, cpu=host), this host's is %s: "
				 "cpu=pool moves between unlike hosts",
				 theirs, ours);
		else
			snprintf(in->why_buf, sizeof(in->why_buf),
				 "its CPU is its source's (cpu=host) and differs from this host's: "
				 "cpu=pool moves between unlike hosts");
		in->why = in->why_buf;
		return -ENOTSUP;
	}
	in->cpu = m;
	return m == GUEST_CPU_POOL ? MIG_CPUID_ANY_TSC : 0;
}

static int dst_create(void *ctx, const struct mig_guest_config *cfg)
{
	struct vm_incoming *in = ctx;
	const char *why = "";

	/* This host's devices, by the same ids; the UART at least (a source
	 * without the others leaves them in their reset state here). */
	if (cfg->vcpu_count != 1 || !cfg->device_count ||
	    cfg->device_count > (cfg->has_disk ? VM_DEVICES_DISK : VM_DEVICES))
		return -ENOTSUP;
	/* The disk's device comes with the disk, and only with it. */
	if (cfg->has_disk != (cfg->device_count == VM_DEVICES_DISK))
		return -ENOTSUP;
	for (uint32_t i = 0; i < cfg->device_count; i++)
		if (cfg->devices[i].id != vm_devices[i].id ||
		    cfg->devices[i].kind != vm_devices[i].kind)
			return -ENOTSUP;
	if (vm_find(cfg->name) || vm_find_mac(cfg->mac))
		return -EEXIST;
	int rc = vm_alloc(cfg->name, cfg->ram_bytes, in->cpu, (uint64_t)cfg->tsc_khz * 1000, &in->vm,
			  &why);
	if (rc) {
		log_warn("migrate", "incoming %s refused: %s", cfg->name, why);
		return rc == -EINVAL ? -E2BIG : rc;
	}
	in->vm->state = VM_INCOMING;
	in->vm->migrating = true;
	if (cfg->has_disk &&
	    (rc = disk_incoming_create(&in->disk, in->vm, cfg->disk_volume, cfg->disk_bytes,
				       cfg->disk_has_base ? cfg->disk_base_name : NULL,
				       cfg->disk_base_sha256, &in->why))) {
		log_warn("migrate", "incoming %s refused: %s", cfg->name, in->why);
		vm_destroy(in->vm);
		in->vm = NULL;
		return rc;
	}
	memcpy(in->vm->mac, cfg->mac, 6);
	if (cfg->has_ipv4)
		memcpy(&in->vm->ip, cfg->ipv4, 4);
	in->halted = false;
	in->blocked = false;
	in->paused = cfg->paused;
	return 0;
}

static int dst_write_page(void *ctx, uint64_t gfn, const void *data)
{
	struct vm_incoming *in = ctx;
	void *p = vm_gpa_ptr(in->vm, gfn << 12);

	if (!p)
		return -EINVAL;
	if (data)
		memcpy(p, data, 4096);
	else
		memset(p, 0, 4096);
	return 0;
}

static int dst_write_disk(void *ctx, uint64_t block, const void *data)
{
	struct vm_incoming *in = ctx;

	return in->vm ? disk_incoming_write(&in->disk, in->vm, block, data) : -ENODEV;
}

static int dst_disk_sync(void *ctx)
{
	struct vm_incoming *in = ctx;

	return in->vm ? disk_incoming_sync(&in->disk, in->vm) : -ENODEV;
}

static int dst_disk_flush(void *ctx)
{
	struct vm_incoming *in = ctx;

	return in->vm ? disk_incoming_flush(&in->disk, in->vm) : -ENODEV;
}

static int dst_set_disk_bitmap(void *ctx, const struct mig_disk_bitmap *b)
{
	struct vm_incoming *in = ctx;

	in->why = NULL;
	return in->vm ? disk_incoming_bitmap(&in->disk, b, &in->why) : -ENODEV;
}

/* PAGE_DELTA is applied to the guest's page in place. */
static void *dst_page(void *ctx, uint64_t gfn)
{
	struct vm_incoming *in = ctx;

	return in->vm ? vm_gpa_ptr(in->vm, gfn << 12) : NULL;
}

static int dst_set_vcpu_state(void *ctx, uint32_t index, const void *blob, size_t len,
			      uint64_t late_us)
{
	struct vm_incoming *in = ctx;
	struct vcpu_state s;

	in->why = NULL;
	if (index != 0 || len != sizeof(s)) {
		in->why = "wrong blob length";
		return -EINVAL;
	}
	memcpy(&s, blob, sizeof(s)); /* the stream gives no alignment guarantee */
	if (s.version != VCPU_STATE_VERSION)
		return -EPROTO;
	/* The guest's TSC runs on from here (the backend sets it against
	 * this host's now); add what it ran since the state arrived. */
	s.tsc += late_us * (in->vm->vcpu.cpu.tsc.hz / 1000) / 1000;
	/* The backend checks it against what its CPU can enter (-EINVAL,
	 * nothing changed): here, before END, not at the first VMRUN. */
	int rc = hv->set_state(&in->vm->vcpu, &s);
	if (rc)
		return rc < 0 ? rc : -EINVAL;
	/* HLT as kernel/vm.c's HLT exit takes it: with IF = 1 the vCPU waits
	 * for an interrupt (blocked, still running), only with IF = 0 is it
	 * halted for good. Taking every HLT as the latter left an idle Linux
	 * guest, paused while it waited in HLT for its next timer interrupt,
	 * `halted` on the destination, never to run again. */
	enum guest_hlt hlt = guest_intr_hlt(s.flags & VCPU_HALTED, s.rflags);
	in->halted = hlt == GUEST_HLT_FOREVER;
	in->blocked = hlt == GUEST_HLT_WAITS;
	return 0;
}

static int dst_set_device_state(void *ctx, uint32_t id, const void *blob, size_t len)
{
	struct vm_incoming *in = ctx;
	const char *why = "malformed state";
	int rc;

	/* Each device checks its whole blob first and changes nothing when
	 * it refuses: here, before END, not when the guest runs. */
	in->why = NULL;
	if (id == DEV_PCI)
		rc = vpci_restore(&in->vm->pci, blob, len);
	else if (id == DEV_NET)
		rc = vnet_restore(&in->vm->net, blob, len, &why);
	else if (id == DEV_UART)
		rc = vuart_restore(&in->vm->uart, blob, len, &why);
	else if (id == DEV_LAPIC)
		rc = vlapic_restore(&in->vm->vcpu.lapic, blob, len, &why);
	else if (id == DEV_IOAPIC)
		rc = vioapic_restore(&in->vm->ioapic, blob, len, &why);
	else if (id == DEV_RTC)
		rc = vrtc_restore(&in->vm->rtc, blob, len, &why);
	else if (id == DEV_BLK && in->vm->disk.on)
		rc = vblk_restore(&in->vm->disk.dev, blob, len, &why);
	else
		return -ENOENT;
	if (rc) {
		in->why = id == DEV_PCI ? "malformed PCI bus state" : why;
		log_warn("migrate", "incoming %s: %s state refused: %s", in->vm->name,
			 vm_devices[id - 1].name, in->why);
	}
	return rc;
}

static const char *dst_why(void *ctx)
{
	return ((struct vm_incoming *)ctx)->why;
}

static int dst_start(void *ctx)
{
	struct vm_incoming *in = ctx;
	struct vm *vm = in->vm;

	vm->migrating = false;
	disk_incoming_keep(&in->disk, vm);
	/* A guest the operator paused arrives paused: it runs after
	 * `vm resume`, not before. */
	vm->state = in->paused ? VM_PAUSED : in->halted ? VM_HALTED : VM_RUNNING;
	vm->vcpu.blocked = in->blocked; /* woken by its LAPIC, as on the source */
	/* From its own vswitch port here, so this switch learns it too. */
	vnet_announce(&vm->net);
	log_info("migrate", "%s received and running", vm->name);
	return 0;
}

/* The guest runs here; the operator may have destroyed it already. */
static void dst_deliver_frame(void *ctx, const uint8_t *frame, size_t len)
{
	struct vm_incoming *in = ctx;

	if (in->vm && in->vm->used && !in->vm->migrating)
		vnet_deliver(&in->vm->net, frame, len);
}

static void dst_destroy(void *ctx)
{
	struct vm_incoming *in = ctx;
	if (in->vm) {
		log_info("migrate", "incoming %s discarded", in->vm->name);
		vm_destroy(in->vm); /* releases the volume's claim */
		in->vm = NULL;
	}
	disk_incoming_discard(&in->disk);
}

void vm_migrate_dst_ops(struct vm_incoming *in, struct mig_dst_guest *ops)
{
	memset(in, 0, sizeof(*in));
	*ops = (struct mig_dst_guest){
		.check_cpuid = dst_check_cpuid,
		.tsc_khz = (uint32_t)(tsc_hz / 1000),
		.create = dst_create,
		.write_page = dst_write_page,
		.write_disk = dst_write_disk,
		.disk_sync = dst_disk_sync,
		.set_disk_bitmap = dst_set_disk_bitmap,
		.disk_flush = dst_disk_flush,
		.page = dst_page,
		.set_vcpu_state = dst_set_vcpu_state,
		.set_device_state = dst_set_device_state,
		.why = dst_why,
		.start = dst_start,
		.deliver_frame = dst_deliver_frame,
		.destroy = dst_destroy,
		.ctx = in,
	};
}
