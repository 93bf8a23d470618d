/* A guest's local APIC: registers, priorities, timers, MSI decode and
 * migration state (Intel SDM Vol. 3A chapter 11; the contract and what is
 * not modelled are in vlapic.h). Pure C: time is the guest TSC the caller
 * passes in, so the host unit tests drive it.
 *
 * APIC bus clock: a fixed 1 GHz, as KVM does (one count per nanosecond
 * before the divider). Linux never calibrates it when it has the TSC-deadline
 * timer, and a fixed rate keeps a migrated guest's count timer at the same
 * speed whatever the hosts' TSC rates are. Counts convert to guest TSC ticks
 * through tsc_hz. */
#include <errno.h>
#include <string.h>
#include "kernel/vdev/vlapic.h"

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

static bool bit_test(const uint32_t *v, unsigned n)
{
	return v[n >> 5] & (1u << (n & 31));
}
static void bit_set(uint32_t *v, unsigned n)
{
	v[n >> 5] |= 1u << (n & 31);
}
static void bit_clear(uint32_t *v, unsigned n)
{
	v[n >> 5] &= ~(1u << (n & 31));
}
/* The highest set bit of a 256-bit vector, or -1. */
static int bit_highest(const uint32_t *v)
{
	for (int w = 7; w >= 0; w--)
		if (v[w])
			return w * 32 + 31 - __builtin_clz(v[w]);
	return -1;
}

static bool hw_enabled(const struct vlapic *l)
{
	return l->apic_base & BASE_EN;
}
static bool x2_mode(const struct vlapic *l)
{
	return (l->apic_base & (BASE_EN | BASE_EXTD)) == (BASE_EN | BASE_EXTD);
}
static bool sw_enabled(const struct vlapic *l)
{
	return l->svr & SVR_ENABLE;
}

bool vlapic_xapic_mode(const struct vlapic *l)
{
	return (l->apic_base & (BASE_EN | BASE_EXTD)) == BASE_EN;
}

/* x2APIC logical ID (11.12.10.2): cluster = ID[31:4], bit ID[3:0]. */
static uint32_t x2_ldr(uint32_t id)
{
	return ((id >> 4) << 16) | (1u << (id & 0xF));
}

/* Every register but APIC_BASE, id and tsc_hz back to the power-up state
 * (11.4.7.1). Also what clearing IA32_APIC_BASE.EN does (11.4.3). */
static void regs_reset(struct vlapic *l)
{
	l->tpr = 0;
	l->svr = 0xFF;
	l->ldr = 0;
	l->dfr = 0xFFFFFFFFu;
	l->esr = l->esr_pending = 0;
	l->icr_lo = l->icr_hi = 0;
	memset(l->irr, 0, sizeof(l->irr));
	memset(l->isr, 0, sizeof(l->isr));
	memset(l->tmr, 0, sizeof(l->tmr));
	l->lvt_timer = l->lvt_thermal = l->lvt_perf = LVT_MASKED;
	l->lvt_lint0 = l->lvt_lint1 = l->lvt_error = l->lvt_cmci = LVT_MASKED;
	l->timer_icr = l->timer_dcr = 0;
	l->timer_start = l->timer_next = 0;
	l->timer_armed = false;
	l->tsc_deadline = 0;
}

void vlapic_reset(struct vlapic *l, uint32_t id, uint64_t tsc_hz)
{
	memset(l, 0, sizeof(*l));
	l->apic_base = VLAPIC_XAPIC_BASE | BASE_EN | BASE_BSP;
	l->id = id;
	l->tsc_hz = tsc_hz ? tsc_hz : 1;
	regs_reset(l);
}

/* --- priorities (11.8.3) --- */

static uint32_t ppr(const struct vlapic *l)
{
	int isrv = bit_highest(l->isr);
	uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xF0;
	return (l->tpr & 0xF0) >= isr_class ? l->tpr & 0xFF : isr_class;
}

int vlapic_pending(const struct vlapic *l)
{
	if (!hw_enabled(l) || !sw_enabled(l))
		return -1;
	int v = bit_highest(l->irr);
	if (v < 0 || ((uint32_t)v & 0xF0) <= (ppr(l) & 0xF0))
		return -1;
	return v;
}

