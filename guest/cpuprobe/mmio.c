/* mode=mmio: the xAPIC page (0xFEE00000, SDM Vol. 3A 11.4.1) read and
 * written with the instruction forms a kernel uses on device memory, then
 * instructions a hypervisor's MMIO decoder should refuse (LOCK, REP
 * string, an ALU op), each of which must raise #UD at the instruction
 * itself and leave the register untouched. One line each:
 *   cpuprobe: mmio <probe> ok <value> | #UD at-insn | #UD elsewhere | <vector>
 * (tests/integration/test_guest_mmio.py reads them). */
#include "cpuprobe.h"
#include "common/uart.h"

#define APIC 0xFEE00000ull
#define APIC_ID (APIC + 0x20)
#define APIC_VER (APIC + 0x30)
#define APIC_TPR (APIC + 0x80)

static uint64_t m_out, m_rip;
static uint8_t m_buf[4] = {0x70, 0, 0, 0};

static void id_mov32(void)
{
	uint32_t v;
	__asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(APIC_ID) : "memory");
	m_out = v;
}

static void ver_mov32(void)
{
	uint32_t v;
	__asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(APIC_VER) : "memory");
	m_out = v;
}

static void ver_moffs64(void)
{
	uint32_t v;
	__asm__ volatile("movabs 0xfee00030, %%eax" : "=a"(v)::"memory");
	m_out = v;
}

static void ver_movzbl(void)
{
	uint32_t v;
	__asm__ volatile("movzbl (%1), %0" : "=r"(v) : "r"(APIC_VER) : "memory");
	m_out = v;
}

/* base + index*2 + disp: 0xFEE00000 + 0x8 * 2 + 0x20 */
static void ver_sib_disp(void)
{
	uint64_t v = ~0ull;
	__asm__ volatile("movl 0x20(%1,%2,2), %k0" : "+r"(v) : "r"(APIC), "r"(8ull) : "memory");
	m_out = v; /* a 32-bit load clears bits 63:32 */
}

/* 66 prefix: a 16-bit load merges into the low 16 bits of RCX */
static void ver_mov16(void)
{
	uint64_t v = 0x1111222233334444ull;
	__asm__ volatile("movw (%1), %w0" : "+r"(v) : "r"(APIC_VER) : "memory");
	m_out = v;
}

/* a high-byte register without REX: bits 15:8 of RAX only */
static void ver_movb_ah(void)
{
	uint64_t v = 0x11223344;
	__asm__ volatile("movb (%1), %%ah" : "+a"(v) : "r"(APIC_VER) : "memory");
	m_out = v;
}

static void tpr_read(void)
{
	uint32_t v;
	__asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(APIC_TPR) : "memory");
	m_out = v;
}

static void tpr_write_reg(void)
{
	__asm__ volatile("movl %0, (%1)" ::"r"(0x20u), "r"(APIC_TPR) : "memory");
	tpr_read();
}

static void tpr_write_imm(void)
{
	__asm__ volatile("movl $0x30, (%0)" ::"r"(APIC_TPR) : "memory");
	tpr_read();
}

/* xchg: the old TPR into EAX, 0x40 into the TPR */
static void tpr_xchg(void)
{
	uint64_t v = 0x40;
	__asm__ volatile("xchg %k0, (%1)" : "+r"(v) : "r"(APIC_TPR) : "memory");
	m_out = v;
}

static void tpr_zero(void)
{
	__asm__ volatile("movl $0, (%0)" ::"r"(APIC_TPR) : "memory");
	tpr_read();
}

/* Refused forms: m_rip is the instruction's address, for the #UD check. */
static void lock_or(void)
{
	__asm__ volatile("lea 1f(%%rip), %%rax; mov %%rax, %0\n1: lock orl $0x10, (%1)"
			 : "=m"(m_rip)
			 : "r"(APIC_TPR)
			 : "rax", "memory");
}

static void rep_movsb(void)
{
	uint64_t d = APIC_TPR, s = (uint64_t)m_buf, c = 4;
	__asm__ volatile("lea 1f(%%rip), %%rax; mov %%rax, %0\n1: rep movsb"
			 : "=m"(m_rip), "+D"(d), "+S"(s), "+c"(c)
			 :
			 : "rax", "memory");
}

static void add_mem(void)
{
	uint32_t v = 0x5;
	__asm__ volatile("lea 1f(%%rip), %%rax; mov %%rax, %0\n1: addl (%2), %1"
			 : "=m"(m_rip), "+r"(v)
			 : "r"(APIC_VER)
			 : "rax", "memory");
	m_out = v;
}

static void run(const char *what, void (*fn)(void), bool refused)
{
	m_out = 0;
	m_rip = 0;
	long vec = probe_try(fn);

	if (vec == PROBE_RETURNED)
		uart_printf("cpuprobe: mmio %s ok %#lx\n", what, m_out);
	else if (vec == 6 && refused)
		uart_printf("cpuprobe: mmio %s #UD %s\n", what,
			    probe_fault_rip == m_rip ? "at-insn" : "elsewhere");
	else
		uart_printf("cpuprobe: mmio %s vector %ld rip %#lx\n", what, vec, probe_fault_rip);
}

void probes_mmio(void)
{
	uart_printf("cpuprobe: mmio start\n");
	run("id mov32", id_mov32, false);
	run("version mov32", ver_mov32, false);
	run("version moffs64", ver_moffs64, false);
	run("version movzbl", ver_movzbl, false);
	run("version sib+disp", ver_sib_disp, false);
	run("version mov16", ver_mov16, false);
	run("version movb-ah", ver_movb_ah, false);
	run("tpr write-reg", tpr_write_reg, false);
	run("tpr write-imm", tpr_write_imm, false);
	run("tpr xchg", tpr_xchg, false);
	run("tpr after-xchg", tpr_read, false);
	run("tpr zero", tpr_zero, false);
	run("lock-or", lock_or, true);
	run("rep-movsb", rep_movsb, true);
	run("add", add_mem, true);
	run("tpr after-refused", tpr_read, false);
	uart_printf("cpuprobe: mmio done\n");
}
