/* help, version, uptime, date, reboot, poweroff. */
#include <string.h>
#include "drivers/acpi.h"
#include "drivers/cmos_rtc.h"
#include "kernel/console/cmd.h"
#include "kernel/kernel.h"
#include "kernel/kprintf.h"
#include "kernel/sys.h"
#include "kernel/time.h"
#include "kernel/vdev/rtc.h"

static void print_summary(const struct cmd *c, void *ctx)
{
	(void)ctx;
	kprintf("  %-10s %s\n", c->name, c->summary);
}

static int cmd_help(int argc, char **argv)
{
	if (argc == 1) {
		kputs("commands (help NAME for usage):\n");
		cmd_for_each(print_summary, NULL);
		return 0;
	}
	if (argc != 2)
		return CMD_USAGE;
	const struct cmd *c = cmd_find(argv[1]);
	if (!c) {
		cmd_error("help: unknown command '%s'", argv[1]);
		return -ENOENT;
	}
	kprintf("%s - %s\n", c->name, c->summary);
	cmd_print_usage(c);
	return 0;
}

static int cmd_version(int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return CMD_USAGE;
	kprintf("Tern %s (%s, built %s)\n", tern_version, tern_git, tern_build_date);
	return 0;
}

static int cmd_uptime(int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return CMD_USAGE;
	uint64_t s = time_ms() / 1000;
	kprintf("up %lu days, %02lu:%02lu:%02lu (%lu.%03lu s)\n", s / 86400, s / 3600 % 24,
		s / 60 % 60, s % 60, time_ms() / 1000, time_ms() % 1000);
	return 0;
}

/* The clock guests' CMOS RTCs start from: the machine's RTC read once,
 * carried on by Tern's TSC. Tests compare a guest's `date` with it. */
static int cmd_date(int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return CMD_USAGE;
	int64_t s = (int64_t)(wallclock_ns() / 1000000000ull);
	struct rtc_time t;
	rtc_from_epoch(s, &t);
	kprintf("%04ld-%02d-%02d %02d:%02d:%02d UTC (%ld)\n", (long)t.year, t.mon, t.mday, t.hour, t.min,
		t.sec, (long)s);
	return 0;
}

static int cmd_reboot(int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return CMD_USAGE;
	kputs("rebooting\n");
	int rc = acpi_reboot();
	cmd_error("reboot: no reset method worked (%s)", strerror(-rc));
	return rc;
}

static int cmd_poweroff(int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return CMD_USAGE;
	kputs("powering off\n");
	int rc = acpi_poweroff();
	cmd_error("poweroff: %s", rc == -ENOTSUP ? "no ACPI S5 sleep state found" : "the machine is still on");
	return rc;
}

static const struct cmd sys_cmds[] = {
	{"help", "list commands, or show how to use one", "help [COMMAND]", cmd_help},
	{"version", "Tern version, git revision and build date", "version", cmd_version},
	{"uptime", "time since the firmware handed over to Tern", "uptime", cmd_uptime},
	{"date", "the date and time guests' clocks start from (UTC)", "date", cmd_date},
	{"reboot", "reset the machine (ACPI reset register, then 0xCF9, then the 8042)", "reboot", cmd_reboot},
	{"poweroff", "power the machine off (ACPI S5)", "poweroff", cmd_poweroff},
};

void mem_register_commands(void);
void debug_register_commands(void);

void sys_register_commands(void)
{
	for (unsigned i = 0; i < sizeof(sys_cmds) / sizeof(sys_cmds[0]); i++)
		cmd_register(&sys_cmds[i]);
	mem_register_commands();
	debug_register_commands();
}
