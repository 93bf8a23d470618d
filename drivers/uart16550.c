#include "drivers/uart16550.h"
#include "arch/x86/asm.h"

#define UART_CLOCK 115200

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
	for (int i = 0; i < 100000 && !(inb(port + UART_LSR) & UART_LSR_THRE); i++)
		cpu_relax();
	outb(port + UART_THR, (uint8_t)c);
}

int uart_getc(uint16_t port)
{
	if (!(inb(port + UART_LSR) & UART_LSR_DR))
		return -1;
	return inb(port + UART_RBR);
}
