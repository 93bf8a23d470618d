/* The one vCPU-state check both backends run before loading a blob
 * (arch/x86/vcpu_state_check.c), and the guest-CPU policy under it
 * (arch/x86/guest_policy.c). Three states a real guest reaches must pass
 * (reset, the Multiboot entry, 64-bit long mode); each hostile blob in
 * the table must be refused, naming the field. The CPUID the guest sees
 * is a fixed fake: the baseline with every feature the host could offer. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "arch/x86/guest_policy.h"
#include "arch/x86/msr.h"
#include "arch/x86/vcpu_state_check.h"

static const struct guest_cpu cpu; /* the model: the stub below answers for both */

void cpuid_guest(const struct guest_cpu *c, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	(void)c;
	(void)subleaf;
	memset(out, 0, 4 * sizeof(uint32_t));
	if (leaf == 1)
		out[3] = 0x07ABFBFFu & ~((1u << 21) | (1u << 22) | (1u << 27) | (1u << 29));
	else if (leaf == 0x80000001)
		out[3] = (1u << 11) | (1u << 20) | (1u << 29);
	else if (leaf == 0x80000008)
		out[0] = 0x3028; /* 40 physical, 48 linear bits */
}

/* ---- States a guest really has ---- */

static void reset(struct vcpu_state *s)
{
	guest_policy_reset_state(s);
}

static void multiboot(struct vcpu_state *s)
{
	reset(s);
	s->cs = (struct vcpu_seg){0x08, 0xC9B, 0xFFFFFFFF, 0};
	s->ds = s->es = s->fs = s->gs = s->ss = (struct vcpu_seg){0x10, 0xC93, 0xFFFFFFFF, 0};
	s->rip = 0x100000;
	s->cr0 = 0x11;
}

static void long_mode(struct vcpu_state *s)
{
	multiboot(s);
	s->cs = (struct vcpu_seg){0x08, 0xA9B, 0xFFFFFFFF, 0};
	s->cr0 = 0x80000011;
	s->cr4 = 0x20;
	s->cr3 = 0x104000;
	s->efer = GP_EFER_LME | GP_EFER_LMA | GP_EFER_SCE | GP_EFER_NXE;
	s->rip = 0xFFFFFFFF80001000ull;
	s->fs.base = 0x7F0000000000ull;
	s->kernel_gs_base = 0xFFFF888000000000ull;
	s->lstar = 0xFFFFFFFF81000000ull;
	s->tr = (struct vcpu_seg){0x28, 0x8B, 0x67, 0xFFFFFE0000001000ull};
	s->ldtr = (struct vcpu_seg){0, 0, 0, 0}; /* null LDT: unusable */
	s->ss = (struct vcpu_seg){0, 0, 0, 0};	 /* null SS at CPL0 in 64-bit mode */
	s->rflags = 0x246;
	s->event = (struct vcpu_event){1, 3, 14, 1, 0x2};
}

static void test_real_states_pass(void **st)
{
	(void)st;
	struct vcpu_state s;
	const char *why = "";

	reset(&s);
	assert_int_equal(vcpu_state_check(&cpu, &s, &why), 0);
	multiboot(&s);
	assert_int_equal(vcpu_state_check(&cpu, &s, &why), 0);
	long_mode(&s);
	assert_int_equal(vcpu_state_check(&cpu, &s, &why), 0);
	s.tr.attr = 0x89; /* an available TSS, as SVM may save it */
	assert_int_equal(vcpu_state_check(&cpu, &s, &why), 0);
	s.event = (struct vcpu_event){1, 0, 0x30, 0, 0}; /* IF=1: an interrupt may wait */
	assert_int_equal(vcpu_state_check(&cpu, &s, &why), 0);
}

/* ---- The hostile blobs: each a valid state with one thing broken ---- */

struct hostile {
	const char *name;
	void (*base)(struct vcpu_state *);
	void (*breakit)(struct vcpu_state *);
	const char *why; /* prefix of the refusal */
};

#define B(fn, ...)                                                                                 \
	static void fn(struct vcpu_state *s)                                                       \
	{                                                                                          \
		__VA_ARGS__;                                                                       \
	}
