/* net/crc32: the values zlib (and Python's zlib.crc32) gives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/crc32.h"

static void test_check_value_of_the_standard_string(void **state)
{
	(void)state;
	/* The "check" value of CRC-32/ISO-HDLC (the CRC catalogue). */
	assert_int_equal(crc32_update(0, "123456789", 9), 0xCBF43926u);
	assert_int_equal(crc32_update(0, "", 0), 0);
}

static void test_any_split_and_alignment_gives_the_same_crc(void **state)
{
	static uint8_t buf[4096 + 8];
	uint32_t x = 12345, whole;

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
	whole = crc32_update(0, buf + 3, 4096);
	for (size_t cut = 0; cut <= 4096; cut += 97) {
		uint32_t c = crc32_update(0, buf + 3, cut);
		assert_int_equal(crc32_update(c, buf + 3 + cut, 4096 - cut), whole);
	}
	/* zlib.crc32(bytes(range(256))) */
	for (int i = 0; i < 256; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(crc32_update(0, buf, 256), 0x29058C73u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_value_of_the_standard_string),
		cmocka_unit_test(test_any_split_and_alignment_gives_the_same_crc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
