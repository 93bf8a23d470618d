/* The main loop: everything is polled, nothing blocks. Subsystems add a
 * poll function that does bounded work and says whether it did any. */
#pragma once
#include <stdbool.h>

typedef bool (*loop_poll_fn)(void);

int loop_add(const char *name, loop_poll_fn fn);
_Noreturn void loop_run(void);
/* Registers the optional subsystems (net, vm, migrate) present in this build. */
void subsystems_init(void);
