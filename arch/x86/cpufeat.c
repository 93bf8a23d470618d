#include <string.h>
#include "arch/x86/asm.h"
#include "arch/x86/cpufeat.h"
#include "arch/x86/lapic.h"
#include "kernel/console/cmd.h"
#include "kernel/kprintf.h"
#include "kernel/loop.h"
#include "kernel/time.h"

struct cpu_features cpu_features;


/* Control bits are allowed-1 when set in the high half of a capability MSR. */
static bool allowed1(uint64_t cap, int bit)
{
	return (cap >> 32) & (1u << bit);
}

static void probe_vmx(struct cpu_features *f)
{
	uint64_t fc = 0, basic = 0, pin = 0, proc = 0, proc2 = 0, cap = 0;

	rdmsr_safe(MSR_FEATURE_CONTROL, &fc);
	/* Locked with "VMX outside SMX" clear: firmware switched VMX off. */
	f->vmx_disabled = (fc & 1) && !(fc & 4);

	rdmsr_safe(MSR_VMX_BASIC, &basic);
	bool true_ctls = basic & (1ull << 55);
	rdmsr_safe(true_ctls ? MSR_VMX_TRUE_PINBASED_CTLS : MSR_VMX_PINBASED_CTLS, &pin);
	rdmsr_safe(true_ctls ? MSR_VMX_TRUE_PROCBASED_CTLS : MSR_VMX_PROCBASED_CTLS, &proc);
	f->preemption_timer = allowed1(pin, 6);
	if (!allowed1(proc, 31)) /* no secondary controls */
		return;
	rdmsr_safe(MSR_VMX_PROCBASED_CTLS2, &proc2);
	f->ept = allowed1(proc2, 1);
	f->vpid = allowed1(proc2, 5);
	f->unrestricted_guest = allowed1(proc2, 7);
	f->pml = allowed1(proc2, 17);
	if (f->ept && !rdmsr_safe(MSR_VMX_EPT_VPID_CAP, &cap))
		f->ept_ad = cap & (1ull << 21);
}

static void probe_svm(struct cpu_features *f)
{
	struct cpuid_regs r = cpuid(0x8000000A, 0);

	uint64_t vm_cr = 0;

	rdmsr_safe(MSR_VM_CR, &vm_cr);
	f->svm_disabled = vm_cr & (1u << 4);
	f->asids = r.ebx;
	f->npt = r.edx & (1u << 0);
	f->nrip_save = r.edx & (1u << 3);
	f->flush_by_asid = r.edx & (1u << 6);
	f->decode_assists = r.edx & (1u << 7);
}

void cpufeat_probe(void)
{
	struct cpu_features *f = &cpu_features;
	struct cpuid_regs r = cpuid(0, 0);

	memcpy(f->vendor + 0, &r.ebx, 4);
	memcpy(f->vendor + 4, &r.edx, 4);
	memcpy(f->vendor + 8, &r.ecx, 4);
	f->intel = !strcmp(f->vendor, "GenuineIntel");
	f->amd = !strcmp(f->vendor, "AuthenticAMD");

	r = cpuid(1, 0);
	uint32_t fam = (r.eax >> 8) & 0xF, model = (r.eax >> 4) & 0xF;
	if (fam == 0xF)
		fam += (r.eax >> 20) & 0xFF;
	if (fam == 0x6 || fam >= 0xF)
		model |= ((r.eax >> 16) & 0xF) << 4;
	f->family = fam;
	f->model = model;
	f->stepping = r.eax & 0xF;
	f->vmx = r.ecx & (1u << 5);
	f->x2apic = r.ecx & (1u << 21);

	uint32_t max_ext = cpuid(0x80000000, 0).eax;
	if (max_ext >= 0x80000001) {
		r = cpuid(0x80000001, 0);
		f->svm = r.ecx & (1u << 2);
		f->pdpe1gb = r.edx & (1u << 26);
	}
	if (max_ext >= 0x80000004) {
		for (uint32_t i = 0; i < 3; i++) {
			r = cpuid(0x80000002 + i, 0);
			memcpy(f->brand + 16 * i, &r, 16);
		}
	}
	if (max_ext >= 0x80000007)
		f->invariant_tsc = cpuid(0x80000007, 0).edx & (1u << 8);
	if (f->vmx)
		probe_vmx(f);
	if (f->svm && max_ext >= 0x8000000A)
		probe_svm(f);
}

static const char *yn(bool b)
{
	return b ? "yes" : "no";
}

/* busy/total in tenths of a percent, rounded. */
static uint64_t permille(uint64_t busy, uint64_t total)
{
	return total ? (busy * 1000 + total / 2) / total : 0;
}

