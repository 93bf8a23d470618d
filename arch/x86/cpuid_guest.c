/* The CPUID a guest sees: a fixed, documented baseline (docs/guest-cpu.md)
 * rather than the host's CPU, so that a guest can later move between hosts
 * whose CPUs differ. Host values are used only where the baseline says
 * "host" (vendor, family/model, address sizes, TSC rate) and feature bits
 * are the host's ANDed with the baseline mask. */
#include <string.h>
#include "arch/x86/asm.h"
#include "kernel/hv.h"
#include "kernel/time.h"

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

#define TERN_MAX_LEAF 0x7
#define TERN_MAX_EXT 0x80000008
#define TERN_HV_MAX 0x40000010

void cpuid_guest(uint32_t leaf, uint32_t subleaf, uint32_t out[4])
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
	case 0x40000010: /* timing leaf (the de-facto VMware layout): TSC kHz */
		out[0] = (uint32_t)(tsc_hz / 1000);
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
}
