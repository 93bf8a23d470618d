/* The harness the virtio-net tests share (test_virtio_net.c: the bus, the
 * transport, the queues, MSI-X, broken drivers; test_virtio_net_state.c:
 * the device's state as a migration moves it): a fake VM whose RAM is a
 * host buffer, a real vswitch with one uplink port ("the wire"), every MSI
 * recorded, and a test "driver" that drives the device the way a guest
 * does. setup/teardown give each test a fresh VM g1 on a fresh switch. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel/vm.h"
#include "net/vswitch.h"

#define RAM (4u << 20)
#define BAR VNET_IO_BASE
#define QSIZE 8
/* Where the test's "driver" keeps its rings and buffers. */
#define RX_DESC 0x10000
#define RX_AVAIL 0x11000
#define RX_USED 0x12000
#define TX_DESC 0x14000
#define TX_AVAIL 0x15000
#define TX_USED 0x16000
#define RX_BUF 0x20000
#define TX_BUF 0x40000
#define BUF_LEN 0x800
#define MSIX VNET_MSIX_BASE
#define ENTRY(v, f) (VIRTIO_PCI_MSIX_TABLE + MSIX_ENTRY_SIZE * (v) + (f))

/* Frames the switch sent out of its uplink port. */
struct vnet_wire {
	int frames;
	uint8_t last[2048];
	size_t len;
};

/* Every MSI the device sent, in order. */
struct vnet_msi {
	int n;
	struct vm *vm[16];
	uint64_t addr[16];
	uint32_t data[16];
};

/* vm is the test's guest; vm2 the destination of a move (its RAM is ram2). */
extern struct vm vm, vm2;
extern uint8_t *ram, *ram2;
extern struct vswitch sw;
extern int peer; /* the uplink port */
extern struct vnet_wire wire;
extern struct vnet_msi msi;
extern const uint8_t guest_mac[6], peer_mac[6];

/* Configuration space (CONFIG_ADDRESS/DATA), BAR0 ports, guest memory. */
uint32_t cfg_in(struct vm *v, unsigned dev, unsigned off, unsigned size);
void cfg_out(struct vm *v, unsigned dev, unsigned off, unsigned size, uint32_t val);
uint32_t in(struct vm *v, unsigned off, unsigned size);
void out(struct vm *v, unsigned off, unsigned size, uint32_t val);
void put16(struct vm *v, uint64_t gpa, uint16_t x);
uint16_t get16(struct vm *v, uint64_t gpa);
uint32_t get32(struct vm *v, uint64_t gpa);
/* Rings: a descriptor, an offered head, a queue's addresses (enabled). */
void desc(struct vm *v, uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
	  uint16_t next);
void offer(struct vm *v, uint64_t avail, uint16_t head);
void queue(struct vm *v, unsigned q, uint64_t d, uint64_t a, uint64_t u);
/* The driver's start-up with features lo/hi; returns the status read back. */
uint8_t driver_up(struct vm *v, uint32_t lo, uint32_t hi);
/* n receive buffers of BUF_LEN offered. */
void post_rx(struct vm *v, unsigned n);
/* A frame from the guest: header + frame in tx buffer slot, notified. */
void send_frame(struct vm *v, unsigned slot, const uint8_t *frame, size_t len);
/* Frames into f, returning their length: the guest's ARP request, and a
 * 100-byte frame from the peer to the guest filled with tag. */
size_t arp_from_guest(uint8_t *f);
size_t frame_to_guest(uint8_t *f, uint8_t tag);
/* A running VM with RAM bytes of memory at *mem and its virtio-net. */
void make_vm(struct vm *v, uint8_t **mem, const char *name);
int setup(void **state);
int teardown(void **state);
/* The memory BAR (MSI-X table and PBA). */
uint64_t mem_in(struct vm *v, uint64_t gpa, unsigned size);
void mem_out(struct vm *v, uint64_t gpa, unsigned size, uint64_t val);
bool mem_decoded(struct vm *v, uint64_t gpa, unsigned size);
unsigned msix_cap_of(struct vm *v);
void msix_control(struct vm *v, uint16_t ctl);
void program(struct vm *v, unsigned vec, uint32_t data, bool masked);
void msix_up(struct vm *v);
