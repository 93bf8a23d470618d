/* SDM Vol. 3A 6.8.1 and 26.3.1.5 / APM 15.20: a maskable interrupt is
 * recognised only with RFLAGS.IF = 1 and outside the instruction after STI
 * or MOV SS. Event injection bypasses both checks (VMX checks only the
 * entry's consistency, SVM's EVENTINJ ignores IF), so the hypervisor must
 * make them itself; otherwise it asks for an interrupt window. One event
 * per entry: an event already queued (an interrupted delivery, a #GP Tern
 * raises) goes first, and the window exit comes after it is delivered. */
#include "arch/x86/guest_intr.h"

#define RFLAGS_IF (1ull << 9)

enum guest_intr_action guest_intr_decide(int vector, bool event_queued, uint64_t rflags,
					 bool shadow)
{
	if (vector < 0)
		return GUEST_INTR_NONE;
	if (event_queued || !(rflags & RFLAGS_IF) || shadow)
		return GUEST_INTR_WINDOW;
	return GUEST_INTR_INJECT;
}

enum guest_hlt guest_intr_hlt(bool in_hlt, uint64_t rflags)
{
	if (!in_hlt)
		return GUEST_HLT_NONE;
	return rflags & RFLAGS_IF ? GUEST_HLT_WAITS : GUEST_HLT_FOREVER;
}
