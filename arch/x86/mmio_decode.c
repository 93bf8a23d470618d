/* Decoding the MOV forms used on MMIO (SDM Vol. 2 chapter 2, "Instruction
 * Format", and the MOV/MOVZX/MOVSX/MOVSXD/XCHG pages; APM Vol. 3 1.2-1.8).
 * The scope is ACRN's instr_emul.c and KVM's emulate.c reduced to what a
 * kernel does on device memory; see docs/guests.md "Guest MMIO". */
#include <errno.h>
#include "arch/x86/mmio_decode.h"

#define REX_W 8
#define REX_R 4

/* The instruction needs its first k bytes: more than 15 is #GP on a CPU
 * (refused here), more than the fetch got means the fetch stopped early. */
static int need(size_t n, unsigned k)
{
	if (k > MMIO_INSN_MAX)
		return -E2BIG;
	return k > n ? -ENODATA : 0;
}

/* The ModRM byte at `at`, its SIB and displacement (SDM Vol. 2 tables
 * 2-1 to 2-3): *end is the offset after them. A register operand (mod 3)
 * cannot be the MMIO access. REX.B does not change which forms carry a SIB
 * or a displacement, so it is not needed here. */
static int modrm_end(const uint8_t *b, size_t n, unsigned at, unsigned asz, unsigned *end)
{
	int rc = need(n, at + 1);
	if (rc)
		return rc;
	unsigned mod = b[at] >> 6, rm = b[at] & 7, p = at + 1;

	if (mod == 3)
		return -EINVAL;
	if (asz == 2) { /* 16-bit addressing: no SIB; [disp16] is mod 0, rm 6 */
		if (mod == 1)
			p += 1;
		else if (mod == 2 || (mod == 0 && rm == 6))
			p += 2;
	} else { /* 32- and 64-bit: rm 4 is a SIB; mod 0 rm 5 is disp32 (RIP-relative in 64-bit) */
		if (rm == 4) {
			if ((rc = need(n, p + 1)))
				return rc;
			if (mod == 0 && (b[p] & 7) == 5) /* SIB with no base: disp32 */
				p += 4;
			p++;
		} else if (mod == 0 && rm == 5) {
			p += 4;
		}
		if (mod == 1)
			p += 1;
		else if (mod == 2)
			p += 4;
	}
	*end = p;
	return 0;
}

static uint64_t le(const uint8_t *b, unsigned len)
{
	uint64_t v = 0;

	for (unsigned i = len; i-- > 0;)
		v = v << 8 | b[i];
	return v;
}

