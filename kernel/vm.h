/* A virtual machine: its RAM, its one vCPU, its devices, its state. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "kernel/hv.h"
#include "kernel/vdev/uart.h"

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

struct vcpu {
	struct vm *vm;
	uint64_t gpr[16]; /* valid between vcpu_run() calls, see hv.h */
	void *arch;       /* the backend's VMCS/VMCB and bookkeeping */
	uint64_t exits;   /* VM exits of every kind, including those the backend handled */
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
	char stop_reason[128];
	uint64_t created_ms;
	uint8_t mac[6];  /* the guest's own MAC: moves with it */
	uint32_t ip;     /* its IPv4 (network order), configured or learned; 0 unknown */
	bool migrating;  /* a migration owns it: operator commands that change it are refused */
	enum vm_state resume_state; /* what `resume` returns to after a migration pause */
};

/* Host pointer to guest-physical gpa, or NULL outside the VM's RAM. */
void *vm_gpa_ptr(struct vm *vm, uint64_t gpa);
struct vm *vm_find(const char *name);
extern const struct hv_ops *hv;
