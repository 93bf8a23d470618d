/* What migrate/ needs from the rest of Tern, and what it reports back.
 * migrate/ sees guest memory, a dirty log, vCPU and device state blobs and
 * a byte stream; these ops structs are the whole of that view, so the same
 * state machines run on the hypervisor (lwIP, EPT/NPT) and in host unit
 * tests (socketpair, a fake guest). Every op that can fail returns a
 * negative errno. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "migrate/format.h"

/* The TCP port `migrate listen` opens by default. */
#define MIG_DEFAULT_PORT 7000

/* Connected byte stream with back-pressure. Both calls must not block. */
struct mig_transport {
	/* Bytes accepted (> 0), 0 if it would block (also while still
	 * connecting), or negative errno (refused, reset, ...). */
	ssize_t (*send)(void *ctx, const void *buf, size_t len);
	/* Bytes read (> 0), 0 if nothing is there yet, negative errno once
	 * the peer closed (-ECONNRESET) or the connection failed. */
	ssize_t (*recv)(void *ctx, void *buf, size_t len);
	/* Called exactly once, when the machine is finished with it. */
	void (*close)(void *ctx);
	/* Optional: bytes send() took that the peer has not acknowledged
	 * yet (NULL: the transport cannot tell). The source reads the vCPU
	 * state, and with it the guest's TSC, only when this is 0, so that
	 * the guest's clock does not lose the time the state would spend
	 * queued behind the last pages on its way to the destination. */
	size_t (*unacked)(void *ctx);
	/* Optional: microseconds since the newest bytes recv() has returned
	 * or can return arrived from the network (NULL: the transport cannot
	 * tell). The destination moves the guest's TSC on by this when the
	 * vCPU state comes out of its queue: the state has waited that long
	 * here (a lower bound: bytes behind it may have come since). */
	uint64_t (*rx_age_us)(void *ctx);
	void *ctx;
};

/* Clock and randomness of the host. */
struct mig_host {
	uint64_t (*now_us)(void *ctx); /* monotonic */
	/* Unpredictable bytes for the authentication nonces (RDSEED/RDRAND
	 * on Tern). */
	int (*random)(void *ctx, void *buf, size_t len);
	/* Optional, both or neither: big buffers (the delta cache) from the
	 * host's free memory rather than malloc, whose heap may be small
	 * (Tern's is 32 MiB and holds every connection's buffers). bytes is
	 * a multiple of 4 KiB; NULL when there is no such run. */
	void *(*alloc_big)(void *ctx, size_t bytes);
	void (*free_big)(void *ctx, void *p, size_t bytes);
	void *ctx;
};

struct mig_device_desc {
	uint32_t id;
	uint32_t kind; /* the kernel's device model number; opaque here */
	char name[MIG_DEVNAME_FIELD];
};

/* What GUEST_CONFIG carries. */
struct mig_guest_config {
	char name[MIG_NAME_FIELD];
	uint64_t ram_bytes; /* gfns 0 .. ram_bytes/4096 - 1 */
	uint32_t vcpu_count;
	uint32_t device_count;
	struct mig_device_desc devices[MIG_MAX_DEVICES];
	uint8_t mac[6];
	bool has_ipv4;
	uint8_t ipv4[4]; /* network order */
	bool paused;	 /* paused by the operator: stays paused on either host */
	uint32_t cpuid_id;
	uint32_t cpuid_len;
	uint8_t cpuid[MIG_MAX_CPUID_BLOB];
	uint32_t tsc_khz; /* the rate of the TSC the guest reads; 0: not stated */
	/* A disk that moves with the guest (copy-storage): the destination
	 * makes a volume of this name and size, and DISK_DATA fills it. */
	bool has_disk;
	char disk_volume[MIG_NAME_FIELD];
	uint64_t disk_bytes; /* a multiple of MIG_DISK_BLOCK */
	/* copy-storage inc: the disk is a clone of this base, which the
	 * destination must hold (same name and content hash); only the
	 * blocks that differ from it are sent. */
	bool disk_has_base;
	char disk_base_name[MIG_NAME_FIELD];
	uint8_t disk_base_sha256[32];
};

/* A named dirty bitmap of the guest's disk (copy-storage): bit i covers
 * bytes [i * granularity, (i + 1) * granularity) of the disk. */
