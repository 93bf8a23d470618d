/* Split virtqueues on guest memory (see virtqueue.h; virtio 1.1, 2.6). The
 * layouts, little-endian like x86 itself:
 *   descriptor (2.6.5)  le64 addr, le32 len, le16 flags, le16 next
 *   available (2.6.6)   le16 flags, le16 idx, le16 ring[size], (le16 used_event)
 *   used (2.6.8)        le16 flags, le16 idx, {le32 id, le32 len} ring[size], (le16 avail_event) */
#include <errno.h>
#include <string.h>
#include "kernel/vdev/virtqueue.h"
#include "kernel/vm.h"

#define DESC_LEN 16
#define AVAIL_RING 4
#define USED_RING 4
#define USED_ELEM 8

static bool inside(const struct vm *vm, uint64_t gpa, uint64_t len)
{
	return gpa <= vm->mem_bytes && len <= vm->mem_bytes - gpa;
}

int vq_check(struct vm *vm, const struct virtq *q, const char **why)
{
	uint64_t n = q->size;

	if (!n || n > VQ_SIZE_MAX || (n & (n - 1)))
		return *why = "queue size is not a power of two up to 256", -EINVAL;
	if (q->desc % 16 || q->avail % 2 || q->used % 4)
		return *why = "a ring is misaligned", -EINVAL;
	/* The event-index words (2.6.7, 2.6.9) are counted in although the
	 * feature is never offered: a driver lays the rings out with them. */
	if (!inside(vm, q->desc, DESC_LEN * n) || !inside(vm, q->avail, AVAIL_RING + 2 * n + 2) ||
	    !inside(vm, q->used, USED_RING + USED_ELEM * n + 2))
		return *why = "a ring lies outside guest RAM", -EINVAL;
	return 0;
}

static uint16_t read16(struct vm *vm, uint64_t gpa)
{
	uint16_t v = 0;
	vm_gpa_read(vm, gpa, &v, 2); /* inside RAM: vq_check said so */
	return v;
}

bool vq_has_avail(struct vm *vm, const struct virtq *q)
{
	return read16(vm, q->avail + 2) != q->last_avail;
}

int vq_pop(struct vm *vm, struct virtq *q, struct vq_chain *c, const char **why)
{
	uint16_t avail_idx = read16(vm, q->avail + 2);

	if (avail_idx == q->last_avail)
		return 0;
	/* The driver can be at most a ring ahead (2.6.6). */
	if ((uint16_t)(avail_idx - q->last_avail) > q->size)
		return *why = "available index ran more than a ring ahead", -EIO;
	/* Read the ring entry only after its index (2.6.13.3 orders the
	 * driver's writes the same way round). */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	uint16_t i = read16(vm, q->avail + AVAIL_RING + 2 * (q->last_avail % q->size));

	c->head = i;
	c->nseg = 0;
	c->rlen = c->wlen = 0;
	for (;;) {
		uint8_t d[DESC_LEN];
		if (i >= q->size)
			return *why = "descriptor index past the table", -EIO;
		if (c->nseg == q->size)
			return *why = "descriptor chain loops", -EIO;
		vm_gpa_read(vm, q->desc + DESC_LEN * (uint64_t)i, d, DESC_LEN);
		uint64_t addr;
		uint32_t len;
		uint16_t flags, next;
		memcpy(&addr, d, 8);
		memcpy(&len, d + 8, 4);
		memcpy(&flags, d + 12, 2);
		memcpy(&next, d + 14, 2);
		if (flags & VIRTQ_DESC_F_INDIRECT)
			return *why = "indirect descriptor (not negotiated)", -EIO;
		if (!inside(vm, addr, len))
			return *why = "buffer outside guest RAM", -EIO;
		bool w = flags & VIRTQ_DESC_F_WRITE;
		/* 2.6.4.2: device-writable buffers come after readable ones. */
		if (!w && c->wlen)
			return *why = "readable buffer after a writable one", -EIO;
		c->seg[c->nseg++] = (struct vq_seg){addr, len, w};
		if (w)
			c->wlen += len;
		else
			c->rlen += len;
		if (!(flags & VIRTQ_DESC_F_NEXT))
			break;
		i = next;
	}
	q->last_avail++;
	return 1;
}

int vq_push(struct vm *vm, struct virtq *q, uint16_t head, uint32_t len)
{
	uint32_t elem[2] = {head, len};
	uint16_t idx = q->used_idx + 1;

	if (vm_gpa_write(vm, q->used + USED_RING + USED_ELEM * (uint64_t)(q->used_idx % q->size),
			 elem, sizeof(elem)))
		return -EFAULT;
	/* 2.6.8.2: the element must be visible before the index that
	 * publishes it. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	if (vm_gpa_write(vm, q->used + 2, &idx, 2))
		return -EFAULT;
	q->used_idx = idx;
	return 0;
}

int vq_set_used_flags(struct vm *vm, const struct virtq *q, uint16_t flags)
{
	return vm_gpa_write(vm, q->used, &flags, 2) ? -EFAULT : 0;
}

/* Copies len bytes between buf and the chain's buffers of one direction,
 * skipping off bytes of them first. */
static int copy(struct vm *vm, const struct vq_chain *c, bool write, uint64_t off, void *buf,
		uint64_t len)
{
	uint8_t *p = buf;

	for (unsigned s = 0; s < c->nseg && len; s++) {
		const struct vq_seg *g = &c->seg[s];
		if (g->write != write)
			continue;
		if (off >= g->len) {
			off -= g->len;
			continue;
		}
		uint64_t n = g->len - off < len ? g->len - off : len;
		int rc = write ? vm_gpa_write(vm, g->gpa + off, p, n)
			       : vm_gpa_read(vm, g->gpa + off, p, n);
		if (rc)
			return -EFAULT;
		p += n;
		len -= n;
		off = 0;
	}
	return len ? -EFAULT : 0;
}

int vq_read(struct vm *vm, const struct vq_chain *c, uint64_t off, void *buf, uint64_t len)
{
	return copy(vm, c, false, off, buf, len);
}

int vq_write(struct vm *vm, const struct vq_chain *c, uint64_t off, const void *buf, uint64_t len)
{
	return copy(vm, c, true, off, (void *)buf, len);
}
