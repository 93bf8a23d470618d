/* VM lifecycle (create, pause, resume, destroy) and the run loop: each
 * pass of the main loop gives every runnable VM one bounded slice and
 * handles the exits the backend hands up. A guest can only ever stop its
 * own VM: every fault is an error message, never a panic. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arch/x86/guest_tsc.h"
#include "kernel/console/console.h"
#include "kernel/kprintf.h"
#include "kernel/log.h"
#include "kernel/loop.h"
#include "kernel/mm/frame.h"
#include "kernel/time.h"
#include "kernel/vm.h"
#include "kernel/vm_api.h"
#include "kernel/vm_dirty.h"
#include "kernel/vm_disk.h"
#include "kernel/vm_load.h"
#include "net/lwip_port.h" /* tern_rand32 */
#include "kernel/vm_run.h"
#include "migrate/policy.h"

const struct hv_ops *hv;
static const char *hv_missing = "not probed";
static struct vm vms[VM_MAX];
static struct vm *current; /* see vm_current() */

void vm_current_set(struct vm *vm)
{
	current = vm;
}

void vuart_emit(const char *s, unsigned n)
{
	kwrite(s, n);
}

void vuart_line_start(void)
{
	console_break_line();
}

void *vm_gpa_ptr(struct vm *vm, uint64_t gpa)
{
	if (gpa >= vm->mem_bytes)
		return NULL;
	return (uint8_t *)vm->chunks[gpa / VM_CHUNK] + gpa % VM_CHUNK;
}

/* Splits [gpa, gpa + len) at chunk boundaries: contiguous for the guest,
 * not for Tern. */
static int gpa_copy(struct vm *vm, uint64_t gpa, uint8_t *buf, uint64_t len, bool write)
{
	if (gpa > vm->mem_bytes || len > vm->mem_bytes - gpa)
		return -EFAULT;
	while (len) {
		uint64_t n = VM_CHUNK - gpa % VM_CHUNK;
		uint8_t *p = vm_gpa_ptr(vm, gpa);
		if (n > len)
			n = len;
		if (write) {
			memcpy(p, buf, n);
			/* The CPU's dirty log sees only the guest's own
			 * writes: a migration must also resend these pages. */
			if (vm->dev_dirty)
				for (uint64_t g = gpa >> 12; g <= (gpa + n - 1) >> 12; g++)
					vm->dev_dirty[g / 64] |= 1ull << (g % 64);
		} else {
			memcpy(buf, p, n);
		}
		gpa += n, buf += n, len -= n;
	}
	return 0;
}

int vm_gpa_read(struct vm *vm, uint64_t gpa, void *buf, uint64_t len)
{
	return gpa_copy(vm, gpa, buf, len, false);
}

int vm_gpa_write(struct vm *vm, uint64_t gpa, const void *buf, uint64_t len)
{
	return gpa_copy(vm, gpa, (uint8_t *)buf, len, true);
}

struct vm *vm_current(void)
{
	return current;
}

struct vm *vm_find(const char *name)
{
	for (int i = 0; i < VM_MAX; i++)
		if (vms[i].used && !strcmp(vms[i].name, name))
			return &vms[i];
	return NULL;
}

struct vm *vm_find_mac(const uint8_t *mac)
{
	for (int i = 0; i < VM_MAX; i++)
		if (vms[i].used && !memcmp(vms[i].mac, mac, 6))
			return &vms[i];
	return NULL;
}

/* 52:54:00 (locally administered, as QEMU uses) and three random bytes,
 * unique among this host's guests. */
static void random_mac(uint8_t *mac)
{
	uint8_t m[6] = {0x52, 0x54, 0x00};

	do {
		uint32_t r = tern_rand32();
		m[3] = r >> 16, m[4] = r >> 8, m[5] = r;
	} while (vm_find_mac(m)); /* before copying: the new VM must not find itself */
	memcpy(mac, m, 6);
}

struct vm *vm_at(int i)
{
	return i >= 0 && i < VM_MAX && vms[i].used ? &vms[i] : NULL;
}

const char *vm_backend(void)
{
	return hv ? hv->name : hv_missing;
}

const char *vm_state_name(enum vm_state s)
{
	static const char *const names[] = {"running", "paused", "halted", "stopped", "incoming"};
	return names[s];
}