struct mig_disk_bitmap {
	char name[MIG_NAME_FIELD];
	uint32_t granularity; /* a power of two, 4 KiB to 16 MiB */
	bool persistent;      /* kept in the volume table across reboots */
	bool inconsistent;    /* it may miss writes (found in use after a crash) */
	uint64_t nbits;	      /* ceil(disk bytes / granularity) */
	const uint8_t *bits;  /* (nbits + 7) / 8 bytes */
};

/* The guest on the source host. */
struct mig_src_guest {
	int (*get_config)(void *ctx, struct mig_guest_config *cfg);
	/* Host-readable 4 KiB of guest memory, or NULL for a gfn that is not
	 * RAM (a hole: never sent). Must stay valid until dirty_stop. */
	const void *(*page)(void *ctx, uint64_t gfn);
	/* Start logging writes. Pages written from now on are reported by
	 * the next harvest. */
	int (*dirty_start)(void *ctx);
	/* Set in bitmap (bit gfn of 64-bit words, OR-ed in) every page
	 * written since dirty_start or the previous harvest, and clear them
	 * in the log: test-and-clear, then flush, so a write racing the
	 * harvest shows up in the next one. */
	int (*dirty_harvest)(void *ctx, uint64_t *bitmap, uint64_t npages);
	void (*dirty_stop)(void *ctx);
	int (*pause)(void *ctx);  /* all vCPUs stopped when it returns */
	int (*resume)(void *ctx); /* undo pause */
	/* Optional: take pct % of the vCPUs' time away from the guest (0
	 * gives it all back); auto-converge. */
	void (*throttle)(void *ctx, uint32_t pct);
	/* Write vCPU index's state blob into buf; return its length. */
	int (*vcpu_state)(void *ctx, uint32_t index, void *buf, size_t cap);
	/* Same for the device with this id (from config.devices). */
	int (*device_state)(void *ctx, uint32_t id, void *buf, size_t cap);
	/* May be NULL. Frame i (0 the oldest) of those that reached the
	 * guest's network port after device_state was read, so that the
	 * destination's copy lacks them: 0 with the frame, or non-zero past
	 * the last. Read once HANDOFF_DONE arrived, before destroy, and sent
	 * in HELD_FRAMES to a destination that takes them (MIG_CAP_HELD). */
	int (*held_frame)(void *ctx, unsigned i, const uint8_t **frame, size_t *len);
	/* With config.has_disk, all four; NULL otherwise. Blocks are
	 * MIG_DISK_BLOCK bytes, numbered from the volume's start. The disk's
	 * dirty log works as the memory's: started before the first block is
	 * read, harvested into bits 0 .. nblocks - 1 of bitmap (test and
	 * clear), stopped at the pause or on failure. */
	int (*disk_read)(void *ctx, uint64_t block, uint32_t count, void *buf);
	int (*disk_dirty_start)(void *ctx);
	int (*disk_dirty_harvest)(void *ctx, uint64_t *bitmap, uint64_t nblocks);
	void (*disk_dirty_stop)(void *ctx);
	/* Optional: bitmap i (0 ..) of the disk, valid until the next call:
	 * 0, or non-zero past the last. Read ahead of round 0 and again, for
	 * the final bits, with the guest paused. */
	int (*disk_bitmap)(void *ctx, unsigned i, struct mig_disk_bitmap *b);
	/* With config.disk_has_base: OR into bits 0 .. nblocks - 1 of bitmap the
	 * blocks that differ from the base (round 0 sends only those). */
	int (*disk_held)(void *ctx, uint64_t *bitmap, uint64_t nblocks);
	/* Called once the destination runs the guest: free it here. */
	void (*destroy)(void *ctx);
	void *ctx;
};

#define MIG_CPUID_ANY_TSC 1 /* check_cpuid: the guest's TSC rate need not match */

