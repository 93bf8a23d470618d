/* `debug`: deliberate faults, to check the exception dump on a machine. */
#include <stdint.h>
#include <string.h>
#include "kernel/console/cmd.h"
#include "kernel/kprintf.h"

static int cmd_debug(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "fault") || argc > 3)
		return CMD_USAGE;
	const char *kind = argc == 3 ? argv[2] : "pf";

	if (!strcmp(kind, "pf")) {
		kputs("debug: writing to an unmapped address\n");
		*(volatile uint64_t *)0x00007ff000000000ull = 1;
	} else if (!strcmp(kind, "gp")) {
		kputs("debug: loading a non-canonical address\n");
		(void)*(volatile uint64_t *)0x8000000000000000ull;
	} else if (!strcmp(kind, "ud")) {
		kputs("debug: executing ud2\n");
		__asm__ volatile("ud2");
	} else if (!strcmp(kind, "de")) {
		kputs("debug: dividing by zero\n");
		volatile unsigned zero = 0;
		kprintf("%u\n", 1 / zero);
	} else {
		return CMD_USAGE;
	}
	return 0;
}

static const struct cmd debug_cmd = {
	.name = "debug",
	.summary = "debugging aids: deliberately fault to show the exception dump",
	.usage = "debug fault [pf|gp|ud|de]   page fault (default), general protection,\n"
		 "                            invalid opcode or divide error; stops Tern",
	.run = cmd_debug,
};

void debug_register_commands(void);
void debug_register_commands(void)
{
	cmd_register(&debug_cmd);
}