B(bad_version, s->version = 99)
B(bad_flags, s->flags = 2)
B(efer_svme, s->efer |= 1ull << 12)
B(efer_reserved, s->efer |= 1ull << 2)
B(efer_lma_no_pg, s->cr0 &= ~GP_CR0_PG)
B(efer_lme_pg_no_lma, s->efer &= ~GP_EFER_LMA)
B(efer_lma_no_lme, s->efer &= ~GP_EFER_LME)
B(lma_no_pae, s->cr4 &= ~GP_CR4_PAE)
B(cr0_high, s->cr0 |= 1ull << 40)
B(cr0_pg_no_pe, s->cr0 = 0x80000010; s->efer = 0)
B(cr0_nw_no_cd, s->cr0 |= GP_CR0_NW)
B(cr4_vmxe, s->cr4 |= 1ull << 13)
B(cr4_osxsave, s->cr4 |= 1ull << 18)
B(cr4_smep, s->cr4 |= 1ull << 20)
B(cr4_pcide, s->cr4 |= 1ull << 17)
B(cr3_beyond_maxphys, s->cr3 |= 1ull << 45)
B(cr3_high_legacy, s->cr3 = 1ull << 33)
B(dr6_high, s->dr6 |= 1ull << 32)
B(dr7_high, s->dr7 |= 1ull << 40)
B(fs_noncanon, s->fs.base = 0x0000800000000000ull)
B(gs_noncanon, s->gs.base = 0x8000000000000000ull)
B(kgs_noncanon, s->kernel_gs_base = 0x0001000000000000ull)
B(lstar_noncanon, s->lstar = 0x00FF000000000000ull)
B(cstar_noncanon, s->cstar = 0x0000800000000001ull)
B(sysenter_esp_noncanon, s->sysenter_esp = 0x0123456789ABCDEFull)
B(sysenter_eip_noncanon, s->sysenter_eip = 0xFF00000000000000ull)
B(gdtr_noncanon, s->gdtr.base = 0x0000900000000000ull)
B(idtr_noncanon, s->idtr.base = 0x0000900000000000ull)
B(tr_noncanon, s->tr.base = 0x0000900000000000ull)
B(ldtr_noncanon, s->ldtr.base = 0x0000900000000000ull)
B(gdtr_limit, s->gdtr.limit = 0x10000)
B(idtr_limit, s->idtr.limit = 0xFFFFFFFF)
B(sfmask_high, s->sfmask = 1ull << 32)
B(sysenter_cs_high, s->sysenter_cs = 1ull << 32)
B(pat_type2, s->pat = 0x0007040600070402ull)
B(pat_type8, s->pat = 0x0807040600070406ull)
B(rip_noncanon, s->rip = 0x0000800000000000ull)
B(rip_high_32bit, s->rip = 0x100000000ull)
B(rflags_reserved, s->rflags |= 1ull << 3)
B(rflags_high, s->rflags |= 1ull << 40)
B(rflags_fixed1, s->rflags &= ~2ull)
B(v86_in_long_mode, s->rflags |= 1ull << 17)
B(v86_bad_segs, s->rflags |= 1ull << 17)
B(cs_data, s->cs.attr = 0xC93)
B(cs_not_present, s->cs.attr &= ~0x80)
B(cs_system, s->cs.attr &= ~0x10)
B(cs_l_and_d, s->cs.attr |= 0x400)
B(cs_dpl3_ss_dpl0, s->cs.attr |= 0x60)
B(cs_base_high, s->cs.base = 1ull << 32)
B(ss_code, s->ss.attr = 0xC9B)
B(ss_readonly, s->ss.attr = 0xC91)
B(ss_rpl, s->ss.sel = 0x13)
B(ss_missing_32bit, s->ss.attr = 0)
B(ss_dpl_real, s->ss.attr |= 0x60)
B(ds_system, s->ds.attr = 0xC82)
B(ds_execonly, s->es.attr = 0xC99)
B(seg_attr_high, s->gs.attr |= 0x1000)
B(limit_g_mismatch, s->ds.limit = 0xFFFFF000)
B(limit_needs_g, s->fs.attr &= ~0x800)
B(tr_missing, s->tr.attr = 0)
B(tr_16bit_long, s->tr.attr = 0x83)
B(tr_data, s->tr.attr = 0x93)
B(tr_ldt_sel, s->tr.sel = 0x2C)
B(ldtr_tss, s->ldtr.attr = 0x89)
B(event_type5, s->event = (struct vcpu_event){1, 5, 3, 0, 0})
B(event_nmi_vec, s->event = (struct vcpu_event){1, 2, 3, 0, 0})
B(event_exc_vec, s->event = (struct vcpu_event){1, 3, 40, 0, 0})
B(event_exc_nmi, s->event = (struct vcpu_event){1, 3, 2, 0, 0})
B(event_err_on_ud, s->event = (struct vcpu_event){1, 3, 6, 1, 0})
B(event_err_on_intr, s->event = (struct vcpu_event){1, 0, 0x30, 1, 0})
B(event_err_high, s->event = (struct vcpu_event){1, 3, 13, 1, 0x10000})
B(event_err_real, s->event = (struct vcpu_event){1, 3, 13, 1, 0})
B(event_intr_if0, s->rflags = 2; s->event = (struct vcpu_event){1, 0, 0x30, 0, 0})
B(event_valid2, s->event.valid = 2)
B(shadow2, s->intr_shadow = 2)
B(mxcsr_high, s->fxsave[26] = 1)
#undef B

