/* The `vm` console command: create, list, pause, resume, destroy,
 * console, dirty (debug), images. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernel/console/cmd.h"
#include "kernel/console/console.h"
#include "net/addr.h"
#include "kernel/image_store.h"
#include "kernel/kprintf.h"
#include "kernel/sys.h"
#include "kernel/time.h"
#include "kernel/vm_api.h"
#include "kernel/vm_irq.h"
#include "kernel/vm_dirty.h"


/* Boot modules and fetched images alike (kernel/image_store.h). */
const struct boot_module *vm_image_find(const char *name)
{
	return image_find(name);
}

static struct vm *find_or_complain(const char *name)
{
	struct vm *vm = vm_find(name);
	if (!vm)
		cmd_error("vm: no VM named '%s' (see 'vm list')", name);
	return vm;
}

static int do_create(int argc, char **argv)
{
	const char *image = NULL, *kernel = NULL, *initrd = NULL, *args = "", *disk = NULL;
	unsigned long long mem = 0;
	bool paused = false;
	uint8_t mac[6] = {0};
	const char *mac_arg = NULL;
	uint32_t ip = 0;
	/* xl.cfg(5)'s defaults; on_poweroff has no restart (a poweroff is final). */
	enum guest_cpu_model cpu = GUEST_CPU_HOST;
	enum vm_action on_reboot = VM_ACT_RESTART, on_poweroff = VM_ACT_DESTROY, on_crash = VM_ACT_STOP;

	if (argc < 3)
		return CMD_USAGE;
	for (int i = 3; i < argc; i++) {
		if (!strncmp(argv[i], "image=", 6))
			image = argv[i] + 6;
		else if (!strncmp(argv[i], "kernel=", 7))
			kernel = argv[i] + 7;
		else if (!strncmp(argv[i], "initrd=", 7))
			initrd = argv[i] + 7;
		else if (!strncmp(argv[i], "mem=", 4)) {
			if (cmd_parse_u64(argv[i] + 4, &mem)) {
				cmd_error("vm create: mem=%s is not a number of MiB", argv[i] + 4);
				return -EINVAL;
			}
		} else if (!strncmp(argv[i], "args=", 5))
			args = argv[i] + 5;
		else if (!strncmp(argv[i], "disk=", 5)) {
			disk = argv[i] + 5;
			if (!*disk) {
				cmd_error(
					"vm create: disk= needs a volume's name (see 'disk list')");
				return -ENOENT; /* not CMD_USAGE: the line says it all */
			}
		} else if (!strcmp(argv[i], "--paused"))
			paused = true;
		else if (!strcmp(argv[i], "cpu=pool"))
			cpu = GUEST_CPU_POOL;
		else if (!strcmp(argv[i], "cpu=host"))
			cpu = GUEST_CPU_HOST;
		else if (!strncmp(argv[i], "mac=", 4)) {
			mac_arg = argv[i] + 4;
			if (addr_parse_mac(mac_arg, mac) || (mac[0] & 1) || !memcmp(mac, "\0\0\0\0\0", 6)) {
				cmd_error("vm create: mac=%s is not a unicast MAC address", argv[i] + 4);
				return -EINVAL;
			}
		} else if (!strncmp(argv[i], "ip=", 3)) {
			if (addr_parse_ipv4(argv[i] + 3, &ip)) {
				cmd_error("vm create: ip=%s is not an IPv4 address", argv[i] + 3);
				return -EINVAL;
			}
		} else if (!strncmp(argv[i], "on_reboot=", 10)) {
			if (vm_action_parse(argv[i] + 10, &on_reboot)) {
				cmd_error("vm create: on_reboot=%s: restart, destroy or stop", argv[i] + 10);
				return -EINVAL;
			}
		} else if (!strncmp(argv[i], "on_poweroff=", 12)) {
			if (vm_action_parse(argv[i] + 12, &on_poweroff) || on_poweroff == VM_ACT_RESTART) {
				cmd_error("vm create: on_poweroff=%s: destroy or stop", argv[i] + 12);
				return -EINVAL;
			}
		} else if (!strncmp(argv[i], "on_crash=", 9)) {
			if (vm_action_parse(argv[i] + 9, &on_crash)) {
				cmd_error("vm create: on_crash=%s: stop, destroy or restart", argv[i] + 9);
				return -EINVAL;
			}
		} else {
			cmd_error("vm create: unknown option '%s'", argv[i]);
			return CMD_USAGE;
		}
	}
	if (image && (kernel || initrd)) {
		cmd_error("vm create %s: image= (Multiboot) and kernel=/initrd= (Linux) exclude each other",
			  argv[2]);
		return -EINVAL;
	}
	if (initrd && !kernel) {
		cmd_error("vm create %s: initrd= needs kernel=", argv[2]);
		return -EINVAL;
	}
	if (!(image || kernel) || !mem)
		return CMD_USAGE;
	const char *why = "";
	int rc = kernel ? vm_create_linux(argv[2], kernel, initrd, mem, args, paused, cpu, disk,
					  &why)
			: vm_create(argv[2], image, mem, args, paused, cpu, disk, &why);
	if (rc) {
		cmd_error("vm create %s: %s", argv[2], why);
		return rc;
	}
	struct vm *vm = vm_find(argv[2]);
	if (mac_arg) {
		struct vm *other = vm_find_mac(mac);
		if (other && other != vm) {
			cmd_error("vm create %s: MAC %s is in use by %s", argv[2], mac_arg, other->name);
			vm_destroy(vm);
			return -EEXIST;
		}
		memcpy(vm->mac, mac, 6);
	}
	vm->ip = ip;
	vm->on_reboot = on_reboot;
	vm->on_poweroff = on_poweroff;
	vm->on_crash = on_crash;
	kprintf("vm %s: created (%llu MiB, %s%s%s%s%s%s)%s\n", argv[2], mem,
		kernel ? kernel : image, initrd ? " + " : "", initrd ? initrd : "",
		cpu == GUEST_CPU_POOL ? ", pool CPU" : "", disk ? ", disk " : "", disk ? disk : "",
		paused ? ", paused" : "");
	return 0;
}

