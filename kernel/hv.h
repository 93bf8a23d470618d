/* The hardware-virtualization interface the kernel sees. Two backends
 * implement it and mirror each other file for file:
 *   arch/x86/vmx/  Intel VMX + EPT   (vmx.c vmcs.c ept.c exit.c)
 *   arch/x86/svm/  AMD SVM + NPT     (svm.c vmcb.c npt.c exit.c)
 * hv_probe() picks the one this CPU has. Everything here is arch-neutral in
 * shape: kernel/ never sees a VMCS or a VMCB. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct vcpu;
struct slat; /* one VM's EPT or NPT, owned by the backend */

/* ---- Portable vCPU state ------------------------------------------------
 * The same layout on VMX and SVM, so a guest can later move between hosts
 * of either kind; migrate/ ships it as an opaque, versioned blob. */
#define VCPU_STATE_VERSION 1

enum { /* register numbers in x86 encoding order */
	R_RAX, R_RCX, R_RDX, R_RBX, R_RSP, R_RBP, R_RSI, R_RDI,
	R_R8, R_R9, R_R10, R_R11, R_R12, R_R13, R_R14, R_R15,
};

/* Segment attributes use SVM's 12-bit packed form (AMD APM 15.5.1):
 * bits 0-3 type, 4 S, 5-6 DPL, 7 P, 8 AVL, 9 L, 10 D/B, 11 G. VMX access
 * rights are the same bits with 8-11 moved to 12-15, and "unusable" (bit
 * 16) is derived from P == 0 for data segments. */
struct vcpu_seg {
	uint16_t sel;
	uint16_t attr;
	uint32_t limit;
	uint64_t base;
};

struct vcpu_dtable {
	uint64_t base;
	uint32_t limit;
	uint32_t pad;
};

/* An event to deliver at the next entry (interrupted delivery, or one the
 * hypervisor injects, e.g. #GP for a refused MSR). */
struct vcpu_event {
	uint8_t valid;
	uint8_t type;  /* 0 external interrupt, 2 NMI, 3 exception, 4 software interrupt */
	uint8_t vector;
	uint8_t has_error;
	uint32_t error;
};

struct vcpu_state {
	uint32_t version; /* VCPU_STATE_VERSION */
	uint32_t flags;   /* VCPU_HALTED */
	uint64_t gpr[16];
	uint64_t rip, rflags;
	struct vcpu_seg es, cs, ss, ds, fs, gs, ldtr, tr;
	struct vcpu_dtable gdtr, idtr;
	uint64_t cr0, cr2, cr3, cr4, efer, dr6, dr7;
	uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip, pat;
	uint64_t tsc;          /* guest TSC when the state was read */
	uint32_t intr_shadow;  /* 1: blocking by STI or MOV SS */
	uint32_t pad;
	struct vcpu_event event;
	uint8_t fxsave[512] __attribute__((aligned(16))); /* x87/SSE state (FXSAVE layout) */
};
/* The vCPU executed HLT and has not run since: whether an interrupt can
 * wake it is RFLAGS.IF's to say (arch/x86/guest_intr.h guest_intr_hlt). An
 * idle guest sits in HLT with IF = 1 most of the time. */
#define VCPU_HALTED 1u

/* ---- The guest's CPU: the CPUID it sees and the TSC it reads --------------
 * Chosen at `vm create` (cpu=host|pool) and carried by a migration. A pool
 * guest can move between any Tern hosts, VMX or SVM: its CPUID is one fixed
 * table (arch/x86/cpuid_guest.c, docs/guest-cpu.md), and its TSC runs at the
 * rate it was created with on every host, trapped and computed where that is
 * not the host's own rate (arch/x86/guest_tsc.c). */
enum guest_cpu_model {
	GUEST_CPU_HOST, /* this host's CPU through the baseline mask */
	GUEST_CPU_POOL, /* the pool CPU: the same on every host */
};

struct guest_tsc {
	uint64_t hz;   /* the rate the guest's TSC runs at */
	bool trap;     /* not this host's rate: RDTSC and RDMSR exit, Tern computes it */
	uint64_t offset; /* !trap: guest TSC = host TSC + offset (the CPU adds it) */
	uint64_t mult;   /* trap: guest cycles per host cycle, fixed point ... */
	unsigned shift;  /* ... with this many fraction bits */
	uint64_t guest0, host0; /* trap: the guest's TSC read guest0 at host TSC host0 */
};

struct guest_cpu {
	enum guest_cpu_model model;
	struct guest_tsc tsc;
};

/* ---- Exits the kernel handles ----------------------------------------------
 * The backend handles CPUID (arch/x86/cpuid_guest.c baseline), MSRs (arch/x86/msr_guest.c
 * allow-list), write-protect dirty faults and host interrupts itself, and
 * returns to the kernel for these: */
enum vm_exit_kind {
	EXIT_YIELD,    /* slice over (preemption timer, host interrupt): just poll and re-run */
	EXIT_IO,       /* port I/O; the backend already advanced RIP */
	EXIT_HLT,      /* guest halted; RIP already advanced */
	EXIT_SPIN,     /* guest executed PAUSE (a spin-wait): its turn ends; RIP advanced */
	EXIT_SHUTDOWN, /* triple fault */
	EXIT_SLAT,     /* EPT violation / nested page fault at a GPA with no RAM */
	EXIT_ERROR,    /* anything unexpected: desc says what; the VM is stopped */
};

