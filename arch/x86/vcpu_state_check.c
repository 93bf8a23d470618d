/* See vcpu_state_check.h. Each rule names the manual section it follows;
 * a state that breaks one would fail VM entry or VMRUN (and lose the
 * guest after a migration) or let a guest hold what its CPUID forbids. */
#include <errno.h>
#include <string.h>
#include "arch/x86/guest_policy.h"
#include "arch/x86/vcpu_state_check.h"

/* Segment attributes in kernel/hv.h's packed form. */
#define A_TYPE 0x00F
#define A_ACCESSED 0x001
#define A_CODE 0x008
#define A_RW 0x002 /* readable code / writable data */
#define A_CONFORMING 0x004
#define A_S 0x010
#define A_DPL(a) (((a) >> 5) & 3)
#define A_P 0x080
#define A_L 0x200
#define A_DB 0x400
#define A_G 0x800

#define CR0_DEFINED_HIGH 0xFFFFFFFF00000000ull /* MOV to CR0 faults on these */
#define RFLAGS_FIXED1 (1ull << 1)
#define RFLAGS_RESERVED (~0x3F7FD7ull) /* bits 1 (fixed 1), 3, 5, 15, 22-63 */
#define RFLAGS_VM (1ull << 17)
#define FX_MXCSR 24

static int refuse(const char **why, const char *what)
{
	*why = what;
	return -EINVAL;
}

static bool upper32_clear(uint64_t v)
{
	return !(v >> 32);
}

/* Limit and G agree (SDM 26.3.1.2): a limit with any of bits 11:0 clear
 * needs G=0; one with any of bits 31:20 set needs G=1. */
static bool limit_ok(const struct vcpu_seg *g)
{
	if ((g->limit & 0xFFF) != 0xFFF && (g->attr & A_G))
		return false;
	if ((g->limit & 0xFFF00000) && !(g->attr & A_G))
		return false;
	return true;
}

static unsigned phys_bits(const struct guest_cpu *c)
{
	uint32_t r[4];

	cpuid_guest(c, 0x80000008, 0, r);
	return (r[0] & 0xFF) ? (r[0] & 0xFF) : 36;
}

static int check_control(const struct guest_cpu *c, const struct vcpu_state *s,
			 const char **why)
{
	bool pg = s->cr0 & GP_CR0_PG, lme = s->efer & GP_EFER_LME, lma = s->efer & GP_EFER_LMA;

	/* SDM Vol. 4 IA32_EFER; APM 15.5.1: no bit the guest's CPUID hides
	 * (SVME included: it is the host's). */
	if (s->efer & ~(guest_policy_efer_writable(c) | GP_EFER_LMA))
		return refuse(why, "efer: reserved or hidden bit set");
	if (s->cr0 & CR0_DEFINED_HIGH)
		return refuse(why, "cr0: bits 63:32 set");
	if (pg && !(s->cr0 & GP_CR0_PE))
		return refuse(why, "cr0: PG without PE");
	if ((s->cr0 & GP_CR0_NW) && !(s->cr0 & GP_CR0_CD))
		return refuse(why, "cr0: NW without CD");
	if (s->cr4 & ~guest_policy_cr4_allowed(c))
		return refuse(why, "cr4: bit outside the guest's CPUID baseline");
	/* SDM 26.3.1.1 (IA-32e mode guest <-> LMA, LME), APM 15.5.1. */
	if (lma != (lme && pg))
		return refuse(why, "efer: LMA disagrees with LME and CR0.PG");
	if (lme && pg && !(s->cr4 & GP_CR4_PAE))
		return refuse(why, "cr4: long mode without PAE");
	if (lma ? (s->cr3 >> phys_bits(c)) : !upper32_clear(s->cr3))
		return refuse(why, "cr3: bits beyond the physical-address width");
	if (!upper32_clear(s->dr6))
		return refuse(why, "dr6: bits 63:32 set");
	if (!upper32_clear(s->dr7))
		return refuse(why, "dr7: bits 63:32 set");
	return 0;
}

