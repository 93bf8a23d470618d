/* Guest MMIO, once for both backends: an access to guest-physical memory
 * with no RAM behind it, made by the instruction at CS:RIP. Neither VMX
 * (EPT violation) nor SVM (#NPF) says which instruction it was or how long
 * (no decode assists for these exits in QEMU TCG or Bochs, and none
 * assumed): the instruction is fetched from guest memory, decoded by
 * arch/x86/mmio_decode.c, performed through kernel/vm_mmio.h, and its
 * register result written back. */
#pragma once
#include <stdint.h>
#include "arch/x86/guest_walk.h"
#include "arch/x86/mmio_decode.h"

struct vm;

/* What the backend reads out of its VMCS/VMCB for the emulation. */
struct mmio_vcpu {
	struct guest_paging paging; /* CR0, CR3, CR4, EFER: to fetch the instruction */
	uint64_t cs_base;	    /* unused in 64-bit code */
	uint64_t rip;
	enum mmio_mode mode; /* CS.L (with EFER.LMA), else CS.D */
	uint64_t *gpr;	     /* struct vcpu's 16 GPRs, encoding order */
};

/* Emulates the access at gpa by the instruction at c->rip. Outcomes:
 *  0        done: registers updated; the backend sets RIP to *next_rip
 *           and ends an STI/MOV-SS shadow, as a retired instruction does;
 *  -ENOENT  no device decodes gpa: the backend stops the VM as before
 *           ("outside its RAM"), nothing was changed;
 *  -EINVAL  an instruction Tern does not emulate on MMIO (or an access
 *           that crosses a page): logged (log_guest, rate-limited), no
 *           device touched; the backend injects #UD;
 *  -EFAULT  the instruction could not be fetched: the backend stops the
 *           VM with a clear line (see mmio_emulate.c for why). */
int mmio_emulate(struct vm *vm, const struct mmio_vcpu *c, uint64_t gpa, uint64_t *next_rip);