void vlapic_accept(struct vlapic *l, int v)
{
	if (v < 16 || v > 255 || !bit_test(l->irr, (unsigned)v))
		return;
	bit_clear(l->irr, (unsigned)v);
	bit_set(l->isr, (unsigned)v);
}

/* An APIC error (11.5.3): latched in the pending ESR, interrupting through
 * the error LVT when unmasked. The error vector itself being illegal is
 * not reported again (no loop). */
static void error(struct vlapic *l, uint32_t bits)
{
	l->esr_pending |= bits;
	uint32_t v = l->lvt_error & 0xFF;
	if (!(l->lvt_error & LVT_MASKED) && v >= 16)
		bit_set(l->irr, v);
}

void vlapic_set_irq(struct vlapic *l, uint8_t vector, bool level)
{
	if (!hw_enabled(l) || !sw_enabled(l))
		return; /* KVM's rule: a disabled APIC accepts nothing */
	if (vector < 16) {
		error(l, ESR_RECV_ILLEGAL);
		return;
	}
	bit_set(l->irr, vector);
	if (level)
		bit_set(l->tmr, vector);
	else
		bit_clear(l->tmr, vector);
}

static void eoi(struct vlapic *l)
{
	int v = bit_highest(l->isr);
	if (v < 0)
		return;
	bit_clear(l->isr, (unsigned)v);
	/* a level EOI would go to the IOAPIC: there is none (decisions.md) */
	bit_clear(l->tmr, (unsigned)v);
}

/* --- timers (11.5.4) --- */

/* Divide configuration (11.5.4 figure 11-10): bits 0, 1 and 3. */
static uint32_t divisor(const struct vlapic *l)
{
	uint32_t v = ((l->timer_dcr >> 1) & 4) | (l->timer_dcr & 3);
	return v == 7 ? 1 : 2u << v;
}

/* bus cycles -> TSC ticks and back, without 128-bit arithmetic */
static uint64_t bus_to_tsc(const struct vlapic *l, uint64_t cycles)
{
	return cycles / BUS_HZ * l->tsc_hz + cycles % BUS_HZ * l->tsc_hz / BUS_HZ;
}
static uint64_t tsc_to_bus(const struct vlapic *l, uint64_t ticks)
{
	return ticks / l->tsc_hz * BUS_HZ + ticks % l->tsc_hz * BUS_HZ / l->tsc_hz;
}

static uint64_t period_ticks(const struct vlapic *l)
{
	uint64_t t = bus_to_tsc(l, (uint64_t)l->timer_icr * divisor(l));
	return t ? t : 1;
}

static uint32_t current_count(const struct vlapic *l, uint64_t now)
{
	if (LVT_TIMER_MODE(l->lvt_timer) == TIMER_DEADLINE || !l->timer_icr)
		return 0;
	if (!l->timer_armed && LVT_TIMER_MODE(l->lvt_timer) == TIMER_ONESHOT)
		return 0;
	uint64_t counted = now > l->timer_start ? tsc_to_bus(l, now - l->timer_start) / divisor(l) : 0;
	if (LVT_TIMER_MODE(l->lvt_timer) == TIMER_PERIODIC)
		return l->timer_icr - (uint32_t)(counted % l->timer_icr);
	return counted >= l->timer_icr ? 0 : l->timer_icr - (uint32_t)counted;
}

/* Loading the initial count starts counting down (11.5.4); 0 stops. */
static void timer_load(struct vlapic *l, uint32_t count, uint64_t now)
{
	if (LVT_TIMER_MODE(l->lvt_timer) == TIMER_DEADLINE)
		return; /* 11.5.4.1: the initial count is ignored in this mode */
	l->timer_icr = count;
	l->timer_start = now;
	l->timer_armed = count != 0;
	if (l->timer_armed)
		l->timer_next = now + period_ticks(l);
}

static void timer_fire(struct vlapic *l)
{
	uint32_t v = l->lvt_timer & 0xFF;
	if (l->lvt_timer & LVT_MASKED)
		return;
	if (v < 16) {
		error(l, ESR_RECV_ILLEGAL);
		return;
	}
	bit_set(l->irr, v);
	bit_clear(l->tmr, v);
	l->timer_fired++;
}