struct vm_exit {
	enum vm_exit_kind kind;
	uint32_t reason; /* raw VMX exit reason or SVM exit code, for messages */
	struct {
		uint16_t port;
		uint8_t size; /* 1, 2 or 4 */
		bool in;
		uint32_t value; /* OUT: the value written */
	} io;
	bool intr_enabled; /* EXIT_HLT: RFLAGS.IF was set, so an interrupt can wake it */
	uint64_t gpa;  /* EXIT_SLAT */
	bool write;    /* EXIT_SLAT */
	char desc[96]; /* EXIT_ERROR, EXIT_SHUTDOWN: human-readable */
};

/* ---- Dirty-page tracking ---------------------------------------------------- */
enum dirty_mode {
	DIRTY_OFF,
	DIRTY_AD,  /* EPT/NPT leaf D bits: test-and-clear, then one TLB invalidation */
	DIRTY_PML, /* VMX page-modification log (drained on harvest and on PML-full exits) */
	DIRTY_WP,  /* write-protect: clear W, log on the fault, restore W */
};

struct hv_ops {
	const char *name; /* "VMX" or "SVM" */
	/* Turns virtualization on for this CPU (VMXON / EFER.SVME). */
	int (*init)(void);

	/* Allocates and initialises the VMCS/VMCB for v (v->vm is set, the
	 * VM's slat exists). The architectural state is the reset state the
	 * kernel then overwrites with set_state(). */
	int (*vcpu_create)(struct vcpu *v);
	void (*vcpu_destroy)(struct vcpu *v);
	/* Enters the guest; returns when an exit needs the kernel (above).
	 * Bounded: a host tick or the preemption timer ends the slice
	 * (EXIT_YIELD). Saves/restores the guest FPU/SSE state around entry.
	 * On return v->gpr[] holds all 16 guest GPRs (RSP and RAX included);
	 * the kernel may change them (e.g. AL for IN) before the next run. */
	int (*vcpu_run)(struct vcpu *v, struct vm_exit *e);
	void (*get_state)(struct vcpu *v, struct vcpu_state *s);
	/* Refuses (-EINVAL, nothing changed, one log line naming the field)
	 * a state arch/x86/vcpu_state_check.c refuses, the same check on
	 * both backends: a migrated blob is hostile input until checked.
	 * The accepted states are listed in docs/guest-cpu.md. */
	int (*set_state)(struct vcpu *v, const struct vcpu_state *s);
	/* The guest's TSC now: the host TSC plus the vCPU's TSC offset. */
	uint64_t (*guest_tsc)(struct vcpu *v);

	/* SLAT: 4 KiB leaves everywhere (dirty tracking needs them), RWX,
	 * write-back. map() may be called repeatedly for disjoint ranges. */
	struct slat *(*slat_create)(void);
	int (*slat_map)(struct slat *s, uint64_t gpa, uint64_t hpa, uint64_t size);
	void (*slat_destroy)(struct slat *s);

	bool (*dirty_supported)(enum dirty_mode m);
	/* Starts logging: clears every D bit (or write-protects everything),
	 * so the first harvest reports pages written after this call. */
	int (*dirty_start)(struct vcpu *v, enum dirty_mode m);
	/* Sets bit gfn in bitmap (npages bits) for every page written since
	 * dirty_start or the last harvest; returns how many it set (pages
	 * already set in bitmap are not counted twice), or a negative errno.
	 * Order (SDM 28.3.5 / APM 15.25.5): test-and-clear each D bit with a
	 * locked instruction, then invalidate the guest's cached translations
	 * before it runs again, so a later write must set D again. */
	long (*dirty_harvest)(struct vcpu *v, uint64_t *bitmap, uint64_t npages);
	void (*dirty_stop)(struct vcpu *v);
};

/* The backend for this CPU, or NULL (with a reason in *why). */
const struct hv_ops *hv_probe(const char **why);

/* Provided by the kernel to both backends. */
/* CPUID as the guest sees it: the documented baseline of its model
 * (arch/x86/cpuid_guest.c). */
void cpuid_guest(const struct guest_cpu *c, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);
/* Whether this host can give a guest the pool CPU: 0, or -ENOTSUP with
 * the feature it lacks in *why. */
int cpuid_pool_supported(const char **why);
/* Guest MSR policy (arch/x86/msr_guest.c), never pass-through:
 *   MSR_STATE  lives in the guest-state area (EFER, STAR, LSTAR, CSTAR, SFMASK,
 *              KERNEL_GS_BASE, FS/GS_BASE, SYSENTER_CS/ESP/EIP, PAT, TSC):
 *              the backend reads/writes it there (TSC: via the offset);
 *   MSR_CONST  reads return *val, writes are ignored (MTRRcap, ...);
 *   MSR_LAPIC  the vCPU's local APIC: IA32_APIC_BASE, IA32_TSC_DEADLINE and
 *              the x2APIC range 0x800-0x8FF, through vcpu_lapic_msr()
 *              (kernel/vm_irq.h; false: #GP);
 *   MSR_DENY   everything else: inject #GP(0) and log it once per MSR. */
enum msr_policy { MSR_DENY, MSR_STATE, MSR_CONST, MSR_LAPIC };
enum msr_policy msr_guest_policy(uint32_t msr, bool write, uint64_t *val);
