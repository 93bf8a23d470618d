/* IDT: exceptions go to the fault dump; other vectors to registered
 * handlers (LAPIC timer) or are counted as unexpected. */
#include <stdint.h>
#include "arch/x86/asm.h"
#include "arch/x86/cpu.h"
#include "arch/x86/lapic.h"
#include "kernel/log.h"

struct idt_gate {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t ist;
	uint8_t type;
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t zero;
} __attribute__((packed));

extern char isr_stubs[];
static struct idt_gate idt[256];
static irq_handler_fn handlers[256];
static uint64_t unexpected_irqs;

void idt_set_handler(uint8_t vector, irq_handler_fn fn)
{
	handlers[vector] = fn;
}

static void set_gate(int vec, uint8_t ist)
{
	uint64_t off = (uint64_t)isr_stubs + 16 * (uint64_t)vec;

	idt[vec] = (struct idt_gate){
		.off_lo = off & 0xFFFF,
		.sel = SEL_KCODE,
		.ist = ist,
		.type = 0x8E, /* present, DPL0, 64-bit interrupt gate: IF cleared on entry */
		.off_mid = (off >> 16) & 0xFFFF,
		.off_hi = off >> 32,
	};
}

void idt_init(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) p = {sizeof(idt) - 1, (uint64_t)idt};

	for (int v = 0; v < 256; v++)
		set_gate(v, 0);
	set_gate(2, 2);  /* NMI */
	set_gate(8, 1);  /* #DF */
	set_gate(18, 3); /* #MC */
	__asm__ volatile("lidt %0" ::"m"(p));
}

void isr_dispatch(struct trap_frame *tf);
void isr_dispatch(struct trap_frame *tf)
{
	if (tf->vector == 13 && fixup_fault_rip && tf->rip == fixup_fault_rip) {
		tf->rip = fixup_resume_rip; /* rdmsr_safe on a missing MSR */
		fixup_fault_rip = 0;
		return;
	}
	if (tf->vector < 32) {
		fault_dump(tf);
		return; /* not reached: fault_dump stops the CPU */
	}
	if (handlers[tf->vector]) {
		handlers[tf->vector](tf);
		return;
	}
	if (tf->vector != VEC_SPURIOUS) {
		if (unexpected_irqs++ < 8)
			log_warn("irq", "unexpected interrupt vector %lu", tf->vector);
		lapic_eoi();
	}
}
