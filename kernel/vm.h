/* A virtual machine: its RAM, its one vCPU, its devices, its state. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "kernel/hv.h"
#include "kernel/log_limit.h"
#include "kernel/boot_info.h"
#include "kernel/vdev/pci.h"
#include "kernel/vdev/power.h"
#include "kernel/vdev/rtc.h"
#include "kernel/vdev/uart.h"
#include "kernel/vdev/vioapic.h"
#include "kernel/vdev/vlapic.h"
#include "kernel/vdev/virtio_net.h"
#include "kernel/vdev/virtio_blk.h"

#define VM_NAME_MAX 32
#define VM_MAX 8
#define VM_CHUNK (2ull << 20) /* guest RAM is backed by 2 MiB host chunks */

enum vm_state {
	VM_RUNNING,
	VM_PAUSED,
	VM_HALTED,   /* the guest executed HLT with nothing to wake it */
	VM_STOPPED,  /* stopped by Tern after a fault: see stop_reason */
	VM_INCOMING, /* being received by a migration: never run */
};

/* What Tern does when the guest reboots, powers off or crashes: the
 * options on_reboot, on_poweroff, on_crash of `vm create` (xl.cfg(5)'s,
 * reduced to these three; docs/vm.md). */
enum vm_action {
	VM_ACT_RESTART, /* reload its images into cleared RAM and run again */
	VM_ACT_DESTROY, /* free it, as `vm destroy` */
	VM_ACT_STOP,    /* keep it, stopped, for inspection */
};

#define VM_REBOOT_BURST 10     /* restarts in VM_REBOOT_WINDOW_MS ... */
#define VM_REBOOT_WINDOW_MS 60000 /* ... that stop a guest: a reboot loop */
#define VM_ARGS_MAX 480

struct vcpu {
	struct vm *vm;
	uint64_t gpr[16]; /* valid between vcpu_run() calls, see hv.h */
	void *arch;       /* the backend's VMCS/VMCB and bookkeeping */
	uint64_t exits;   /* VM exits of every kind, including those the backend handled */
	struct vlapic lapic;
	struct guest_cpu cpu; /* the CPUID it sees, its TSC: set before vcpu_create */
	/* In HLT with interrupts enabled: not entered until its LAPIC has
	 * a vector to deliver (kernel/vm_run.c vm_poll). */
	bool blocked;
};

/* A guest's disk: a volume of the host's NVMe disk (kernel/vm_disk.h),
 * claimed while the VM exists; the device is made anew on a restart. */
struct vm_disk {
	bool on;
	uint64_t vol_id;      /* the volume table's id: the in-use mark's key */
	char volume[32];      /* its name (VOLTAB_NAME_MAX + 1) */
	struct vblk_disk cfg; /* the window and serial vblk_init takes */
	struct vdev_vblk dev; /* virtio-blk at 00:02.0 */
	bool copy;	      /* a migration moves it with the guest (copy-storage) */
	bool copy_inc;	      /* ... as what differs from its base (copy-storage inc) */
};

struct vm {
	bool used;
	char name[VM_NAME_MAX];
	enum vm_state state;
	uint64_t mem_bytes;
	uint64_t npages;     /* mem_bytes / 4096 */
	uint64_t *chunks;    /* host physical address of each 2 MiB chunk */
	uint64_t nchunks;
	struct slat *slat;
	struct vcpu vcpu;
	enum dirty_mode dirty;
	struct vdev_uart uart;
	struct vioapic ioapic; /* its ISA interrupt lines (the UART's) */
	struct vpci pci;      /* its PCI bus: host bridge, virtio-net at 00:01.0 */
	struct vdev_vnet net; /* its network card, a vswitch guest port */
	struct vm_disk disk;  /* disk= of `vm create`, or none (disk.on false) */
	char stop_reason[128];
	uint64_t created_ms;
	uint64_t slice_end_ns; /* when its last slice ended (kernel/vm_run.c run_slice) */
	uint32_t throttle_pct; /* auto-converge: this share of its time taken away */
	uint64_t run_after_ns; /* throttled: not run again before */
	uint8_t mac[6];  /* the guest's own MAC: moves with it */
	uint32_t ip;     /* its IPv4 (network order), configured or learned; 0 unknown */
	bool migrating;  /* a migration owns it: operator commands that change it are refused */
	enum vm_state resume_state; /* what `resume` returns to after a migration pause */
	/* While a migration logs dirty pages: the pages Tern's devices wrote
	 * (a bit per page), which the CPU's dirty log cannot see. */
	uint64_t *dev_dirty;
	uint64_t dirty_pages_total; /* pages its harvests found written (/metrics) */
	struct log_limit log_limit; /* log lines it causes (log_guest) */
	struct vdev_rtc rtc;         /* CMOS clock and NVRAM, ports 0x70/0x71 */
	struct vdev_power power;     /* reset, ACPI sleep and pvpanic ports */
	enum vm_action on_reboot, on_poweroff, on_crash;
	/* What it was created from, so a restart reloads the same: empty for
	 * a VM that came by migration (it cannot restart). */
	bool boot_linux; /* boot_image is a bzImage (kernel=), else Multiboot */
	char boot_image[BOOT_MODULE_NAME_MAX];
	char boot_initrd[BOOT_MODULE_NAME_MAX]; /* Linux's initrd=, or empty */
	char boot_args[VM_ARGS_MAX];
	uint64_t restart_ms[VM_REBOOT_BURST]; /* when its last restarts were, a ring */
	unsigned nrestarts;
};

/* Host pointer to guest-physical gpa, or NULL outside the VM's RAM. */
void *vm_gpa_ptr(struct vm *vm, uint64_t gpa);
/* Copies between guest-physical memory and Tern, across the 2 MiB chunks
 * that back it. 0, or -EFAULT (nothing copied) when a byte lies outside the
 * VM's RAM. Writes are device writes: while a migration logs dirty pages
 * they are recorded in vm->dev_dirty. */
int vm_gpa_read(struct vm *vm, uint64_t gpa, void *buf, uint64_t len);
int vm_gpa_write(struct vm *vm, uint64_t gpa, const void *buf, uint64_t len);
struct vm *vm_find(const char *name);
/* The VM whose vCPU is running or whose exit is being handled, else NULL:
 * for code that logs what a guest did without a VM at hand (log_guest). */
struct vm *vm_current(void);
extern const struct hv_ops *hv;
