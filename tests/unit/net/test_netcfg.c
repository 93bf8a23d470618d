/* net/netcfg: Tern's address from the boot command line and `net ip`. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/netcfg.h"

static uint32_t ip32(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	const uint8_t v[4] = {a, b, c, d};
	uint32_t ip;

	memcpy(&ip, v, 4);
	return ip;
}

static void test_boot_static_address_and_gateway_among_other_words(void **state)
{
	struct net_config c;
	const char *why;

	(void)state;
	assert_int_equal(
		netcfg_parse_boot("console=ttyS0 ip=10.99.0.1/24  gw=10.99.0.254 quiet", &c, &why),
		0);
	assert_int_equal(c.mode, NETCFG_STATIC);
	assert_int_equal(c.ip, ip32(10, 99, 0, 1));
	assert_int_equal(c.mask, ip32(255, 255, 255, 0));
	assert_int_equal(c.gw, ip32(10, 99, 0, 254));
}

static void test_boot_without_ip_means_no_address(void **state)
{
	struct net_config c = {.mode = NETCFG_STATIC, .ip = 1};
	const char *why;

	(void)state;
	assert_int_equal(netcfg_parse_boot("", &c, &why), 0);
	assert_int_equal(c.mode, NETCFG_NONE);
	assert_int_equal(netcfg_parse_boot("vip=10.0.0.1/8 ipx=1", &c, &why), 0);
	assert_int_equal(c.mode, NETCFG_NONE);
	assert_int_equal(c.ip, 0);
}

static void test_boot_dhcp(void **state)
{
	struct net_config c;
	const char *why;

	(void)state;
	assert_int_equal(netcfg_parse_boot("ip=dhcp\n", &c, &why), 0);
	assert_int_equal(c.mode, NETCFG_DHCP);
}

static void test_boot_mistakes_are_refused_with_a_reason(void **state)
{
	static const char *const bad[] = {
		"ip=10.99.0.1",			   /* no prefix */
		"ip=10.99.0.1/33",		   /* prefix too long */
		"ip=10.99.0.1/24 ip=10.99.0.2/24", /* twice */
		"gw=10.99.0.254",		   /* gateway without address */
		"ip=dhcp gw=10.99.0.254",	   /* gateway with DHCP */
		"ip=10.99.0.1/24 gw=10.98.0.1",	   /* gateway elsewhere */
		"ip=10.99.0.1/24 gw=10.99.0.1",	   /* gateway is itself */
		"ip=224.0.0.1/4",		   /* multicast */
		"ip=127.0.0.1/8",		   /* loopback */
		"ip=0.0.0.1/8",			   /* this network */
		"ip=10.99.0.0/24",		   /* network address */
		"ip=10.99.0.255/24",		   /* broadcast address */
		"ip=10.99.0.1/24 gw=x",
		"ip=10.099.0.1/24",
	};
	struct net_config c;
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(netcfg_parse_boot(bad[i], &c, &why), -EINVAL);
		assert_non_null(why);
		assert_true(why[0] != 0);
		assert_int_equal(c.mode, NETCFG_NONE);
	}
}

static void test_point_to_point_prefixes_take_any_address(void **state)
{
	struct net_config c;
	const char *why;

	(void)state;
	assert_int_equal(netcfg_parse_boot("ip=10.0.0.0/31", &c, &why), 0);
	assert_int_equal(netcfg_parse_boot("ip=10.0.0.255/32", &c, &why), 0);
}

static void test_console_args(void **state)
{
	char a0[] = "192.168.7.1/16", a1[] = "gw", a2[] = "192.168.0.1";
	char *argv[] = {a0, a1, a2};
	char d[] = "dhcp", n[] = "none", bogus[] = "via";
	struct net_config c;
	const char *why;

	(void)state;
	assert_int_equal(netcfg_parse_args(3, argv, &c, &why), 0);
	assert_int_equal(c.mode, NETCFG_STATIC);
	assert_int_equal(c.mask, ip32(255, 255, 0, 0));
	assert_int_equal(c.gw, ip32(192, 168, 0, 1));
	assert_int_equal(netcfg_parse_args(1, argv, &c, &why), 0);
	assert_int_equal(c.gw, 0);
	argv[0] = d;
	assert_int_equal(netcfg_parse_args(1, argv, &c, &why), 0);
	assert_int_equal(c.mode, NETCFG_DHCP);
	argv[0] = n;
	assert_int_equal(netcfg_parse_args(1, argv, &c, &why), 0);
	assert_int_equal(c.mode, NETCFG_NONE);
	argv[0] = a0;
	argv[1] = bogus;
	assert_int_equal(netcfg_parse_args(3, argv, &c, &why), -EINVAL);
	assert_int_equal(netcfg_parse_args(2, argv, &c, &why), -EINVAL);
}

static void test_prefix_len(void **state)
{
	(void)state;
	assert_int_equal(netcfg_prefix_len(ip32(255, 255, 255, 0)), 24);
	assert_int_equal(netcfg_prefix_len(ip32(255, 255, 255, 255)), 32);
	assert_int_equal(netcfg_prefix_len(0), 0);
	assert_int_equal(netcfg_prefix_len(ip32(255, 255, 128, 0)), 17);
	assert_int_equal(netcfg_prefix_len(ip32(255, 0, 255, 0)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boot_static_address_and_gateway_among_other_words),
		cmocka_unit_test(test_boot_without_ip_means_no_address),
		cmocka_unit_test(test_boot_dhcp),
		cmocka_unit_test(test_boot_mistakes_are_refused_with_a_reason),
		cmocka_unit_test(test_point_to_point_prefixes_take_any_address),
		cmocka_unit_test(test_console_args),
		cmocka_unit_test(test_prefix_len),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
