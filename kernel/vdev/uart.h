/* A 16550-compatible UART for a guest at 0x3F8 (COM1). Its interrupt line
 * (INTR, vuart_intr) is up while the IIR names a pending source; the VM
 * wires it to I/O APIC pin 4, ISA's COM1 IRQ. Output goes to the Tern console, a line at a time,
 * prefixed "[NAME] "; input comes from `vm console NAME`.
 *
 * The guest's bytes reach the operator's terminal filtered: printable ASCII,
 * newline and tab pass, every other byte is shown escaped as \xNN, so no
 * escape sequence or control character can erase the prefix, move the
 * cursor or forge a line of Tern's own. While attached (`vm console`),
 * carriage return passes too. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VUART_BASE 0x3F8
#define VUART_RX_SIZE 256
#define VUART_LINE_MAX 160 /* bytes of filtered output per console line */
#define VUART_ESC_MAX 4	   /* the longest form of one byte: \xNN */

struct vdev_uart {
	const char *owner; /* the VM name, for the prefix */
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	uint8_t rx[VUART_RX_SIZE];
	uint16_t rx_head, rx_len;
	char line[VUART_LINE_MAX];
	uint16_t line_len;
	bool attached; /* `vm console` is on: raw output, no prefix */
	bool thre_pending; /* the IIR would report "THR empty" */
	uint64_t tx_bytes;
};

void vuart_init(struct vdev_uart *u, const char *owner);
/* The console form of one guest byte into out (VUART_ESC_MAX bytes):
 * returns its length, 0 for a byte that is dropped (a CR while not
 * attached: the console ends lines itself). */
unsigned vuart_escape(uint8_t ch, bool attached, char *out);
bool vuart_handles(uint16_t port);
/* INTR: an enabled source is pending (received data, THR empty). As on
 * QEMU's 16550, MCR.OUT2 does not gate it. */
bool vuart_intr(const struct vdev_uart *u);
#define VUART_IRQ 4 /* COM1's ISA IRQ, the I/O APIC pin it drives */
uint32_t vuart_in(struct vdev_uart *u, uint16_t port);
void vuart_out(struct vdev_uart *u, uint16_t port, uint32_t value);
/* Queues a byte for the guest to read; false if its FIFO is full. */
bool vuart_rx_push(struct vdev_uart *u, uint8_t ch);
/* Prints a partial line still buffered (before detaching, or on destroy). */
void vuart_flush(struct vdev_uart *u);
/* Output sink (the console); replaced in host unit tests. */
void vuart_emit(const char *s, unsigned n);
void vuart_line_start(void);

/* Migration: the registers and the unread input, little-endian, fixed
 * size: u8 ier, lcr, mcr, scr, dll, dlm, fcr, pad(0), le16 rx_len, u8
 * rx[VUART_RX_SIZE]. save: the length or -ENOSPC. restore: 0, or -EINVAL
 * for a blob the registers could not hold (bits a write masks off, more
 * input than the FIFO, a non-zero pad), with nothing changed. */
#define VUART_STATE_LEN (10 + VUART_RX_SIZE)
int vuart_save(const struct vdev_uart *u, void *buf, size_t cap);
/* -EINVAL and *why (when why is not NULL) for a state the 16550 could
 * never hold; nothing changed then. */
int vuart_restore(struct vdev_uart *u, const void *buf, size_t len, const char **why);