static const struct hostile table[] = {
	{"bad version", long_mode, bad_version, "version"},
	{"unknown flag", long_mode, bad_flags, "flags"},
	{"EFER.SVME", long_mode, efer_svme, "efer: reserved"},
	{"EFER reserved bit 2", long_mode, efer_reserved, "efer: reserved"},
	{"LMA without PG", long_mode, efer_lma_no_pg, "efer: LMA"},
	{"LME+PG without LMA", long_mode, efer_lme_pg_no_lma, "efer: LMA"},
	{"LMA without LME", long_mode, efer_lma_no_lme, "efer: LMA"},
	{"long mode without PAE", long_mode, lma_no_pae, "cr4: long mode"},
	{"CR0 bit 40", long_mode, cr0_high, "cr0: bits 63:32"},
	{"CR0.PG without PE", multiboot, cr0_pg_no_pe, "cr0: PG without PE"},
	{"CR0.NW without CD", multiboot, cr0_nw_no_cd, "cr0: NW"},
	{"CR4.VMXE", long_mode, cr4_vmxe, "cr4: bit outside"},
	{"CR4.OSXSAVE", long_mode, cr4_osxsave, "cr4: bit outside"},
	{"CR4.SMEP", long_mode, cr4_smep, "cr4: bit outside"},
	{"CR4.PCIDE", long_mode, cr4_pcide, "cr4: bit outside"},
	{"CR3 above MAXPHYADDR", long_mode, cr3_beyond_maxphys, "cr3"},
	{"CR3 above 4 GiB outside long mode", multiboot, cr3_high_legacy, "cr3"},
	{"DR6 bit 32", long_mode, dr6_high, "dr6"},
	{"DR7 bit 40", long_mode, dr7_high, "dr7"},
	{"FS base", long_mode, fs_noncanon, "fs base"},
	{"GS base", long_mode, gs_noncanon, "gs base"},
	{"KERNEL_GS_BASE", long_mode, kgs_noncanon, "kernel_gs_base"},
	{"LSTAR", long_mode, lstar_noncanon, "lstar"},
	{"CSTAR", long_mode, cstar_noncanon, "cstar"},
	{"SYSENTER_ESP", long_mode, sysenter_esp_noncanon, "sysenter_esp"},
	{"SYSENTER_EIP", long_mode, sysenter_eip_noncanon, "sysenter_eip"},
	{"GDTR base", long_mode, gdtr_noncanon, "gdtr base"},
	{"IDTR base", long_mode, idtr_noncanon, "idtr base"},
	{"TR base", long_mode, tr_noncanon, "tr base"},
	{"LDTR base", long_mode, ldtr_noncanon, "ldtr base"},
	{"GDTR limit", long_mode, gdtr_limit, "gdtr: limit"},
	{"IDTR limit", long_mode, idtr_limit, "idtr: limit"},
	{"SFMASK bit 32", long_mode, sfmask_high, "sfmask"},
	{"SYSENTER_CS bit 32", long_mode, sysenter_cs_high, "sysenter_cs"},
	{"PAT type 2", long_mode, pat_type2, "pat"},
	{"PAT type 8", long_mode, pat_type8, "pat"},
	{"RIP not canonical", long_mode, rip_noncanon, "rip"},
	{"RIP above 4 GiB in 32-bit code", multiboot, rip_high_32bit, "rip"},
	{"RFLAGS bit 3", long_mode, rflags_reserved, "rflags: reserved"},
	{"RFLAGS bit 40", long_mode, rflags_high, "rflags: reserved"},
	{"RFLAGS bit 1 clear", long_mode, rflags_fixed1, "rflags: reserved"},
	{"VM in long mode", long_mode, v86_in_long_mode, "rflags: VM"},
	{"VM with flat segments", multiboot, v86_bad_segs, "segments: not as virtual-8086"},
	{"CS a data segment", multiboot, cs_data, "cs: not a present code"},
	{"CS not present", long_mode, cs_not_present, "cs: not a present code"},
	{"CS a system descriptor", long_mode, cs_system, "cs: not a present code"},
	{"CS L and D", long_mode, cs_l_and_d, "cs: both L and D"},
	{"CS DPL 3, SS DPL 0", multiboot, cs_dpl3_ss_dpl0, "cs: DPL differs"},
	{"CS base above 4 GiB", multiboot, cs_base_high, "segment: cs/ss/ds/es base"},
	{"SS a code segment", multiboot, ss_code, "ss: not a writable data"},
	{"SS read-only", multiboot, ss_readonly, "ss: not a writable data"},
	{"SS RPL 3, DPL 0", multiboot, ss_rpl, "ss: DPL differs"},
	{"SS missing in 32-bit code", multiboot, ss_missing_32bit, "ss: not present"},
	{"SS DPL 3 in real mode", reset, ss_dpl_real, "ss: DPL not 0"},
	{"DS a system descriptor", multiboot, ds_system, "segment: ds/es/fs/gs"},
	{"ES execute-only code", multiboot, ds_execonly, "segment: ds/es/fs/gs"},
	{"GS attribute bit 12", long_mode, seg_attr_high, "gs: attribute bits"},
	{"DS limit 0xFFFFF000 with G", multiboot, limit_g_mismatch, "ds: limit and G"},
	{"FS limit 4 GiB without G", multiboot, limit_needs_g, "fs: limit and G"},
	{"TR not present", long_mode, tr_missing, "tr: not a present TSS"},
	{"TR 16-bit TSS in long mode", long_mode, tr_16bit_long, "tr: not a present TSS"},
	{"TR a data segment", long_mode, tr_data, "tr: not a present TSS"},
	{"TR selector in the LDT", long_mode, tr_ldt_sel, "tr: not a present TSS"},
	{"LDTR a TSS", long_mode, ldtr_tss, "ldtr: not an LDT"},
	{"event type 5", long_mode, event_type5, "event: type"},
	{"NMI vector 3", long_mode, event_nmi_vec, "event: NMI"},
	{"exception vector 40", long_mode, event_exc_vec, "event: exception vector"},
	{"exception vector 2", long_mode, event_exc_nmi, "event: exception vector"},
	{"error code on #UD", long_mode, event_err_on_ud, "event: error code on"},
	{"error code on an interrupt", long_mode, event_err_on_intr, "event: error code on"},
	{"error code of 17 bits", long_mode, event_err_high, "event: error code above"},
	{"error code in real mode", reset, event_err_real, "event: error code on"},
	{"interrupt with IF=0", long_mode, event_intr_if0, "event: external interrupt"},
	{"event valid=2", long_mode, event_valid2, "event: valid"},
	{"interrupt shadow 2", long_mode, shadow2, "intr_shadow"},
	{"MXCSR bit 16", long_mode, mxcsr_high, "fxsave: MXCSR"},
};