uint64_t vlapic_timer_poll(struct vlapic *l, uint64_t now)
{
	if (!hw_enabled(l))
		return UINT64_MAX;
	if (LVT_TIMER_MODE(l->lvt_timer) == TIMER_DEADLINE) {
		if (l->tsc_deadline && now >= l->tsc_deadline) {
			timer_fire(l);
			l->tsc_deadline = 0; /* firing disarms (11.5.4.1) */
		}
		return l->tsc_deadline ? l->tsc_deadline : UINT64_MAX;
	}
	if (!l->timer_armed)
		return UINT64_MAX;
	if (now >= l->timer_next) {
		timer_fire(l);
		if (LVT_TIMER_MODE(l->lvt_timer) == TIMER_PERIODIC) {
			/* periods missed while the vCPU did not run fire once */
			uint64_t p = period_ticks(l);
			l->timer_next += ((now - l->timer_next) / p + 1) * p;
		} else {
			l->timer_armed = false;
		}
	}
	return l->timer_armed ? l->timer_next : UINT64_MAX;
}

/* --- writes of LVTs, SVR, ICR --- */

static uint32_t lvt_value(const struct vlapic *l, uint32_t val, uint32_t bits)
{
	val &= bits;
	if (!sw_enabled(l))
		val |= LVT_MASKED; /* 11.4.7.2: cannot unmask while disabled */
	return val;
}

/* false: timer mode 3 (reserved). A mode change disarms both timers
 * (11.5.4.1). */
static bool lvt_timer_write(struct vlapic *l, uint32_t val)
{
	if (LVT_TIMER_MODE(val) == 3)
		return false;
	if (LVT_TIMER_MODE(val) != LVT_TIMER_MODE(l->lvt_timer)) {
		l->timer_icr = 0;
		l->timer_armed = false;
		l->tsc_deadline = 0;
	}
	l->lvt_timer = lvt_value(l, val, LVT_TIMER_BITS);
	return true;
}

static void svr_write(struct vlapic *l, uint32_t val)
{
	l->svr = val & SVR_BITS;
	if (!sw_enabled(l)) {
		l->lvt_timer |= LVT_MASKED;
		l->lvt_thermal |= LVT_MASKED;
		l->lvt_perf |= LVT_MASKED;
		l->lvt_lint0 |= LVT_MASKED;
		l->lvt_lint1 |= LVT_MASKED;
		l->lvt_error |= LVT_MASKED;
		l->lvt_cmci |= LVT_MASKED;
	}
}

/* A fixed-mode self-interrupt (ICR, SELF_IPI). */
static void self_irq(struct vlapic *l, uint32_t vector)
{
	if (vector < 16) {
		error(l, ESR_SEND_ILLEGAL | ESR_RECV_ILLEGAL);
		return;
	}
	vlapic_set_irq(l, (uint8_t)vector, false);
}

/* Sending through the ICR (11.6.1): one vCPU, so only what reaches this
 * CPU does something; the rest is counted in icr_dropped. */
static void icr_send(struct vlapic *l)
{
	uint32_t lo = l->icr_lo;
	bool self;
	switch (ICR_SHORTHAND(lo)) {
	case 1: /* self */
	case 2: /* all including self */
		self = true;
		break;
	case 3: /* all excluding self: nobody else exists */
		self = false;
		break;
	default:
		if (lo & ICR_LOGICAL)
			self = false; /* logical IPIs: not modelled (vlapic.h) */
		else if (x2_mode(l))
			self = l->icr_hi == l->id;
		else
			self = (l->icr_hi >> 24) == l->id;
		break;
	}
	if (self && ICR_DM(lo) == 0)
		self_irq(l, ICR_VECTOR(lo));
	else
		l->icr_dropped++;
}

/* --- register file, shared by both interfaces --- */

