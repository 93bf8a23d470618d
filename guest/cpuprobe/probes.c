/* The fixed list of probes. Each prints one line,
 *   cpuprobe: <probe> <answer>
 * where the answer is `ok`, `ok <value>` or the exception the CPU raised
 * (`#GP(0x0)`, `#UD`, ...). Values that differ between honest hosts (TSC,
 * vendor and brand strings, host feature bits) are printed as they are;
 * the comparing test knows which those are. */
#include "cpuprobe.h"
#include "common/cpu.h"
#include "common/fmt.h"
#include "common/uart.h"

#define MSR_GS_BASE 0xC0000101
#define MSR_KERNEL_GS_BASE 0xC0000102
#define MSR_EFER 0xC0000080
#define CR0_AM (1ull << 18)
#define DR6_BS (1ull << 14)
#define DR7_GD (1ull << 13)

/* The probe's operands and result, shared with the probe functions. */
static uint32_t p_msr;
static uint64_t p_val, p_out;

static const char *const vec_names[32] = {
	[0] = "#DE",  [1] = "#DB",  [3] = "#BP",  [6] = "#UD",	[7] = "#NM",  [8] = "#DF",
	[13] = "#GP", [14] = "#PF", [17] = "#AC", [18] = "#MC", [19] = "#XM",
};

/* Runs fn and prints the line: `ok` (with p_out if show), else the vector. */
static long report(const char *what, void (*fn)(void), bool show)
{
	long vec = probe_try(fn);

	if (vec == PROBE_RETURNED) {
		if (show)
			uart_printf("cpuprobe: %s ok %#lx\n", what, p_out);
		else
			uart_printf("cpuprobe: %s ok\n", what);
	} else if (vec >= 0 && vec < 32 && vec_names[vec]) {
		if (vec == 8 || (vec >= 10 && vec <= 14) || vec == 17)
			uart_printf("cpuprobe: %s %s(%#lx)\n", what, vec_names[vec], probe_error);
		else
			uart_printf("cpuprobe: %s %s\n", what, vec_names[vec]);
	} else {
		uart_printf("cpuprobe: %s vector %ld\n", what, vec);
	}
	return vec;
}

/* ---- CPUID ---- */

static void cpuid_all(void)
{
	static const uint32_t leaves[] = {
		0,	    1,		2,	    3,		4,	    5,
		6,	    7,		8,	    0xA,	0xB,	    0xD,
		0x14,	    0x40000000, 0x40000001, 0x40000010, 0x40000011, 0x80000000,
		0x80000001, 0x80000002, 0x80000003, 0x80000004, 0x80000005, 0x80000006,
		0x80000007, 0x80000008, 0x80000009, 0x8000000A, 0x8000001F, 0xC0000000};
	for (unsigned i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		uint32_t l = leaves[i];
		uint32_t subs = l == 4 || l == 7 || l == 0xB || l == 0xD ? 2 : 1;
		for (uint32_t sub = 0; sub < subs; sub++) {
			struct cpuid_regs r = cpuid(leaves[i], sub);
			uart_printf("cpuprobe: cpuid %#x.%u eax=%#x ebx=%#x ecx=%#x edx=%#x\n",
				    leaves[i], sub, r.eax, r.ebx, r.ecx, r.edx);
		}
	}
}

/* ---- MSRs ---- */

static void do_rdmsr(void)
{
	p_out = rdmsr(p_msr);
}

static void do_wrmsr_readback(void)
{
	wrmsr(p_msr, p_val);
	p_out = rdmsr(p_msr);
}

