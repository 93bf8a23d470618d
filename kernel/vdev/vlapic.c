/* A guest's local APIC: registers, priorities, timers, MSI decode and
 * (Intel SDM Vol. 3A chapter 11; the contract and what is not modelled are
 * in vlapic.h; the migration state is in vlapic_state.c). Pure C: time is the guest TSC the caller
 * passes in, so the host unit tests drive it.
 *
 * APIC bus clock: a fixed 1 GHz, as KVM does (one count per nanosecond
 * before the divider). Linux never calibrates it when it has the TSC-deadline
 * timer, and a fixed rate keeps a migrated guest's count timer at the same
 * speed whatever the hosts' TSC rates are. Counts convert to guest TSC ticks
 * through tsc_hz. */
#include <string.h>
#include "kernel/vdev/vlapic.h"
#include "kernel/vdev/vlapic_regs.h"

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
	if (bit_test(l->tmr, (unsigned)v)) {
		bit_clear(l->tmr, (unsigned)v);
		vlapic_level_eoi(l, (uint8_t)v); /* the EOI broadcast (11.8.5) */
	}
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
		l->ldr = vlapic_x2_ldr(l->id);
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
