/* The CPUID a guest sees: a fixed, documented baseline (docs/guest-cpu.md)
 * rather than the host's CPU, so that a guest can later move between hosts
 * whose CPUs differ. Two models:
 *   host  host values where the baseline says "host" (vendor, family/model,
 *         address sizes) and feature bits the host's ANDed with the
 *         baseline mask: the guest moves between hosts of one CPU kind;
 *   pool  one table whatever the host (pool_leaf): the guest moves between
 *         any Tern hosts, VMX or SVM, that have the table's features. */
#include <errno.h>
#include <string.h>
#include "arch/x86/asm.h"
#include "kernel/hv.h"

/* Leaf 1 ECX: SSE3, PCLMULQDQ, SSSE3, CX16, SSE4.1, SSE4.2, POPCNT, AES. Not
 * VMX (1<<5), XSAVE/OSXSAVE, AVX, RDRAND: either Tern does not virtualize
 * them yet or they pin the guest to a host. */
#define BASE_1_ECX ((1u << 0) | (1u << 1) | (1u << 9) | (1u << 13) | (1u << 19) | (1u << 20) | \
		    (1u << 23) | (1u << 25))
#define HYPERVISOR_BIT (1u << 31)
/* Emulated by Tern whatever the host has (kernel/vdev/vlapic.c: MSR exits
 * on both backends), so set, never host-masked: x2APIC and the TSC-deadline
 * timer (1:ECX[21], [24]); the LAPIC timer keeps running in deep C-states
 * (6:EAX[2], ARAT) since it is a guest-TSC deadline checked by Tern. */
#define TERN_1_ECX ((1u << 21) | (1u << 24))
#define TERN_6_EAX (1u << 2)
/* Leaf 1 EDX: FPU VME DE PSE TSC MSR PAE MCE CX8 APIC SEP MTRR PGE MCA CMOV PAT
 * PSE36 CLFSH MMX FXSR SSE SSE2. */
#define BASE_1_EDX 0x07ABFBFFu & ~((1u << 21) | (1u << 22) | (1u << 27) | (1u << 29))
/* 0x80000001 ECX: LAHF/SAHF, ABM/LZCNT, PREFETCHW. Not SVM (bit 2). */
#define BASE_81_ECX ((1u << 0) | (1u << 5) | (1u << 8))
/* 0x80000001 EDX: SYSCALL, NX, Page1GB off, RDTSCP off, LM. */
#define BASE_81_EDX ((1u << 11) | (1u << 20) | (1u << 29))

/* The pool CPU: QEMU's qemu64 model (AuthenticAMD, family 15 model 107),
 * the CPU KVM has shown guests on Intel and AMD hosts alike for years, so
 * kernels know to run on it whatever the hardware under it; its features
 * are the x86-64 baseline plus SSE3, CX16 and LAHF/SAHF. AMD's vendor
 * string makes Linux apply the AMD workarounds (SYSRET's SS attributes),
 * which are harmless on Intel hardware, rather than rely on Intel
 * behaviour an AMD host lacks. */
#define POOL_1_EAX 0x00060FB1u
#define POOL_1_ECX ((1u << 0) | (1u << 13))
#define POOL_1_EDX (BASE_1_EDX & ~(1u << 1)) /* no VME (qemu64 has none) */
#define POOL_81_ECX (1u << 0)
#define POOL_81_EDX BASE_81_EDX
/* 39 physical address bits (many Intel client CPUs have no more), 48 linear. */
#define POOL_PHYS_BITS 39
#define POOL_ADDR_SIZES (POOL_PHYS_BITS | (48u << 8))
static const char pool_vendor[12] = "AuthenticAMD";
static const char pool_brand[48] = "Tern pool CPU (x86-64, SSE3, CX16, LAHF)";

#define TERN_MAX_LEAF 0x7
#define TERN_MAX_EXT 0x80000008
#define TERN_HV_MAX 0x40000010

/* The leaves the host's CPU decides in the host model; the pool model
 * answers them from its table. */
