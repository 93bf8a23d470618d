/* A 16550-compatible UART for a guest at 0x3F8 (COM1), polled by the guest
 * (no interrupts). Output goes to the Tern console, a line at a time,
 * prefixed "[NAME] "; input comes from `vm console NAME`. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define VUART_BASE 0x3F8
#define VUART_RX_SIZE 256
#define VUART_LINE_MAX 160

struct vdev_uart {
	const char *owner; /* the VM name, for the prefix */
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	uint8_t rx[VUART_RX_SIZE];
	uint16_t rx_head, rx_len;
	char line[VUART_LINE_MAX];
	uint16_t line_len;
	bool attached; /* `vm console` is on: raw output, no prefix */
	uint64_t tx_bytes;
};

void vuart_init(struct vdev_uart *u, const char *owner);
bool vuart_handles(uint16_t port);
uint32_t vuart_in(struct vdev_uart *u, uint16_t port);
void vuart_out(struct vdev_uart *u, uint16_t port, uint32_t value);
/* Queues a byte for the guest to read; false if its FIFO is full. */
bool vuart_rx_push(struct vdev_uart *u, uint8_t ch);
/* Prints a partial line still buffered (before detaching, or on destroy). */
void vuart_flush(struct vdev_uart *u);
/* Output sink (the console); replaced in host unit tests. */
void vuart_emit(const char *s, unsigned n);
void vuart_line_start(void);
