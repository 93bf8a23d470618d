/* The kernel hooks of net/lwip_port.h, for lwIP's unit tests on the host.
 * sys_now() comes from lwIP's test/unit/arch/sys_arch.c (a clock the tests
 * set), so tern_ms() is not needed here. */
#include <stdlib.h>

#include "net/lwip_port.h"

uint32_t tern_rand32(void)
{
	/* Deterministic on purpose: a failing run repeats the same ports and
	 * sequence numbers. */
	return (uint32_t)rand();
}
