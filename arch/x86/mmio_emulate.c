/* Fetch, decode, perform, write back: guest MMIO for both backends. The
 * shape is ACRN's (instr_emul.c: decode, then one device access of the
 * decoded size, then the register), with KVM's rule that what cannot be
 * emulated is the guest's problem (#UD), never the host's. */
#include <errno.h>
#include "arch/x86/mmio_emulate.h"
#include "kernel/log.h"
#include "kernel/vm.h"
#include "kernel/vm_mmio.h"

static int gpa_read(void *vm, uint64_t gpa, void *buf, uint64_t len)
{
	return vm_gpa_read(vm, gpa, buf, len);
}

/* Up to 15 bytes at CS:RIP, one guest page walk per page touched (at
 * most two): the fetch stops at the first page that does not translate or
 * is not RAM, and the decoder then says whether the instruction needed
 * it. Outside 64-bit code the linear address wraps at 4 GiB; in 64-bit
 * code CS's base is 0 (SDM Vol. 3A 3.4.4). */
static size_t fetch(struct vm *vm, const struct mmio_vcpu *c, uint8_t *b)
{
	size_t n = 0;

	while (n < MMIO_INSN_MAX) {
		uint64_t la = c->mode == MMIO_MODE64 ? c->rip + n
						     : (c->cs_base + c->rip + n) & 0xFFFFFFFFull;
		uint64_t gpa, chunk = 0x1000 - (la & 0xFFF);
		if (chunk > MMIO_INSN_MAX - n)
			chunk = MMIO_INSN_MAX - n;
		/* A page is all RAM or none (RAM comes in 2 MiB chunks). */
		if (guest_walk(&c->paging, la, gpa_read, vm, &gpa) ||
		    vm_gpa_read(vm, gpa, &b[n], chunk))
			break;
		n += chunk;
	}
	return n;
}

static uint64_t next_ip(const struct mmio_vcpu *c, unsigned len)
{
	switch (c->mode) {
	case MMIO_MODE64:
		return c->rip + len;
	case MMIO_MODE32:
		return (uint32_t)(c->rip + len);
	default:
		return (uint16_t)(c->rip + len); /* IP wraps in 16-bit code */
	}
}

/* The instruction bytes as hex, for the one log line of a refusal. */
static void hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		*out++ = digits[b[i] >> 4];
		*out++ = digits[b[i] & 15];
	}
	*out = 0;
}

int mmio_emulate(struct vm *vm, const struct mmio_vcpu *c, uint64_t gpa, uint64_t *next_rip)
{
	uint8_t b[MMIO_INSN_MAX];
	char text[2 * MMIO_INSN_MAX + 1];
	struct mmio_insn d;
	size_t n = fetch(vm, c, b);
	int rc = mmio_decode(b, n, c->mode, &d);

	/* The guest just executed this instruction, so its bytes were
	 * readable an instant ago; a fetch that fails now means they were
	 * not in RAM (code running from device memory) or the guest's page
	 * tables are not what its CPU used. Injecting #PF would need the
	 * exact linear address and error code the CPU would have produced
	 * for a fetch that, for the CPU, succeeded: the honest answer is to
	 * stop this VM with a clear line (the backend does). */
	if (rc == -ENODATA)
		return -EFAULT;
	if (rc) {
		hex(b, n, text);
		log_guest(vm, LOG_WARN,
			  "%s instruction at rip 0x%lx on MMIO GPA 0x%lx (bytes %s): #UD",
			  rc == -E2BIG ? "over-long" : "unsupported", c->rip, gpa, text);
		return -EINVAL;
	}
	/* A device's registers never straddle pages, and the second page may
	 * belong to someone else: refused, not split (Linux never does it). */
	if ((gpa & 0xFFF) + d.size > 0x1000) {
		log_guest(vm, LOG_WARN,
			  "%u-byte MMIO access at GPA 0x%lx crosses a page (rip 0x%lx): #UD",
			  d.size, gpa, c->rip);
		return -EINVAL;
	}

	uint64_t val = 0;
	switch (d.kind) {
	case MMIO_LOAD:
		if ((rc = vm_mmio_access(vm, gpa, d.size, false, &val)))
			return rc;
		mmio_load_result(&d, c->gpr, val);
		break;
	case MMIO_STORE_REG:
	case MMIO_STORE_IMM:
		val = mmio_store_value(&d, c->gpr);
		if ((rc = vm_mmio_access(vm, gpa, d.size, true, &val)))
			return rc;
		break;
	case MMIO_XCHG: {
		/* Read, then write the register's old value: one vCPU, so
		 * nothing can come between (the CPU's implicit lock). */
		uint64_t out = mmio_store_value(&d, c->gpr);
		if ((rc = vm_mmio_access(vm, gpa, d.size, false, &val)))
			return rc;
		if ((rc = vm_mmio_access(vm, gpa, d.size, true, &out)))
			return rc;
		mmio_load_result(&d, c->gpr, val);
		break;
	}
	}
	*next_rip = next_ip(c, d.len);
	return 0;
}
