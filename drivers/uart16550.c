#include "drivers/uart16550.h"
#include "arch/x86/asm.h"

#define UART_CLOCK 115200
#define RX_RING 256

/* Bytes received while Tern was busy transmitting. A 16550 holds only 16
 * and drops the rest (overrun), and an emulator delivers input while we
 * print, so the transmit wait drains the receiver into this ring. Only
 * the console port uses it (one UART is driven by Tern). */
static uint8_t rx_ring[RX_RING];
static unsigned rx_head, rx_len;

static void drain_rx(uint16_t port)
{
	while ((inb(port + UART_LSR) & UART_LSR_DR) && rx_len < RX_RING) {
		rx_ring[(rx_head + rx_len) % RX_RING] = inb(port + UART_RBR);
		rx_len++;
	}
}

void uart_init(uint16_t port, uint32_t baud)
{
	uint16_t div = UART_CLOCK / baud;

	outb(port + UART_IER, 0x00); /* polled: no interrupts */
	outb(port + UART_LCR, UART_LCR_DLAB);
	outb(port + UART_DLL, div & 0xff);
	outb(port + UART_DLM, div >> 8);
	outb(port + UART_LCR, UART_LCR_8N1);
	outb(port + UART_FCR, 0x07); /* enable and clear both FIFOs */
	outb(port + UART_MCR, 0x03); /* DTR, RTS */
}

/* The scratch register echoes what is written only when a UART is there. */
bool uart_present(uint16_t port)
{
	outb(port + UART_SCR, 0x5a);
	return inb(port + UART_SCR) == 0x5a;
}

void uart_putc(uint16_t port, char c)
{
	/* Bounded wait: a missing or wedged UART must not hang the machine. */
	for (int i = 0; i < 100000 && !(inb(port + UART_LSR) & UART_LSR_THRE); i++) {
		drain_rx(port);
		cpu_relax();
	}
	outb(port + UART_THR, (uint8_t)c);
	drain_rx(port);
}

int uart_getc(uint16_t port)
{
	if (rx_len) {
		uint8_t c = rx_ring[rx_head];
		rx_head = (rx_head + 1) % RX_RING;
		rx_len--;
		return c;
	}
	if (!(inb(port + UART_LSR) & UART_LSR_DR))
		return -1;
	return inb(port + UART_RBR);
}
