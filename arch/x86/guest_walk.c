/* Guest page walks (SDM Vol. 3A 4.3 32-bit, 4.4 PAE, 4.5 4-level paging;
 * APM Vol. 2 5.2-5.3). Only translation: no A/D updates, no permission
 * checks, since Tern reads only what the guest just executed. */
#include <errno.h>
#include "arch/x86/guest_walk.h"

#define CR0_PG (1ull << 31)
#define CR4_PSE (1ull << 4)
#define CR4_PAE (1ull << 5)
#define EFER_LMA (1ull << 10)
#define PTE_P 1ull
#define PTE_PS (1ull << 7)
#define ADDR_MASK 0x000FFFFFFFFFF000ull

static int entry64(guest_phys_read rd, void *ctx, uint64_t at, uint64_t *e)
{
	if (rd(ctx, at, e, sizeof(*e)) || !(*e & PTE_P))
		return -EFAULT;
	return 0;
}

int guest_walk(const struct guest_paging *p, uint64_t la, guest_phys_read rd, void *ctx,
	       uint64_t *gpa)
{
	uint64_t e;

	if (!(p->cr0 & CR0_PG)) {
		*gpa = la & 0xFFFFFFFFull;
		return 0;
	}
	if (!(p->cr4 & CR4_PAE)) { /* 32-bit paging, 4-byte entries */
		uint32_t pde, pte;
		if (rd(ctx, (p->cr3 & 0xFFFFF000ull) + ((la >> 22) & 0x3FF) * 4, &pde, 4) ||
		    !(pde & PTE_P))
			return -EFAULT;
		if ((pde & PTE_PS) && (p->cr4 & CR4_PSE)) { /* 4 MiB, PSE-36 bits 20:13 */
			*gpa = (pde & 0xFFC00000ull) | ((uint64_t)((pde >> 13) & 0xFF) << 32) |
			       (la & 0x3FFFFF);
			return 0;
		}
		if (rd(ctx, (pde & 0xFFFFF000ull) + ((la >> 12) & 0x3FF) * 4, &pte, 4) ||
		    !(pte & PTE_P))
			return -EFAULT;
		*gpa = (pte & 0xFFFFF000ull) | (la & 0xFFF);
		return 0;
	}
	int level;
	uint64_t table;
	if (p->efer & EFER_LMA) {
		level = 4;
		table = p->cr3 & ADDR_MASK;
	} else { /* PAE: the PDPTE, then two levels */
		if (entry64(rd, ctx, (p->cr3 & 0xFFFFFFE0ull) + ((la >> 30) & 3) * 8, &e))
			return -EFAULT;
		level = 2;
		table = e & ADDR_MASK;
	}
	for (; level >= 1; level--) {
		unsigned shift = 12 + 9 * (level - 1);
		if (entry64(rd, ctx, table + ((la >> shift) & 0x1FF) * 8, &e))
			return -EFAULT;
		if (level == 1 || ((level == 2 || level == 3) && (e & PTE_PS))) {
			uint64_t size = 1ull << shift;
			*gpa = (e & ADDR_MASK & ~(size - 1)) | (la & (size - 1));
			return 0;
		}
		table = e & ADDR_MASK;
	}
	return -EFAULT;
}

int guest_read_linear(const struct guest_paging *p, uint64_t la, void *buf, size_t n,
		      guest_phys_read rd, void *ctx)
{
	uint8_t *out = buf;

	for (size_t i = 0; i < n; i++) {
		uint64_t gpa;
		if (guest_walk(p, la + i, rd, ctx, &gpa) || rd(ctx, gpa, out + i, 1))
			return -EFAULT;
	}
	return 0;
}
