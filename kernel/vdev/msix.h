/* MSI-X (PCI Local Bus 3.0, 6.8.2) for a PCI function Tern emulates: the
 * capability in its configuration space, the vector table and the pending
 * bit array (PBA) in one of its memory BARs, messages sent with vm_msi().
 *
 * Message Control (6.8.2.3): table size N-1 (read-only), Function Mask (bit
 * 14) and MSI-X Enable (bit 15), both guest-writable. A table entry
 * (6.8.2.6-9): Message Address (bits 1:0 read 0), Upper Address, Data,
 * Vector Control (bit 0 Mask, set after reset). When the device fires a
 * vector while MSI-X is enabled: a masked vector (its own bit or the
 * Function Mask) sets its pending bit instead, and the message goes out
 * when the vector is unmasked; an unmasked one sends at once. While MSI-X
 * is disabled nothing is sent or kept (the function would use INTx, which
 * Tern's functions do not have), as QEMU's msix_notify() does.
 *
 * The table and the PBA take aligned 32-bit and 64-bit accesses (6.8.2:
 * "aligned full DWORD or aligned full QWORD"); other reads return 0 and
 * other writes are ignored. The PBA is read-only. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kernel/vdev/pci.h"

struct vm;

#define MSIX_CAP_ID 0x11
#define MSIX_CAP_LEN 12 /* id, next, control; table offset/BIR; PBA offset/BIR */
#define MSIX_CAP_CONTROL 2
#define MSIX_CAP_TABLE 4
#define MSIX_CAP_PBA 8
#define MSIX_CTRL_MASKALL 0x4000
#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_ENTRY_SIZE 16
#define MSIX_ENTRY_ADDR_LO 0
#define MSIX_ENTRY_ADDR_HI 4
#define MSIX_ENTRY_DATA 8
#define MSIX_ENTRY_CTRL 12
#define MSIX_ENTRY_MASKED 0x1
#define MSIX_VECTORS_MAX 32 /* the PBA is one 32-bit word here */

struct msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct msix {
	struct vm *vm;
	struct vpci_func *pci; /* the function whose configuration holds the capability */
	unsigned cap;	       /* its offset there */
	unsigned nvec;
	uint32_t table_off, pba_off; /* in the BAR */
	struct msix_entry table[MSIX_VECTORS_MAX];
	uint32_t pending; /* bit n: vector n fired while masked */
};

/* Adds the capability to f (table and PBA at the given offsets of memory
 * BAR bar; the BAR itself is the caller's) with nvec vectors, all masked,
 * MSI-X disabled. nvec 1..MSIX_VECTORS_MAX. */
void msix_init(struct msix *m, struct vm *vm, struct vpci_func *f, unsigned nvec, int bar,
	       uint32_t table_off, uint32_t pba_off);
/* MSI-X Enable is set: the device interrupts through its vectors. */
bool msix_enabled(const struct msix *m);
/* The device fires vector: sent, or left pending while masked; nothing
 * while MSI-X is disabled or for a vector past the table. */
void msix_notify(struct msix *m, unsigned vector);
/* A configuration write from the guest (the function's cfg_write hook
 * passes every one): true when it touched Message Control, which is then
 * written (writable bits only) and pending vectors that became unmasked are
 * sent. false: not this capability's business. */
bool msix_cfg_write(struct msix *m, unsigned off, unsigned size, uint32_t val);
/* An access to the BAR holding the table: true when off is in the table or
 * the PBA. */
bool msix_bar_read(struct msix *m, uint32_t off, unsigned size, uint64_t *val);
bool msix_bar_write(struct msix *m, uint32_t off, unsigned size, uint64_t val);

/* Migration. Blob: u16 Message Control, u16 vectors, u32 pending, then per
 * vector u32 address, upper address, data, vector control. check refuses
 * (-EINVAL, *why) a blob this function could not have reached: another
 * vector count, control bits that are not writable, reserved bits set in
 * an address or a vector control, pending bits past the table, a pending
 * vector that is not masked while MSI-X is enabled (it would have been
 * sent). load takes a blob check accepted, Message Control included. */
#define MSIX_STATE_LEN(nvec) (8 + MSIX_ENTRY_SIZE * (nvec))
int msix_save(const struct msix *m, void *buf, size_t cap);
int msix_check(const struct msix *m, const void *buf, size_t len, const char **why);
void msix_load(struct msix *m, const void *buf);
