/* 16550 UART at COM1, polled: no interrupts, no FIFO assumptions beyond
 * LSR.THRE. Registers: PC16550D datasheet, table II. */
#include "uart.h"
#include "cpu.h"
#include "fmt.h"

#define COM1 0x3F8
#define UART_RBR 0 /* receive buffer (read, DLAB=0) */
#define UART_THR 0 /* transmit holding (write, DLAB=0) */
#define UART_DLL 0 /* divisor latch low (DLAB=1) */
#define UART_IER 1 /* interrupt enable (DLAB=0) */
#define UART_DLM 1 /* divisor latch high (DLAB=1) */
#define UART_FCR 2 /* FIFO control (write) */
#define UART_LCR 3 /* line control */
#define UART_MCR 4 /* modem control */
#define UART_LSR 5 /* line status */

#define UART_LCR_8N1 0x03
#define UART_LCR_DLAB 0x80
#define UART_FCR_ENABLE_CLEAR 0x07
#define UART_MCR_DTR_RTS 0x03 /* OUT2 stays 0: no interrupt line */
#define UART_LSR_DR 0x01
#define UART_LSR_THRE 0x20

void uart_init(void)
{
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, UART_LCR_DLAB);
	outb(COM1 + UART_DLL, 1); /* 115200 baud */
	outb(COM1 + UART_DLM, 0);
	outb(COM1 + UART_LCR, UART_LCR_8N1);
	outb(COM1 + UART_FCR, UART_FCR_ENABLE_CLEAR);
	outb(COM1 + UART_MCR, UART_MCR_DTR_RTS);
}

static void uart_put_raw(char c)
{
	while (!(inb(COM1 + UART_LSR) & UART_LSR_THRE))
		cpu_relax();
	outb(COM1 + UART_THR, (uint8_t)c);
}

void uart_putc(char c)
{
	if (c == '\n')
		uart_put_raw('\r');
	uart_put_raw(c);
}

bool uart_try_getc(char *c)
{
	if (!(inb(COM1 + UART_LSR) & UART_LSR_DR))
		return false;
	*c = (char)inb(COM1 + UART_RBR);
	return true;
}

static void uart_sink(void *ctx, char c)
{
	(void)ctx;
	uart_putc(c);
}

void uart_vprintf(const char *fmt, va_list ap)
{
	fmt_vformat(uart_sink, 0, fmt, ap);
}

void uart_printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	uart_vprintf(fmt, ap);
	va_end(ap);
}
