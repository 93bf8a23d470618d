/* A guest's PCI bus: configuration mechanism #1 (PCI Local Bus 3.0,
 * 3.2.2.3.2) on ports 0xCF8 (CONFIG_ADDRESS) and 0xCFC-0xCFF (CONFIG_DATA),
 * bus 0, function 0 of devices 0..VPCI_DEVS-1. Device 0 is a host bridge with
 * nothing to configure; Tern's device models plug their function in with
 * vpci_attach() (virtio-net at 00:01.0). Every other bus, device and
 * function reads all-ones, as an empty slot does.
 *
 * A function is a 256-byte configuration image and a mask of the bits the
 * guest may write: IDs, class, status and capabilities are read-only; the
 * command register, the BARs (writing all-ones reads back the size mask,
 * PCI 3.0 6.2.5.1), the interrupt line and whatever the device model marks
 * writable are not. A BAR is an I/O BAR or a 32-bit non-prefetchable memory
 * BAR (PCI 3.0 6.2.5.1: bit 0 clear, type 00, prefetchable 0); it is decoded
 * while the command register's I/O Space (resp. Memory Space) bit is set
 * and its base is not 0. The guest may move either kind. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VPCI_ADDR_PORT 0xCF8
#define VPCI_DATA_PORT 0xCFC
#define VPCI_DEVS 4 /* device numbers 0..3 on bus 0 exist; the rest are empty */
#define VPCI_CFG_SIZE 256
#define VPCI_BARS 6

/* Configuration header offsets (PCI 3.0 6.1) and bits used here. */
#define VPCI_VENDOR_ID 0x00
#define VPCI_DEVICE_ID 0x02
#define VPCI_COMMAND 0x04
#define VPCI_STATUS 0x06
#define VPCI_REVISION 0x08
#define VPCI_CLASS_PROG 0x09
#define VPCI_HEADER_TYPE 0x0E
#define VPCI_BAR0 0x10
#define VPCI_SUBSYS_VENDOR 0x2C
#define VPCI_SUBSYS_ID 0x2E
#define VPCI_CAP_PTR 0x34
#define VPCI_INT_LINE 0x3C
#define VPCI_INT_PIN 0x3D
#define VPCI_CAP_START 0x40 /* capabilities go after the type 0 header */

#define VPCI_CMD_IO 0x0001
#define VPCI_CMD_MEMORY 0x0002
#define VPCI_CMD_MASTER 0x0004
#define VPCI_CMD_INTX_DISABLE 0x0400
#define VPCI_STATUS_CAP_LIST 0x0010
#define VPCI_BAR_IO 0x1
#define VPCI_BAR_MEM_MIN 16 /* PCI 3.0 6.2.5.1: a memory BAR claims at least 16 bytes */

/* What a device model does for its function. */
struct vpci_ops {
	/* An access to one of its I/O BARs: off from the BAR's base; size 1, 2
	 * or 4. Reads return the value in the low size bytes. */
	uint32_t (*io_read)(void *ctx, int bar, uint32_t off, unsigned size);
	void (*io_write)(void *ctx, int bar, uint32_t off, unsigned size, uint32_t val);
	/* An access to one of its memory BARs: off from the BAR's base; size
	 * 1, 2, 4 or 8, the access wholly inside the BAR. Reads return the
	 * value in the low size bytes. NULL when it has no memory BAR. */
	uint64_t (*mem_read)(void *ctx, int bar, uint32_t off, unsigned size);
	void (*mem_write)(void *ctx, int bar, uint32_t off, unsigned size, uint64_t val);
	/* Config accesses at VPCI_CAP_START or above that the model handles
	 * itself (a window onto its BAR, for instance): true when it did.
	 * Either may be NULL. off is the byte offset, size 1, 2 or 4. */
	bool (*cfg_read)(void *ctx, unsigned off, unsigned size, uint32_t *val);
	bool (*cfg_write)(void *ctx, unsigned off, unsigned size, uint32_t val);
};

struct vpci_func {
	uint8_t cfg[VPCI_CFG_SIZE];
	uint8_t wmask[VPCI_CFG_SIZE]; /* bits the guest may change */
	uint32_t bar_size[VPCI_BARS]; /* a power of two (I/O >= 4, memory >= 16); 0: no BAR */
	uint8_t bar_mem;	      /* bit n: BAR n is a memory BAR */
	const struct vpci_ops *ops;
	void *ctx;
	unsigned cap_last, cap_end; /* the last capability added, and where it ends */
};