static bool reg_read(struct vlapic *l, uint32_t off, uint64_t now, uint32_t *val)
{
	bool x2 = x2_mode(l);
	switch (off) {
	case R_ID:
		*val = x2 ? l->id : l->id << 24;
		return true;
	case R_VER:
		*val = VLAPIC_VERSION;
		return true;
	case R_TPR:
		*val = l->tpr;
		return true;
	case R_APR:
	case R_RRD:
		*val = 0;
		return !x2; /* not in the x2APIC map (table 11-6) */
	case R_PPR:
		*val = ppr(l);
		return true;
	case R_EOI:
		*val = 0;
		return !x2; /* write-only in x2APIC */
	case R_LDR:
		*val = l->ldr;
		return true;
	case R_DFR:
		*val = l->dfr;
		return !x2;
	case R_SVR:
		*val = l->svr;
		return true;
	case R_ESR:
		*val = l->esr;
		return true;
	case R_CMCI:
		*val = l->lvt_cmci;
		return true;
	case R_ICR_LO:
		*val = l->icr_lo;
		return true;
	case R_ICR_HI:
		*val = l->icr_hi;
		return !x2;
	case R_LVT_TIMER:
		*val = l->lvt_timer;
		return true;
	case R_LVT_THERMAL:
		*val = l->lvt_thermal;
		return true;
	case R_LVT_PERF:
		*val = l->lvt_perf;
		return true;
	case R_LVT_LINT0:
		*val = l->lvt_lint0;
		return true;
	case R_LVT_LINT1:
		*val = l->lvt_lint1;
		return true;
	case R_LVT_ERROR:
		*val = l->lvt_error;
		return true;
	case R_TIMER_ICR:
		*val = l->timer_icr;
		return true;
	case R_TIMER_CCR:
		*val = current_count(l, now);
		return true;
	case R_TIMER_DCR:
		*val = l->timer_dcr;
		return true;
	}
	if (off >= R_ISR && off < R_ISR + 0x80) {
		*val = l->isr[(off - R_ISR) >> 4];
		return true;
	}
	if (off >= R_TMR && off < R_TMR + 0x80) {
		*val = l->tmr[(off - R_TMR) >> 4];
		return true;
	}
	if (off >= R_IRR && off < R_IRR + 0x80) {
		*val = l->irr[(off - R_IRR) >> 4];
		return true;
	}
	*val = 0;
	return false;
}

/* false: #GP in x2APIC mode (reserved or read-only register, a value with
 * reserved bits that matter); ignored in xAPIC mode. */
static bool reg_write(struct vlapic *l, uint32_t off, uint32_t val, uint64_t now)
{
	bool x2 = x2_mode(l);
	switch (off) {
	case R_TPR:
		l->tpr = val & 0xFF;
		return true;
	case R_EOI:
		if (x2 && val != 0)
			return false; /* 11.12.1.2 */
		eoi(l);
		return true;
	case R_LDR:
		if (x2)
			return false; /* read-only, derived from the ID */
		l->ldr = val & 0xFF000000u;
		return true;
	case R_DFR:
		if (x2)
			return false;
		l->dfr = val | 0x0FFFFFFFu;
		return true;
	case R_SVR:
		svr_write(l, val);
		return true;
	case R_ESR:
		if (x2 && val != 0)
			return false;
		l->esr = l->esr_pending; /* write latches, then reads (11.5.3) */
		l->esr_pending = 0;
		return true;
	case R_CMCI:
		l->lvt_cmci = lvt_value(l, val, LVT_DM_BITS);
		return true;
	case R_ICR_LO:
		l->icr_lo = val & ICR_BITS;
		icr_send(l);
		return true;
	case R_ICR_HI:
		if (x2)
			return false;
		l->icr_hi = val & 0xFF000000u;
		return true;
	case R_LVT_TIMER:
		return lvt_timer_write(l, val) || !x2;
	case R_LVT_THERMAL:
		l->lvt_thermal = lvt_value(l, val, LVT_DM_BITS);
		return true;
	case R_LVT_PERF:
		l->lvt_perf = lvt_value(l, val, LVT_DM_BITS);
		return true;
	case R_LVT_LINT0:
		l->lvt_lint0 = lvt_value(l, val, LVT_LINT_BITS);
		return true;
	case R_LVT_LINT1:
		l->lvt_lint1 = lvt_value(l, val, LVT_LINT_BITS);
		return true;
	case R_LVT_ERROR:
		l->lvt_error = lvt_value(l, val, LVT_ERROR_BITS);
		return true;
	case R_TIMER_ICR:
		timer_load(l, val, now);
		return true;
	case R_TIMER_DCR:
		l->timer_dcr = val & 0xB;
		if (l->timer_armed)
			l->timer_next = l->timer_start + period_ticks(l);
		return true;
	case R_SELF_IPI:
		if (!x2 || (val & ~0xFFu))
			return false;
		self_irq(l, val);
		return true;
	}
	/* ID, version, PPR, ISR/TMR/IRR, current count: read-only; in xAPIC
	 * mode writes are ignored (the ID is read-only here: one vCPU). */
	return false;
}

