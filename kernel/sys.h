/* System-wide console commands (help, version, mem, uptime, reboot, ...). */
#pragma once
#include "kernel/boot_info.h"

void sys_register_commands(void);
const struct boot_info *boot_info_get(void);
