/* lwIP's unit tests (build/deps/lwip/test/unit) against Tern's options.
 * Everything comes from net/lwipopts.h; only what the suites themselves need
 * is changed here, each with the suite that asks for it. These expose test
 * hooks, counters and callbacks the suites read, give the ip4 suite its
 * loopback netif, shrink the receive window to what the tcp suites' 16-bit
 * helpers can express and the pool buffers to what the pbuf suite assumes. */
#ifndef TERN_TEST_LWIPOPTS_H
#define TERN_TEST_LWIPOPTS_H

#include "net/lwipopts.h"

/* All suites: test-only hooks (e.g. tcp_remove_all(), the timers list). */
#define LWIP_TESTMODE 1

/* All suites: after each test they check that no pool element and no heap
 * byte is left in use, and some exhaust a pool on purpose. Both hold only
 * with lwIP's separate static pools; Tern carves the pools from the heap
 * (MEMP_MEM_MALLOC, net/lwipopts.h), where lwIP's own timers stay
 * allocated. The heap itself stays Tern's (net/lwip_heap.c). */
#undef MEMP_MEM_MALLOC
#define MEMP_MEM_MALLOC 0

/* etharp suite: #errors without static entries (it adds and removes some). */
#define ETHARP_SUPPORT_STATIC_ENTRIES 1

/* ip4 suite: checks reassembly results through the MIB-2 counters. */
#define MIB2_STATS 1

/* netif suite: #errors without the extended status callback it observes. */
#define LWIP_NETIF_EXT_STATUS_CALLBACK 1

/* mem suite: frees bad pointers on purpose and checks lwip_stats.mem.illegal
 * instead of taking the assertion (net/lwip_heap.c follows it as lwIP's
 * mem.c does). Those two tests are left out with Tern's heap, though:
 * patches/mem-illegal-free-needs-own-heap.patch says why. */
#define LWIP_MEM_ILLEGAL_FREE(msg) /* nothing */

/* ip4 suite: feeds its fragments to the first netif, which is the loopback
 * netif lwIP creates at init, and drains its loop queue in teardown. */
#undef LWIP_NETIF_LOOPBACK
#define LWIP_NETIF_LOOPBACK 1
#undef LWIP_HAVE_LOOPIF
#define LWIP_HAVE_LOOPIF 1

/* tcp and tcp_oos suites: their helpers carry the window and the bytes sent
 * in u16_t, so the window must fit 16 bits (64240 = 44 MSS). Window scaling
 * stays on with Tern's shift, so the scaled paths are still exercised. */
#undef TCP_WND
#define TCP_WND (44 * TCP_MSS)

/* pbuf suite: allocates 1024 bytes from the pool "to get a chain", which
 * holds only with upstream's default pool buffer (590 bytes, from the
 * default 536-byte MSS). Tern's buffers hold a whole 1514-byte frame; the
 * smaller ones here also make every full-MSS segment in the tcp suites a
 * pbuf chain, which Tern meets whenever a NIC hands lwIP chained pbufs. */
#define PBUF_POOL_BUFSIZE 592

#endif /* TERN_TEST_LWIPOPTS_H */
