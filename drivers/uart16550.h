/* 16550 UART, polled. COM1 at 0x3F8 is Tern's operator console. */
#pragma once
#include <stdint.h>
#include <stdbool.h>

#define COM1_PORT 0x3F8

/* Registers, offsets from the base port (PC16550D datasheet). */
#define UART_RBR 0 /* receive buffer (read, DLAB=0) */
#define UART_THR 0 /* transmit holding (write, DLAB=0) */
#define UART_DLL 0 /* divisor latch low (DLAB=1) */
#define UART_IER 1
#define UART_DLM 1 /* divisor latch high (DLAB=1) */
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_SCR 7

#define UART_LCR_8N1 0x03
#define UART_LCR_DLAB 0x80
#define UART_LSR_DR 0x01   /* data ready */
#define UART_LSR_THRE 0x20 /* transmit holding register empty */

void uart_init(uint16_t port, uint32_t baud);
void uart_putc(uint16_t port, char c);
/* Returns the next received byte, or -1 when none is waiting. */
int uart_getc(uint16_t port);
bool uart_present(uint16_t port);
