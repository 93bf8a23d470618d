/* MSI-X capability, table and pending bits (see msix.h; PCI 3.0 6.8.2). */
#include <errno.h>
#include <string.h>
#include "kernel/vdev/msix.h"
#include "kernel/vm_irq.h"

#define CTRL_WRITABLE (MSIX_CTRL_MASKALL | MSIX_CTRL_ENABLE)

static uint16_t control(const struct msix *m)
{
	return (uint16_t)vpci_cfg_get(m->pci, m->cap + MSIX_CAP_CONTROL, 2);
}

void msix_init(struct msix *m, struct vm *vm, struct vpci_func *f, unsigned nvec, int bar,
	       uint32_t table_off, uint32_t pba_off)
{
	memset(m, 0, sizeof(*m));
	m->vm = vm;
	m->pci = f;
	m->nvec = nvec;
	m->table_off = table_off;
	m->pba_off = pba_off;
	m->cap = vpci_func_add_cap(f, MSIX_CAP_ID, MSIX_CAP_LEN);
	/* 6.8.2.3-5: table size is N-1; offsets are QWORD aligned, the BIR
	 * in bits 2:0. */
	vpci_cfg_put(f, m->cap + MSIX_CAP_CONTROL, 2, nvec - 1);
	vpci_cfg_put(f, m->cap + MSIX_CAP_TABLE, 4, table_off | (uint32_t)bar);
	vpci_cfg_put(f, m->cap + MSIX_CAP_PBA, 4, pba_off | (uint32_t)bar);
	f->wmask[m->cap + MSIX_CAP_CONTROL + 1] = CTRL_WRITABLE >> 8;
	for (unsigned v = 0; v < nvec; v++)
		m->table[v].ctrl = MSIX_ENTRY_MASKED; /* 6.8.2.9: masked after reset */
}

bool msix_enabled(const struct msix *m)
{
	return control(m) & MSIX_CTRL_ENABLE;
}

static bool masked(const struct msix *m, unsigned v)
{
	return (control(m) & MSIX_CTRL_MASKALL) || (m->table[v].ctrl & MSIX_ENTRY_MASKED);
}

static void send(struct msix *m, unsigned v)
{
	const struct msix_entry *e = &m->table[v];

	vm_msi(m->vm, (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data);
}

void msix_notify(struct msix *m, unsigned vector)
{
	if (vector >= m->nvec || !msix_enabled(m))
		return;
	if (masked(m, vector)) {
		m->pending |= 1u << vector;
		return;
	}
	send(m, vector);
}

/* 6.8.2.9: a pending vector is sent once it is no longer masked. */
static void flush_pending(struct msix *m)
{
	if (!msix_enabled(m))
		return;
	for (unsigned v = 0; v < m->nvec; v++) {
		if ((m->pending & (1u << v)) && !masked(m, v)) {
			m->pending &= ~(1u << v);
			send(m, v);
		}
	}
}

bool msix_cfg_write(struct msix *m, unsigned off, unsigned size, uint32_t val)
{
	unsigned ctl = m->cap + MSIX_CAP_CONTROL;

	if (off + size <= ctl || off >= ctl + 2)
		return false;
	vpci_cfg_guest_write(m->pci, off, size, val);
	flush_pending(m);
	return true;
}

/* The entry field an aligned dword at off (inside the table) is. */
static uint32_t *field(struct msix *m, uint32_t off)
{
	struct msix_entry *e = &m->table[off / MSIX_ENTRY_SIZE];

	switch (off % MSIX_ENTRY_SIZE) {
	case MSIX_ENTRY_ADDR_LO:
		return &e->addr_lo;
	case MSIX_ENTRY_ADDR_HI:
		return &e->addr_hi;
	case MSIX_ENTRY_DATA:
		return &e->data;
	default:
		return &e->ctrl;
	}
}

static uint32_t read32(struct msix *m, uint32_t off)
{
	if (off >= m->table_off && off - m->table_off < m->nvec * MSIX_ENTRY_SIZE)
		return *field(m, off - m->table_off);
	if (off == m->pba_off)
		return m->pending;
	return 0; /* the PBA's upper half, or a hole */
}

static void write32(struct msix *m, uint32_t off, uint32_t val)
{
	if (off < m->table_off || off - m->table_off >= m->nvec * MSIX_ENTRY_SIZE)
		return; /* the PBA is read-only (6.8.2.10) */
	off -= m->table_off;
	switch (off % MSIX_ENTRY_SIZE) {
	case MSIX_ENTRY_ADDR_LO:
		val &= ~3u; /* 6.8.2.6: DWORD aligned, bits 1:0 read 0 */
		break;
	case MSIX_ENTRY_CTRL:
		val &= MSIX_ENTRY_MASKED; /* 6.8.2.9: the rest is reserved */
		break;
	}
	*field(m, off) = val;
	if (off % MSIX_ENTRY_SIZE == MSIX_ENTRY_CTRL)
		flush_pending(m);
}

/* Whether [off, off + size) touches the table or the PBA. */
static bool ours(const struct msix *m, uint32_t off, unsigned size)
{
	uint64_t end = (uint64_t)off + size;

	return (end > m->table_off && off < m->table_off + m->nvec * MSIX_ENTRY_SIZE) ||
	       (end > m->pba_off && off < m->pba_off + 8);
}

bool msix_bar_read(struct msix *m, uint32_t off, unsigned size, uint64_t *val)
{
	if (!ours(m, off, size))
		return false;
	*val = 0;
	if ((size == 4 || size == 8) && off % size == 0) {
		*val = read32(m, off);
		if (size == 8)
			*val |= (uint64_t)read32(m, off + 4) << 32;
	}
	return true;
}

bool msix_bar_write(struct msix *m, uint32_t off, unsigned size, uint64_t val)
{
	if (!ours(m, off, size))
		return false;
	if ((size == 4 || size == 8) && off % size == 0) {
		/* A QWORD write: the low dword first, as a 64-bit bus write
		 * of address and upper address (or data and control) lands. */
		write32(m, off, (uint32_t)val);
		if (size == 8)
			write32(m, off + 4, (uint32_t)(val >> 32));
	}
	return true;
}

/* ---- migration ------------------------------------------------------------ */

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4); /* little-endian, as x86 */
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

