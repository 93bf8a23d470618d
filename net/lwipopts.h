/* lwIP options for Tern: NO_SYS, polled from the main loop, IPv4 only,
 * raw + altcp API, sized to keep a ~1 Gbit/s link with ~1 ms RTT busy.
 * Every option not named here keeps lwIP's default (src/include/lwip/opt.h).
 * The lwIP unit tests build with these too (tests/unit/net/lwip/lwipopts.h
 * adds only what the test suite itself requires). */
#ifndef TERN_NET_LWIPOPTS_H
#define TERN_NET_LWIPOPTS_H

/* --- system ------------------------------------------------------------- */
/* One CPU runs the main loop and nothing touches lwIP from an interrupt,
 * so there are no threads, no mailboxes and nothing to lock. */
#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_TIMERS 1
#define LWIP_NETCONN 0
#define LWIP_SOCKET 0
/* 8-byte alignment: the heap also holds structures with 64-bit members. */
#define MEM_ALIGNMENT 8

/* --- protocols ---------------------------------------------------------- */
#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define LWIP_ARP 1
#define LWIP_ETHERNET 1
#define LWIP_ICMP 1
#define LWIP_RAW 1 /* `net ping` sends ICMP echo through a raw pcb */
#define LWIP_UDP 1
#define LWIP_TCP 1
#define LWIP_DHCP 1 /* optional: `ip=dhcp`; static addresses need nothing of it */
#define LWIP_AUTOIP 0
#define LWIP_IGMP 0
/* DNS would allocate at init and Tern names its peers by address. */
#define LWIP_DNS 0
#define IP_FORWARD 0
#define IP_REASSEMBLY 1
#define IP_FRAG 1
#define ARP_TABLE_SIZE 32
#define ARP_QUEUEING 1
#define MEMP_NUM_ARP_QUEUE 32
/* No option needed for moved guests: etharp_input() refreshes an existing
 * entry from any ARP packet, so a gratuitous ARP replaces the old MAC. */

/* --- altcp: one API for plain TCP and TLS ---------------------------------
 * The migration connection runs over lwIP's altcp_tls_mbedtls (patched:
 * net/patches/altcp_tls_mbedtls-fixes.patch) with mbedTLS configured by
 * migrate/mbedtls-config.h. Host builds (lwIP's unit tests) leave TLS out. */
#define LWIP_ALTCP 1
#ifdef TERN_KERNEL
#define LWIP_ALTCP_TLS 1
#define LWIP_ALTCP_TLS_MBEDTLS 1
#else
#define LWIP_ALTCP_TLS 0
#define LWIP_ALTCP_TLS_MBEDTLS 0
#endif
/* Which mbedTLS error ended a TLS connection, for the operator
 * (net/mig_tcp.c). Every TLS user's connections carry their own arg: the
 * migration's hook looks at it only when the err callback is its own (the
 * management API's connections are TLS too). */
#define ALTCP_MBEDTLS_ERROR_HOOK(conn, ret) mig_tcp_tls_failed((conn)->err, (conn)->arg, (ret))
void mig_tcp_tls_failed(void *errf, void *arg, int mbedtls_err);

/* --- TCP throughput --------------------------------------------------------
 * Bandwidth x delay at 1 Gbit/s and 1 ms is 125 KB. The receive window is
 * twice that, so a late ACK or a longer RTT (TCG emulation) does not stall
 * the sender; window scaling (RFC 7323) lets it exceed 64 KiB. The send
 * buffer is twice the window so the application can queue ahead of the ACKs
 * (the migration sender keeps it full). */
#define TCP_MSS 1460
#define LWIP_WND_SCALE 1
#define TCP_WND (256 * 1024)
#define TCP_RCV_SCALE 3 /* 256 KiB >> 3 fits the 16-bit window field */
#define TCP_SND_BUF (512 * 1024)
/* lwIP's sanity rule: at least 2 * TCP_SND_BUF / TCP_MSS segments. */
#define TCP_SND_QUEUELEN ((4 * TCP_SND_BUF + TCP_MSS - 1) / TCP_MSS)
/* Queued, unacked and out-of-order segments of all connections. */
#define MEMP_NUM_TCP_SEG (2 * TCP_SND_QUEUELEN)
/* The default (half of TCP_SND_BUF) breaks lwIP's rule that it stay 4 MSS
 * below 64 KiB: tcp_sndbuf() reports at most 0xffff. Only the netconn and
 * socket layers read it, which Tern does not build. */
#define TCP_SNDLOWAT (32 * 1024)
#define TCP_QUEUE_OOSEQ 1
#define LWIP_TCP_KEEPALIVE 1	/* a migration peer that dies must be noticed */
#define LWIP_CHECKSUM_ON_COPY 1 /* checksum while tcp_write copies: one pass over data */
#define MEMP_NUM_TCP_PCB 16
#define MEMP_NUM_TCP_PCB_LISTEN 8
/* Enforce each listener's backlog: connections in SYN_RCVD or not yet
 * accepted count against it, so a SYN flood holds at most that many pcbs
 * (net/mig_tcp.c sets the migration listener's). */