static bool name_ok(const char *n)
{
	size_t len = strlen(n);
	if (!len || len >= VM_NAME_MAX)
		return false;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || (*n >= '0' && *n <= '9') ||
		      *n == '-' || *n == '_'))
			return false;
	return true;
}

static void free_ram(struct vm *vm)
{
	for (uint64_t i = 0; i < vm->nchunks; i++)
		if (vm->chunks[i])
			frame_free(vm->chunks[i], VM_CHUNK / FRAME_SIZE);
	free(vm->chunks);
	vm->chunks = NULL;
	vm->nchunks = 0;
}

/* The vCPU and the devices: what a restart makes anew (RAM and SLAT stay). */
static void devices_release(struct vm *vm)
{
	vm_disk_device_release(vm);
	vnet_destroy(&vm->net);
	if (vm->vcpu.arch)
		hv->vcpu_destroy(&vm->vcpu);
	vm->vcpu.arch = NULL;
}

static int devices_create(struct vm *vm, const char **why)
{
	int rc;

	vm->vcpu.vm = vm;
	vuart_init(&vm->uart, vm->name);
	vpower_init(&vm->power);
	*why = "the CPU refused the guest's control structures";
	if ((rc = hv->vcpu_create(&vm->vcpu)))
		return rc;
	/* The LAPIC converts counts to TSC cycles at the guest's TSC rate. */
	vlapic_reset(&vm->vcpu.lapic, 0, vm->vcpu.cpu.tsc.hz);
	vioapic_reset(&vm->ioapic);
	vpci_init(&vm->pci);
	*why = "out of memory";
	if ((rc = vnet_init(&vm->net, vm, &vm->pci)))
		return rc;
	return vm_disk_device_create(vm); /* on a restart; vm_disk_attach the first time */
}

void vm_release(struct vm *vm)
{
	devices_release(vm);
	vm_disk_detach(vm); /* the volume is free for another VM */
	free(vm->dev_dirty);
	if (vm->slat)
		hv->slat_destroy(vm->slat);
	free_ram(vm);
	memset(vm, 0, sizeof(*vm));
}

/* The machine state a Multiboot loader leaves (Multiboot 0.6.96, 3.2):
 * 32-bit protected mode, paging off, flat 4 GiB segments. */
static void multiboot_state(struct vcpu_state *s, uint32_t entry, uint32_t mbi)
{
	const struct vcpu_seg code = {0x08, 0xC9B, 0xFFFFFFFF, 0}; /* P S DPL0 exec/read accessed, D G */
	const struct vcpu_seg data = {0x10, 0xC93, 0xFFFFFFFF, 0}; /* P S DPL0 read/write accessed, B G */

	memset(s, 0, sizeof(*s));
	s->version = VCPU_STATE_VERSION;
	s->gpr[R_RAX] = 0x2BADB002;
	s->gpr[R_RBX] = mbi;
	s->rip = entry;
	s->rflags = 0x2;
	s->cs = code;
	s->ds = s->es = s->fs = s->gs = s->ss = data;
	s->tr = (struct vcpu_seg){0, 0x8B, 0xFFFF, 0}; /* busy 32-bit TSS, as after reset */
	s->ldtr = (struct vcpu_seg){0, 0x82, 0xFFFF, 0};
	s->gdtr.limit = s->idtr.limit = 0xFFFF;
	s->cr0 = 0x11; /* PE, ET */
	s->dr6 = 0xFFFF0FF0;
	s->dr7 = 0x400;
	s->pat = 0x0007040600070406ull; /* the reset value */
	/* FXSAVE image of the x87/SSE reset state: FCW 0x37F, MXCSR 0x1F80. */
	s->fxsave[0] = 0x7F;
	s->fxsave[1] = 0x03;
	s->fxsave[24] = 0x80;
	s->fxsave[25] = 0x1F;
}

/* A pool guest keeps its TSC rate on every host: natively where it is
 * this host's (within the migration tolerance), trapped elsewhere. */