/* --- xAPIC page --- */

uint32_t vlapic_mmio_read(struct vlapic *l, uint32_t off, uint64_t now)
{
	uint32_t val = 0;
	if (!vlapic_xapic_mode(l) || off >= VLAPIC_PAGE || (off & 0xF))
		return 0;
	reg_read(l, off, now, &val);
	return val;
}

void vlapic_mmio_write(struct vlapic *l, uint32_t off, uint32_t val, uint64_t now)
{
	if (!vlapic_xapic_mode(l) || off >= VLAPIC_PAGE || (off & 0xF) || off == R_SELF_IPI)
		return;
	reg_write(l, off, val, now);
}

/* --- MSRs --- */

/* IA32_APIC_BASE transitions (11.12.5 figure 11-27). */
static bool apic_base_write(struct vlapic *l, uint64_t val)
{
	if (val & BASE_RESERVED)
		return false;
	bool en = val & BASE_EN, extd = val & BASE_EXTD;
	if (extd && !en)
		return false; /* the invalid state */
	if (x2_mode(l) && en && !extd)
		return false; /* x2APIC -> xAPIC: only through disabled */
	if (!hw_enabled(l) && en && extd)
		return false; /* disabled -> x2APIC: only through xAPIC */
	bool was_x2 = x2_mode(l), was_en = hw_enabled(l);
	/* the BSP flag is the platform's, not the guest's */
	l->apic_base = (val & ~BASE_BSP) | (l->apic_base & BASE_BSP);
	if (!en && was_en)
		regs_reset(l);
	if (en && extd && !was_x2)
		l->ldr = x2_ldr(l->id);
	return true;
}

bool vlapic_msr_read(struct vlapic *l, uint32_t msr, uint64_t now, uint64_t *val)
{
	*val = 0;
	if (msr == MSR_APIC_BASE) {
		*val = l->apic_base;
		return true;
	}
	if (msr == MSR_TSC_DEADLINE) {
		/* reads 0 in the other timer modes (11.5.4.1) */
		if (hw_enabled(l) && LVT_TIMER_MODE(l->lvt_timer) == TIMER_DEADLINE)
			*val = l->tsc_deadline;
		return true;
	}
	if (msr < MSR_X2APIC_FIRST || msr > MSR_X2APIC_LAST || !x2_mode(l))
		return false;
	uint32_t off = (msr - MSR_X2APIC_FIRST) << 4;
	if (off == R_ICR_LO) {
		*val = (uint64_t)l->icr_hi << 32 | l->icr_lo;
		return true;
	}
	uint32_t v32;
	if (!reg_read(l, off, now, &v32))
		return false;
	*val = v32;
	return true;
}

bool vlapic_msr_write(struct vlapic *l, uint32_t msr, uint64_t now, uint64_t val)
{
	if (msr == MSR_APIC_BASE)
		return apic_base_write(l, val);
	if (msr == MSR_TSC_DEADLINE) {
		/* ignored unless the timer is in TSC-deadline mode (11.5.4.1) */
		if (hw_enabled(l) && LVT_TIMER_MODE(l->lvt_timer) == TIMER_DEADLINE) {
			l->tsc_deadline = val;
			vlapic_timer_poll(l, now); /* a past deadline fires at once */
		}
		return true;
	}
	if (msr < MSR_X2APIC_FIRST || msr > MSR_X2APIC_LAST || !x2_mode(l))
		return false;
	uint32_t off = (msr - MSR_X2APIC_FIRST) << 4;
	if (off == R_ICR_LO) {
		/* one 64-bit register, destination in 63:32 (11.12.9) */
		if ((uint32_t)val & ICR_X2_RESERVED)
			return false;
		l->icr_hi = (uint32_t)(val >> 32);
		return reg_write(l, off, (uint32_t)val, now);
	}
	if (val >> 32)
		return false; /* bits 63:32 of every other register are reserved */
	return reg_write(l, off, (uint32_t)val, now);
}