static void test_hostile_blobs_are_refused_naming_the_field(void **st)
{
	(void)st;
	for (unsigned i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		struct vcpu_state s;
		const char *why = "";

		table[i].base(&s);
		assert_int_equal(vcpu_state_check(&cpu, &s, &why), 0); /* the base is fine */
		table[i].breakit(&s);
		int rc = vcpu_state_check(&cpu, &s, &why);
		if (rc != -EINVAL || strncmp(why, table[i].why, strlen(table[i].why)))
			fail_msg("%s: rc %d, why \"%s\" (wanted \"%s\")", table[i].name, rc, why,
				 table[i].why);
	}
}

/* ---- The policy the guest's WRMSR and MOV to CR meet on both backends ---- */

static void test_efer_writes_follow_the_cpuid_baseline(void **st)
{
	(void)st;
	uint64_t next = 0;

	assert_int_equal(guest_policy_efer_writable(&cpu), GP_EFER_SCE | GP_EFER_LME | GP_EFER_NXE);
	assert_int_equal(guest_policy_efer_write(&cpu, 0, GP_EFER_SCE | GP_EFER_NXE, 0, &next), 0);
	assert_int_equal(next, GP_EFER_SCE | GP_EFER_NXE);
	/* LMA is the CPU's: a write of it is ignored, the current value kept. */
	assert_int_equal(
		guest_policy_efer_write(&cpu, GP_EFER_LME | GP_EFER_LMA, GP_EFER_LME, GP_CR0_PG, &next),
		0);
	assert_int_equal(next, GP_EFER_LME | GP_EFER_LMA);
	assert_int_equal(guest_policy_efer_write(&cpu, 0, 1ull << 12, 0, &next), -EINVAL); /* SVME */
	assert_int_equal(guest_policy_efer_write(&cpu, 0, 1ull << 14, 0, &next), -EINVAL); /* FFXSR */
	assert_int_equal(guest_policy_efer_write(&cpu, 0, 1ull << 63, 0, &next), -EINVAL);
	/* LME may not change while paging is on. */
	assert_int_equal(guest_policy_efer_write(&cpu, 0, GP_EFER_LME, GP_CR0_PG | GP_CR0_PE, &next),
			 -EINVAL);
	assert_int_equal(guest_policy_efer_write(&cpu, GP_EFER_LME, 0, GP_CR0_PG | GP_CR0_PE, &next),
			 -EINVAL);
}

