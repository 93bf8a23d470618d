/* arch/x86/mmio_decode.c: a fixed table of encodings (bytes checked
 * against GNU as/objdump, mnemonic in AT&T syntax beside each) with the
 * length, access and register operand each must give, the refused ones,
 * and the register write-back rules (zero/sign extension, merges). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "arch/x86/mmio_decode.h"

enum { L = MMIO_LOAD, S = MMIO_STORE_REG, I = MMIO_STORE_IMM, X = MMIO_XCHG };
#define M16 MMIO_MODE16
#define M32 MMIO_MODE32
#define M64 MMIO_MODE64

struct row {
	const char *asm_;
	enum mmio_mode mode;
	uint8_t b[16];
	uint8_t n; /* bytes in b */
	int rc;
	uint8_t len, size, kind, reg, high8, reg_size, sign;
	uint64_t imm;
};

#define B(...) {__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__})

static const struct row rows[] = {
	/* 64-bit code */
	{"mov 0x30(%rip),%eax", M64, B(0x8B, 0x05, 0x30, 0, 0, 0), 0, 6, 4, L, 0, 0, 4, 0, 0},
	{"movabs %eax,0xfee000b0", M64, B(0xA3, 0xB0, 0, 0xE0, 0xFE, 0, 0, 0, 0), 0, 9, 4, S, 0, 0,
	 4, 0, 0},
	{"movzbl 0x20(%rax),%ecx", M64, B(0x0F, 0xB6, 0x48, 0x20), 0, 4, 1, L, 1, 0, 4, 0, 0},
	{"movsbq (%rbx,%rcx,4),%r9", M64, B(0x4C, 0x0F, 0xBE, 0x0C, 0x8B), 0, 5, 1, L, 9, 0, 8, 1,
	 0},
	{"movswl -0x8(%rbp),%eax", M64, B(0x0F, 0xBF, 0x45, 0xF8), 0, 4, 2, L, 0, 0, 4, 1, 0},
	{"movzwl 0x100(%r12),%r15d", M64, B(0x45, 0x0F, 0xB7, 0xBC, 0x24, 0, 1, 0, 0), 0, 9, 2, L,
	 15, 0, 4, 0, 0},
	{"movl $0x12345678,0x80(%rax)", M64, B(0xC7, 0x80, 0x80, 0, 0, 0, 0x78, 0x56, 0x34, 0x12),
	 0, 10, 4, I, 0, 0, 4, 0, 0x12345678},
	{"movq $-1,(%rdx)", M64, B(0x48, 0xC7, 0x02, 0xFF, 0xFF, 0xFF, 0xFF), 0, 7, 8, I, 0, 0, 8,
	 0, ~0ull},
	{"movw $0xabcd,0x2(%rax)", M64, B(0x66, 0xC7, 0x40, 0x02, 0xCD, 0xAB), 0, 6, 2, I, 0, 0, 2,
	 0, 0xABCD},
	{"movb $0x5a,(%rsi)", M64, B(0xC6, 0x06, 0x5A), 0, 3, 1, I, 0, 0, 1, 0, 0x5A},
	{"mov %ah,(%rdi)", M64, B(0x88, 0x27), 0, 2, 1, S, 0, 1, 1, 0, 0},
	{"mov %sil,(%rdi)", M64, B(0x40, 0x88, 0x37), 0, 3, 1, S, 6, 0, 1, 0, 0},
	{"mov (%rdi),%bh", M64, B(0x8A, 0x3F), 0, 2, 1, L, 3, 1, 1, 0, 0},
	{"movabs 0xfee00030,%eax", M64, B(0xA1, 0x30, 0, 0xE0, 0xFE, 0, 0, 0, 0), 0, 9, 4, L, 0, 0,
	 4, 0, 0},
	{"movabs %al,0xfee00030", M64, B(0xA2, 0x30, 0, 0xE0, 0xFE, 0, 0, 0, 0), 0, 9, 1, S, 0, 0,
	 1, 0, 0},
	{"addr32 mov 0xfee00030,%eax", M64, B(0x67, 0xA1, 0x30, 0, 0xE0, 0xFE), 0, 6, 4, L, 0, 0, 4,
	 0, 0},
	{"movslq 0x4(%rax),%rdx", M64, B(0x48, 0x63, 0x50, 0x04), 0, 4, 4, L, 2, 0, 8, 1, 0},
	{"xchg %eax,0x300(%rbx)", M64, B(0x87, 0x83, 0, 3, 0, 0), 0, 6, 4, X, 0, 0, 4, 0, 0},
	{"mov %r8,%fs:(%rax)", M64, B(0x64, 0x4C, 0x89, 0x00), 0, 4, 8, S, 8, 0, 8, 0, 0},
	{"mov 0x12345678(,%rbx,8),%r11", M64, B(0x4C, 0x8B, 0x1C, 0xDD, 0x78, 0x56, 0x34, 0x12), 0,
	 8, 8, L, 11, 0, 8, 0, 0},
	{"mov 0x0(%r13),%eax", M64, B(0x41, 0x8B, 0x45, 0x00), 0, 4, 4, L, 0, 0, 4, 0, 0},
	{"mov (%r12),%eax", M64, B(0x41, 0x8B, 0x04, 0x24), 0, 4, 4, L, 0, 0, 4, 0, 0},
	{"mov %ax,(%rax)", M64, B(0x66, 0x89, 0x00), 0, 3, 2, S, 0, 0, 2, 0, 0},
	/* Linux's native_apic_mem_write/read on the fixmap: SIB, no base, disp32 */
	{"mov %eax,0xffffffffff5fc0b0", M64, B(0x89, 0x04, 0x25, 0xB0, 0xC0, 0x5F, 0xFF), 0, 7, 4,
	 S, 0, 0, 4, 0, 0},
	{"mov 0xffffffffff5fc030,%eax", M64, B(0x8B, 0x04, 0x25, 0x30, 0xC0, 0x5F, 0xFF), 0, 7, 4,
	 L, 0, 0, 4, 0, 0},
	{"xchg %eax,0xffffffffff5fc0b0 (X86_BUG_11AP)", M64,
	 B(0x87, 0x04, 0x25, 0xB0, 0xC0, 0x5F, 0xFF), 0, 7, 4, X, 0, 0, 4, 0, 0},
	/* REX.W wins over 66 */
	{"data16 mov %rax,(%rax)", M64, B(0x66, 0x48, 0x89, 0x00), 0, 4, 8, S, 0, 0, 8, 0, 0},
	/* a REX before a legacy prefix is ignored: %ecx, not %r9 and not 64-bit */
	{"rex.WR ds mov (%rax),%ecx", M64, B(0x4C, 0x3E, 0x8B, 0x08), 0, 4, 4, L, 1, 0, 4, 0, 0},
	{"movsbw (%rax),%ax", M64, B(0x66, 0x0F, 0xBE, 0x00), 0, 4, 1, L, 0, 0, 2, 1, 0},
	{"movslq without REX.W: movsxd (%rax),%eax", M64, B(0x63, 0x00), 0, 2, 4, L, 0, 0, 4, 0, 0},
	{"xchg %bh,(%rax)", M64, B(0x86, 0x38), 0, 2, 1, X, 3, 1, 1, 0, 0},
	{"movq $0x7fffffff,(%rax)", M64, B(0x48, 0xC7, 0x00, 0xFF, 0xFF, 0xFF, 0x7F), 0, 7, 8, I, 0,
	 0, 8, 0, 0x7FFFFFFF},

	/* 32-bit code */
	{"mov 0xfee00030,%eax", M32, B(0xA1, 0x30, 0, 0xE0, 0xFE), 0, 5, 4, L, 0, 0, 4, 0, 0},
	{"mov 0xfee00020,%ax", M32, B(0x66, 0xA1, 0x20, 0, 0xE0, 0xFE), 0, 6, 2, L, 0, 0, 2, 0, 0},
	{"movzbl -0x11fffe0(,%eax,1),%edx", M32, B(0x0F, 0xB6, 0x14, 0x05, 0x20, 0, 0xE0, 0xFE), 0,
	 8, 1, L, 2, 0, 4, 0, 0},
	{"mov %ah,0x1000(%ebx)", M32, B(0x88, 0xA3, 0, 0x10, 0, 0), 0, 6, 1, S, 0, 1, 1, 0, 0},
	{"addr16 mov (%bx,%si),%eax", M32, B(0x67, 0x8B, 0x00), 0, 3, 4, L, 0, 0, 4, 0, 0},
	/* 0x4C is DEC %esp outside 64-bit code, not a REX */
	{"dec %esp (not REX)", M32, B(0x4C, 0x8B, 0x00), -EINVAL, 0, 0, 0, 0, 0, 0, 0, 0},

	/* 16-bit code */
	{"mov 0x30(%bx),%ax", M16, B(0x8B, 0x47, 0x30), 0, 3, 2, L, 0, 0, 2, 0, 0},
	{"mov 0x30(%bx),%eax", M16, B(0x66, 0x8B, 0x47, 0x30), 0, 4, 4, L, 0, 0, 4, 0, 0},
	{"mov (%si),%cl", M16, B(0x8A, 0x0C), 0, 2, 1, L, 1, 0, 1, 0, 0},
	{"mov 0x1234,%ax ([disp16])", M16, B(0x8B, 0x06, 0x34, 0x12), 0, 4, 2, L, 0, 0, 2, 0, 0},
	{"addr32 mov (%eax),%eax", M16, B(0x67, 0x66, 0x8B, 0x00), 0, 4, 4, L, 0, 0, 4, 0, 0},
	{"movw $0x1234,0x10(%bp)", M16, B(0xC7, 0x46, 0x10, 0x34, 0x12), 0, 5, 2, I, 0, 0, 2, 0,
	 0x1234},
	{"mov 0x20,%al (moffs16)", M16, B(0xA0, 0x20, 0x00), 0, 3, 1, L, 0, 0, 1, 0, 0},

	/* refused */
	{"lock orl $0x1,(%rax)", M64, B(0xF0, 0x83, 0x08, 0x01), -EINVAL, 0, 0, 0, 0, 0, 0, 0, 0},
	{"lock xchg %eax,(%rax)", M64, B(0xF0, 0x87, 0x00), -EINVAL, 0, 0, 0, 0, 0, 0, 0, 0},
	{"rep movsb", M64, B(0xF3, 0xA4), -EINVAL, 0, 0, 0, 0, 0, 0, 0, 0},
	{"repne mov (%rax),%eax", M64, B(0xF2, 0x8B, 0x00), -EINVAL, 0, 0, 0, 0, 0, 0, 0, 0},
	{"movsb (no prefix)", M64, B(0xA4), -EINVAL, 0, 0, 0, 0, 0, 0, 0, 0},
	{"orl $0x1,(%rax)", M64, B(0x83, 0x08, 0x01), -EINVAL, 0, 0, 0, 0, 0, 0, 0, 0},
	{"add (%rax),%eax", M64, B(0x03, 0x00), -EINVAL, 0, 0, 0, 0, 0, 0, 0, 0},
	{"mov %eax,%ecx (register operand)", M64, B(0x89, 0xC1), -EINVAL, 0, 0, 0, 0, 0, 0, 0, 0},
	{"c7 /1 (not MOV)", M64, B(0xC7, 0x08, 0, 0, 0, 0), -EINVAL, 0, 0, 0, 0, 0, 0, 0, 0},
	{"movd (%rax),%xmm0", M64, B(0x66, 0x0F, 0x6E, 0x00), -EINVAL, 0, 0, 0, 0, 0, 0, 0, 0},
	{"arpl %ax,(%bx)", M16, B(0x63, 0x07), -EINVAL, 0, 0, 0, 0, 0, 0, 0, 0},
	{"14 prefixes + mov (%rax),%eax = 16 bytes", M64,
	 B(0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x2E, 0x8B,
	   0x00),
	 -E2BIG, 0, 0, 0, 0, 0, 0, 0, 0},
	{"15 prefixes, no opcode in 15 bytes", M64,
	 B(0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E,
	   0x3E),
	 -E2BIG, 0, 0, 0, 0, 0, 0, 0, 0},
	{"10 prefixes + movl $imm32,0x80(%rax) = 20 bytes", M64,
	 B(0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x48, 0xC7, 0x80, 0x80, 0, 0, 0),
	 -E2BIG, 0, 0, 0, 0, 0, 0, 0, 0},
	/* the fetch stopped before the end */
	{"mov 0x30(%rip),%eax cut at 4", M64, B(0x8B, 0x05, 0x30, 0), -ENODATA, 0, 0, 0, 0, 0, 0, 0,
	 0},
	{"empty", M64, {0}, 0, -ENODATA, 0, 0, 0, 0, 0, 0, 0, 0},
};

