/* What this CPU offers for virtualization, probed once at boot. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

struct cpu_features {
	char vendor[13];
	char brand[49];
	uint32_t family, model, stepping;
	bool intel, amd;
	bool vmx, vmx_disabled; /* disabled: locked off by firmware in IA32_FEATURE_CONTROL */
	bool ept, ept_ad, pml, vpid, unrestricted_guest, preemption_timer;
	bool svm, svm_disabled; /* disabled: VM_CR.SVMDIS set by firmware */
	bool npt, nrip_save, decode_assists, flush_by_asid;
	uint32_t asids;
	bool x2apic, pdpe1gb, invariant_tsc;
};

extern struct cpu_features cpu_features;
void cpufeat_probe(void);
void cpufeat_register_commands(void);
