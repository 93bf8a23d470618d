/* When an external interrupt may be injected into a guest: the one rule
 * both backends follow (VMX: vmx/vmx.c, SVM: svm/svm.c). */
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