static void test_table_of_encodings(void **st)
{
	(void)st;
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		const struct row *r = &rows[k];
		struct mmio_insn d;
		memset(&d, 0xA5, sizeof(d));
		int rc = mmio_decode(r->b, r->n, r->mode, &d);
		if (rc != r->rc)
			fail_msg("%s: rc %d, want %d", r->asm_, rc, r->rc);
		if (rc)
			continue;
		if (d.len != r->len || d.size != r->size || d.kind != r->kind ||
		    d.reg_size != r->reg_size || d.sign != r->sign)
			fail_msg("%s: len %u size %u kind %u reg_size %u sign %u", r->asm_, d.len,
				 d.size, d.kind, d.reg_size, d.sign);
		if (r->kind == I ? d.imm != r->imm : (d.reg != r->reg || d.high8 != r->high8))
			fail_msg("%s: reg %u high8 %u imm 0x%lx", r->asm_, d.reg, d.high8,
				 (unsigned long)d.imm);
	}
}

/* Every decoded row also decodes from exactly its own length: the
 * decoder never reads a byte past the instruction, and one byte fewer is
 * -ENODATA, never a shorter instruction. */
static void test_decoded_length_is_exact(void **st)
{
	(void)st;
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		const struct row *r = &rows[k];
		struct mmio_insn d;
		if (r->rc)
			continue;
		assert_int_equal(r->n, r->len);
		if (mmio_decode(r->b, r->len - 1, r->mode, &d) != -ENODATA)
			fail_msg("%s: decodes from %u bytes", r->asm_, r->len - 1);
	}
}