static const uint32_t msr_list[] = {
	0x10,	    /* TSC */
	0x17,	    /* PLATFORM_ID */
	0x1B,	    /* APIC_BASE */
	0x3A,	    /* FEATURE_CONTROL */
	0x48,	    /* SPEC_CTRL */
	0x8B,	    /* BIOS_SIGN_ID */
	0xC1,	    /* PMC0 */
	0xE7,	    /* MPERF */
	0xFE,	    /* MTRRCAP */
	0x10A,	    /* ARCH_CAPABILITIES */
	0x174,	    /* SYSENTER_CS */
	0x175,	    /* SYSENTER_ESP */
	0x176,	    /* SYSENTER_EIP */
	0x179,	    /* MCG_CAP */
	0x17A,	    /* MCG_STATUS */
	0x186,	    /* PERFEVTSEL0 */
	0x1A0,	    /* MISC_ENABLE */
	0x1D9,	    /* DEBUGCTL */
	0x200,	    /* MTRR_PHYSBASE0 */
	0x277,	    /* PAT */
	0x2FF,	    /* MTRR_DEF_TYPE */
	0x480,	    /* VMX_BASIC */
	0x6E0,	    /* TSC_DEADLINE */
	0x802,	    /* x2APIC ID */
	0xC0000080, /* EFER */
	0xC0000081, /* STAR */
	0xC0000082, /* LSTAR */
	0xC0000083, /* CSTAR */
	0xC0000084, /* SFMASK */
	0xC0000100, /* FS_BASE */
	0xC0000101, /* GS_BASE */
	0xC0000102, /* KERNEL_GS_BASE */
	0xC0000103, /* TSC_AUX */
	0xC0010114, /* VM_CR */
	0xC0010117, /* VM_HSAVE_PA */
	0xC0011022, /* AMD DC_CFG */
};

static void msr_reads(void)
{
	char what[48];

	for (unsigned i = 0; i < sizeof(msr_list) / sizeof(msr_list[0]); i++) {
		p_msr = msr_list[i];
		fmt_snprintf(what, sizeof(what), "rdmsr %#x", p_msr);
		report(what, do_rdmsr, true);
	}
}

/* Writes, each read back and the old value restored where it took. */
static void msr_writes(void)
{
	static const struct {
		uint32_t msr;
		uint64_t val;
	} w[] = {
		{0x1B, 0xFEE00900},		     /* APIC_BASE: ignored */
		{0x2FF, 0xC06},			     /* MTRR_DEF_TYPE: ignored */
		{0x3A, 5},			     /* FEATURE_CONTROL */
		{0x1D9, 1},			     /* DEBUGCTL */
		{0x186, 0},			     /* PERFEVTSEL0 */
		{0xC1, 0},			     /* PMC0 */
		{0x174, 0x10},			     /* SYSENTER_CS */
		{0x175, 0xFFFF800000001000ull},	     /* SYSENTER_ESP */
		{0x175, 0x0000800000000000ull},	     /* ... not canonical */
		{0x176, 0x8000000000000000ull},	     /* SYSENTER_EIP not canonical */
		{0x277, 0x0007040600070406ull},	     /* PAT */
		{0x277, 0x0007040600070402ull},	     /* PAT type 2 */
		{0x277, 0x0007040600070408ull},	     /* PAT type 8 */
		{0xC0000081, 0x0023001000000000ull}, /* STAR */
		{0xC0000082, 0xFFFFFFFF81000000ull}, /* LSTAR */
		{0xC0000082, 0x0000800000000000ull}, /* LSTAR not canonical */
		{0xC0000083, 0x00007FFFFFFFF000ull}, /* CSTAR */
		{0xC0000083, 0xFFFF000000000000ull}, /* CSTAR not canonical */
		{0xC0000084, 0x47700},		     /* SFMASK */
		{0xC0000084, 0x100047700ull},	     /* SFMASK bit 32 */
		{0xC0000084, 0xFFFFFFFF00000000ull}, /* SFMASK bits 63:32 */
		{0xC0000100, 0x00007F0000000000ull}, /* FS_BASE */
		{0xC0000100, 0x0001000000000000ull}, /* FS_BASE not canonical */
		{0xC0000101, 0xFFFF888000000000ull}, /* GS_BASE */
		{0xC0000102, 0xFFFF888000001000ull}, /* KERNEL_GS_BASE */
		{0xC0000102, 0x0000800000000000ull}, /* KERNEL_GS_BASE not canonical */
		{0xC0000103, 1},		     /* TSC_AUX */
	};
	char what[64];

	for (unsigned i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		uint64_t old = 0;
		p_msr = w[i].msr;
		bool readable = probe_try(do_rdmsr) == PROBE_RETURNED;
		old = p_out;
		p_val = w[i].val;
		fmt_snprintf(what, sizeof(what), "wrmsr %#x %#lx", p_msr, p_val);
		if (report(what, do_wrmsr_readback, true) == PROBE_RETURNED && readable) {
			p_val = old;
			probe_try(do_wrmsr_readback);
		}
	}
}

