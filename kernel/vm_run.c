/* Running the VMs (vm_run.h): slices, port I/O, and the guest's own
 * reboot, poweroff and crash. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "drivers/cmos_rtc.h"
#include "kernel/console/console.h"
#include "kernel/kprintf.h"
#include "kernel/log.h"
#include "kernel/time.h"
#include "kernel/vm.h"
#include "kernel/vm_api.h"
#include "kernel/vm_irq.h"
#include "kernel/vm_run.h"

static unsigned next_vm; /* round-robin start */

/* Port I/O goes to the UART, the CMOS clock, the power ports, the PCI
 * configuration ports, then the I/O BARs the guest's PCI functions decode. */
static uint32_t io_in(struct vm *vm, uint16_t port, unsigned size)
{
	uint32_t val;

	if (vuart_handles(port)) {
		val = vuart_in(&vm->uart, port);
		vm_uart_irq(vm); /* reading IIR or RBR can end an interrupt */
		return val;
	}
	if (vrtc_handles(port))
		return vrtc_in(&vm->rtc, port, wallclock_ns());
	if (vpower_handles(port, size))
		return vpower_in(&vm->power, port);
	if (vpci_handles(port))
		return vpci_in(&vm->pci, port, size);
	if (vpci_bar_in(&vm->pci, port, size, &val))
		return val;
	return 0xFFFFFFFFu; /* no device: the bus floats high, as on a PC */
}

static void io_out(struct vm *vm, uint16_t port, unsigned size, uint32_t val)
{
	if (vuart_handles(port)) {
		vuart_out(&vm->uart, port, val);
		vm_uart_irq(vm);
	} else if (vrtc_handles(port))
		vrtc_out(&vm->rtc, port, (uint8_t)val, wallclock_ns());
	else if (vpower_handles(port, size))
		vpower_out(&vm->power, port, val);
	else if (vpci_handles(port))
		vpci_out(&vm->pci, port, size, val);
	else
		vpci_bar_out(&vm->pci, port, size, val); /* or dropped, as on a PC */
}

static void handle_io(struct vm *vm, struct vm_exit *e)
{
	struct vcpu *v = &vm->vcpu;
	uint32_t mask = e->io.size == 4 ? 0xFFFFFFFFu : (1u << (8 * e->io.size)) - 1;

	if (!e->io.in) {
		io_out(vm, e->io.port, e->io.size, e->io.value & mask);
		return;
	}
	uint32_t val = io_in(vm, e->io.port, e->io.size);
	/* A 32-bit register write zero-extends into RAX; IN to AL or AX
	 * leaves the bits above it (SDM Vol. 1 3.4.1.1). */
	if (e->io.size == 4)
		v->gpr[R_RAX] = val;
	else
		v->gpr[R_RAX] = (v->gpr[R_RAX] & ~(uint64_t)mask) | (val & mask);
}

static const char *const action_names[] = {"restart", "destroy", "stop"};

const char *vm_action_name(enum vm_action a)
{
	return action_names[a];
}

int vm_action_parse(const char *s, enum vm_action *a)
{
	for (unsigned i = 0; i < sizeof(action_names) / sizeof(action_names[0]); i++)
		if (!strcmp(s, action_names[i]))
			return *a = (enum vm_action)i, 0;
	return -EINVAL;
}

