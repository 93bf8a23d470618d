/* Exception reporting: every CPU exception prints one line naming the
 * vector, error code, RIP and CR2, then halts, instead of a silent reset. */
#pragma once
#include <stdint.h>

/* What isr.S pushes, then what the CPU pushed (SDM vol. 3A 6.14.2). */
struct idt_frame {
	uint64_t vector, error_code;
	uint64_t rip, cs, rflags, rsp, ss;
};

void idt_init(void);
/* Loads an empty IDT: the next exception becomes a triple fault. */
void idt_clear(void);
void idt_exception(const struct idt_frame *frame) __attribute__((noreturn));