/* EFER: each bit set on top of the current value, then the old value back. */
static void efer_bits(void)
{
	char what[48];

	p_msr = MSR_EFER;
	probe_try(do_rdmsr);
	uint64_t cur = p_out;
	for (int b = 0; b < 64; b++) {
		p_val = cur | 1ull << b;
		fmt_snprintf(what, sizeof(what), "efer bit %d", b);
		report(what, do_wrmsr_readback, true);
		p_val = cur;
		probe_try(do_wrmsr_readback);
	}
	/* Paging is on: changing LME is #GP (the check must see the real
	 * CR0.PG, which the guest set without an exit). */
	p_val = cur & ~(1ull << 8);
	if (report("efer clear lme with paging on", do_wrmsr_readback, true) == PROBE_RETURNED) {
		p_val = cur;
		probe_try(do_wrmsr_readback);
	}
}

/* ---- Control registers ---- */

static void do_cr4(void)
{
	write_cr4(p_val);
	p_out = read_cr4();
}

static void do_cr0(void)
{
	write_cr0(p_val);
	p_out = read_cr0();
}

static void do_cr8(void)
{
	__asm__ volatile("mov %0, %%cr8" ::"r"(p_val));
	__asm__ volatile("mov %%cr8, %0" : "=r"(p_out));
}

static void cr_bits(void)
{
	char what[48];
	uint64_t cr4 = read_cr4(), cr0 = read_cr0();

	for (int b = 0; b < 64; b++) {
		if (cr4 & (1ull << b))
			continue;
		p_val = cr4 | 1ull << b;
		fmt_snprintf(what, sizeof(what), "cr4 bit %d", b);
		report(what, do_cr4, true);
		p_val = cr4;
		probe_try(do_cr4);
	}
	p_val = cr0 | (1ull << 29); /* NW without CD */
	report("cr0 nw without cd", do_cr0, true);
	p_val = cr0 | (1ull << 32);
	report("cr0 bit 32", do_cr0, true);
	p_val = cr0;
	probe_try(do_cr0);
	static const uint64_t cr8s[] = {0, 5, 15, 16, 1ull << 40};
	for (unsigned i = 0; i < sizeof(cr8s) / sizeof(cr8s[0]); i++) {
		p_val = cr8s[i];
		fmt_snprintf(what, sizeof(what), "cr8 write %#lx", p_val);
		report(what, do_cr8, true);
	}
	p_val = 0;
	probe_try(do_cr8);
}

/* ---- Instructions ---- */

static void do_rdpmc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdpmc" : "=a"(lo), "=d"(hi) : "c"(0));
	p_out = 0;
}
static void do_rdtscp(void)
{
	uint32_t lo, hi, aux;
	__asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
}
static void do_invd(void)
{
	__asm__ volatile("invd" ::: "memory");
}
static void do_wbinvd(void)
{
	__asm__ volatile("wbinvd" ::: "memory");
}
static void do_xsetbv(void)
{
	__asm__ volatile("xsetbv" ::"a"(1), "d"(0), "c"(0));
}
static void do_xgetbv(void)
{
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
}
static void do_monitor(void)
{
	__asm__ volatile("monitor" ::"a"(&p_out), "c"(0), "d"(0));
}
static void do_mwait(void)
{
	__asm__ volatile("mwait" ::"a"(0), "c"(0));
}
static void do_vmcall(void)
{
	__asm__ volatile("vmcall");
}
static void do_vmmcall(void)
{
	__asm__ volatile("vmmcall");
}
static void do_vmxon(void)
{
	uint64_t pa = 0;
	__asm__ volatile("vmxon %0" ::"m"(pa) : "cc");
}
static void do_vmrun(void)
{
	__asm__ volatile("vmrun" ::"a"(0ul));
}
static void do_stgi(void)
{
	__asm__ volatile("stgi");
}
static void do_rdrand(void)
{
	uint64_t v;
	__asm__ volatile("rdrand %0" : "=r"(v)::"cc");
}
static void do_rdseed(void)
{
	uint64_t v;
	__asm__ volatile("rdseed %0" : "=r"(v)::"cc");
}
static void do_ud2(void)
{
	__asm__ volatile("ud2");
}
static void do_getsec(void)
{
	__asm__ volatile("getsec" ::"a"(0));
}

