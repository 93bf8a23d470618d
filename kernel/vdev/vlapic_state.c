/* A guest local APIC's migration state: a fixed little-endian blob, and a
 * restore that checks every field before it changes anything (a stream is
 * untrusted input: docs/migration-stream.md). */
#include <errno.h>
#include "kernel/vdev/vlapic.h"
#include "kernel/vdev/vlapic_regs.h"
#include "migrate/le.h"

#define STATE_VERSION 1
#define STATE_LEN 207

/* Cursor helpers over migrate/le.h: each returns the position after the
 * field. */
static uint8_t *put32(uint8_t *p, uint32_t v)
{
	le32_put(p, v);
	return p + 4;
}
static uint8_t *put64(uint8_t *p, uint64_t v)
{
	le64_put(p, v);
	return p + 8;
}
static const uint8_t *get32(const uint8_t *p, uint32_t *v)
{
	*v = le32_get(p);
	return p + 4;
}
static const uint8_t *get64(const uint8_t *p, uint64_t *v)
{
	*v = le64_get(p);
	return p + 8;
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
	if (x2 && n->ldr != vlapic_x2_ldr(n->id))
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