#define TCP_LISTEN_BACKLOG 1
/* SOF_REUSEADDR where a listener asks for it: `mgmt metrics off` then
 * `on` binds port 80 again while its last connections are still in
 * TIME_WAIT (net/metrics_http.c). */
#define SO_REUSE 1
#define MEMP_NUM_UDP_PCB 8
#define MEMP_NUM_RAW_PCB 4
#define MEMP_NUM_PBUF 64
/* lwIP's own timers plus a few for apps (ping, lwiperf, migration). */
#define MEMP_NUM_SYS_TIMEOUT (LWIP_NUM_SYS_TIMEOUT_INTERNAL + 8)

/* --- memory: one block, sized once ----------------------------------------
 * All of lwIP's memory is one block taken from the kernel heap once
 * (net/lwip_heap.c; net_init() takes it before lwip_init()), and the pools
 * are carved from that heap too (MEMP_MEM_MALLOC). Static pools would sit
 * in .bss, which gnu-efi's linker script stores as file data: tern.efi grew
 * by 3 MiB.
 * Tern's buddy allocator (net/buddy.c) manages the block, reached through
 * lwIP's hooks for a C library malloc (MEM_LIBC_MALLOC): lwIP's own
 * first-fit allocator walks the blocks in use on every allocation, and a
 * full 512 KiB send buffer keeps ~1000 of them (mem_malloc was 15-37 % of
 * all instructions of a bulk TCP transfer); the buddy allocator takes at
 * most one step per block size. It never takes more than its block, so lwIP
 * never takes more than MEM_SIZE, whatever arrives (the allocator's map,
 * 1/32 of that, comes on top).
 * What the block holds: two full send buffers (migration and iperf at once)
 * with per-segment overhead, a full receive window of two connections in
 * 1.5 KiB pool buffers, and the pcbs and segments of all connections. A
 * block is a power of two, so a full-sized segment or pool buffer (~1.55
 * KiB with lwIP's headers) takes 2 KiB: about 2.2 MiB at that peak.
 * With MEM_LIBC_MALLOC, mem_trim() does nothing: a PBUF_RAM pbuf that
 * pbuf_realloc() shortens keeps its block until it is freed.
 * With MEMP_MEM_MALLOC the MEMP_NUM_* and PBUF_POOL_SIZE counts are no
 * longer limits (only the pool allocator enforces them); they stay as the
 * sizing MEM_SIZE was computed from. */
#include "net/lwip_heap.h"
#define MEM_LIBC_MALLOC 1
#define mem_clib_malloc lwip_heap_malloc
#define mem_clib_calloc lwip_heap_calloc
#define mem_clib_free lwip_heap_free
#define MEMP_MEM_MALLOC 1
#define MEM_SIZE (4 * 1024 * 1024)
#define PBUF_POOL_SIZE 512

/* --- checksums: in software (the e1000 offloads are not used) -------------
 * Every byte sent or received is summed once (on copy for what tcp_write
 * queues), so the sum is on the hot path of a bulk transfer: Tern's own
 * (net/inet_sum.c) adds 8 bytes per step where lwip_standard_chksum adds 2,
 * and returns the same value for the same bytes at any address. */
#include "net/inet_sum.h"
#define LWIP_CHKSUM inet_sum
#define CHECKSUM_GEN_IP 1
#define CHECKSUM_GEN_UDP 1
#define CHECKSUM_GEN_TCP 1
#define CHECKSUM_GEN_ICMP 1
#define CHECKSUM_CHECK_IP 1
#define CHECKSUM_CHECK_UDP 1
#define CHECKSUM_CHECK_TCP 1
#define CHECKSUM_CHECK_ICMP 1

/* --- netif --------------------------------------------------------------- */
#define LWIP_NETIF_STATUS_CALLBACK 1
#define LWIP_NETIF_LINK_CALLBACK 1
#define LWIP_HAVE_LOOPIF 0
#define LWIP_NETIF_LOOPBACK 0

/* --- statistics: `net show` reads drops and errors from lwip_stats --------- */
#define LWIP_STATS 1
#define LWIP_STATS_DISPLAY 0
/* 32-bit counters: 16-bit ones wrap within a second of a busy link. */
#define LWIP_STATS_LARGE 1
/* Per-pool use counts, which MEMP_MEM_MALLOC turns off by default: `net
 * show` and lwIP's unit tests (no pool left in use after a test) read them. */
#define MEMP_STATS 1
/* The heap's counts, which MEM_LIBC_MALLOC turns off by default: lwIP then
 * keeps each allocation's size in front of it and counts the bytes asked
 * for (lwIP's unit tests check none is left after a test) and failed
 * allocations; `net show` prints the blocks that hold them
 * (lwip_heap_use()). */
#define MEM_STATS 1

/* --- apps ----------------------------------------------------------------- */
/* lwiperf (iperf 2) needs nothing beyond TCP; listed for the reader. */
#define LWIPERF_CHECK_RX_DATA 0
/* `image fetch` (net/http_fetch.c): lwIP's HTTP client gives up when the
 * server sends nothing for 60 ticks of the 500 ms TCP timer (30 s; counted
 * from the last segment: net/patches/http_client-fixes.patch). */
#define HTTPC_POLL_TIMEOUT 60

#endif /* TERN_NET_LWIPOPTS_H */