int msix_save(const struct msix *m, void *buf, size_t cap)
{
	uint8_t *b = buf;

	if (cap < MSIX_STATE_LEN(m->nvec))
		return -ENOSPC;
	put32(b, control(m) | (uint32_t)m->nvec << 16);
	put32(b + 4, m->pending);
	for (unsigned v = 0; v < m->nvec; v++) {
		const struct msix_entry *e = &m->table[v];
		uint8_t *p = b + 8 + MSIX_ENTRY_SIZE * v;
		put32(p + MSIX_ENTRY_ADDR_LO, e->addr_lo);
		put32(p + MSIX_ENTRY_ADDR_HI, e->addr_hi);
		put32(p + MSIX_ENTRY_DATA, e->data);
		put32(p + MSIX_ENTRY_CTRL, e->ctrl);
	}
	return (int)MSIX_STATE_LEN(m->nvec);
}

int msix_check(const struct msix *m, const void *buf, size_t len, const char **why)
{
	const uint8_t *b = buf;

	*why = "malformed MSI-X state";
	if (len != MSIX_STATE_LEN(m->nvec) || get32(b) >> 16 != m->nvec)
		return -EINVAL;
	uint16_t ctl = (uint16_t)get32(b);
	uint32_t pending = get32(b + 4);
	if ((ctl & ~CTRL_WRITABLE) != (control(m) & ~CTRL_WRITABLE))
		return *why = "MSI-X control bits this function does not have", -EINVAL;
	if (m->nvec < 32 && pending >> m->nvec)
		return *why = "MSI-X pending bits past the table", -EINVAL;
	for (unsigned v = 0; v < m->nvec; v++) {
		const uint8_t *p = b + 8 + MSIX_ENTRY_SIZE * v;
		uint32_t ectl = get32(p + MSIX_ENTRY_CTRL);
		if ((get32(p + MSIX_ENTRY_ADDR_LO) & 3) || (ectl & ~MSIX_ENTRY_MASKED))
			return *why = "MSI-X table entry with reserved bits set", -EINVAL;
		bool is_masked = (ctl & MSIX_CTRL_MASKALL) || (ectl & MSIX_ENTRY_MASKED);
		if ((pending & (1u << v)) && (ctl & MSIX_CTRL_ENABLE) && !is_masked)
			return *why = "MSI-X vector pending while unmasked", -EINVAL;
	}
	return 0;
}

void msix_load(struct msix *m, const void *buf)
{
	const uint8_t *b = buf;

	vpci_cfg_put(m->pci, m->cap + MSIX_CAP_CONTROL, 2, get32(b) & 0xFFFF);
	m->pending = get32(b + 4);
	for (unsigned v = 0; v < m->nvec; v++) {
		const uint8_t *p = b + 8 + MSIX_ENTRY_SIZE * v;
		m->table[v] = (struct msix_entry){
			get32(p + MSIX_ENTRY_ADDR_LO), get32(p + MSIX_ENTRY_ADDR_HI),
			get32(p + MSIX_ENTRY_DATA), get32(p + MSIX_ENTRY_CTRL)};
	}
}