/* `cpu load [SECONDS]`: how much of the host CPU Tern kept busy. */
static int cmd_cpu_load(int argc, char **argv)
{
	unsigned long long seconds = 10;
	struct loop_load l;

	if (argc > 3)
		return CMD_USAGE;
	if (argc == 3 &&
	    (cmd_parse_u64(argv[2], &seconds) || !seconds || seconds > LOOP_LOAD_MAX_S)) {
		cmd_error("cpu load: '%s' is not a window of 1 to %d seconds", argv[2],
			  LOOP_LOAD_MAX_S);
		return -ERANGE; /* not CMD_USAGE: the one line says it all */
	}
	loop_load((unsigned)seconds, &l);
	uint64_t w = permille(l.window_cycles - l.window_idle, l.window_cycles);
	uint64_t t = permille(l.total_cycles - l.total_idle, l.total_cycles);
	uint64_t ds = tsc_hz ? l.window_cycles * 10 / tsc_hz : 0; /* tenths of a second */
	kprintf("cpu: busy %lu.%lu %% over the last %lu.%lu s (since boot %lu.%lu %%)\n", w / 10,
		w % 10, ds / 10, ds % 10, t / 10, t % 10);
	return 0;
}

/* `cpu loop`: where the main loop's time went since the last `cpu loop`,
 * per poll function, with the longest single call: a guest, a ping or a
 * keystroke waits behind that. */
static int cmd_cpu_loop(int argc, char **argv)
{
	struct loop_poll_stat st[LOOP_MAX];
	uint64_t window, longest;

	(void)argv;
	if (argc != 2)
		return CMD_USAGE;
	int n = loop_poll_stats(st, LOOP_MAX, &window, &longest);
	uint64_t us_per = tsc_hz / 1000000 ? tsc_hz / 1000000 : 1; /* cycles per µs */
	uint64_t ms = window / (us_per * 1000);
	kprintf("loop: %lu.%03lu s since the last 'cpu loop'; longest pass %lu.%03lu ms\n",
		ms / 1000, ms % 1000, longest / us_per / 1000, longest / us_per % 1000);
	kprintf("%-10s %10s %8s %9s %11s\n", "poll", "calls", "busy %", "mean us", "longest ms");
	for (int i = 0; i < n; i++) {
		uint64_t pm = permille(st[i].cycles, window);
		uint64_t mean = st[i].calls ? st[i].cycles / st[i].calls / us_per : 0;
		uint64_t mx = st[i].max_cycles / us_per;
		kprintf("%-10s %10lu %6lu.%lu %9lu %7lu.%03lu\n", st[i].name, st[i].calls, pm / 10,
			pm % 10, mean, mx / 1000, mx % 1000);
	}
	return 0;
}

static int cmd_cpu(int argc, char **argv)
{
	const struct cpu_features *f = &cpu_features;
	const char *brand = f->brand;

	if (argc >= 2 && !strcmp(argv[1], "load"))
		return cmd_cpu_load(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "loop"))
		return cmd_cpu_loop(argc, argv);
	if (argc != 1)
		return CMD_USAGE;
	while (*brand == ' ')
		brand++;
	kprintf("vendor:             %s\n", f->vendor);
	kprintf("model:              %s (family %u model %u stepping %u)\n",
		*brand ? brand : "unknown", f->family, f->model, f->stepping);
	kprintf("tsc:                %lu.%03lu MHz%s\n", tsc_hz / 1000000, tsc_hz / 1000 % 1000,
		f->invariant_tsc ? " (invariant)" : "");
	kprintf("lapic timer:        %lu.%03lu MHz (%s)\n", lapic_timer_hz / 1000000,
		lapic_timer_hz / 1000 % 1000, lapic_x2apic ? "x2APIC" : "xAPIC");
	kprintf("vmx:                %s%s\n", yn(f->vmx), f->vmx_disabled ? " (disabled by firmware)" : "");
	if (f->vmx) {
		kprintf("  ept:              %s\n", yn(f->ept));
		kprintf("  ept a/d:          %s\n", yn(f->ept_ad));
		kprintf("  pml:              %s\n", yn(f->pml));
		kprintf("  vpid:             %s\n", yn(f->vpid));
		kprintf("  unrestricted:     %s\n", yn(f->unrestricted_guest));
		kprintf("  preemption timer: %s\n", yn(f->preemption_timer));
	}
	kprintf("svm:                %s%s\n", yn(f->svm), f->svm_disabled ? " (disabled by firmware)" : "");
	if (f->svm) {
		kprintf("  npt:              %s\n", yn(f->npt));
		kprintf("  nrip save:        %s\n", yn(f->nrip_save));
		kprintf("  decode assists:   %s\n", yn(f->decode_assists));
		kprintf("  flush by asid:    %s\n", yn(f->flush_by_asid));
		kprintf("  asids:            %u\n", f->asids);
	}
	return 0;
}

static const struct cmd cpu_cmd = {
	.name = "cpu",
	.summary = "CPU vendor, model and virtualization features; how busy Tern keeps it",
	.usage = "cpu               vendor, model, TSC rate, VMX/EPT and SVM/NPT features\n"
		 "cpu load [SECONDS] share of the CPU Tern kept busy over the last SECONDS\n"
		 "                   (1-60, default 10) and since boot\n"
		 "cpu loop           the main loop's time per poll (console, net, vm, migrate)\n"
		 "                   and its longest pass, since the last 'cpu loop'",
	.run = cmd_cpu,
};

void cpufeat_register_commands(void)
{
	cmd_register(&cpu_cmd);
}
