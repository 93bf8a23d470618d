/* libFuzzer targets for the guest-facing port space: the same dispatch as
 * kernel/vm.c (UART, PCI configuration mechanism #1, then the I/O BARs the
 * guest's PCI functions decode) over a fake VM whose RAM is a host buffer,
 * with a real virtio-net on a real vswitch. Built three times, one per
 * device, by FUZZ_TARGET:
 *   1 pci     ports 0xCF8-0xCFF: CONFIG_ADDRESS/DATA, BAR sizing, every
 *             function's configuration space (the virtio PCI_CFG window too)
 *   2 virtio  the PCI ports and virtio-net's BAR0 (common configuration,
 *             notify, ISR, device configuration), with rings and buffers
 *             the input writes into guest RAM, and frames from the uplink;
 *             kind 1 is guest MMIO on its memory BAR (the MSI-X table and
 *             pending bits), sizes 1, 2, 4, 8
 *   3 uart    COM1 0x3F8-0x3FF, and every byte it prints is checked to be
 *             what the console filter may pass
 * Input: a sequence of 8-byte operations {u8 op, u8 port, u16 hi, u32 value}:
 * op bits 0-1 size (1, 2, 4, 4), bit 2 in (else out), bits 3-4 the kind
 * (0-1 port I/O, 2 a 32-bit write into guest RAM at (hi << 8 | port) * 4,
 * 3 a frame from the uplink). Any sanitizer report or trap is a crash. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/vm.h"
#include "kernel/vm_irq.h"
#include "net/guest_port.h"
#include "net/vswitch.h"

#ifndef FUZZ_TARGET
#error "FUZZ_TARGET must be 1 (pci), 2 (virtio) or 3 (uart)"
#endif

#define RAM (1u << 20)

static struct vm vm;
static uint8_t *ram;
static struct vswitch sw;
static int uplink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- what the kernel provides ----------------------------------------------- */

void *vm_gpa_ptr(struct vm *v, uint64_t gpa)
{
	return gpa < v->mem_bytes ? ram + gpa : NULL;
}

int vm_gpa_read(struct vm *v, uint64_t gpa, void *buf, uint64_t len)
{
	if (gpa > v->mem_bytes || len > v->mem_bytes - gpa)
		return -EFAULT;
	memcpy(buf, ram + gpa, len);
	return 0;
}

int vm_gpa_write(struct vm *v, uint64_t gpa, const void *buf, uint64_t len)
{
	if (gpa > v->mem_bytes || len > v->mem_bytes - gpa)
		return -EFAULT;
	memcpy(ram + gpa, buf, len);
	return 0;
}

struct vswitch *net_vswitch(void)
{
	return &sw;
}

/* MSI-X messages go nowhere here; what matters is that none is sent for a
 * vector past the table (msix.c never indexes past it). */
void vm_msi(struct vm *v, uint64_t addr, uint32_t data)
{
	(void)v, (void)addr, (void)data;
}

/* The console: the filter's promise is that nothing but printable ASCII,
 * newline and tab ever reaches the operator's terminal. */
void vuart_emit(const char *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7F)))
			__builtin_trap();
	}
}

void vuart_line_start(void) {}

static int wire_tx(void *ctx, const uint8_t *frame, size_t len)
{
	(void)ctx, (void)frame, (void)len;
	return 0;
}

/* ---- the port space, dispatched as kernel/vm.c does ------------------------- */

static uint32_t io_in(uint16_t port, unsigned size)
{
	uint32_t val;

	if (vuart_handles(port))
		return vuart_in(&vm.uart, port);
	if (vpci_handles(port))
		return vpci_in(&vm.pci, port, size);
	if (vpci_bar_in(&vm.pci, port, size, &val))
		return val;
	/* no device: the bus floats high (kernel/vm.c masks this to the
	 * access's width) */
	return size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
}

static void io_out(uint16_t port, unsigned size, uint32_t val)
{
	if (vuart_handles(port))
		vuart_out(&vm.uart, port, val);
	else if (vpci_handles(port))
		vpci_out(&vm.pci, port, size, val);
	else
		vpci_bar_out(&vm.pci, port, size, val);
}

