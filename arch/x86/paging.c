#include <errno.h>
#include <string.h>
#include "arch/x86/asm.h"
#include "arch/x86/paging.h"
#include "kernel/kernel.h"
#include "kernel/mm/frame.h"

#define PTE_P (1ull << 0)
#define PTE_W (1ull << 1)
#define PTE_PWT (1ull << 3)
#define PTE_PCD (1ull << 4)
#define PTE_PS (1ull << 7)
#define PTE_ADDR 0x000FFFFFFFFFF000ull
#define SZ_2M (2ull << 20)
#define SZ_4G (4ull << 30)

uint64_t kernel_mapped_top;
static uint64_t *pml4;

static uint64_t *table_alloc(void)
{
	uint64_t pa = frame_alloc(1, 1);
	if (!pa)
		return NULL;
	memset((void *)pa, 0, FRAME_SIZE);
	return (uint64_t *)pa;
}

static uint64_t *next_level(uint64_t *table, unsigned idx)
{
	if (!(table[idx] & PTE_P)) {
		uint64_t *t = table_alloc();
		if (!t)
			return NULL;
		table[idx] = (uint64_t)t | PTE_P | PTE_W;
	}
	return (uint64_t *)(table[idx] & PTE_ADDR);
}

static uint64_t *pd_entry(uint64_t pa)
{
	uint64_t *pdpt = next_level(pml4, (pa >> 39) & 511);
	uint64_t *pd = pdpt ? next_level(pdpt, (pa >> 30) & 511) : NULL;
	return pd ? &pd[(pa >> 21) & 511] : NULL;
}

static int chunk_has_ram(const struct boot_info *bi, uint64_t chunk)
{
	for (unsigned i = 0; i < bi->nregions; i++) {
		const struct mem_region *r = &bi->regions[i];
		if (mem_type_is_ram(r->type) && r->base < chunk + SZ_2M && r->base + r->size > chunk)
			return 1;
	}
	return 0;
}

void paging_init(const struct boot_info *bi)
{
	uint64_t top = SZ_4G;

	for (unsigned i = 0; i < bi->nregions; i++)
		if (bi->regions[i].base + bi->regions[i].size > top)
			top = bi->regions[i].base + bi->regions[i].size;
	top = (top + SZ_2M - 1) & ~(SZ_2M - 1);

	pml4 = table_alloc();
	if (!pml4)
		panic("paging: no memory for page tables");
	for (uint64_t pa = 0; pa < top; pa += SZ_2M) {
		uint64_t *pde = pd_entry(pa);
		if (!pde)
			panic("paging: no memory for page tables");
		/* Device memory must not be cached whatever the MTRRs say. */
		*pde = pa | PTE_P | PTE_W | PTE_PS | (chunk_has_ram(bi, pa) ? 0 : PTE_PCD | PTE_PWT);
	}
	write_cr3((uint64_t)pml4);
	kernel_mapped_top = top;
}

int paging_map_mmio(uint64_t pa, uint64_t size)
{
	for (uint64_t c = pa & ~(SZ_2M - 1); c < pa + size; c += SZ_2M) {
		uint64_t *pde = pd_entry(c);
		if (!pde)
			return -ENOMEM;
		if (!(*pde & PTE_P)) {
			*pde = c | PTE_P | PTE_W | PTE_PS | PTE_PCD | PTE_PWT;
			__asm__ volatile("invlpg (%0)" ::"r"(c) : "memory");
		}
	}
	return 0;
}