/* --- MSI (11.11) --- */

static bool logical_match(const struct vlapic *l, uint8_t dest)
{
	if (x2_mode(l)) /* 8-bit destination: the first cluster only */
		return (l->ldr >> 16) == 0 && (dest & l->ldr & 0xFF);
	uint8_t mine = (uint8_t)(l->ldr >> 24);
	if ((l->dfr >> 28) == 0xF) /* flat model */
		return dest & mine;
	/* cluster model: cluster in 7:4, members in 3:0 */
	return (dest >> 4) == (mine >> 4) && (dest & mine & 0xF);
}

bool vlapic_msi(struct vlapic *l, uint64_t addr, uint32_t data)
{
	if ((addr >> 20) != 0xFEE)
		return false; /* also catches any bit above 31 */
	uint8_t dest = (uint8_t)(addr >> 12);
	bool logical = addr & (1u << 2);
	uint32_t mode = (data >> 8) & 7;
	if (mode != 0 && mode != 1)
		return false; /* SMI, NMI, INIT, ExtINT: not modelled */
	bool mine = dest == 0xFF ||
		    (logical ? logical_match(l, dest) : dest == l->id);
	if (!mine || !hw_enabled(l))
		return false;
	vlapic_set_irq(l, (uint8_t)data, data & (1u << 15));
	return true;
}

/* --- migration --- */

#define STATE_VERSION 1
#define STATE_LEN 207

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}
static uint8_t *put64(uint8_t *p, uint64_t v)
{
	return put32(put32(p, (uint32_t)v), (uint32_t)(v >> 32));
}
static const uint8_t *get32(const uint8_t *p, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++)
		*v |= (uint32_t)p[i] << (8 * i);
	return p + 4;
}
static const uint8_t *get64(const uint8_t *p, uint64_t *v)
{
	uint32_t lo, hi;
	p = get32(get32(p, &lo), &hi);
	*v = (uint64_t)hi << 32 | lo;
	return p;
}

/* The fixed layout: u32 version, u64 apic_base, u32 id, tpr, svr, ldr, dfr,
 * esr, esr_pending, icr_lo, icr_hi, irr[8], isr[8], tmr[8], the seven LVTs
 * (timer, thermal, perf, lint0, lint1, error, cmci), timer_icr, timer_dcr,
 * u64 timer_start, timer_next, tsc_deadline, u8 timer_armed, u16 reserved
 * (0). tsc_hz is the receiving VM's (set by vlapic_reset). */
int vlapic_save(const struct vlapic *l, void *buf, size_t cap)
{
	if (cap < STATE_LEN)
		return -ENOSPC;
	uint8_t *p = buf;
	p = put32(p, STATE_VERSION);
	p = put64(p, l->apic_base);
	const uint32_t w[] = {l->id, l->tpr, l->svr, l->ldr, l->dfr, l->esr, l->esr_pending,
			      l->icr_lo, l->icr_hi};
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		p = put32(p, w[i]);
	for (int i = 0; i < 8; i++)
		p = put32(p, l->irr[i]);
	for (int i = 0; i < 8; i++)
		p = put32(p, l->isr[i]);
	for (int i = 0; i < 8; i++)
		p = put32(p, l->tmr[i]);
	const uint32_t lvt[] = {l->lvt_timer, l->lvt_thermal, l->lvt_perf, l->lvt_lint0,
				l->lvt_lint1, l->lvt_error, l->lvt_cmci, l->timer_icr, l->timer_dcr};
	for (size_t i = 0; i < sizeof(lvt) / sizeof(lvt[0]); i++)
		p = put32(p, lvt[i]);
	p = put64(p, l->timer_start);
	p = put64(p, l->timer_next);
	p = put64(p, l->tsc_deadline);
	*p++ = l->timer_armed;
	*p++ = 0;
	*p++ = 0;
	return (int)(p - (uint8_t *)buf);
}

