/* lwIP's compiler and platform glue for Tern (lwIP doc/sys_arch.txt).
 * The same file serves the freestanding kernel (newlib headers) and the
 * host build of lwIP's unit tests (glibc): it uses only what both have. */
#ifndef TERN_NET_ARCH_CC_H
#define TERN_NET_ARCH_CC_H

#include <limits.h>
#include <sys/types.h>

#include "net/lwip_port.h"

/* lwIP typedefs ssize_t as int unless SSIZE_MAX is defined. Newlib's
 * <limits.h> does not define it in a freestanding build, so a file that
 * includes lwIP and then <sys/types.h> (stdio.h does, and so does mbedTLS)
 * would see two ssize_t. Use the C library's instead. */
#ifndef SSIZE_MAX
#define SSIZE_MAX LONG_MAX
#endif

/* Byte order: lwIP's default (little endian, x86-64) unless the C library
 * already says so. */

/* One instruction instead of lwIP's shift-and-or versions in def.c. */
#define lwip_htons(x) ((u16_t)__builtin_bswap16((u16_t)(x)))
#define lwip_htonl(x) ((u32_t)__builtin_bswap32((u32_t)(x)))

/* x is a parenthesised printf argument list. */
#define LWIP_PLATFORM_DIAG(x)                                                                      \
	do {                                                                                       \
		lwip_port_diag x;                                                                  \
	} while (0)
#define LWIP_PLATFORM_ASSERT(x) lwip_port_assert((x), __FILE__, __LINE__)

#define LWIP_RAND() ((u32_t)tern_rand32())

#endif /* TERN_NET_ARCH_CC_H */
