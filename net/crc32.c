/* CRC-32 by slicing-by-8 (Kounavis and Berry, "A Systematic Approach to
 * Building High Performance Software-Based CRC Generators", 2005): eight
 * table lookups per 8 bytes, so a 64 MiB transfer costs little even under
 * an emulator. Tables built at the first call. */
#include <string.h>

#include "net/crc32.h"

#define CRC32_POLY 0xEDB88320u /* 0x04C11DB7 bit-reversed */

static uint32_t crc32_table[8][256];
static int crc32_ready;

static void crc32_build(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ CRC32_POLY : c >> 1;
		crc32_table[0][i] = c;
	}
	for (int t = 1; t < 8; t++)
		for (int i = 0; i < 256; i++)
			crc32_table[t][i] = (crc32_table[t - 1][i] >> 8) ^
					    crc32_table[0][crc32_table[t - 1][i] & 0xff];
	crc32_ready = 1;
}

uint32_t crc32_update(uint32_t crc, const void *data, size_t n)
{
	const uint8_t *p = data;

	if (!crc32_ready)
		crc32_build();
	crc = ~crc;
	for (; n && ((uintptr_t)p & 7); n--)
		crc = (crc >> 8) ^ crc32_table[0][(crc ^ *p++) & 0xff];
	for (; n >= 8; n -= 8, p += 8) {
		uint32_t lo, hi;
		memcpy(&lo, p, 4); /* little endian, as the tables assume (x86-64) */
		memcpy(&hi, p + 4, 4);
		lo ^= crc;
		crc = crc32_table[7][lo & 0xff] ^ crc32_table[6][(lo >> 8) & 0xff] ^
		      crc32_table[5][(lo >> 16) & 0xff] ^ crc32_table[4][lo >> 24] ^
		      crc32_table[3][hi & 0xff] ^ crc32_table[2][(hi >> 8) & 0xff] ^
		      crc32_table[1][(hi >> 16) & 0xff] ^ crc32_table[0][hi >> 24];
	}
	for (; n; n--)
		crc = (crc >> 8) ^ crc32_table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}