static uint64_t mask(unsigned size)
{
	return size == 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

int mmio_decode(const uint8_t *b, size_t n, enum mmio_mode mode, struct mmio_insn *out)
{
	bool p66 = false, p67 = false, has_rex = false;
	unsigned i = 0, rex = 0;
	int rc;

	/* Legacy prefixes in any order; a REX counts only right before the
	 * opcode (SDM Vol. 2 2.2.1: a REX followed by a legacy prefix is
	 * ignored). */
	for (;; i++) {
		if ((rc = need(n, i + 1)))
			return rc;
		uint8_t c = b[i];
		if (c == 0xF0 || c == 0xF2 || c == 0xF3)
			return -EINVAL; /* LOCK, REPNE, REP: nothing here to lock or repeat */
		if (c == 0x66 || c == 0x67 || c == 0x26 || c == 0x2E || c == 0x36 || c == 0x3E ||
		    c == 0x64 || c == 0x65) {
			p66 |= c == 0x66;
			p67 |= c == 0x67;
			has_rex = false;
			rex = 0;
		} else if (mode == MMIO_MODE64 && (c & 0xF0) == 0x40) {
			has_rex = true;
			rex = c;
		} else {
			break;
		}
	}

	unsigned osz, asz; /* operand and address size (SDM Vol. 1 3.6, Vol. 2 2.2.1.2) */
	switch (mode) {
	case MMIO_MODE64:
		osz = rex & REX_W ? 8 : p66 ? 2 : 4;
		asz = p67 ? 4 : 8;
		break;
	case MMIO_MODE32:
		osz = p66 ? 2 : 4;
		asz = p67 ? 2 : 4;
		break;
	default:
		osz = p66 ? 4 : 2;
		asz = p67 ? 4 : 2;
		break;
	}

	struct mmio_insn d = {0};
	uint8_t op = b[i++];
	unsigned end, imm_len = 0;
	bool byte_reg = false; /* the register operand is 8-bit (AH-BH possible) */

	if (op == 0x0F) {
		if ((rc = need(n, i + 1)))
			return rc;
		op = b[i++];
		if (op != 0xB6 && op != 0xB7 && op != 0xBE && op != 0xBF)
			return -EINVAL;
		/* MOVZX / MOVSX r, r/m8 or r/m16 */
		d.kind = MMIO_LOAD;
		d.size = op & 1 ? 2 : 1;
		d.reg_size = osz;
		d.sign = op >= 0xBE;
	} else if (op >= 0xA0 && op <= 0xA3) {
		/* MOV AL/rAX to or from a moffs: no ModRM, an address-size offset */
		d.kind = op & 2 ? MMIO_STORE_REG : MMIO_LOAD;
		d.size = d.reg_size = op & 1 ? osz : 1;
		d.reg = 0;
		d.len = i + asz;
		if ((rc = need(n, d.len)))
			return rc;
		*out = d;
		return 0;
	} else {
		switch (op) {
		case 0x88: /* MOV r/m8, r8 */
		case 0x89: /* MOV r/m, r */
			d.kind = MMIO_STORE_REG;
			break;
		case 0x8A: /* MOV r8, r/m8 */
		case 0x8B: /* MOV r, r/m */
			d.kind = MMIO_LOAD;
			break;
		case 0x86: /* XCHG r/m8, r8 */
		case 0x87: /* XCHG r/m, r */
			d.kind = MMIO_XCHG;
			break;
		case 0xC6: /* MOV r/m8, imm8 */
		case 0xC7: /* MOV r/m, imm16/32 (sign-extended to 64 with REX.W) */
			d.kind = MMIO_STORE_IMM;
			break;
		case 0x63: /* MOVSXD r, r/m32; ARPL outside 64-bit code */
			if (mode != MMIO_MODE64)
				return -EINVAL;
			d.kind = MMIO_LOAD;
			d.size = osz == 2 ? 2 : 4;
			d.reg_size = osz;
			d.sign = osz == 8;
			break;
		default:
			return -EINVAL;
		}
		if (op != 0x63) {
			byte_reg = !(op & 1);
			d.size = d.reg_size = byte_reg ? 1 : osz;
		}
	}

	if ((rc = modrm_end(b, n, i, asz, &end)))
		return rc;
	unsigned field = (b[i] >> 3) & 7;
	if (d.kind == MMIO_STORE_IMM) {
		if (field != 0) /* C6/C7 /1-/7 are not MOV */
			return -EINVAL;
		imm_len = d.size == 8 ? 4 : d.size;
	} else {
		d.reg = field | (rex & REX_R ? 8 : 0);
		/* Without any REX, byte registers 4-7 are AH, CH, DH, BH. */
		if (byte_reg && !has_rex && d.reg >= 4) {
			d.reg -= 4;
			d.high8 = true;
		}
	}
	d.len = end + imm_len;
	if ((rc = need(n, d.len)))
		return rc;
	if (d.kind == MMIO_STORE_IMM) {
		uint64_t v = le(b + end, imm_len);
		if (imm_len == 4 && (v & 0x80000000u))
			v |= 0xFFFFFFFF00000000ull; /* imm32 sign-extended to 64 bits */
		d.imm = v & mask(d.size);
	}
	*out = d;
	return 0;
}

uint64_t mmio_store_value(const struct mmio_insn *i, const uint64_t gpr[16])
{
	if (i->kind == MMIO_STORE_IMM)
		return i->imm;
	uint64_t v = gpr[i->reg & 15];
	if (i->high8)
		v >>= 8;
	return v & mask(i->size);
}

void mmio_load_result(const struct mmio_insn *i, uint64_t gpr[16], uint64_t val)
{
	uint64_t *r = &gpr[i->reg & 15];
	unsigned bits = 8 * i->size;

	val &= mask(i->size);
	if (i->sign && bits < 64 && (val >> (bits - 1)) & 1)
		val |= ~mask(i->size);
	if (i->high8) {
		*r = (*r & ~0xFF00ull) | (val & 0xFF) << 8;
		return;
	}
	switch (i->reg_size) {
	case 1:
	case 2:
		*r = (*r & ~mask(i->reg_size)) | (val & mask(i->reg_size));
		break;
	case 4:
		*r = (uint32_t)val; /* 32-bit results zero-extend to 64 */
		break;
	default:
		*r = val;
		break;
	}
}
