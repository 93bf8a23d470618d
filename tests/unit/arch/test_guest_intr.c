/* arch/x86/guest_intr.c: when an external interrupt may be injected, the
 * rule both backends follow; what wakes a vCPU in HLT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "arch/x86/guest_intr.h"

#define IF (1ull << 9)

static void test_nothing_pending_asks_for_nothing(void **st)
{
	(void)st;
	assert_int_equal(guest_intr_decide(-1, false, IF, false), GUEST_INTR_NONE);
	assert_int_equal(guest_intr_decide(-1, true, 0, true), GUEST_INTR_NONE);
}

static void test_injects_only_with_if_and_no_shadow(void **st)
{
	(void)st;
	assert_int_equal(guest_intr_decide(0x40, false, IF | 2, false), GUEST_INTR_INJECT);
	assert_int_equal(guest_intr_decide(0xFF, false, IF, false), GUEST_INTR_INJECT);
	/* IF = 0 (cli), or the instruction after STI / MOV SS: wait. */
	assert_int_equal(guest_intr_decide(0x40, false, 2, false), GUEST_INTR_WINDOW);
	assert_int_equal(guest_intr_decide(0x40, false, IF, true), GUEST_INTR_WINDOW);
}

static void test_a_queued_event_goes_first(void **st)
{
	(void)st;
	/* A re-delivered event or a #GP Tern raised holds the one slot. */
	assert_int_equal(guest_intr_decide(0x40, true, IF, false), GUEST_INTR_WINDOW);
}

static void test_hlt_with_if_waits_for_an_interrupt(void **st)
{
	(void)st;
	/* Linux's idle loop: `sti; hlt`. A vCPU state taken there (on a
	 * migration's pause) must arrive waiting, not halted for good. */
	assert_int_equal(guest_intr_hlt(true, IF | 2), GUEST_HLT_WAITS);
}

static void test_hlt_without_if_is_for_good(void **st)
{
	(void)st;
	assert_int_equal(guest_intr_hlt(true, 2), GUEST_HLT_FOREVER);
}

static void test_not_in_hlt_runs_whatever_if_says(void **st)
{
	(void)st;
	assert_int_equal(guest_intr_hlt(false, IF | 2), GUEST_HLT_NONE);
	assert_int_equal(guest_intr_hlt(false, 2), GUEST_HLT_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_pending_asks_for_nothing),
		cmocka_unit_test(test_injects_only_with_if_and_no_shadow),
		cmocka_unit_test(test_a_queued_event_goes_first),
		cmocka_unit_test(test_hlt_with_if_waits_for_an_interrupt),
		cmocka_unit_test(test_hlt_without_if_is_for_good),
		cmocka_unit_test(test_not_in_hlt_runs_whatever_if_says),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