struct vpci {
	uint32_t addr; /* the CONFIG_ADDRESS latch */
	struct vpci_func host;
	struct vpci_func *dev[VPCI_DEVS];
};

/* A bus with the host bridge at 00:00.0 and no other device. */
void vpci_init(struct vpci *p);
/* Puts f at 00:devnum.0. 0, -EINVAL for device 0 or out of range, -EBUSY
 * if the slot is taken. */
int vpci_attach(struct vpci *p, unsigned devnum, struct vpci_func *f);
void vpci_detach(struct vpci *p, unsigned devnum);

/* Building a function: a type 0 header with these IDs and class code
 * (class << 16 | subclass << 8 | prog-if), no BAR, nothing writable but
 * the command register and the interrupt line. */
void vpci_func_init(struct vpci_func *f, uint16_t vendor, uint16_t device, uint32_t class_code,
		    uint8_t revision, const struct vpci_ops *ops, void *ctx);
/* An I/O BAR of size bytes (power of two, 4..256) at base (0: unassigned). */
void vpci_func_bar_io(struct vpci_func *f, int bar, uint32_t size, uint16_t base);
/* A 32-bit non-prefetchable memory BAR of size bytes (power of two,
 * VPCI_BAR_MEM_MIN..2 GiB) at base (0: unassigned). */
void vpci_func_bar_mem(struct vpci_func *f, int bar, uint32_t size, uint32_t base);
/* Appends a capability of len bytes (id and next pointer included) to the
 * list; returns its offset, where the caller fills the body. The status
 * register's capability bit is set. */
unsigned vpci_func_add_cap(struct vpci_func *f, uint8_t id, unsigned len);
/* Little-endian access to the image (the device model's own view). */
uint32_t vpci_cfg_get(const struct vpci_func *f, unsigned off, unsigned size);
void vpci_cfg_put(struct vpci_func *f, unsigned off, unsigned size, uint32_t val);
/* Marks size bytes at off guest-writable (all bits). */
void vpci_cfg_writable(struct vpci_func *f, unsigned off, unsigned size);
/* A configuration write as the guest makes it: only the bits the write
 * mask allows change (a device model's cfg_write hook calls it when it
 * wants the write done and then looks at the result). */
void vpci_cfg_guest_write(struct vpci_func *f, unsigned off, unsigned size, uint32_t val);
/* The base of an I/O BAR while it is decoded, else 0 (also for a memory BAR). */
uint16_t vpci_bar_base(const struct vpci_func *f, int bar);
/* The base of a memory BAR while it is decoded, else 0 (also for an I/O BAR). */
uint32_t vpci_bar_mem_base(const struct vpci_func *f, int bar);

/* The guest's port I/O. vpci_handles: the configuration ports. */
bool vpci_handles(uint16_t port);
uint32_t vpci_in(struct vpci *p, uint16_t port, unsigned size);
void vpci_out(struct vpci *p, uint16_t port, unsigned size, uint32_t val);
/* An access to a port some function's I/O BAR decodes: true when one did. */
bool vpci_bar_in(struct vpci *p, uint16_t port, unsigned size, uint32_t *val);
bool vpci_bar_out(struct vpci *p, uint16_t port, unsigned size, uint32_t val);
/* An access to guest-physical gpa that some function's memory BAR decodes
 * (memory space enabled, BAR assigned): true when one did. size 1, 2, 4 or
 * 8; reads fill *val, zero-extended. */
bool vpci_mem_access(struct vpci *p, uint64_t gpa, unsigned size, bool write, uint64_t *val);

/* Migration: the latch and every function's configuration image. Restore
 * takes only the bits the guest could have written; the set of functions
 * must be the same. save returns the length, or -ENOSPC. restore: 0, or
 * -EINVAL for a blob that does not fit this bus (size, version, the set of
 * devices, CONFIG_ADDRESS reserved bits), with nothing changed. */
#define VPCI_STATE_MAX (12 + VPCI_DEVS * (4 + VPCI_CFG_SIZE))
int vpci_save(const struct vpci *p, void *buf, size_t cap);
int vpci_restore(struct vpci *p, const void *buf, size_t len);
