/* CRC-32C (Castagnoli, reflected, polynomial 0x1EDC6F41 as 0x82F63B78),
 * as iSCSI, ext4 and btrfs metadata use it: the volume table's checksum
 * (docs/storage.md). Check value: "123456789" gives 0xE3069283. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* The running CRC after n more bytes; start with crc = 0. */
uint32_t crc32c_update(uint32_t crc, const void *data, size_t n);
