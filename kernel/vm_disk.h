/* A guest's disk: `vm create ... disk=VOLUME` gives the guest a virtio-blk
 * device (kernel/vdev/virtio_blk.h) over that volume of the host's NVMe
 * disk (storage/storage.h), and marks the volume in use by the VM until
 * it is destroyed (storage/volume_claim.h). */
#pragma once
#include "kernel/vm.h"

/* Whether VOLUME can be a new VM's disk: 0, or a negative errno with *why
 * ("disk=d1: no such volume (see 'disk list')", ...): no disk, no table,
 * no such volume, in use by another VM, read-only. Nothing is reserved:
 * for the checks before a VM is. */
int vm_disk_check(const char *volume, const char **why);
/* Checks again, claims the volume for vm and attaches the device at
 * 00:VBLK_PCI_DEV.0 of its bus. On failure nothing is claimed. */
int vm_disk_attach(struct vm *vm, const char *volume, const char **why);
/* The device alone, made anew on a restart (the claim stays): 0 when the
 * VM has no disk. */
int vm_disk_device_create(struct vm *vm);
void vm_disk_device_release(struct vm *vm);
/* The device and the claim: the VM is going away. */
void vm_disk_detach(struct vm *vm);
/* The serial a volume's disk shows the guest (GET_ID, Linux's
 * /sys/block/vda/serial): its name, which is the same on every host;
 * a name longer than the 20 bytes is cut to 11 characters, '-' and the
 * CRC-32C of the whole name in 8 hex digits, so it stays unique. */
void vm_disk_serial(const char *volume, char serial[VBLK_ID_BYTES]);

/* copy-storage on the source (kernel/vm_migrate.c's disk ops): the
 * volume read in MIG_DISK_BLOCK blocks from its start, and a log of the
 * blocks the guest writes, kept from start to stop (or detach), as the
 * memory's dirty log is. */
int vm_disk_read_blocks(struct vm *vm, uint64_t block, uint32_t count, void *buf);
/* A clone's disk: the blocks it holds itself (differ from its base),
 * OR-ed into bits 0 .. nblocks - 1 (copy-storage inc). -EINVAL if the
 * disk is not a clone. */
int vm_disk_held(struct vm *vm, uint64_t *bitmap, uint64_t nblocks);
/* A clone's base: its name and content hash. 0, or -EINVAL (no clone). */
int vm_disk_base(struct vm *vm, char *name, unsigned size, uint8_t sha256[32]);
/* copy-storage on the destination: blocks that arrived, written past the
 * tracking layer (they are the guest's, not a write for this host's
 * dirty bitmaps), and the flush that makes them and a clone's map
 * durable before the guest runs here. */
int vm_disk_write_blocks(struct vm *vm, uint64_t block, uint32_t count, const void *buf);
/* count blocks of zeros: the disk's Write Zeroes where it has one. */
int vm_disk_write_zeroes(struct vm *vm, uint64_t block, uint32_t count);
int vm_disk_flush(struct vm *vm);
int vm_disk_log_start(struct vm *vm);
int vm_disk_log_harvest(struct vm *vm, uint64_t *bitmap, uint64_t nblocks);
void vm_disk_log_stop(struct vm *vm);
/* The volume's dirty bitmap i (0 ..), pointing at its bits; -ENOENT past
 * the last. */
struct mig_disk_bitmap;
int vm_disk_bitmap(struct vm *vm, unsigned i, struct mig_disk_bitmap *out);
