/* CRC-32C, bitwise: the volume table is checksummed a few times per
 * command, never in a hot path, so no table is kept. */
#include "storage/crc32c.h"

uint32_t crc32c_update(uint32_t crc, const void *data, size_t n)
{
	const uint8_t *p = data;

	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = crc >> 1 ^ (0x82F63B78u & -(crc & 1));
	}
	return ~crc;
}
