/* Per-CPU descriptor tables and trap handling. */
#pragma once
#include <stdint.h>

#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_TSS 0x18

/* Layout pushed by isr.S: general registers, then vector and error code,
 * then what the CPU pushed. Keep in sync with isr.S. */
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

#define VEC_LAPIC_TIMER 0x40
#define VEC_SPURIOUS 0xFF

/* Loads Tern's GDT, TSS (with IST stacks for #DF, NMI, #MC) and IDT. */
void cpu_init(void);

typedef void (*irq_handler_fn)(struct trap_frame *tf);
void idt_set_handler(uint8_t vector, irq_handler_fn fn);
void idt_init(void);

/* Prints the exception dump (vector, error, registers, backtrace). */
void fault_dump(const struct trap_frame *tf);
