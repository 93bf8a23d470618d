/* The Internet checksum's ones'-complement sum (RFC 1071) for lwIP: its
 * LWIP_CHKSUM (net/lwipopts.h), in place of lwip_standard_chksum, which sums
 * 16 bits per step and was a quarter of all instructions of a bulk TCP
 * transfer under an emulator. Included by lwipopts.h, so by every lwIP file:
 * it needs nothing but <stdint.h>. */
#pragma once
#include <stdint.h>

/* The ones'-complement sum of len bytes at data, not inverted, as
 * lwip_standard_chksum returns it: the 16-bit words are read in the
 * machine's byte order, so the sum stored as is lands in network order
 * (RFC 1071 2(B)). Any address, any length; a length <= 0 sums nothing.
 * 0 only when every byte is 0, as lwIP's. */
uint16_t inet_sum(const void *data, int len);