static void test_load_extends_as_the_cpu(void **st)
{
	(void)st;
	uint64_t g[16];
	struct mmio_insn d;

	for (int k = 0; k < 16; k++)
		g[k] = 0x1111111111111111ull * (k & 7);

	/* mov (%rax),%eax: a 32-bit destination clears bits 63:32 */
	assert_int_equal(mmio_decode((uint8_t[]){0x8B, 0x00}, 2, M64, &d), 0);
	g[0] = ~0ull;
	mmio_load_result(&d, g, 0x14);
	assert_int_equal(g[0], 0x14);
	/* mov (%rax),%ax: a 16-bit destination merges */
	assert_int_equal(mmio_decode((uint8_t[]){0x66, 0x8B, 0x00}, 3, M64, &d), 0);
	g[0] = 0xAAAAAAAAAAAAAAAAull;
	mmio_load_result(&d, g, 0x1234);
	assert_int_equal(g[0], 0xAAAAAAAAAAAA1234ull);
	/* mov (%rdi),%bh: bits 15:8 of RBX only */
	assert_int_equal(mmio_decode((uint8_t[]){0x8A, 0x3F}, 2, M64, &d), 0);
	g[3] = 0x3333333333333333ull;
	mmio_load_result(&d, g, 0xFFEE); /* only the low byte was read */
	assert_int_equal(g[3], 0x333333333333EE33ull);
	/* mov (%rdi),%dil with REX: the low byte of RDI */
	assert_int_equal(mmio_decode((uint8_t[]){0x40, 0x8A, 0x3F}, 3, M64, &d), 0);
	g[7] = 0x7777777777777777ull;
	mmio_load_result(&d, g, 0x80);
	assert_int_equal(g[7], 0x7777777777777780ull);
	/* movsbq: sign-extends to 64 */
	assert_int_equal(mmio_decode((uint8_t[]){0x4C, 0x0F, 0xBE, 0x0C, 0x8B}, 5, M64, &d), 0);
	mmio_load_result(&d, g, 0x80);
	assert_int_equal(g[9], 0xFFFFFFFFFFFFFF80ull);
	/* movswl: sign-extends to 32, then zero-extends to 64 */
	assert_int_equal(mmio_decode((uint8_t[]){0x0F, 0xBF, 0x45, 0xF8}, 4, M64, &d), 0);
	g[0] = ~0ull;
	mmio_load_result(&d, g, 0x8001);
	assert_int_equal(g[0], 0xFFFF8001ull);
	/* movzbw: zero-extends to 16, merges into the rest */
	assert_int_equal(mmio_decode((uint8_t[]){0x66, 0x0F, 0xB6, 0x00}, 4, M64, &d), 0);
	g[0] = 0xAAAAAAAAAAAAAAAAull;
	mmio_load_result(&d, g, 0xF0);
	assert_int_equal(g[0], 0xAAAAAAAAAAAA00F0ull);
	/* movslq: sign-extends 32 to 64 */
	assert_int_equal(mmio_decode((uint8_t[]){0x48, 0x63, 0x50, 0x04}, 4, M64, &d), 0);
	mmio_load_result(&d, g, 0x80000000u);
	assert_int_equal(g[2], 0xFFFFFFFF80000000ull);
	/* mov (%rax),%r11 full 64 */
	assert_int_equal(mmio_decode((uint8_t[]){0x4C, 0x8B, 0x18}, 3, M64, &d), 0);
	mmio_load_result(&d, g, 0x0123456789ABCDEFull);
	assert_int_equal(g[11], 0x0123456789ABCDEFull);
}