static int guest_cpu_init(struct guest_cpu *c, enum guest_cpu_model m, uint64_t hz,
			  const char **why)
{
	if (m == GUEST_CPU_POOL && cpuid_pool_supported(why))
		return -ENOTSUP;
	bool native = !hz || m == GUEST_CPU_HOST ||
		      mig_policy_tsc_rates_match((uint32_t)(hz / 1000), (uint32_t)(tsc_hz / 1000));
	c->model = m;
	guest_tsc_init(&c->tsc, native ? tsc_hz : hz, tsc_hz, !native);
	return 0;
}

/* Reserves a VM: a slot, zeroed RAM in 2 MiB chunks mapped through the
 * SLAT, and a vCPU in its reset state. Nothing runs yet (VM_PAUSED). On
 * failure nothing stays reserved. */
int vm_alloc(const char *name, uint64_t mem_bytes, enum guest_cpu_model cpu, uint64_t tsc_rate,
	     struct vm **out, const char **why)
{
	struct vm *vm = NULL;
	struct guest_cpu gc;

	if (!hv)
		return *why = hv_missing, -ENODEV;
	if (!name_ok(name))
		return *why = "names are 1-31 letters, digits, '-' or '_'", -EINVAL;
	if (vm_find(name))
		return *why = "a VM with that name exists", -EEXIST;
	if (mem_bytes < (4ull << 20) || mem_bytes > (65536ull << 20) || mem_bytes % VM_CHUNK)
		return *why = "mem must be an even number of MiB from 4 to 65536", -EINVAL;
	int rc = guest_cpu_init(&gc, cpu, tsc_rate, why);
	if (rc)
		return rc;
	for (int i = 0; i < VM_MAX && !vm; i++)
		if (!vms[i].used)
			vm = &vms[i];
	if (!vm)
		return *why = "too many VMs", -ENOSPC;

	memset(vm, 0, sizeof(*vm));
	vm->used = true;
	strcpy(vm->name, name);
	vm->mem_bytes = mem_bytes;
	vm->npages = mem_bytes / FRAME_SIZE;
	vm->nchunks = mem_bytes / VM_CHUNK;
	vm->state = VM_PAUSED;
	vm->vcpu.vm = vm;
	vm->vcpu.cpu = gc;
	vm->on_reboot = VM_ACT_RESTART; /* xl's defaults: restart, destroy, */
	vm->on_poweroff = VM_ACT_DESTROY;
	vm->on_crash = VM_ACT_STOP; /* but a crash is kept to be looked at */
	vrtc_init(&vm->rtc);

	rc = -ENOMEM;
	*why = "out of memory";
	vm->chunks = calloc(vm->nchunks, sizeof(uint64_t));
	if (!vm->chunks)
		goto fail;
	for (uint64_t i = 0; i < vm->nchunks; i++) {
		vm->chunks[i] = frame_alloc(VM_CHUNK / FRAME_SIZE, VM_CHUNK / FRAME_SIZE);
		if (!vm->chunks[i])
			goto fail;
		memset((void *)vm->chunks[i], 0, VM_CHUNK); /* never leak another guest's data */
	}
	vm->slat = hv->slat_create();
	if (!vm->slat)
		goto fail;
	for (uint64_t i = 0; i < vm->nchunks; i++)
		if ((rc = hv->slat_map(vm->slat, i * VM_CHUNK, vm->chunks[i], VM_CHUNK)))
			goto fail;
	random_mac(vm->mac); /* before the devices: virtio-net shows it */
	if ((rc = devices_create(vm, why)))
		goto fail;
	vm->created_ms = time_ms();
	if (gc.tsc.trap)
		log_info("vm", "%s: pool CPU, TSC at %lu.%03lu MHz (this host's: %lu.%03lu): RDTSC trapped",
			 name, gc.tsc.hz / 1000000, gc.tsc.hz / 1000 % 1000, tsc_hz / 1000000,
			 tsc_hz / 1000 % 1000);
	*out = vm;
	return 0;
fail:
	vm_release(vm);
	return rc;
}

/* Linux: plan (checks again; the images are the same), write the boot
 * data, the 64-bit entry state, and the LAPIC in x2APIC mode as firmware
 * would leave it (decisions: with no IOAPIC in the MADT Linux keeps it). */
