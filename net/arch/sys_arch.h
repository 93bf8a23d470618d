/* lwIP's OS layer for Tern: there is none. Tern runs lwIP with NO_SYS=1 from
 * its single-threaded main loop, so lwIP needs no semaphores, mailboxes,
 * threads or critical sections (SYS_LIGHTWEIGHT_PROT=0), and lwip/sys.h does
 * not include this file. It exists so a build that turns NO_SYS off fails
 * here, with a reason, instead of deep inside lwIP. */
#ifndef TERN_NET_ARCH_SYS_ARCH_H
#define TERN_NET_ARCH_SYS_ARCH_H

#if !NO_SYS
#error "Tern runs lwIP with NO_SYS=1 (polled main loop, no threads); see net/lwipopts.h"
#endif

#endif /* TERN_NET_ARCH_SYS_ARCH_H */
