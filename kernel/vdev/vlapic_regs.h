/* Register layout and bit definitions of the guest local APIC, shared by
 * its model (vlapic.c) and its migration state (vlapic_state.c). Private to
 * those two; the interface is vlapic.h. */
#pragma once
#include <stdint.h>

#define BUS_HZ 1000000000ull

/* IA32_APIC_BASE bits (11.4.4) */
#define BASE_BSP (1ull << 8)
#define BASE_EXTD (1ull << 10)
#define BASE_EN (1ull << 11)
/* bits 0-7 and 9 reserved; the base stops at bit 51 (the largest MAXPHYADDR) */
#define BASE_RESERVED (0x2FFull | ~((1ull << 52) - 1))

/* Register offsets in the xAPIC page; the x2APIC MSR is 0x800 + off / 16
 * (11.4.1 table 11-1, 11.12.1.2 table 11-6). */
enum {
	R_ID = 0x20,
	R_VER = 0x30,
	R_TPR = 0x80,
	R_APR = 0x90,
	R_PPR = 0xA0,
	R_EOI = 0xB0,
	R_RRD = 0xC0,
	R_LDR = 0xD0,
	R_DFR = 0xE0,
	R_SVR = 0xF0,
	R_ISR = 0x100,
	R_TMR = 0x180,
	R_IRR = 0x200,
	R_ESR = 0x280,
	R_CMCI = 0x2F0,
	R_ICR_LO = 0x300,
	R_ICR_HI = 0x310,
	R_LVT_TIMER = 0x320,
	R_LVT_THERMAL = 0x330,
	R_LVT_PERF = 0x340,
	R_LVT_LINT0 = 0x350,
	R_LVT_LINT1 = 0x360,
	R_LVT_ERROR = 0x370,
	R_TIMER_ICR = 0x380,
	R_TIMER_CCR = 0x390,
	R_TIMER_DCR = 0x3E0,
	R_SELF_IPI = 0x3F0, /* x2APIC only */
};

#define MSR_APIC_BASE 0x1B
#define MSR_TSC_DEADLINE 0x6E0
#define MSR_X2APIC_FIRST 0x800
#define MSR_X2APIC_LAST 0x8FF

/* Version 0x14 (integrated APIC), max LVT entry 5 (timer, thermal, perf,
 * LINT0, LINT1, error: six entries), no EOI-broadcast suppression (11.4.8). */
#define VLAPIC_VERSION 0x00050014u

#define LVT_MASKED (1u << 16)
#define LVT_TIMER_MODE(v) (((v) >> 17) & 3u)
#define TIMER_ONESHOT 0u
#define TIMER_PERIODIC 1u
#define TIMER_DEADLINE 2u
/* writable bits of each LVT (11.5.1 figure 11-8); the rest read as 0 */
#define LVT_TIMER_BITS 0x000700FFu /* vector, mask, mode */
#define LVT_DM_BITS 0x000107FFu    /* vector, delivery mode, mask */
#define LVT_LINT_BITS 0x0001A7FFu  /* + polarity, trigger */
#define LVT_ERROR_BITS 0x000100FFu /* vector, mask */

#define SVR_ENABLE (1u << 8)
#define SVR_BITS 0x000003FFu /* vector, enable, focus checking */

/* ESR bits (11.5.3) */
#define ESR_SEND_ILLEGAL (1u << 5)
#define ESR_RECV_ILLEGAL (1u << 6)

/* ICR fields (11.6.1) */
#define ICR_VECTOR(v) ((v) & 0xFFu)
#define ICR_DM(v) (((v) >> 8) & 7u)
#define ICR_LOGICAL (1u << 11)
#define ICR_SHORTHAND(v) (((v) >> 18) & 3u)
#define ICR_BITS 0x000CCFFFu /* vector .. trigger, shorthand; not busy */
/* reserved in x2APIC mode (KVM's set; bit 12, delivery status, ignored) */
#define ICR_X2_RESERVED 0xFFF32000u

/* x2APIC logical ID (11.12.10.2): cluster = ID[31:4], bit ID[3:0]. */
static inline uint32_t vlapic_x2_ldr(uint32_t id)
{
	return ((id >> 4) << 16) | (1u << (id & 0xF));
}
