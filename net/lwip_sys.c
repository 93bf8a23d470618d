/* sys_now() for lwIP's timers (NO_SYS=1: sys_check_timeouts() compares
 * against it), from the kernel's millisecond clock. Kept apart from
 * lwip_port.c because lwIP's unit tests bring their own sys_now(). */
#include "lwip/sys.h"
#include "net/lwip_port.h"

u32_t sys_now(void)
{
	return tern_ms();
}
