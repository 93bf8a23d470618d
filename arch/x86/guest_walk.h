/* Guest-linear to guest-physical, through the guest's own page tables,
 * for the few places Tern must read an instruction the CPU did not decode
 * for it (SVM without DecodeAssists: MOV to CR4). Shared by both backends
 * and host-testable: guest memory is read through a callback. */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct guest_paging {
	uint64_t cr0, cr3, cr4, efer;
};

/* Reads len bytes of guest-physical memory: 0 or -EFAULT. */
typedef int (*guest_phys_read)(void *ctx, uint64_t gpa, void *buf, uint64_t len);

/* 0 and *gpa, or -EFAULT when a level is not present or outside RAM. */
int guest_walk(const struct guest_paging *p, uint64_t la, guest_phys_read rd, void *ctx,
	       uint64_t *gpa);
/* Reads n bytes at linear address la (each byte walked: an instruction may
 * cross a page). 0 or -EFAULT. */
int guest_read_linear(const struct guest_paging *p, uint64_t la, void *buf, size_t n,
		      guest_phys_read rd, void *ctx);
