/* GDT and TSS: one flat 64-bit code and data segment, and a TSS whose IST
 * entries give #DF, NMI and #MC a known-good stack even when the faulting
 * context's stack is the problem. */
#include <stdint.h>
#include <string.h>
#include "arch/x86/cpu.h"

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

#define IST_STACK_SIZE 8192
static uint8_t ist_stacks[3][IST_STACK_SIZE] __attribute__((aligned(16)));
static struct tss tss;
static uint64_t gdt[5];

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

void cpu_init(void)
{
	uint64_t base = (uint64_t)&tss;
	uint64_t limit = sizeof(tss) - 1;

	memset(&tss, 0, sizeof(tss));
	for (int i = 0; i < 3; i++)
		tss.ist[i] = (uint64_t)&ist_stacks[i][IST_STACK_SIZE];
	tss.iomap_base = sizeof(tss); /* no I/O bitmap */

	gdt[0] = 0;
	gdt[1] = 0x00AF9A000000FFFFull; /* code: present, DPL0, L=1 */
	gdt[2] = 0x00CF92000000FFFFull; /* data: present, DPL0, writable */
	/* 64-bit available TSS descriptor spans two slots (SDM 7.2.3). */
	gdt[3] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (0x89ull << 40) |
		 (((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56);
	gdt[4] = base >> 32;

	struct desc_ptr p = {sizeof(gdt) - 1, (uint64_t)gdt};
	__asm__ volatile("lgdt %0\n\t"
			 "pushq %1\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\n\t"
			 "movl %2, %%eax\n\t"
			 "movl %%eax, %%ds\n\t"
			 "movl %%eax, %%es\n\t"
			 "movl %%eax, %%ss\n\t"
			 "xorl %%eax, %%eax\n\t"
			 "movl %%eax, %%fs\n\t"
			 "movl %%eax, %%gs\n\t"
			 "ltr %w3"
			 :
			 : "m"(p), "i"(SEL_KCODE), "i"(SEL_KDATA), "r"(SEL_TSS)
			 : "rax", "memory");
	idt_init();
}
