/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32() and Python's
 * zlib.crc32()), for end-to-end checks of bulk transfers (net/xfer.c): the
 * sender and the receiver print it, and a Linux peer computes the same. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* The running CRC after n more bytes; start with crc = 0, as zlib. */
uint32_t crc32_update(uint32_t crc, const void *data, size_t n);