static const char *check(const struct vlapic *n, const struct vlapic *l)
{
	if (n->apic_base & BASE_RESERVED)
		return "reserved bits in IA32_APIC_BASE";
	if ((n->apic_base & BASE_EXTD) && !(n->apic_base & BASE_EN))
		return "x2APIC mode without the APIC enabled";
	if ((n->apic_base & BASE_BSP) != (l->apic_base & BASE_BSP))
		return "BSP flag differs";
	if (n->id != l->id)
		return "APIC ID differs";
	if (n->tpr & ~0xFFu)
		return "reserved bits in TPR";
	if (n->svr & ~SVR_BITS)
		return "reserved bits in SVR";
	bool x2 = (n->apic_base & BASE_EXTD) != 0;
	if (x2 && n->ldr != x2_ldr(n->id))
		return "x2APIC LDR not derived from the ID";
	if (!x2 && (n->ldr & 0x00FFFFFFu))
		return "reserved bits in LDR";
	if ((n->dfr & 0x0FFFFFFFu) != 0x0FFFFFFFu)
		return "reserved bits in DFR";
	if ((n->esr | n->esr_pending) & ~0xFFu)
		return "reserved bits in ESR";
	if (n->icr_lo & ~ICR_BITS)
		return "reserved bits in ICR";
	if (!x2 && (n->icr_hi & 0x00FFFFFFu))
		return "reserved bits in ICR high";
	if ((n->irr[0] | n->isr[0] | n->tmr[0]) & 0xFFFFu)
		return "a vector under 16 in IRR, ISR or TMR";
	if ((n->lvt_timer & ~LVT_TIMER_BITS) || LVT_TIMER_MODE(n->lvt_timer) == 3)
		return "bad timer LVT";
	if ((n->lvt_thermal | n->lvt_perf | n->lvt_cmci) & ~LVT_DM_BITS)
		return "reserved bits in an LVT";
	if ((n->lvt_lint0 | n->lvt_lint1) & ~LVT_LINT_BITS)
		return "reserved bits in a LINT LVT";
	if (n->lvt_error & ~LVT_ERROR_BITS)
		return "reserved bits in the error LVT";
	if (!(n->svr & SVR_ENABLE) &&
	    !(n->lvt_timer & n->lvt_thermal & n->lvt_perf & n->lvt_lint0 & n->lvt_lint1 &
	      n->lvt_error & n->lvt_cmci & LVT_MASKED))
		return "an unmasked LVT while software-disabled";
	if (n->timer_dcr & ~0xBu)
		return "reserved bits in the divide configuration";
	if (n->timer_armed && !n->timer_icr)
		return "timer armed with a zero count";
	return NULL;
}

int vlapic_restore(struct vlapic *l, const void *buf, size_t len, const char **why)
{
	const char *bad = NULL;
	*why = NULL;
	if (len != STATE_LEN) {
		*why = "wrong length";
		return -EINVAL;
	}
	const uint8_t *p = buf;
	uint32_t version;
	p = get32(p, &version);
	if (version != STATE_VERSION) {
		*why = "unknown version";
		return -EINVAL;
	}
	struct vlapic n = *l;
	p = get64(p, &n.apic_base);
	uint32_t *w[] = {&n.id, &n.tpr, &n.svr, &n.ldr, &n.dfr, &n.esr, &n.esr_pending,
			 &n.icr_lo, &n.icr_hi};
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		p = get32(p, w[i]);
	for (int i = 0; i < 8; i++)
		p = get32(p, &n.irr[i]);
	for (int i = 0; i < 8; i++)
		p = get32(p, &n.isr[i]);
	for (int i = 0; i < 8; i++)
		p = get32(p, &n.tmr[i]);
	uint32_t *lvt[] = {&n.lvt_timer, &n.lvt_thermal, &n.lvt_perf, &n.lvt_lint0,
			   &n.lvt_lint1, &n.lvt_error, &n.lvt_cmci, &n.timer_icr, &n.timer_dcr};
	for (size_t i = 0; i < sizeof(lvt) / sizeof(lvt[0]); i++)
		p = get32(p, lvt[i]);
	p = get64(p, &n.timer_start);
	p = get64(p, &n.timer_next);
	p = get64(p, &n.tsc_deadline);
	uint8_t armed = *p++;
	if (armed > 1 || p[0] || p[1])
		bad = "bad timer flags";
	n.timer_armed = armed;
	if (!bad)
		bad = check(&n, l);
	if (bad) {
		*why = bad;
		return -EINVAL;
	}
	*l = n;
	return 0;
}