static void test_store_value_is_the_operand_cut_to_size(void **st)
{
	(void)st;
	uint64_t g[16] = {0};
	struct mmio_insn d;

	g[0] = 0x1122334455667788ull;
	/* mov %ah,(%rdi) */
	assert_int_equal(mmio_decode((uint8_t[]){0x88, 0x27}, 2, M64, &d), 0);
	assert_int_equal(mmio_store_value(&d, g), 0x77);
	/* mov %ax,(%rax) */
	assert_int_equal(mmio_decode((uint8_t[]){0x66, 0x89, 0x00}, 3, M64, &d), 0);
	assert_int_equal(mmio_store_value(&d, g), 0x7788);
	/* mov %r8,%fs:(%rax) */
	g[8] = 0xDEADBEEFCAFEF00Dull;
	assert_int_equal(mmio_decode((uint8_t[]){0x64, 0x4C, 0x89, 0x00}, 4, M64, &d), 0);
	assert_int_equal(mmio_store_value(&d, g), 0xDEADBEEFCAFEF00Dull);
	/* movl $0xfffffff0,(%rax): imm, not a register */
	assert_int_equal(mmio_decode((uint8_t[]){0xC7, 0x00, 0xF0, 0xFF, 0xFF, 0xFF}, 6, M64, &d),
			 0);
	assert_int_equal(mmio_store_value(&d, g), 0xFFFFFFF0ull);
	/* movq $-16,(%rax): imm32 sign-extended */
	assert_int_equal(
		mmio_decode((uint8_t[]){0x48, 0xC7, 0x00, 0xF0, 0xFF, 0xFF, 0xFF}, 7, M64, &d), 0);
	assert_int_equal(mmio_store_value(&d, g), 0xFFFFFFFFFFFFFFF0ull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_of_encodings),
		cmocka_unit_test(test_decoded_length_is_exact),
		cmocka_unit_test(test_load_extends_as_the_cpu),
		cmocka_unit_test(test_store_value_is_the_operand_cut_to_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