static int vm_boot_linux(struct vm *vm, uint64_t *entry, const char **why)
{
	const struct boot_module *kimg = vm_image_find(vm->boot_image);
	const struct boot_module *iimg = vm->boot_initrd[0] ? vm_image_find(vm->boot_initrd) : NULL;
	struct linux_plan *plan;
	struct vcpu_state st;
	int rc;

	if (!kimg || (vm->boot_initrd[0] && !iimg))
		return *why = "no such kernel or initrd image (see 'vm images')", -ENOENT;
	if (!(plan = malloc(sizeof(*plan))))
		return *why = "out of memory", -ENOMEM;
	/* Tell Linux its TSC rate, so it need not calibrate against a PIT
	 * Tern does not have. */
	if ((rc = linux_plan(kimg, iimg, vm->mem_bytes, vm->boot_args, vm->vcpu.cpu.tsc.hz / 1000,
			     plan, why)))
		goto out;
	*why = "writing the boot data into guest RAM failed";
	if ((rc = vm_load_linux_write(vm, plan, kimg, iimg, &st)))
		goto out;
	*why = "the CPU refused the 64-bit entry state";
	if ((rc = hv->set_state(&vm->vcpu, &st)))
		goto out;
	*entry = plan->entry;
out:
	free(plan);
	return rc;
}

/* Loads the images the VM was created from (vm->boot_*) into its RAM and
 * sets the vCPU to their entry state: the part of creation a restart
 * repeats. *entry is for the log. */
static int vm_boot(struct vm *vm, uint64_t *entry, const char **why)
{
	const struct boot_module *img;
	char cmdline[BOOT_MODULE_NAME_MAX + VM_ARGS_MAX + 2];
	uint32_t mbi, entry32;
	struct vcpu_state st;
	int rc;

	if (vm->boot_linux)
		return vm_boot_linux(vm, entry, why);
	if (!(img = vm_image_find(vm->boot_image)))
		return *why = "no such image (see 'vm images')", -ENOENT;
	snprintf(cmdline, sizeof(cmdline), "%s %s", vm->boot_image, vm->boot_args);
	if ((rc = vm_load_multiboot(vm, img, cmdline, &entry32, &mbi, why)))
		return rc;
	*entry = entry32;
	multiboot_state(&st, entry32, mbi);
	*why = "the CPU refused the guest's entry state";
	return hv->set_state(&vm->vcpu, &st);
}

int vm_create(const char *name, const char *image, uint64_t mem_mib, const char *args, bool paused,
	      enum guest_cpu_model cpu, const char *disk, const char **why)
{
	struct vm *vm;
	uint64_t entry;
	int rc;

	time_refine_finish(); /* the guest's LAPIC and TSC take the rate now */
	if (!vm_image_find(image) && hv)
		return *why = "no such image (see 'vm images')", -ENOENT;
	if (strlen(image) >= sizeof(vm->boot_image) || (args && strlen(args) >= VM_ARGS_MAX))
		return *why = "args= is too long", -E2BIG;
	if (disk && (rc = vm_disk_check(disk, why)))
		return rc;
	if ((rc = vm_alloc(name, mem_mib << 20, cpu, 0, &vm, why)))
		return rc;
	if (disk && (rc = vm_disk_attach(vm, disk, why))) {
		vm_release(vm);
		return rc;
	}
	strcpy(vm->boot_image, image);
	strcpy(vm->boot_args, args ? args : "");
	if ((rc = vm_boot(vm, &entry, why))) {
		vm_release(vm);
		return rc;
	}
	vm->state = paused ? VM_PAUSED : VM_RUNNING;
	log_info("vm", "%s created: %lu MiB, image %s, entry 0x%lx%s", name, mem_mib, image, entry,
		 paused ? ", paused" : "");
	return 0;
}

/* A guest reboot, as a PC's reset line: the VM keeps its slot, name, MAC,
 * IP, memory and RAM chunks (so no other guest can take them meanwhile);
 * its RAM is cleared, its vCPU and devices are made anew, and its images
 * are loaded again with the same arguments. The CMOS clock and NVRAM stay,
 * as a PC's battery-backed ones do. On failure the VM is stopped. */
