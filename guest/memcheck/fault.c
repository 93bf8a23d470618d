/* mode=triplefault and mode=outside: misbehaviour on purpose, to show that a
 * hypervisor stops such a guest and nothing else. */
#include "memcheck.h"
#include "common/idt.h"
#include "common/uart.h"

void mc_triplefault(void)
{
	uart_printf("memcheck: triple fault now\n");
	/* With no IDT the #UD cannot be delivered: #GP, then #DF, then a
	 * triple fault (SDM vol. 3A 6.15, interrupt 8). */
	idt_clear();
	__asm__ volatile("ud2");
}

void mc_outside(const struct mc_opts *o, const struct mc_mem *m)
{
	uint64_t addr = o->addr ? o->addr : m->ram_end;
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)(addr & ~7ull);

	uart_printf("memcheck: writing outside RAM at %#lx\n", addr);
	*p = 0x4D454D434845434Bull; /* "MEMCHECK" */
	uart_printf("memcheck: still running after the write at %#lx\n", addr);
}