static void console_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void console_line(const char *fmt, ...)
{
	char line[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_info("vm", "%s", line);
	console_break_line(); /* may come while the prompt is shown */
	kprintf("%s\n", line);
}

/* A restart the guest asked for (why: "guest request", "crash: ..."),
 * unless it is in a reboot loop: VM_REBOOT_BURST restarts within
 * VM_REBOOT_WINDOW_MS stop it, so a guest that resets at once cannot keep
 * Tern clearing and reloading its RAM. */
static void restart(struct vm *vm, const char *why)
{
	uint64_t now = time_ms();
	uint64_t oldest = vm->restart_ms[vm->nrestarts % VM_REBOOT_BURST];
	const char *err = "";

	if (vm->nrestarts >= VM_REBOOT_BURST && now - oldest < VM_REBOOT_WINDOW_MS) {
		vm_stop(vm, "rebooted %d times in %d s: a reboot loop (%s)", VM_REBOOT_BURST,
			VM_REBOOT_WINDOW_MS / 1000, why);
		return;
	}
	vm->restart_ms[vm->nrestarts++ % VM_REBOOT_BURST] = now;
	int rc = vm_restart(vm, &err);
	if (rc)
		vm_stop(vm, "restarting after %s failed: %s", why, err);
	else
		console_line("vm %s: rebooted (%s)", vm->name, why);
}

/* Frees the VM from inside its own exit; a migration's VM is only stopped
 * (the migration holds it). */
static void destroy_from_guest(struct vm *vm, const char *what)
{
	if (vm->migrating) {
		vm_stop(vm, "%s, while migrating", what);
		return;
	}
	vuart_flush(&vm->uart);
	console_line("vm %s: %s", vm->name, what);
	vm_release(vm);
}

static void crashed(struct vm *vm, const char *what)
{
	switch (vm->on_crash) {
	case VM_ACT_STOP:
		vm_stop(vm, "%s", what);
		break;
	case VM_ACT_DESTROY: {
		char line[160];
		snprintf(line, sizeof(line), "destroyed after %s (on_crash=destroy)", what);
		log_err("vm", "%s crashed: %s", vm->name, what);
		destroy_from_guest(vm, line);
		break;
	}
	case VM_ACT_RESTART: {
		char why[160];
		log_err("vm", "%s crashed: %s", vm->name, what);
		snprintf(why, sizeof(why), "after %s", what);
		restart(vm, why);
		break;
	}
	}
}

/* What the guest asked of its power ports during the exit just handled. */
static void power_request(struct vm *vm)
{
	enum vpower_request r = vm->power.request;
	const char *how = vm->power.how;

	vm->power.request = VPOWER_NONE;
	switch (r) {
	case VPOWER_NONE:
		break;
	case VPOWER_REBOOT:
		log_info("vm", "%s asked to reboot (%s)", vm->name, how);
		if (vm->on_reboot == VM_ACT_RESTART)
			restart(vm, "guest request");
		else if (vm->on_reboot == VM_ACT_DESTROY)
			destroy_from_guest(vm, "rebooted: destroyed (on_reboot=destroy)");
		else
			vm_stop(vm, "guest rebooted (on_reboot=stop)");
		break;
	case VPOWER_POWEROFF:
		if (vm->on_poweroff == VM_ACT_DESTROY)
			destroy_from_guest(vm, "powered off");
		else
			vm_stop(vm, "guest powered off (on_poweroff=stop)");
		break;
	case VPOWER_PANIC:
		crashed(vm, "guest kernel panic (pvpanic)");
		break;
	}
}

/* One entry into the guest and the exit that ended it. True if the guest
 * can go straight back in: a port access Tern answered or the host's tick,
 * nothing else. */
static bool run_once(struct vm *vm)
{
	struct vm_exit e;

	memset(&e, 0, sizeof(e));
	int rc = hv->vcpu_run(&vm->vcpu, &e);
	if (rc) {
		vm_stop(vm, "entering the guest failed (%s)", strerror(-rc));
		return false;
	}
	switch (e.kind) {
	case EXIT_YIELD:
		return true; /* the host tick: run_slice decides */
	case EXIT_IO:
		handle_io(vm, &e);
		if (vm->power.request == VPOWER_NONE)
			return true;
		power_request(vm);
		break;
	case EXIT_SPIN:
		/* A PAUSE: the guest is waiting for time to pass or for
		 * another agent. Its turn ends, so the rest of the loop (a
		 * migration, other guests) gets the CPU it would burn: a
		 * memcheck pacing its writes took half the CPU from a
		 * migration and halved the stream's rate (KVM's pause-loop
		 * exiting does the same for spinning vCPUs). */
		break;
	case EXIT_HLT:
		/* With IF = 1 a LAPIC interrupt (timer, MSI) wakes it: block
		 * until one is pending. With IF = 0 only an NMI could, and
		 * Tern has no NMI source: the guest has stopped for good. */
		if (e.intr_enabled) {
			/* Already pending (the HLT came after the interrupt
			 * was raised): run on at once. */
			vm->vcpu.blocked = vcpu_irq_pending(&vm->vcpu) < 0;
			break;
		}
		vm->state = VM_HALTED;
		vuart_flush(&vm->uart);
		break;
	case EXIT_SHUTDOWN: {
		char what[128];
		snprintf(what, sizeof(what), "triple fault (%s)", e.desc[0] ? e.desc : "shutdown");
		crashed(vm, what);
		break;
	}
	case EXIT_SLAT:
		vm_stop(vm, "%s guest-physical 0x%lx, outside its %lu MiB of RAM",
			e.write ? "wrote" : "read", e.gpa, vm->mem_bytes >> 20);
		break;
	case EXIT_ERROR:
		vm_stop(vm, "unhandled exit 0x%x: %s", e.reason, e.desc);
		break;
	}
	return false;
}

/* A VM's turn: it goes back in after each port access Tern answered and
 * each host tick until its slice has passed. Ending the turn at every exit
 * instead would make a guest that touches ports often (a Linux booting, its
 * 8250 console) wait a whole slice of every busy neighbour per access: next
 * to a memcheck, a Linux boot took five times as long.
 *
 * A slice is SLICE_NS, or as long as the guest has just waited for it, up to
 * SLICE_MAX_NS: when the rest of the loop (a migration encrypting and
 * sending, the network stack taking its ACKs) is busy, the guest still gets
 * about half of the CPU. Ending the turn at the host tick instead, it got
 * 1.7 % during pre-copy (`cpu loop`: 150 us per 10 ms pass), and a Linux
 * guest stopped answering pings for seconds. The console's UART is emptied
 * at least every CONSOLE_POLL_NS inside a slice (a 16550's FIFO fills in
 * 1.4 ms); its commands run between slices, never under a running VM. */
#define SLICE_NS 500000
#define SLICE_MAX_NS 4000000
#define SLICE_THROTTLED_NS 1000000
#define CONSOLE_POLL_NS 1000000

static void run_slice(struct vm *vm)
{
	uint64_t start = time_ns();
	uint64_t waited = vm->slice_end_ns ? start - vm->slice_end_ns : 0;
	/* Throttled, it runs in short slices, so that what it sits out in
	 * between stays short too (99 ms at 99 %): its timers and its
	 * receive queue wait no longer than that. */
	uint64_t max = vm->throttle_pct ? SLICE_THROTTLED_NS : SLICE_MAX_NS;
	uint64_t len = waited < SLICE_NS ? SLICE_NS : waited > max ? max : waited;
	uint64_t end = start + len, console_at = start + CONSOLE_POLL_NS;

	for (;;) {
		bool again = run_once(vm) && vm->state == VM_RUNNING;
		uint64_t t = time_ns();
		if (!again || t >= end)
			break;
		if (t >= console_at) {
			console_stash_input();
			console_at = t + CONSOLE_POLL_NS;
		}
	}
	vm->slice_end_ns = time_ns();
	/* Throttled by a migration's auto-converge: sit out pct/(100 - pct)
	 * of the slice just run, so the guest gets (100 - pct) % of the time
	 * it would have had. */
	if (vm->throttle_pct)
		vm->run_after_ns = vm->slice_end_ns + (vm->slice_end_ns - start) * vm->throttle_pct /
							      (100 - vm->throttle_pct);
}

/* One slice for each running VM, starting after the one that ran first
 * last time, so no VM starves another. */
bool vm_poll(void)
{
	bool ran = false;

	/* Frames that waited for receive buffers, whether or not the guest
	 * gets a slice this pass. */
	for (int k = 0; k < VM_MAX; k++)
		if (vm_at(k))
			ran |= vnet_poll(&vm_at(k)->net);
	/* Disk requests a notification's budget left (virtio_blk.h): a
	 * budget per running guest per pass, so one guest's large I/O waits
	 * its turn behind the consoles, the network and the other guests.
	 * Not for a paused guest: its queue waits for `vm resume`. */
	for (int k = 0; k < VM_MAX; k++) {
		struct vm *vm = vm_at(k);
		if (vm && vm->disk.on && vm->state == VM_RUNNING) {
			vm_current_set(vm);
			ran |= vblk_poll(&vm->disk.dev);
			vm_current_set(NULL);
		}
	}
	for (unsigned k = 0; k < VM_MAX; k++) {
		struct vm *vm = vm_at((int)((next_vm + k) % VM_MAX));
		if (vm && vm->state == VM_RUNNING) {
			/* A halted vCPU costs nothing until its LAPIC has an
			 * interrupt (due timers fire here, once a pass): it
			 * neither runs nor keeps the main loop busy, so the
			 * loop's halt idles the host. */
			if (vm->throttle_pct && time_ns() < vm->run_after_ns)
				continue;
			if (vm->vcpu.blocked) {
				if (vcpu_irq_pending(&vm->vcpu) < 0)
					continue;
				vm->vcpu.blocked = false;
			}
			vm_current_set(vm);
			run_slice(vm);
			vm_current_set(NULL);
			ran = true;
			/* A 16550's 16-byte FIFO overflows in 1.4 ms at 115200 baud:
			 * read the console between slices, not only once a pass. */
			console_poll();
		}
	}
	next_vm = (next_vm + 1) % VM_MAX;
	return ran;
}