/* IN from a port with nothing behind it reads all ones. A 32-bit IN
 * writes EAX and so zeroes RAX[63:32]; IN to AL or AX keeps the rest. */
static void do_in32(void)
{
	uint64_t rax = 0x1122334455667788ull;
	__asm__ volatile("inl %%dx, %%eax" : "+a"(rax) : "d"(0x80));
	p_out = rax;
}
static void do_in16(void)
{
	uint64_t rax = 0x1122334455667788ull;
	__asm__ volatile("inw %%dx, %%ax" : "+a"(rax) : "d"(0x80));
	p_out = rax;
}
static void do_in8(void)
{
	uint64_t rax = 0x1122334455667788ull;
	__asm__ volatile("inb %%dx, %%al" : "+a"(rax) : "d"(0x80));
	p_out = rax;
}

static void instructions(void)
{
	static const struct {
		const char *name;
		void (*fn)(void);
		bool show;
	} ins[] = {
		{"rdpmc", do_rdpmc, false},	{"rdtscp", do_rdtscp, false},
		{"invd", do_invd, false},	{"wbinvd", do_wbinvd, false},
		{"xsetbv", do_xsetbv, false},	{"xgetbv", do_xgetbv, false},
		{"monitor", do_monitor, false}, {"mwait", do_mwait, false},
		{"vmcall", do_vmcall, false},	{"vmmcall", do_vmmcall, false},
		{"vmxon", do_vmxon, false},	{"vmrun", do_vmrun, false},
		{"stgi", do_stgi, false},	{"getsec", do_getsec, false},
		{"rdrand", do_rdrand, false},	{"rdseed", do_rdseed, false},
		{"ud2", do_ud2, false},		{"in32 rax", do_in32, true},
		{"in16 rax", do_in16, true},	{"in8 rax", do_in8, true},
	};
	for (unsigned i = 0; i < sizeof(ins) / sizeof(ins[0]); i++)
		report(ins[i].name, ins[i].fn, ins[i].show);
	/* RDPMC is #GP at every CPL and CR4.PCE setting (docs/guest-cpu.md). */
	write_cr4(read_cr4() | (1ull << 8));
	report("rdpmc pce=1", do_rdpmc, false);
	write_cr4(read_cr4() & ~(1ull << 8));
}

/* ---- SWAPGS and KERNEL_GS_BASE ---- */

static void spin_ms(uint64_t ms)
{
	uint64_t khz = cpuid(0x40000010, 0).eax;
	uint64_t t0 = rdtsc(), n = (khz ? khz : 1000000) * ms;

	while (rdtsc() - t0 < n)
		cpu_relax();
}

static void kgs_round_trip(uint64_t spin)
{
	const uint64_t gs = 0xFFFF880000AAA000ull, kgs = 0xFFFF880000BBB000ull;

	wrmsr(MSR_GS_BASE, gs);
	wrmsr(MSR_KERNEL_GS_BASE, kgs);
	__asm__ volatile("swapgs" ::: "memory");
	/* Long enough for the host to run its other guests in between (the
	 * test starts one when it sees this line). */
	uart_printf("cpuprobe: swapgs spinning %lu ms\n", spin);
	spin_ms(spin);
	uart_printf("cpuprobe: swapgs gs_base=%#lx kernel_gs_base=%#lx\n", rdmsr(MSR_GS_BASE),
		    rdmsr(MSR_KERNEL_GS_BASE));
	__asm__ volatile("swapgs" ::: "memory");
	uart_printf("cpuprobe: swapgs again gs_base=%#lx kernel_gs_base=%#lx\n", rdmsr(MSR_GS_BASE),
		    rdmsr(MSR_KERNEL_GS_BASE));
}

