#include "arch/x86/asm.h"
#include "arch/x86/cpu.h"
#include "arch/x86/lapic.h"
#include "kernel/time.h"

/* Register offsets (SDM Vol. 3, 11.4.1 and 11.5.4). */
#define LAPIC_ID 0x020
#define LAPIC_EOI 0x0B0
#define LAPIC_SVR 0x0F0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3E0

#define LVT_MASKED (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define APIC_BASE_X2APIC (1ull << 10)
#define APIC_BASE_ENABLE (1ull << 11)

volatile uint64_t lapic_ticks;
uint64_t lapic_timer_hz;
int lapic_x2apic;
static volatile uint32_t *mmio;

static uint32_t rd(uint32_t reg)
{
	return lapic_x2apic ? (uint32_t)rdmsr(0x800 + (reg >> 4)) : mmio[reg / 4];
}

static void wr(uint32_t reg, uint32_t v)
{
	if (lapic_x2apic)
		wrmsr(0x800 + (reg >> 4), v);
	else
		mmio[reg / 4] = v;
}

void lapic_eoi(void)
{
	wr(LAPIC_EOI, 0);
}

uint32_t lapic_id(void)
{
	return lapic_x2apic ? rd(LAPIC_ID) : rd(LAPIC_ID) >> 24;
}

static void timer_tick(struct trap_frame *tf)
{
	(void)tf;
	lapic_ticks++;
	lapic_eoi();
}

void lapic_init(void)
{
	uint64_t base = rdmsr(MSR_APIC_BASE);

	/* The legacy PICs stay masked: Tern polls devices and only takes the
	 * LAPIC timer tick. */
	outb(0x21, 0xff);
	outb(0xA1, 0xff);

	lapic_x2apic = !!(base & APIC_BASE_X2APIC);
	if (!(base & APIC_BASE_ENABLE))
		wrmsr(MSR_APIC_BASE, base | APIC_BASE_ENABLE);
	mmio = (volatile uint32_t *)(base & 0xFFFFFF000ull);

	wr(LAPIC_SVR, 0x100 | VEC_SPURIOUS);
	wr(LAPIC_LVT_LINT0, LVT_MASKED);
	wr(LAPIC_LVT_LINT1, LVT_MASKED);
	idt_set_handler(VEC_LAPIC_TIMER, timer_tick);

	/* Count down 10 ms of TSC time with divide-by-16 to find the rate. */
	wr(LAPIC_TIMER_DIV, 0x3);
	wr(LAPIC_LVT_TIMER, LVT_MASKED | VEC_LAPIC_TIMER);
	wr(LAPIC_TIMER_INIT, 0xFFFFFFFF);
	udelay(10000);
	uint32_t elapsed = 0xFFFFFFFF - rd(LAPIC_TIMER_CUR);
	lapic_timer_hz = (uint64_t)elapsed * 100 * 16;

	uint32_t per_tick = elapsed * 100 / LAPIC_TICK_HZ;
	wr(LAPIC_LVT_TIMER, LVT_PERIODIC | VEC_LAPIC_TIMER);
	wr(LAPIC_TIMER_INIT, per_tick ? per_tick : 1);
}
