/* Register behaviour follows the PC16550D datasheet, reduced to what a
 * polled driver needs: THR/RBR, LSR, the divisor latch, scratch, and
 * read-back of the control registers. No interrupts are ever raised. */
#include <string.h>
#include "drivers/uart16550.h"
#include "kernel/vdev/uart.h"

#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define IIR_NO_INT 0x01
#define IIR_FIFO 0xC0
#define MSR_CTS_DSR_DCD 0xB0

void vuart_init(struct vdev_uart *u, const char *owner)
{
	memset(u, 0, sizeof(*u));
	u->owner = owner;
	u->lcr = UART_LCR_8N1;
}

bool vuart_handles(uint16_t port)
{
	return port >= VUART_BASE && port < VUART_BASE + 8;
}

void vuart_flush(struct vdev_uart *u)
{
	if (!u->line_len)
		return;
	if (!u->attached) {
		vuart_line_start();
		vuart_emit("[", 1);
		vuart_emit(u->owner, strlen(u->owner));
		vuart_emit("] ", 2);
	}
	vuart_emit(u->line, u->line_len);
	if (!u->attached && u->line[u->line_len - 1] != '\n')
		vuart_emit("\n", 1);
	u->line_len = 0;
}

static void tx(struct vdev_uart *u, uint8_t ch)
{
	u->tx_bytes++;
	if (ch == '\r' && !u->attached)
		return; /* the console adds its own CR */
	if (u->attached) {
		vuart_emit((const char *)&ch, 1); /* interactive: no buffering */
		return;
	}
	u->line[u->line_len++] = ch;
	if (ch == '\n' || u->line_len == VUART_LINE_MAX)
		vuart_flush(u);
}

bool vuart_rx_push(struct vdev_uart *u, uint8_t ch)
{
	if (u->rx_len == VUART_RX_SIZE)
		return false;
	u->rx[(u->rx_head + u->rx_len) % VUART_RX_SIZE] = ch;
	u->rx_len++;
	return true;
}

uint32_t vuart_in(struct vdev_uart *u, uint16_t port)
{
	bool dlab = u->lcr & UART_LCR_DLAB;

	switch (port - VUART_BASE) {
	case UART_RBR:
		if (dlab)
			return u->dll;
		if (!u->rx_len)
			return 0;
		uint8_t ch = u->rx[u->rx_head];
		u->rx_head = (u->rx_head + 1) % VUART_RX_SIZE;
		u->rx_len--;
		return ch;
	case UART_IER:
		return dlab ? u->dlm : u->ier;
	case UART_FCR: /* reads as IIR */
		return IIR_NO_INT | (u->fcr & 1 ? IIR_FIFO : 0);
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		return LSR_THRE | LSR_TEMT | (u->rx_len ? LSR_DR : 0);
	case 6: /* MSR: modem lines up, so drivers that wait for CTS proceed */
		return MSR_CTS_DSR_DCD;
	case UART_SCR:
		return u->scr;
	}
	return 0xFF;
}

void vuart_out(struct vdev_uart *u, uint16_t port, uint32_t value)
{
	uint8_t v = value;
	bool dlab = u->lcr & UART_LCR_DLAB;

	switch (port - VUART_BASE) {
	case UART_THR:
		if (dlab)
			u->dll = v;
		else
			tx(u, v);
		break;
	case UART_IER:
		if (dlab)
			u->dlm = v;
		else
			u->ier = v & 0x0F;
		break;
	case UART_FCR:
		u->fcr = v;
		if (v & 2) /* clear the receive FIFO */
			u->rx_len = 0;
		break;
	case UART_LCR:
		u->lcr = v;
		break;
	case UART_MCR:
		u->mcr = v & 0x1F;
		break;
	case UART_SCR:
		u->scr = v;
		break;
	}
}
