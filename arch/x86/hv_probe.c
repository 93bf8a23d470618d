/* Picks the virtualization backend this CPU supports. Tern needs second-
 * level translation (EPT or NPT): shadow paging is not implemented. */
#include <stddef.h>
#include "arch/x86/cpufeat.h"
#include "kernel/hv.h"

/* Weak so a build without one backend still links and says so. */
extern const struct hv_ops vmx_ops __attribute__((weak, visibility("hidden")));
extern const struct hv_ops svm_ops __attribute__((weak, visibility("hidden")));

const struct hv_ops *hv_probe(const char **why)
{
	const struct cpu_features *f = &cpu_features;

	if (f->vmx) {
		if (f->vmx_disabled)
			return *why = "VMX is disabled by the firmware (IA32_FEATURE_CONTROL)", NULL;
		if (!f->ept || !f->unrestricted_guest)
			return *why = "VMX without EPT and unrestricted guest is not supported", NULL;
		return &vmx_ops ? &vmx_ops : (*why = "the VMX backend is not built in", NULL);
	}
	if (f->svm) {
		if (f->svm_disabled)
			return *why = "SVM is disabled by the firmware (VM_CR.SVMDIS)", NULL;
		if (!f->npt)
			return *why = "SVM without nested paging is not supported", NULL;
		return &svm_ops ? &svm_ops : (*why = "the SVM backend is not built in", NULL);
	}
	return *why = "this CPU has neither VMX nor SVM", NULL;
}