/* The port an operation names, inside this target's devices. */
static uint16_t target_port(uint8_t sel, uint16_t hi)
{
	(void)hi;
#if FUZZ_TARGET == 1
	return VPCI_ADDR_PORT + (sel & 7);
#elif FUZZ_TARGET == 2
	/* Mostly the BAR wherever the guest moved it, sometimes config. */
	if (sel & 0x80)
		return VPCI_ADDR_PORT + (sel & 7);
	uint16_t base = vpci_bar_base(&vm.net.vp.pci, 0);
	return (base ? base : VNET_IO_BASE) + (sel & 0x7F);
#else
	return VUART_BASE + (sel & 7);
#endif
}

#if FUZZ_TARGET == 2
/* Guest MMIO at off into BAR1 wherever the guest moved it (or where Tern
 * put it), as kernel/vm_mmio.c hands it to the PCI bus; off may run past
 * the BAR's end. */
static void mmio(uint8_t op, uint16_t off, uint32_t val)
{
	static const unsigned sizes[4] = {1, 2, 4, 8};
	uint32_t base = vpci_bar_mem_base(&vm.net.vp.pci, VIRTIO_PCI_MSIX_BAR);
	uint64_t gpa = (base ? base : VNET_MSIX_BASE) + off % (VIRTIO_PCI_MSIX_BAR_SIZE + 8);
	unsigned sz = sizes[op & 3];
	uint64_t v = (uint64_t)val << 32 | val;

	if (op & 4) {
		if (vpci_mem_access(&vm.pci, gpa, sz, false, &v) && sz < 8 && v >> (8 * sz))
			__builtin_trap(); /* more bits than the access has */
	} else {
		vpci_mem_access(&vm.pci, gpa, sz, true, &v);
	}
}
#endif

static void setup(void)
{
	if (!ram) {
		ram = calloc(1, RAM);
		if (!ram)
			abort();
	}
	memset(ram, 0, RAM);
	memset(&vm, 0, sizeof(vm));
	vm.used = true;
	strcpy(vm.name, "fuzz");
	vm.mem_bytes = RAM;
	vm.npages = RAM / 4096;
	vm.state = VM_RUNNING;
	memcpy(vm.mac, "\x52\x54\x00\x12\x34\x56", 6);
	vswitch_init(&sw);
	uplink = vswitch_port_add(&sw, VSWITCH_PORT_UPLINK, "uplink", wire_tx, NULL);
	vuart_init(&vm.uart, vm.name);
	vpci_init(&vm.pci);
	if (vnet_init(&vm.net, &vm, &vm.pci))
		abort();
}

static void uplink_frame(uint32_t val, uint16_t len)
{
	uint8_t f[VNET_FRAME_MAX + 64];

	len %= sizeof(f);
	memset(f, (uint8_t)val, len);
	if (len >= 12) {
		memcpy(f, val & 1 ? "\xff\xff\xff\xff\xff\xff" : (const char *)vm.mac, 6);
		memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
	}
	vswitch_input(&sw, uplink, f, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned sizes[4] = {1, 2, 4, 4};

	setup();
	for (size_t i = 0; i + 8 <= size; i += 8) {
		const uint8_t *o = data + i;
		uint16_t hi = (uint16_t)(o[2] | o[3] << 8);
		uint32_t val = o[4] | o[5] << 8 | o[6] << 16 | (uint32_t)o[7] << 24;
		unsigned sz = sizes[o[0] & 3];
		unsigned kind = (o[0] >> 3) & 3;

		if (kind == 2) {
			uint32_t off = (((uint32_t)hi << 8 | o[1]) * 4) % RAM;
			memcpy(ram + off, &val, 4);
		} else if (kind == 3) {
			uplink_frame(val, hi);
#if FUZZ_TARGET == 2
		} else if (kind == 1) {
			mmio(o[0], hi, val);
#endif
		} else if (o[0] & 4) {
			uint32_t v = io_in(target_port(o[1], hi), sz);
			if (sz < 4 && v >> (8 * sz))
				__builtin_trap(); /* more bits than the access has */
		} else {
			io_out(target_port(o[1], hi), sz,
			       sz == 4 ? val : val & ((1u << (8 * sz)) - 1));
		}
		vnet_poll(&vm.net);
	}
	vuart_flush(&vm.uart);
	vnet_destroy(&vm.net);
	return 0;
}
