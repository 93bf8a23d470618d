/* Split virtqueues (virtio 1.1, 2.6) seen from the device: the guest's
 * descriptor table, available ring and used ring live in guest memory; Tern
 * keeps only its own indexes. Every address the guest gives is checked to
 * lie inside its RAM before it is used, and a chain that breaks the rules
 * (loops, an index past the ring, indirect descriptors, a readable buffer
 * after a writable one) is refused with a reason, so the device model can
 * set DEVICE_NEEDS_RESET instead of touching memory it should not.
 *
 * Guest memory is reached through vm_gpa_read/vm_gpa_write (kernel/vm.h),
 * which also record the pages the device writes for a live migration. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

struct vm;

#define VQ_SIZE_MAX 256 /* the Queue Size Tern offers (2.6: at most 32768) */

/* 2.6.5 */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
/* 2.6.8: the device's hint that it needs no notifications. */
#define VIRTQ_USED_F_NO_NOTIFY 1

struct virtq {
	uint16_t size;		    /* entries in each ring (queue_size) */
	bool enabled;		    /* queue_enable */
	uint16_t last_avail;	    /* the next available-ring entry the device takes */
	uint16_t used_idx;	    /* the used ring's idx as the device last wrote it */
	uint64_t desc, avail, used; /* guest-physical: descriptor table, driver and device areas */
};

struct vq_seg {
	uint64_t gpa;
	uint32_t len;
	bool write; /* device-writable */
};

/* One descriptor chain, as vq_pop found it. */
struct vq_chain {
	uint16_t head;
	uint16_t nseg;
	uint64_t rlen, wlen; /* bytes the device may read / write */
	struct vq_seg seg[VQ_SIZE_MAX];
};

/* The rings of q fit: size a power of two from 1 to VQ_SIZE_MAX, each ring
 * aligned (2.6: descriptors 16, available 2, used 4 bytes) and wholly in
 * guest RAM. 0, or -EINVAL with *why. */
int vq_check(struct vm *vm, const struct virtq *q, const char **why);
/* Takes the next available chain into c: 1, 0 when the driver has made
 * none available, -EIO (with *why) for a malformed ring or chain. */
int vq_pop(struct vm *vm, struct virtq *q, struct vq_chain *c, const char **why);
/* Whether a chain is available (the available index is ahead of ours). */
bool vq_has_avail(struct vm *vm, const struct virtq *q);
/* Returns chain head to the driver with len bytes written into it (2.6.8):
 * the used element first, then the used index. 0 or -EFAULT. */
int vq_push(struct vm *vm, struct virtq *q, uint16_t head, uint32_t len);
/* Copies from the chain's readable buffers, starting off bytes in, or into
 * its writable buffers. 0, or -EFAULT when the chain is too short. */
int vq_read(struct vm *vm, const struct vq_chain *c, uint64_t off, void *buf, uint64_t len);
int vq_write(struct vm *vm, const struct vq_chain *c, uint64_t off, const void *buf, uint64_t len);
/* The used ring's flags (VIRTQ_USED_F_NO_NOTIFY). 0 or -EFAULT. */
int vq_set_used_flags(struct vm *vm, const struct virtq *q, uint16_t flags);
