/* The instruction decoder for guest MMIO: the MOV forms a kernel uses on
 * device memory (Linux's readb..readq/writeb..writeq, the xAPIC accessors,
 * MSI-X table writes), and nothing else. Pure and host-tested
 * (tests/unit/arch/test_mmio_decode.c): bytes in, a description out.
 *
 * Decoded (SDM Vol. 2 opcode map, APM Vol. 3): 88/89 and 8A/8B (MOV),
 * C6/C7 /0 (MOV r/m, imm), 0F B6/B7 (MOVZX), 0F BE/BF (MOVSX), A0-A3 (MOV
 * with a moffs), 63 /r (MOVSXD, 64-bit code only), 86/87 (XCHG r/m, r);
 * legacy prefixes 66, 67, the segment overrides, REX in 64-bit code, every
 * ModRM/SIB/displacement form in 16-, 32- and 64-bit code. The operand's
 * address is never computed: the fault gives the guest-physical address,
 * so only the length and the register or immediate matter.
 *
 * Refused (-EINVAL, never a guess): LOCK and REP/REPNE prefixes, any other
 * opcode, a register (mod 3) operand. -E2BIG: longer than 15 bytes.
 * -ENODATA: the bytes given end before the instruction does. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MMIO_INSN_MAX 15 /* SDM Vol. 2 2.3.11: the architectural limit */

/* The code segment's default sizes: CS.L in long mode, else CS.D. */
enum mmio_mode { MMIO_MODE16, MMIO_MODE32, MMIO_MODE64 };

enum mmio_kind {
	MMIO_LOAD,	/* memory -> register */
	MMIO_STORE_REG, /* register -> memory */
	MMIO_STORE_IMM, /* immediate -> memory */
	MMIO_XCHG,	/* both: memory -> register, the old register -> memory */
};

struct mmio_insn {
	uint8_t len;	  /* bytes, prefixes included */
	uint8_t size;	  /* memory access: 1, 2, 4 or 8 bytes */
	uint8_t kind;	  /* enum mmio_kind */
	uint8_t reg;	  /* 0-15 in encoding order (RAX..R15); not for STORE_IMM */
	bool high8;	  /* reg is AH, CH, DH or BH: bits 15:8 of reg 0-3 */
	uint8_t reg_size; /* the register operand's width: 1, 2, 4 or 8 */
	bool sign;	  /* a load sign-extends size to reg_size (MOVSX, MOVSXD) */
	uint64_t imm;	  /* STORE_IMM: the value, already cut to size */
};

/* b holds n bytes fetched at CS:RIP (n may be less than 15 when the fetch
 * stopped at a fault). 0 and *out, or -EINVAL, -E2BIG, -ENODATA. */
int mmio_decode(const uint8_t *b, size_t n, enum mmio_mode mode, struct mmio_insn *out);

/* The value a STORE_REG/STORE_IMM/XCHG writes to memory, cut to size. */
uint64_t mmio_store_value(const struct mmio_insn *i, const uint64_t gpr[16]);
/* Writes val (size bytes read from memory) into the register operand as
 * the CPU does (SDM Vol. 1 3.4.1.1): zero- or sign-extended to reg_size;
 * then a 32-bit destination clears bits 63:32, an 8- or 16-bit one leaves
 * the rest of the register alone. */
void mmio_load_result(const struct mmio_insn *i, uint64_t gpr[16], uint64_t val);
