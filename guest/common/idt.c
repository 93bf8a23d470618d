/* The guests' IDT: 32 interrupt gates to the isr.S stubs. */
#include "idt.h"
#include "boot.h"
#include "cpu.h"
#include "uart.h"

#define IDT_VECTORS 32
#define GATE_INTERRUPT 0x8E /* present, DPL 0, 64-bit interrupt gate */
#define GDT_CODE64 0x08


extern const uint64_t isr_stubs[IDT_VECTORS];
static struct idt_gate idt[IDT_VECTORS];

static void idt_load(const void *base, uint16_t limit)
{
	struct idt_ptr ptr = {.limit = limit, .base = (uint64_t)base};

	__asm__ volatile("lidt %0" : : "m"(ptr));
}

void idt_init(void)
{
	for (int v = 0; v < IDT_VECTORS; v++) {
		uint64_t a = isr_stubs[v];

		idt[v] = (struct idt_gate){
			.offset_lo = a & 0xFFFF,
			.selector = GDT_CODE64,
			.type = GATE_INTERRUPT,
			.offset_mid = (a >> 16) & 0xFFFF,
			.offset_hi = a >> 32,
		};
	}
	idt_load(idt, sizeof(idt) - 1);
}

void idt_clear(void)
{
	idt_load(0, 0);
}

static idt_handler_fn handler;

void idt_set_handler(idt_handler_fn fn)
{
	handler = fn;
}

void idt_dispatch(struct idt_frame *f)
{
	if (handler && handler(f))
		return;
	idt_exception(f);
}

void idt_exception(const struct idt_frame *f)
{
	uart_printf("%s: exception %lu error=%#lx rip=%#lx cr2=%#lx rsp=%#lx; halted\n", guest_name,
		    f->vector, f->error_code, f->rip, read_cr2(), f->rsp);
	cpu_halt_forever();
}