static void pool_leaf(uint32_t leaf, uint32_t out[4])
{
	switch (leaf) {
	case 0:
	case 0x80000000:
		memcpy(&out[1], pool_vendor, 4);
		memcpy(&out[3], pool_vendor + 4, 4);
		memcpy(&out[2], pool_vendor + 8, 4);
		break;
	case 1:
		out[0] = POOL_1_EAX;
		out[1] = 0x00010800u; /* CLFLUSH line 64 bytes, one logical CPU, APIC ID 0 */
		out[2] = (out[2] & ~BASE_1_ECX) | POOL_1_ECX;
		out[3] = POOL_1_EDX;
		break;
	case 0x80000001:
		out[2] = POOL_81_ECX;
		out[3] = POOL_81_EDX;
		break;
	case 0x80000002:
	case 0x80000003:
	case 0x80000004:
		memcpy(out, pool_brand + 16 * (leaf - 0x80000002), 16);
		break;
	case 0x80000008:
		out[0] = POOL_ADDR_SIZES;
		break;
	}
}

void cpuid_guest(const struct guest_cpu *c, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	struct cpuid_regs h = {0};

	memset(out, 0, 4 * sizeof(uint32_t));
	if (leaf <= TERN_MAX_LEAF || (leaf >= 0x80000000 && leaf <= TERN_MAX_EXT))
		h = cpuid(leaf, subleaf);
	switch (leaf) {
	case 0:
		out[0] = TERN_MAX_LEAF;
		out[1] = h.ebx, out[2] = h.ecx, out[3] = h.edx; /* host vendor string */
		break;
	case 1:
		out[0] = h.eax; /* family/model/stepping of the host */
		out[1] = h.ebx & 0x0000FFFF; /* brand index, CLFLUSH size; one logical CPU, APIC ID 0 */
		out[1] |= 1u << 16;
		out[2] = (h.ecx & BASE_1_ECX) | TERN_1_ECX | HYPERVISOR_BIT;
		out[3] = h.edx & (BASE_1_EDX);
		break;
	case 6:
		out[0] = TERN_6_EAX; /* nothing else: no turbo, no HWP, no thermal sensor */
		break;
	case 7:
		break; /* no structured extended features in the baseline */
	case 0x40000000: /* hypervisor vendor leaf: "TernTernTern" */
		out[0] = TERN_HV_MAX;
		memcpy(&out[1], "Tern", 4);
		memcpy(&out[2], "Tern", 4);
		memcpy(&out[3], "Tern", 4);
		break;
	case 0x40000010: /* timing leaf (the de-facto VMware layout): the guest's TSC kHz */
		out[0] = (uint32_t)(c->tsc.hz / 1000);
		break;
	case 0x80000000:
		out[0] = TERN_MAX_EXT;
		out[1] = h.ebx, out[2] = h.ecx, out[3] = h.edx;
		break;
	case 0x80000001:
		out[2] = h.ecx & BASE_81_ECX;
		out[3] = h.edx & BASE_81_EDX;
		break;
	case 0x80000002:
	case 0x80000003:
	case 0x80000004: /* brand string of the host */
		out[0] = h.eax, out[1] = h.ebx, out[2] = h.ecx, out[3] = h.edx;
		break;
	case 0x80000008: /* physical/virtual address sizes */
		out[0] = h.eax & 0xFFFF;
		break;
	}
	if (c->model == GUEST_CPU_POOL)
		pool_leaf(leaf, out);
}

int cpuid_pool_supported(const char **why)
{
	static const struct guest_cpu host = {.model = GUEST_CPU_HOST};
	uint32_t r[4];

	cpuid_guest(&host, 1, 0, r);
	if ((r[2] & POOL_1_ECX) != POOL_1_ECX || (r[3] & POOL_1_EDX) != POOL_1_EDX)
		return *why = "this CPU lacks a feature of the pool CPU (CPUID 1: SSE3, CX16 or x86-64 baseline)", -ENOTSUP;
	cpuid_guest(&host, 0x80000001, 0, r);
	if ((r[2] & POOL_81_ECX) != POOL_81_ECX || (r[3] & POOL_81_EDX) != POOL_81_EDX)
		return *why = "this CPU lacks a feature of the pool CPU (LAHF/SAHF, SYSCALL, NX or long mode)", -ENOTSUP;
	cpuid_guest(&host, 0x80000008, 0, r);
	if ((r[0] & 0xFF) < POOL_PHYS_BITS)
		return *why = "this CPU has fewer physical address bits than the pool CPU's 39", -ENOTSUP;
	return 0;
}