/* The incoming guest on the destination host. */
struct mig_dst_guest {
	/* May be NULL (accept any). -ENOTSUP if this host cannot offer the
	 * guest's CPUID baseline; MIG_CPUID_ANY_TSC if it can, and the
	 * guest's TSC at whatever rate it states (a pool guest: the host
	 * traps RDTSC where the rate is not its own), so tsc_khz is not
	 * checked; 0 if it can and tsc_khz must match. */
	int (*check_cpuid)(void *ctx, uint32_t id, const void *blob, size_t len);
	/* The rate of the TSC this host's guests read, kHz (0: not checked).
	 * Without TSC scaling a moved guest's TSC runs at this rate: a guest
	 * whose stated rate differs by more than MIG_TSC_TOLERANCE_PPM is
	 * refused, the two rates named. */
	uint32_t tsc_khz;
	/* Reserve zeroed memory and the devices, state `incoming`, and with
	 * cfg->has_disk a new volume for its disk (not zeroed: every block
	 * comes in DISK_DATA). -ENOMEM: not enough memory; -EEXIST: name or
	 * MAC in use; with a disk also -EEXIST (the volume's name), -ENOSPC
	 * (no room for it), -ENODEV (no disk here), the why op saying which.
	 * On failure nothing stays reserved. */
	int (*create)(void *ctx, const struct mig_guest_config *cfg);
	/* data is 4096 bytes, or NULL for a page of zeros. */
	int (*write_page)(void *ctx, uint64_t gfn, const void *data);
	/* Optional: without it this host offers no DISK capability and a
	 * guest with a disk is refused before anything is sent. Writes
	 * MIG_DISK_BLOCK bytes (zeros when data is NULL) at block of the
	 * disk create made; may keep them until disk_sync, which the machine
	 * calls after each DISK_DATA record and before END is accepted. */
	int (*write_disk)(void *ctx, uint64_t block, const void *data);
	int (*disk_sync)(void *ctx);
	/* With write_disk: make bitmap b on the new volume with its bits, or,
	 * when this migration made one of that name already, give it these
	 * bits (the source sends each bitmap ahead of round 0, then with its
	 * final bits while the guest is paused, which must then cost no
	 * I/O). Anything but 0 (the why op says why) fails the migration
	 * before END is accepted. */
	int (*set_disk_bitmap)(void *ctx, const struct mig_disk_bitmap *b);
	/* Optional, with write_disk: what was written so far made durable.
	 * Called at the end of every round but the final one, while the guest
	 * still runs on the source, so that the flush the destination does
	 * before it runs the guest has little left (a flush after a bulk copy
	 * can take the disk a second). */
	int (*disk_flush)(void *ctx);
	/* Optional: the 4 KiB of guest memory at gfn, writable (NULL if not
	 * RAM), where a PAGE_DELTA is applied in place. Without it this host
	 * does not offer the DELTA capability and is sent whole pages. */
	void *(*page)(void *ctx, uint64_t gfn);
	/* Check and apply a state blob; anything but 0 (-EINVAL: a state
	 * this host cannot run) fails the migration before END is accepted,
	 * so a refused blob never becomes a guest that cannot run. */
	/* late_us: how long the state waited on this host after it arrived
	 * (mig_transport.rx_age_us; 0 if unknown): the guest's clock has
	 * run on by that much since the source read it. */
	int (*set_vcpu_state)(void *ctx, uint32_t index, const void *blob, size_t len,
			      uint64_t late_us);
	int (*set_device_state)(void *ctx, uint32_t id, const void *blob, size_t len);
	/* May be NULL. A few words on why the last set_*_state refused its
	 * blob ("queue 0 ring outside guest RAM") or check_cpuid the guest's
	 * CPU, or NULL if it has none. */
	const char *(*why)(void *ctx);
	/* Run the guest (and announce its MAC/IP), or keep it paused when
	 * GUEST_CONFIG said the operator had paused it. From here on it is
	 * this host's guest. */
	int (*start)(void *ctx);
	/* May be NULL. After start: a frame the source held for the guest
	 * (held_frame above), to give it as if it had just arrived here. */
	void (*deliver_frame)(void *ctx, const uint8_t *frame, size_t len);
	/* Free everything create reserved; called only after create
	 * succeeded and start was not reached or failed. */
	void (*destroy)(void *ctx);
	void *ctx;
};

enum mig_result {
	MIG_RUNNING,
	MIG_DONE,      /* the guest runs on the destination */
	MIG_FAILED,    /* the guest runs on the source; the destination holds nothing */
	MIG_UNCERTAIN, /* source only: hand-off outcome unknown, guest paused here */
};