static void test_msr_writes_gp_like_the_hardware(void **st)
{
	(void)st;
	assert_int_equal(guest_policy_msr_write_check(MSR_SFMASK, 0x47700), 0);
	assert_int_equal(guest_policy_msr_write_check(MSR_SFMASK, 1ull << 32), -EINVAL);
	assert_int_equal(guest_policy_msr_write_check(MSR_KERNEL_GS_BASE, 1ull << 47), -EINVAL);
	assert_int_equal(guest_policy_msr_write_check(MSR_KERNEL_GS_BASE, ~0ull << 47), 0);
	assert_int_equal(guest_policy_msr_write_check(MSR_LSTAR, 0x0000800000000000ull), -EINVAL);
	assert_int_equal(guest_policy_msr_write_check(MSR_PAT, GUEST_PAT_DEFAULT), 0);
	assert_int_equal(guest_policy_msr_write_check(MSR_PAT, 0x03), -EINVAL);
	assert_int_equal(guest_policy_msr_write_check(MSR_STAR, ~0ull), 0);
}

static void test_cr_writes_follow_the_baseline(void **st)
{
	(void)st;
	assert_int_equal(guest_policy_cr4_allowed(&cpu), 0x7FF);
	assert_int_equal(guest_policy_cr4_write_check(&cpu, 0x6A0, 0), 0);
	assert_int_equal(guest_policy_cr4_write_check(&cpu, 1ull << 18, 0), -EINVAL);
	assert_int_equal(guest_policy_cr4_write_check(&cpu, 0, GP_EFER_LMA), -EINVAL); /* PAE off in LM */
	assert_int_equal(guest_policy_cr0_write_check(0x80000011, GP_EFER_LME, 0x20), 0);
	assert_int_equal(guest_policy_cr0_write_check(0x80000011, GP_EFER_LME, 0), -EINVAL);
	assert_int_equal(guest_policy_cr0_write_check(0x80000010, 0, 0), -EINVAL);
	assert_int_equal(guest_policy_cr0_write_check(1ull << 32 | 1, 0, 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_states_pass),
		cmocka_unit_test(test_hostile_blobs_are_refused_naming_the_field),
		cmocka_unit_test(test_efer_writes_follow_the_cpuid_baseline),
		cmocka_unit_test(test_msr_writes_gp_like_the_hardware),
		cmocka_unit_test(test_cr_writes_follow_the_baseline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
