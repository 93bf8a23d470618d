/* cpuprobe's own descriptor tables: user segments and a TSS so a probe
 * can run at CPL 3 (#AC is raised only there), and an IDT whose gates go
 * to trap.S, where an exception ends a probe instead of the guest. */
#include "common/idt.h"
#include "cpuprobe.h"
#include "common/cpu.h"

#define PTE_U (1ull << 2)
#define GATE_INTERRUPT 0x8E

struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3, iomap_base;
} __attribute__((packed));

static uint64_t gdt[7] __attribute__((aligned(16)));
static struct tss64 tss __attribute__((aligned(16)));
static struct idt_gate idt[32] __attribute__((aligned(16)));
static uint8_t kernel_stack[8192] __attribute__((aligned(16)));

static void set_gate(int v, uint8_t ist)
{
	uint64_t a = trap_stubs[v];

	idt[v] = (struct idt_gate){
		.offset_lo = a & 0xFFFF,
		.selector = SEL_KCODE,
		.ist = ist,
		.type = GATE_INTERRUPT,
		.offset_mid = (a >> 16) & 0xFFFF,
		.offset_hi = a >> 32,
	};
}

/* entry.S maps the low 4 GiB with supervisor-only 2 MiB pages: the first
 * 4 MiB (this image, its data and stacks) become user-accessible too. */
static void user_pages(void)
{
	uint64_t *pml4 = (uint64_t *)(read_cr3() & ~0xFFFull);
	uint64_t *pdpt = (uint64_t *)(pml4[0] & 0x000FFFFFFFFFF000ull);
	uint64_t *pd = (uint64_t *)(pdpt[0] & 0x000FFFFFFFFFF000ull);

	pml4[0] |= PTE_U;
	pdpt[0] |= PTE_U;
	pd[0] |= PTE_U;
	pd[1] |= PTE_U;
	write_cr3(read_cr3());
}

void cpu_setup(void)
{
	uint64_t base = (uint64_t)&tss, limit = sizeof(tss) - 1;
	struct idt_ptr g = {sizeof(gdt) - 1, (uint64_t)gdt};
	struct idt_ptr i = {sizeof(idt) - 1, (uint64_t)idt};

	gdt[1] = 0x00AF9B000000FFFFull; /* 0x08: 64-bit code, DPL 0 */
	gdt[2] = 0x00CF93000000FFFFull; /* 0x10: data, DPL 0 */
	gdt[3] = 0x00CFF3000000FFFFull; /* 0x18: data, DPL 3 */
	gdt[4] = 0x00AFFB000000FFFFull; /* 0x20: 64-bit code, DPL 3 */
	/* 0x28: available 64-bit TSS (SDM Vol. 3A 8.2.3) */
	gdt[5] = (limit & 0xFFFF) | (base & 0xFFFFFF) << 16 | 0x89ull << 40 |
		 ((limit >> 16) & 0xF) << 48 | ((base >> 24) & 0xFF) << 56;
	gdt[6] = base >> 32;
	tss.rsp[0] = (uint64_t)kernel_stack + sizeof(kernel_stack);
	tss.iomap_base = sizeof(tss);
	for (int v = 0; v < 32; v++)
		set_gate(v, 0);
	__asm__ volatile("lgdt %0" ::"m"(g));
	__asm__ volatile("lidt %0" ::"m"(i));
	__asm__ volatile("ltr %w0" ::"r"(SEL_TSS));
	user_pages();
}

void cpu_db_on_ist(uint64_t stack_top)
{
	tss.ist[0] = stack_top;
	set_gate(1, 1);
}