static int check_msrs(const struct vcpu_state *s, const char **why)
{
	static const struct {
		size_t off;
		const char *why;
	} addrs[] = {
		{offsetof(struct vcpu_state, fs.base), "fs base: not canonical"},
		{offsetof(struct vcpu_state, gs.base), "gs base: not canonical"},
		{offsetof(struct vcpu_state, ldtr.base), "ldtr base: not canonical"},
		{offsetof(struct vcpu_state, tr.base), "tr base: not canonical"},
		{offsetof(struct vcpu_state, gdtr.base), "gdtr base: not canonical"},
		{offsetof(struct vcpu_state, idtr.base), "idtr base: not canonical"},
		{offsetof(struct vcpu_state, kernel_gs_base), "kernel_gs_base: not canonical"},
		{offsetof(struct vcpu_state, lstar), "lstar: not canonical"},
		{offsetof(struct vcpu_state, cstar), "cstar: not canonical"},
		{offsetof(struct vcpu_state, sysenter_esp), "sysenter_esp: not canonical"},
		{offsetof(struct vcpu_state, sysenter_eip), "sysenter_eip: not canonical"},
	};
	for (unsigned i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		uint64_t a;
		memcpy(&a, (const char *)s + addrs[i].off, sizeof(a));
		if (!guest_policy_canonical(a))
			return refuse(why, addrs[i].why);
	}
	if (!upper32_clear(s->sfmask))
		return refuse(why, "sfmask: bits 63:32 set");
	if (!upper32_clear(s->sysenter_cs))
		return refuse(why, "sysenter_cs: bits 63:32 set");
	if (!guest_policy_pat_valid(s->pat))
		return refuse(why, "pat: undefined memory type");
	if (s->gdtr.limit > 0xFFFF)
		return refuse(why, "gdtr: limit above 0xFFFF");
	if (s->idtr.limit > 0xFFFF)
		return refuse(why, "idtr: limit above 0xFFFF");
	return 0;
}

/* Virtual-8086 mode: VM entry wants each segment exactly as the CPU
 * loads it there (SDM 26.3.1.2). */
static int check_v86(const struct vcpu_state *s, const char **why)
{
	const struct vcpu_seg *segs[] = {&s->cs, &s->ss, &s->ds, &s->es, &s->fs, &s->gs};

	if ((s->efer & GP_EFER_LMA) || !(s->cr0 & GP_CR0_PE))
		return refuse(why, "rflags: VM outside protected mode");
	for (unsigned i = 0; i < 6; i++)
		if (segs[i]->base != (uint64_t)segs[i]->sel << 4 || segs[i]->limit != 0xFFFF ||
		    segs[i]->attr != 0xF3)
			return refuse(why, "segments: not as virtual-8086 mode loads them");
	return 0;
}

static int check_segments(const struct vcpu_state *s, const char **why)
{
	const struct vcpu_seg *all[] = {&s->es, &s->cs, &s->ss,	  &s->ds,
					&s->fs, &s->gs, &s->ldtr, &s->tr};
	static const char *const bad_attr[] = {
		"es: attribute bits above 11 set",   "cs: attribute bits above 11 set",
		"ss: attribute bits above 11 set",   "ds: attribute bits above 11 set",
		"fs: attribute bits above 11 set",   "gs: attribute bits above 11 set",
		"ldtr: attribute bits above 11 set", "tr: attribute bits above 11 set"};
	static const char *const bad_limit[] = {
		"es: limit and G bit disagree",	  "cs: limit and G bit disagree",
		"ss: limit and G bit disagree",	  "ds: limit and G bit disagree",
		"fs: limit and G bit disagree",	  "gs: limit and G bit disagree",
		"ldtr: limit and G bit disagree", "tr: limit and G bit disagree"};
	bool pe = s->cr0 & GP_CR0_PE, lma = s->efer & GP_EFER_LMA;
	uint16_t cs = s->cs.attr, ss = s->ss.attr;

	for (unsigned i = 0; i < 8; i++) {
		if (all[i]->attr & ~0xFFFu)
			return refuse(why, bad_attr[i]);
		if ((all[i]->attr & A_P) && !limit_ok(all[i]))
			return refuse(why, bad_limit[i]);
	}
	/* CS, SS, DS, ES bases are 32 bits (SDM 26.3.1.2). */
	if (!upper32_clear(s->cs.base) || !upper32_clear(s->ss.base) ||
	    !upper32_clear(s->ds.base) || !upper32_clear(s->es.base))
		return refuse(why, "segment: cs/ss/ds/es base above 4 GiB");

	/* TR: a present TSS descriptor (busy or available; an available one
	 * comes from SVM and VMX loads it as busy), 64-bit in long mode. */
	unsigned tr = s->tr.attr & A_TYPE;
	if (!(s->tr.attr & A_P) || (s->tr.attr & A_S) || (s->tr.sel & 4) ||
	    (lma ? (tr != 0x9 && tr != 0xB) : (tr != 0x1 && tr != 0x3 && tr != 0x9 && tr != 0xB)))
		return refuse(why, "tr: not a present TSS");
	if ((s->ldtr.attr & A_P) &&
	    ((s->ldtr.attr & A_S) || (s->ldtr.attr & A_TYPE) != 0x2 || (s->ldtr.sel & 4)))
		return refuse(why, "ldtr: not an LDT descriptor");

	if (s->rflags & RFLAGS_VM)
		return check_v86(s, why);
	if (!pe) {
		/* Real mode under unrestricted guest: SS.DPL is 0 (26.3.1.2). */
		if (A_DPL(ss))
			return refuse(why, "ss: DPL not 0 in real mode");
		return 0;
	}

	/* Protected or long mode (SDM 26.3.1.2, APM 15.5.1). */
	if (!(cs & A_P) || !(cs & A_S) || !(cs & A_CODE))
		return refuse(why, "cs: not a present code segment");
	if ((cs & A_L) && (cs & A_DB) && lma)
		return refuse(why, "cs: both L and D set");
	if (!(cs & A_CONFORMING) && A_DPL(cs) != A_DPL(ss))
		return refuse(why, "cs: DPL differs from SS.DPL (non-conforming code)");
	if ((cs & A_CONFORMING) && A_DPL(cs) > A_DPL(ss))
		return refuse(why, "cs: DPL above SS.DPL (conforming code)");
	if (ss & A_P) {
		if (!(ss & A_S) || (ss & A_CODE) || !(ss & A_RW))
			return refuse(why, "ss: not a writable data segment");
		if (A_DPL(ss) != (s->ss.sel & 3))
			return refuse(why, "ss: DPL differs from the selector's RPL");
	} else if (!(lma && (cs & A_L))) {
		return refuse(why, "ss: not present outside 64-bit mode");
	}
	const struct vcpu_seg *data[] = {&s->ds, &s->es, &s->fs, &s->gs};
	for (unsigned i = 0; i < 4; i++) {
		uint16_t a = data[i]->attr;
		if ((a & A_P) && (!(a & A_S) || ((a & A_CODE) && !(a & A_RW))))
			return refuse(why, "segment: ds/es/fs/gs not data or readable code");
	}
	return 0;
}