/* `vm list`'s disk line: the volume, its size and device, the serial the
 * guest sees, and what it did with it. */
static void print_disk(struct vm *vm)
{
	const struct vm_disk *d = &vm->disk;
	const struct vblk_stats *st = &d->dev.stats;
	char serial[VBLK_ID_BYTES + 1] = {0};

	memcpy(serial, d->cfg.serial, VBLK_ID_BYTES);
	kprintf("  disk: %s, %lu MiB on %s, serial %s: %lu reads, %lu writes, %lu flushes, "
		"%lu refused, %lu errors\n",
		d->volume, d->cfg.blocks * d->cfg.dev->block_size >> 20, d->cfg.dev->name, serial,
		st->reads, st->writes, st->flushes, st->refused + st->unsupported, st->errors);
}

static int do_list(void)
{
	kprintf("%-16s %-9s %8s %12s %-6s %-17s %s\n", "NAME", "STATE", "MEM(MiB)", "EXITS", "DIRTY",
		"MAC", "IP");
	for (int i = 0; i < VM_MAX; i++) {
		struct vm *vm = vm_at(i);
		if (!vm)
			continue;
		char ip[16] = "-";
		const uint8_t *m = vm->mac, *a = (const uint8_t *)&vm->ip;
		if (vm->ip)
			snprintf(ip, sizeof(ip), "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
		kprintf("%-16s %-9s %8lu %12lu %-6s %02x:%02x:%02x:%02x:%02x:%02x %s%s\n", vm->name,
			vm_state_name(vm->state), vm->mem_bytes >> 20, vm->vcpu.exits,
			vm_dirty_name(vm->dirty), m[0], m[1], m[2], m[3], m[4], m[5], ip,
			vm->migrating ? "  (migrating)" : "");
		if (vm->state == VM_STOPPED)
			kprintf("  stopped: %s\n", vm->stop_reason);
		if (vm->disk.on)
			print_disk(vm);
		if (vm->on_reboot != VM_ACT_RESTART || vm->on_poweroff != VM_ACT_DESTROY ||
		    vm->on_crash != VM_ACT_STOP)
			kprintf("  on_reboot=%s on_poweroff=%s on_crash=%s\n", vm_action_name(vm->on_reboot),
				vm_action_name(vm->on_poweroff), vm_action_name(vm->on_crash));
	}
	kprintf("backend: %s\n", vm_backend());
	return 0;
}

static int do_images(void)
{
	image_list();
	return 0;
}

static enum console_take console_input(int ch, void *ctx)
{
	struct vm *vm = ctx;

	if (ch == CONSOLE_DETACH_KEY || !vm->used) {
		if (vm->used)
			vm->uart.attached = false;
		kputs("\n[detached]\n");
		return CONSOLE_DETACH;
	}
	bool room = vuart_rx_push(&vm->uart, (uint8_t)ch);
	vm_uart_irq(vm);
	return room ? CONSOLE_TAKEN : CONSOLE_FULL;
}

static void print_ranges(const uint64_t *bm, uint64_t npages)
{
	unsigned long shown = 0;
	kputs("pages:");
	for (uint64_t p = 0; p < npages; p++) {
		if (!(bm[p / 64] >> (p % 64) & 1))
			continue;
		uint64_t q = p;
		while (q + 1 < npages && (bm[(q + 1) / 64] >> ((q + 1) % 64) & 1))
			q++;
		if (shown++ == 512) {
			kputs(" ...");
			break;
		}
		if (q == p)
			kprintf(" 0x%lx", p);
		else
			kprintf(" 0x%lx-0x%lx", p, q);
		p = q;
	}
	kputs("\n");
}

/* `vm dirty`: kernel/vm_dirty.c, the same log a migration uses (guest
 * and device writes), driven by hand. */
static int do_dirty(struct vm *vm, int argc, char **argv)
{
	if (argc < 4)
		return CMD_USAGE;
	if (!strcmp(argv[3], "start")) {
		enum dirty_mode m = DIRTY_AD;
		if (argc == 5 && !strcmp(argv[4], "pml"))
			m = DIRTY_PML;
		else if (argc == 5 && !strcmp(argv[4], "wp"))
			m = DIRTY_WP;
		else if (argc == 5 && strcmp(argv[4], "ad"))
			return CMD_USAGE;
		int rc = vm_dirty_start(vm, m);
		if (rc == -EBUSY)
			cmd_error("vm dirty: logging is already on (%s) for %s%s", vm_dirty_name(vm->dirty),
				  vm->name, vm->migrating ? ", by its migration" : "");
		else if (rc == -ENOTSUP)
			cmd_error("vm dirty: %s tracking is not available on this CPU (%s)",
				  vm_dirty_name(m), hv->name);
		else if (rc)
			cmd_error("vm dirty: starting %s tracking failed (%s)", vm_dirty_name(m),
				  strerror(-rc));
		else
			kprintf("dirty logging on for %s (%s)\n", vm->name, vm_dirty_name(m));
		return rc;
	}
	if (!strcmp(argv[3], "stop")) {
		if (vm->migrating) {
			cmd_error("vm dirty: %s is being migrated: its log is the migration's", vm->name);
			return -EBUSY;
		}
		vm_dirty_stop(vm);
		kprintf("dirty logging off for %s\n", vm->name);
		return 0;
	}
	if (strcmp(argv[3], "harvest"))
		return CMD_USAGE;
	if (!vm->dirty) {
		cmd_error("vm dirty: logging is off for %s ('vm dirty %s start' first)", vm->name, vm->name);
		return -EINVAL;
	}
	if (vm->migrating) {
		cmd_error("vm dirty: %s is being migrated: its log is the migration's", vm->name);
		return -EBUSY;
	}
	uint64_t *bm = calloc((vm->npages + 63) / 64, 8);
	if (!bm) {
		cmd_error("vm dirty: out of memory for the bitmap");
		return -ENOMEM;
	}
	/* The harvest alone, not the bitmap allocation or the printing: what
	 * `make bench` reports per GiB for each method (docs/bench.md). */
	uint64_t t0 = time_us();
	long n = vm_dirty_harvest(vm, bm, vm->npages);
	uint64_t took = time_us() - t0;
	if (n < 0) {
		cmd_error("vm dirty: harvest failed (%s)", strerror((int)-n));
	} else {
		kprintf("%ld dirty pages\n", n);
		kprintf("harvest took %lu us\n", took);
		print_ranges(bm, vm->npages);
	}
	free(bm);
	return n < 0 ? (int)n : 0;
}

static int cmd_vm(int argc, char **argv)
{
	if (argc < 2)
		return CMD_USAGE;
	const char *sub = argv[1];
	if (!strcmp(sub, "list") && argc == 2)
		return do_list();
	if (!strcmp(sub, "images") && argc == 2)
		return do_images();
	if (!strcmp(sub, "create"))
		return do_create(argc, argv);
	if (argc < 3)
		return CMD_USAGE;
	struct vm *vm = find_or_complain(argv[2]);
	if (!vm)
		return -ENOENT;
	if (!strcmp(sub, "dirty"))
		return do_dirty(vm, argc, argv);
	if (argc != 3)
		return CMD_USAGE;
	if (vm->migrating && strcmp(sub, "console")) {
		cmd_error("vm %s: %s is being migrated ('migrate cancel %s' first)", sub, vm->name, vm->name);
		return -EBUSY;
	}
	if (!strcmp(sub, "pause")) {
		if (vm->state != VM_RUNNING) {
			cmd_error("vm pause: %s is %s, not running", vm->name, vm_state_name(vm->state));
			return -EINVAL;
		}
		vm->state = VM_PAUSED;
		kprintf("vm %s: paused\n", vm->name);
	} else if (!strcmp(sub, "resume")) {
		if (vm->state != VM_PAUSED) {
			cmd_error("vm resume: %s is %s, not paused", vm->name, vm_state_name(vm->state));
			return -EINVAL;
		}
		vm->state = VM_RUNNING;
		kprintf("vm %s: running\n", vm->name);
	} else if (!strcmp(sub, "destroy")) {
		kprintf("vm %s: destroyed\n", vm->name);
		vm_destroy(vm);
	} else if (!strcmp(sub, "console")) {
		kprintf("attached to %s; Ctrl-] returns to tern>\n", vm->name);
		vuart_flush(&vm->uart);
		vm->uart.attached = true;
		console_set_input_hook(console_input, vm);
	} else {
		return CMD_USAGE;
	}
	return 0;
}

static const struct cmd vm_cmd = {
	.name = "vm",
	.summary = "create, list, pause, resume, destroy guests; attach to their console",
	.usage = "vm create NAME image=IMAGE mem=MIB [mac=MAC] [ip=ADDR] [args=\"...\"] [--paused]\n"
		 "          [cpu=host|pool]   (pool: movable between VMX and SVM hosts)\n"
		 "vm create NAME kernel=BZIMAGE [initrd=IMAGE] mem=MIB [mac=MAC] [ip=ADDR] [args=\"...\"]\n"
		 "          [disk=VOLUME]   (either kind: a virtio-blk disk on a volume, see 'disk')\n"
		 "          [--paused]   (Linux; Tern adds console=ttyS0 tsc_early_khz= tsc=reliable pci=lastbus=1)\n"
		 "          [on_reboot=restart|destroy|stop] [on_poweroff=destroy|stop]\n"
		 "          [on_crash=stop|destroy|restart]\n"
		 "vm list | vm images\n"
		 "vm pause NAME | vm resume NAME | vm destroy NAME\n"
		 "vm console NAME        (Ctrl-] returns to the prompt)\n"
		 "vm dirty NAME start [ad|pml|wp] | harvest | stop   (debug)",
	.run = cmd_vm,
};

void vm_register_commands(void)
{
	cmd_register(&vm_cmd);
	image_register_commands();
}
