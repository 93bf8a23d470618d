/* arch/x86/guest_intr.c: when an external interrupt may be injected, the
 * rule both backends follow. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_pending_asks_for_nothing),
		cmocka_unit_test(test_injects_only_with_if_and_no_shadow),
		cmocka_unit_test(test_a_queued_event_goes_first),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
