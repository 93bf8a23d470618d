/* net/addr: strict parsing of operators' MAC, IPv4 and CIDR strings. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "net/addr.h"

static uint32_t ip32(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	const uint8_t v[4] = {a, b, c, d};
	uint32_t ip;

	memcpy(&ip, v, 4);
	return ip;
}

static void test_mac_with_colons_or_dashes_parses(void **state)
{
	static const uint8_t want[ETH_ALEN] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};
	uint8_t mac[ETH_ALEN];

	(void)state;
	assert_int_equal(addr_parse_mac("52:54:00:ab:cd:ef", mac), 0);
	assert_memory_equal(mac, want, ETH_ALEN);
	memset(mac, 0, sizeof(mac));
	assert_int_equal(addr_parse_mac("52-54-00-AB-CD-EF", mac), 0);
	assert_memory_equal(mac, want, ETH_ALEN);
}

static void test_malformed_mac_is_rejected_and_output_untouched(void **state)
{
	static const char *const bad[] = {
		"",
		"52:54:00:ab:cd",
		"52:54:00:ab:cd:ef:01",
		"52:54:00-ab:cd:ef",
		"5:54:00:ab:cd:ef0",
		"52:54:00:ab:cd:eg",
		"52.54.00.ab.cd.ef",
		"52:54:00:ab:cd:ef ",
	};
	uint8_t mac[ETH_ALEN] = {1, 2, 3, 4, 5, 6};
	static const uint8_t orig[ETH_ALEN] = {1, 2, 3, 4, 5, 6};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(addr_parse_mac(bad[i], mac), -EINVAL);
	assert_memory_equal(mac, orig, ETH_ALEN);
}

static void test_ipv4_parses_to_network_order(void **state)
{
	uint32_t ip;

	(void)state;
	assert_int_equal(addr_parse_ipv4("192.168.7.10", &ip), 0);
	assert_int_equal(ip, ip32(192, 168, 7, 10));
	assert_int_equal(addr_parse_ipv4("0.0.0.0", &ip), 0);
	assert_int_equal(ip, 0);
	assert_int_equal(addr_parse_ipv4("255.255.255.255", &ip), 0);
	assert_int_equal(ip, 0xffffffffu);
}

static void test_malformed_ipv4_is_rejected(void **state)
{
	static const char *const bad[] = {
		"",	      "1.2.3",	  "1.2.3.4.5", "256.1.1.1", "1.2.3.04", "1..2.3",
		"1.2.3.4/24", " 1.2.3.4", "1.2.3.4 ",  "0x1.2.3.4", "1.2.3.-4", "1234.1.1.1",
	};
	uint32_t ip = 42;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(addr_parse_ipv4(bad[i], &ip), -EINVAL);
	assert_int_equal(ip, 42);
}

static void test_cidr_gives_address_and_netmask(void **state)
{
	uint32_t ip, mask;

	(void)state;
	assert_int_equal(addr_parse_cidr("192.168.7.1/24", &ip, &mask), 0);
	assert_int_equal(ip, ip32(192, 168, 7, 1));
	assert_int_equal(mask, ip32(255, 255, 255, 0));
	assert_int_equal(addr_parse_cidr("10.1.2.3/20", &ip, &mask), 0);
	assert_int_equal(mask, ip32(255, 255, 240, 0));
	assert_int_equal(addr_parse_cidr("10.1.2.3/32", &ip, &mask), 0);
	assert_int_equal(mask, ip32(255, 255, 255, 255));
	assert_int_equal(addr_parse_cidr("10.1.2.3/0", &ip, &mask), 0);
	assert_int_equal(mask, 0);
	assert_int_equal(addr_parse_cidr("10.1.2.3/1", &ip, &mask), 0);
	assert_int_equal(mask, ip32(128, 0, 0, 0));
}

static void test_malformed_cidr_is_rejected(void **state)
{
	static const char *const bad[] = {
		"10.1.2.3", "10.1.2.3/", "10.1.2.3/33", "10.1.2.3/024", "10.1.2.3/2a", "/24",
	};
	uint32_t ip, mask;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(addr_parse_cidr(bad[i], &ip, &mask), -EINVAL);
}

static void test_format_macros_print_what_parse_reads(void **state)
{
	static const uint8_t mac[ETH_ALEN] = {0x02, 0x00, 0x5e, 0x10, 0xab, 0xff};
	uint32_t ip = ip32(10, 0, 0, 250);
	char buf[64];

	(void)state;
	snprintf(buf, sizeof(buf), ADDR_MAC_FMT " " ADDR_IPV4_FMT, ADDR_MAC_ARGS(mac),
		 ADDR_IPV4_ARGS(ip));
	assert_string_equal(buf, "02:00:5e:10:ab:ff 10.0.0.250");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mac_with_colons_or_dashes_parses),
		cmocka_unit_test(test_malformed_mac_is_rejected_and_output_untouched),
		cmocka_unit_test(test_ipv4_parses_to_network_order),
		cmocka_unit_test(test_malformed_ipv4_is_rejected),
		cmocka_unit_test(test_cidr_gives_address_and_netmask),
		cmocka_unit_test(test_malformed_cidr_is_rejected),
		cmocka_unit_test(test_format_macros_print_what_parse_reads),
	};

	return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
