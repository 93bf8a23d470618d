/* Register behaviour follows the PC16550D datasheet: THR/RBR, LSR, the
 * divisor latch, scratch, read-back of the control registers, and the
 * received-data and THR-empty interrupts with the IIR naming the pending
 * one (datasheet table IV). Bytes leave at once, so the THR is empty again
 * right after each write; Linux's 8250 driver transmits only when the IIR
 * shows "THR empty", from its interrupt handler. */
#include <errno.h>
#include <string.h>
#include "drivers/uart16550.h"
#include "kernel/vdev/uart.h"

#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define IIR_NO_INT 0x01
#define IIR_THRE 0x02
#define IIR_RDA 0x04
#define IER_ERBFI 0x01
#define IER_ETBEI 0x02
#define IIR_FIFO 0xC0
#define MSR_CTS_DSR_DCD 0xB0
#define IER_MASK 0x0F /* the four interrupt enables; bits 4-7 read 0 */
#define MCR_MASK 0x1F /* DTR RTS OUT1 OUT2 LOOP */

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

bool vuart_intr(const struct vdev_uart *u)
{
	return ((u->ier & IER_ERBFI) && u->rx_len) || ((u->ier & IER_ETBEI) && u->thre_pending);
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

unsigned vuart_escape(uint8_t ch, bool attached, char *out)
{
	static const char hex[] = "0123456789abcdef";

	if (ch == '\r' && !attached)
		return 0; /* the console adds its own CR */
	if ((ch >= 0x20 && ch < 0x7F) || ch == '\n' || ch == '\t' || (ch == '\r' && attached)) {
		out[0] = (char)ch;
		return 1;
	}
	out[0] = '\\', out[1] = 'x', out[2] = hex[ch >> 4], out[3] = hex[ch & 15];
	return 4;
}

static void tx(struct vdev_uart *u, uint8_t ch)
{
	char e[VUART_ESC_MAX];
	unsigned n = vuart_escape(ch, u->attached, e);

	u->tx_bytes++;
	if (!n)
		return;
	if (u->attached) {
		vuart_emit(e, n); /* interactive: no buffering */
		return;
	}
	if (u->line_len + n > VUART_LINE_MAX)
		vuart_flush(u);
	memcpy(u->line + u->line_len, e, n);
	u->line_len += n;
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
	case UART_FCR: { /* reads as IIR: the highest-priority source */
		uint8_t fifo = u->fcr & 1 ? IIR_FIFO : 0;
		if ((u->ier & IER_ERBFI) && u->rx_len)
			return IIR_RDA | fifo;
		if ((u->ier & IER_ETBEI) && u->thre_pending) {
			u->thre_pending = false; /* reading IIR clears a THRE source */
			return IIR_THRE | fifo;
		}
		return IIR_NO_INT | fifo;
	}
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
		/* Sent at once: the THR is empty again. */
		u->thre_pending = true;
		break;
	case UART_IER:
		if (dlab)
			u->dlm = v;
		else {
			/* Enabling ETBEI with the THR empty raises THRE at once. */
			if ((v & IER_ETBEI) && !(u->ier & IER_ETBEI))
				u->thre_pending = true;
			u->ier = v & IER_MASK;
		}
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
		u->mcr = v & MCR_MASK;
		break;
	case UART_SCR:
		u->scr = v;
		break;
	}
}

/* ---- migration ----------------------------------------------------------- */

struct uart_blob {
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr, pad;
	uint16_t rx_len;
	uint8_t rx[VUART_RX_SIZE];
} __attribute__((packed));

_Static_assert(sizeof(struct uart_blob) == VUART_STATE_LEN, "blob size");

int vuart_save(const struct vdev_uart *u, void *buf, size_t cap)
{
	struct uart_blob b;

	if (cap < sizeof(b))
		return -ENOSPC;
	memset(&b, 0, sizeof(b));
	b.ier = u->ier, b.lcr = u->lcr, b.mcr = u->mcr, b.scr = u->scr;
	b.dll = u->dll, b.dlm = u->dlm, b.fcr = u->fcr;
	b.rx_len = u->rx_len;
	for (unsigned i = 0; i < u->rx_len; i++)
		b.rx[i] = u->rx[(u->rx_head + i) % VUART_RX_SIZE];
	memcpy(buf, &b, sizeof(b));
	return sizeof(b);
}

int vuart_restore(struct vdev_uart *u, const void *buf, size_t len, const char **why)
{
	struct uart_blob b;
	const char *bad = NULL;

	if (len != sizeof(b)) {
		bad = "wrong blob length";
	} else {
		memcpy(&b, buf, sizeof(b)); /* the stream gives no alignment guarantee */
		if (b.rx_len > VUART_RX_SIZE)
			bad = "more input waiting than the FIFO holds";
		else if (b.ier & ~IER_MASK)
			bad = "reserved IER bits set";
		else if (b.mcr & ~MCR_MASK)
			bad = "reserved MCR bits set";
		else if (b.pad)
			bad = "non-zero padding";
	}
	if (bad) {
		if (why)
			*why = bad;
		return -EINVAL;
	}
	u->ier = b.ier, u->lcr = b.lcr, u->mcr = b.mcr, u->scr = b.scr;
	/* Not in the blob: a spare THRE after a move only makes the driver
	 * look at an empty THR once more. */
	u->thre_pending = true;
	u->dll = b.dll, u->dlm = b.dlm, u->fcr = b.fcr;
	memcpy(u->rx, b.rx, b.rx_len);
	u->rx_head = 0;
	u->rx_len = b.rx_len;
	return 0;
}
