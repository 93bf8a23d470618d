/* kernel/vdev/power: which writes are a reboot, a poweroff or a panic
 * request, and what the ports read (Linux's kb_wait() must end). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kernel/vdev/power.h"

static struct vdev_power p;

static enum vpower_request after(uint16_t port, uint32_t val)
{
	vpower_init(&p);
	vpower_out(&p, port, val);
	return p.request;
}

static void test_requests(void **state)
{
	(void)state;
	assert_int_equal(after(0xCF9, 0x06), VPOWER_REBOOT); /* the FADT's RESET_VALUE */
	assert_int_equal(after(0xCF9, 0x04), VPOWER_REBOOT);
	assert_int_equal(after(0xCF9, 0x02), VPOWER_NONE); /* "hard reset" alone is a mode bit */
	assert_int_equal(after(0x64, 0xFE), VPOWER_REBOOT);
	assert_int_equal(after(0x64, 0xFF), VPOWER_NONE);
	assert_int_equal(after(0x64, 0xAD), VPOWER_NONE);
	assert_int_equal(after(0x60, 0xFE), VPOWER_NONE);
	assert_int_equal(after(0x600, 0x34), VPOWER_POWEROFF); /* SLP_EN | SLP_TYP 5 */
	assert_int_equal(after(0x600, 0x14), VPOWER_NONE);     /* SLP_TYP 5 without SLP_EN */
	assert_int_equal(after(0x600, 0x2C), VPOWER_NONE);     /* S3: ignored */
	assert_int_equal(after(0x601, 0xFF), VPOWER_NONE);
	assert_int_equal(after(0x505, 0x01), VPOWER_PANIC);
	assert_int_equal(after(0x505, 0x02), VPOWER_NONE); /* crash loaded: not a panic */
	/* The first request of an exit is kept. */
	vpower_init(&p);
	vpower_out(&p, 0x505, 1);
	vpower_out(&p, 0xCF9, 6);
	assert_int_equal(p.request, VPOWER_PANIC);
}

static void test_reads_and_ports(void **state)
{
	(void)state;
	vpower_init(&p);
	assert_int_equal(vpower_in(&p, 0x64) & 0x03, 0); /* no data, input buffer empty */
	assert_int_equal(vpower_in(&p, 0x60), 0);
	assert_int_equal(vpower_in(&p, 0x601), 0);
	assert_int_equal(vpower_in(&p, 0x505), PVPANIC_PANICKED | PVPANIC_CRASH_LOADED);
	assert_true(vpower_handles(0xCF9, 1));
	assert_false(vpower_handles(0xCF9, 2)); /* wider: PCI's, not a reset register */
	assert_false(vpower_handles(0xCF8, 4));
	assert_false(vpower_handles(0x3F8, 1));
	assert_true(vpower_handles(0x505, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_reads_and_ports),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
