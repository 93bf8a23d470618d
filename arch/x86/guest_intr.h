/* When an external interrupt may be injected into a guest: the one rule
 * both backends follow (VMX: vmx/vmx.c, SVM: svm/svm.c); and what wakes a
 * vCPU in HLT. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

enum guest_intr_action {
	GUEST_INTR_NONE,   /* nothing pending */
	GUEST_INTR_INJECT, /* inject the vector as an external interrupt now */
	GUEST_INTR_WINDOW, /* ask for an exit as soon as the guest can take one */
};

/* vector: the LAPIC's pending vector or -1; event_queued: an event
 * (re-delivery, an exception Tern raises) already occupies the entry's
 * injection field; rflags, shadow: the guest's RFLAGS and its STI/MOV-SS
 * interrupt shadow. */
enum guest_intr_action guest_intr_decide(int vector, bool event_queued, uint64_t rflags,
					 bool shadow);

enum guest_hlt {
	GUEST_HLT_NONE,    /* not in HLT: it runs */
	GUEST_HLT_WAITS,   /* HLT with IF = 1: it waits for an interrupt (its LAPIC's) */
	GUEST_HLT_FOREVER, /* HLT with IF = 0: nothing wakes it (Tern sends no NMI) */
};

/* A vCPU that executed HLT and has not run since (in_hlt), with that
 * RFLAGS: the rule kernel/vm.c applies at the HLT exit (e.intr_enabled),
 * for a vCPU state that arrives by migration (VCPU_HALTED, kernel/hv.h). */
enum guest_hlt guest_intr_hlt(bool in_hlt, uint64_t rflags);
