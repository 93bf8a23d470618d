/* lwip_check.h includes <config.h>, which upstream's autotools harness
 * (contrib/ports/unix/check) generates; every suite includes it first. Two
 * things the suites assume and Tern's port does not give them:
 * - lwip_unittests.c uses lwip_stats and MEMP_MAX, which upstream's
 *   configuration reaches through lwip/tcpip.h, included only when NO_SYS=0;
 * - the dhcp suite calls printf, which lwIP's arch.h includes only when the
 *   port leaves LWIP_PLATFORM_DIAG at its printf default (Tern's routes it
 *   to the log). */
#include <stdio.h>

#include "lwip/stats.h"

/* The ip4 suite's teardown; lwip/tcpip.h declares it only when NO_SYS=0
 * (nosys_suites.c defines it). */
int tcpip_thread_poll_one(void);