/* ---- #AC and #DB delivered to the guest's own IDT ---- */

static uint8_t user_stack[4096] __attribute__((aligned(16)));

static void do_user_ac(void)
{
	probe_enter_user((uint64_t)probe_user_misaligned,
			 (uint64_t)user_stack + sizeof(user_stack));
}

static void do_read_dr6(void)
{
	__asm__ volatile("mov %%db6, %0" : "=r"(p_out));
}
static void do_read_dr7(void)
{
	__asm__ volatile("mov %%db7, %0" : "=r"(p_out));
}

static void do_dr_reset(void)
{
	__asm__ volatile("mov %0, %%db7" ::"r"(0x400ul));
	__asm__ volatile("mov %0, %%db6" ::"r"(0xFFFF0FF0ul));
}

static void do_single_step(void)
{
	__asm__ volatile("mov %0, %%db6" ::"r"(0xFFFF0FF0ul));
	__asm__ volatile("pushfq\n\t"
			 "orq $0x100, (%%rsp)\n\t"
			 "popfq\n\t"
			 "nop\n\t"
			 "nop" ::
				 : "memory", "cc");
}

static void do_general_detect(void)
{
	uint64_t v;
	__asm__ volatile("mov %0, %%db6" ::"r"(0xFFFF0FF0ul));
	__asm__ volatile("mov %0, %%db7" ::"r"(0x400ul | DR7_GD));
	__asm__ volatile("mov %%db7, %0" : "=r"(v)); /* #DB (BD): a fault, before the read */
}

static void exceptions(void)
{
	write_cr0(read_cr0() | CR0_AM);
	report("ac user misaligned load", do_user_ac, false);
	uart_printf("cpuprobe: ac from cpl %lu\n", probe_fault_cs & 3);
	write_cr0(read_cr0() & ~CR0_AM);
	/* Without CR0.AM the same load is fine: it reaches the ud2 after it. */
	report("ac off user misaligned load", do_user_ac, false);

	report("db single step", do_single_step, false);
	report("db single step dr6", do_read_dr6, true);
	report("db general detect", do_general_detect, false);
	report("db general detect dr6", do_read_dr6, true);
	report("db general detect dr7", do_read_dr7, true);
	/* With GD still set (a CPU that did not clear it) this write is the
	 * #DB: inside probe_try, and GD is clear afterwards either way. */
	probe_try(do_dr_reset);
	probe_try(do_dr_reset);
}

void probes_run(uint64_t spin)
{
	cpuid_all();
	msr_reads();
	msr_writes();
	efer_bits();
	cr_bits();
	instructions();
	exceptions();
	kgs_round_trip(spin);
}

/* mode=dbstorm: the CVE-2015-8104 pattern. #DB is delivered on an IST
 * stack whose top word is watched by a write breakpoint, so delivering
 * the #DB raises the next #DB before the handler's first instruction,
 * forever. On a CPU that does not intercept #DB this never leaves the
 * microcode; under Tern each delivery is an exit and only this guest
 * is stuck. */
static uint8_t storm_stack[4096] __attribute__((aligned(16)));

void probes_dbstorm(void)
{
	uint64_t top = (uint64_t)storm_stack + sizeof(storm_stack);

	cpu_db_on_ist(top);
	/* DR0 = the word SS is pushed to; DR7: L0, R/W0 = 01 (writes),
	 * LEN0 = 10 (8 bytes) (SDM Vol. 3B 17.2.4). */
	__asm__ volatile("mov %0, %%db0" ::"r"(top - 8));
	uart_printf("cpuprobe: dbstorm armed\n");
	__asm__ volatile("mov %0, %%db7" ::"r"(0x400ul | 1 | (1ul << 16) | (2ul << 18)));
	*(volatile uint64_t *)(top - 8) = 1; /* the first #DB */
	uart_printf("cpuprobe: dbstorm ended (the CPU did not loop)\n");
	cpu_halt_forever();
}
