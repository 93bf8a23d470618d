/* Exception reporting: every CPU exception prints one line naming the
 * vector, error code, RIP and CR2, then halts, instead of a silent reset. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

/* What isr.S pushes, then what the CPU pushed (SDM vol. 3A 6.14.2). */
struct idt_frame {
	uint64_t vector, error_code;
	uint64_t rip, cs, rflags, rsp, ss;
};

/* An interrupt gate and the IDTR/GDTR operand (SDM vol. 3A 6.14.1). */
struct idt_gate {
	uint16_t offset_lo, selector;
	uint8_t ist, type;
	uint16_t offset_mid;
	uint32_t offset_hi, reserved;
} __attribute__((packed));

struct idt_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

void idt_init(void);
/* Loads an empty IDT: the next exception becomes a triple fault. */
void idt_clear(void);
void idt_exception(const struct idt_frame *frame) __attribute__((noreturn));
/* A guest that expects an exception (a #GP from an MSR it probes) sets a
 * handler: true when it took the exception (and moved frame->rip past the
 * instruction), false to report and halt as usual. NULL: none. */
typedef bool (*idt_handler_fn)(struct idt_frame *frame);
void idt_set_handler(idt_handler_fn fn);
void idt_dispatch(struct idt_frame *frame);