static int check_flow(const struct vcpu_state *s, const char **why)
{
	bool code64 = (s->efer & GP_EFER_LMA) && (s->cs.attr & A_L);

	if ((s->rflags & RFLAGS_RESERVED) || !(s->rflags & RFLAGS_FIXED1))
		return refuse(why, "rflags: reserved bit wrong");
	if (code64 ? !guest_policy_canonical(s->rip) : !upper32_clear(s->rip))
		return refuse(why, "rip: not canonical (64-bit code) or above 4 GiB");
	if (s->intr_shadow > 1)
		return refuse(why, "intr_shadow: not 0 or 1");

	/* Event injection (SDM 26.2.1.3, APM 15.20): types the blob
	 * defines, the vector each allows, an error code only for the
	 * exceptions that push one and only in protected mode, 16 bits. */
	const struct vcpu_event *ev = &s->event;
	if (ev->valid > 1 || ev->has_error > 1)
		return refuse(why, "event: valid/has_error not 0 or 1");
	if (!ev->valid)
		return 0;
	uint8_t v = ev->vector;
	bool err_vec = v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21;
	switch (ev->type) {
	case 0: /* external interrupt: needs IF=1 and no shadow (26.3.1.5) */
		if (!(s->rflags & GP_RFLAGS_IF))
			return refuse(why, "event: external interrupt with IF=0");
		break;
	case 2:
		if (v != 2)
			return refuse(why, "event: NMI with a vector other than 2");
		break;
	case 3:
		if (v > 31 || v == 2)
			return refuse(why, "event: exception vector not 0-31 (or 2)");
		break;
	case 4: /* software interrupt (SVM): RIP is at the INT n again */
		break;
	default:
		return refuse(why, "event: type not 0, 2, 3 or 4");
	}
	if (ev->has_error && (ev->type != 3 || !err_vec || !(s->cr0 & GP_CR0_PE)))
		return refuse(why, "event: error code on an event that has none");
	if (ev->has_error && (ev->error >> 16))
		return refuse(why, "event: error code above 16 bits");
	return 0;
}

int vcpu_state_check(const struct guest_cpu *c, const struct vcpu_state *s, const char **why)
{
	int rc;

	if (s->version != VCPU_STATE_VERSION)
		return refuse(why, "version: unknown");
	if (s->flags & ~VCPU_HALTED)
		return refuse(why, "flags: unknown bit");
	if ((rc = check_control(c, s, why)) || (rc = check_msrs(s, why)) ||
	    (rc = check_segments(s, why)) || (rc = check_flow(s, why)))
		return rc;
	uint32_t mxcsr;
	memcpy(&mxcsr, s->fxsave + FX_MXCSR, sizeof(mxcsr));
	if (mxcsr >> 16)
		return refuse(why, "fxsave: MXCSR bits 31:16 set");
	return 0;
}
