/* Hooks that portable libraries (lwIP, via net/lwip_port.h) call into Tern. */
#include <stdint.h>
#include "kernel/random.h"
#include "net/lwip_port.h"
#include "kernel/time.h"

uint32_t tern_ms(void)
{
	return (uint32_t)time_ms();
}

/* From the kernel's random generator (kernel/random.c): lwIP's sequence
 * numbers and ports, guest MACs. */
uint32_t tern_rand32(void)
{
	uint32_t r = 0;
	random_bytes(&r, sizeof(r));
	return r;
}