int vm_restart(struct vm *vm, const char **why)
{
	uint64_t entry;
	int rc;

	if (!vm->boot_image[0])
		return *why = "it has no image to reload (it came by migration)", -ENOENT;
	if (vm->migrating)
		return *why = "a migration owns it", -EBUSY;
	vuart_flush(&vm->uart);
	bool attached = vm->uart.attached;
	if (vm->dirty)
		vm_dirty_stop(vm); /* its log belongs to the vCPU being replaced */
	devices_release(vm);
	uint64_t exits = vm->vcpu.exits;
	struct guest_cpu gc = vm->vcpu.cpu; /* a reset keeps the CPU model and TSC rate */
	memset(&vm->vcpu, 0, sizeof(vm->vcpu));
	vm->vcpu.exits = exits;
	vm->vcpu.cpu = gc;
	for (uint64_t i = 0; i < vm->nchunks; i++)
		memset((void *)vm->chunks[i], 0, VM_CHUNK);
	if ((rc = devices_create(vm, why)) || (rc = vm_boot(vm, &entry, why))) {
		vm->state = VM_STOPPED;
		return rc;
	}
	vm->uart.attached = attached;
	vm->stop_reason[0] = 0;
	vm->state = VM_RUNNING;
	return 0;
}

/* A Linux guest (kernel/vm_load_linux.c): every check before anything
 * is reserved, so a refusal leaves the host exactly as it was. */
int vm_create_linux(const char *name, const char *kernel, const char *initrd, uint64_t mem_mib,
		    const char *args, bool paused, enum guest_cpu_model cpu, const char *disk,
		    const char **why)
{
	const struct boot_module *kimg = vm_image_find(kernel);
	const struct boot_module *iimg = initrd ? vm_image_find(initrd) : NULL;
	struct linux_plan *plan;
	struct vm *vm;
	uint64_t entry;
	int rc;

	if (!hv)
		return *why = hv_missing, -ENODEV;
	if (!kimg)
		return *why = "no such kernel image (see 'vm images')", -ENOENT;
	if (initrd && !iimg)
		return *why = "no such initrd image (see 'vm images')", -ENOENT;
	if (strlen(kernel) >= sizeof(vm->boot_image) || (args && strlen(args) >= VM_ARGS_MAX))
		return *why = "args= is too long", -E2BIG;
	if (!(plan = malloc(sizeof(*plan))))
		return *why = "out of memory", -ENOMEM;
	time_refine_finish(); /* Linux is told the TSC rate once, at boot */
	/* Checked before anything is reserved; vm_boot plans again (cheap). */
	rc = linux_plan(kimg, iimg, mem_mib << 20, args ? args : "", tsc_hz / 1000, plan, why);
	free(plan);
	if (rc || (disk && (rc = vm_disk_check(disk, why))))
		return rc;
	if ((rc = vm_alloc(name, mem_mib << 20, cpu, 0, &vm, why)))
		return rc;
	if (disk && (rc = vm_disk_attach(vm, disk, why))) {
		vm_release(vm);
		return rc;
	}
	vm->boot_linux = true;
	strcpy(vm->boot_image, kernel);
	strcpy(vm->boot_initrd, initrd ? initrd : "");
	strcpy(vm->boot_args, args ? args : "");
	if ((rc = vm_boot(vm, &entry, why))) {
		vm_release(vm);
		return rc;
	}
	vm->state = paused ? VM_PAUSED : VM_RUNNING;
	log_info("vm", "%s created: %lu MiB, Linux %s%s%s, entry 0x%lx%s", name, mem_mib, kernel,
		 iimg ? " + " : "", iimg ? initrd : "", entry, paused ? ", paused" : "");
	return 0;
}

int vm_destroy(struct vm *vm)
{
	vuart_flush(&vm->uart);
	log_info("vm", "%s destroyed", vm->name);
	vm_release(vm);
	return 0;
}

void vm_stop(struct vm *vm, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(vm->stop_reason, sizeof(vm->stop_reason), fmt, ap);
	va_end(ap);
	vm->state = VM_STOPPED;
	vuart_flush(&vm->uart);
	log_err("vm", "%s stopped: %s", vm->name, vm->stop_reason);
}

void vm_init(void)
{
	hv = hv_probe(&hv_missing);
	if (hv && hv->init()) {
		hv_missing = "enabling virtualization on this CPU failed";
		hv = NULL;
	}
	if (hv)
		log_info("vm", "%s backend ready", hv->name);
	else
		log_warn("vm", "guests cannot run: %s", hv_missing);
	vm_register_commands();
	loop_add("vm", vm_poll);
}
