/* What lwIP's port (net/arch/cc.h, net/lwip_sys.c) needs from Tern, and what
 * it gives back to lwIP. The kernel implements the two hooks at the top;
 * everything else in net/ is built on them. */
#pragma once
#include <stdint.h>

/* --- provided by the kernel ------------------------------------------------ */

/* Milliseconds since boot, monotonic, wrapping at 2^32 (lwIP compares
 * timestamps by subtraction, so the wrap is harmless). Becomes sys_now(). */
uint32_t tern_ms(void);

/* 32 random bits for TCP initial sequence numbers, local ports and DHCP
 * transaction ids (RFC 6528 wants them unpredictable: RDRAND where the CPU
 * has it, else TSC-seeded mixing is acceptable for a lab). LWIP_RAND(). */
uint32_t tern_rand32(void);

/* --- provided by net/lwip_port.c to lwIP's arch/cc.h ----------------------- */

/* LWIP_PLATFORM_DIAG: lwIP's debug messages (only under LWIP_DEBUG) go to
 * the log with tag "lwip". */
void lwip_port_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* LWIP_PLATFORM_ASSERT: a broken lwIP invariant; logs, then stops. */
void lwip_port_assert(const char *msg, const char *file, int line) __attribute__((noreturn));
