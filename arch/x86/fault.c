/* The exception dump: a fault inside Tern is a Tern bug, so print all we
 * know (vector, error code, registers, control registers, a frame-pointer
 * backtrace with image offsets for addr2line) and stop this CPU. */
#include <stdint.h>
#include "arch/x86/asm.h"
#include "arch/x86/cpu.h"
#include "kernel/kprintf.h"
#include "kernel/kernel.h"

static const char *const exc_names[32] = {
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow",
	"#BR bound range", "#UD invalid opcode", "#NM device not available", "#DF double fault",
	"coprocessor segment overrun", "#TS invalid TSS", "#NP segment not present",
	"#SS stack fault", "#GP general protection", "#PF page fault", "reserved",
	"#MF x87 floating point", "#AC alignment check", "#MC machine check",
	"#XM SIMD floating point", "#VE virtualization", "#CP control protection",
};

static int frame_readable(uint64_t rbp)
{
	/* Only follow frames inside Tern's own image or RAM it mapped, so a
	 * corrupt chain ends the backtrace instead of faulting again. */
	return rbp && !(rbp & 7) && rbp < kernel_mapped_top - 16;
}

static void print_addr(int i, uint64_t addr)
{
	if (addr >= kernel_image_base && addr < kernel_image_end)
		kprintf("  #%-2d 0x%016lx  (tern+0x%lx)\n", i, addr, addr - kernel_image_base);
	else
		kprintf("  #%-2d 0x%016lx\n", i, addr);
}

void fault_dump(const struct trap_frame *tf)
{
	const char *name = tf->vector < 32 && exc_names[tf->vector] ? exc_names[tf->vector] : "?";

	kprintf("\n*** Tern: CPU exception %lu (%s), error code 0x%lx\n", tf->vector, name, tf->error);
	kprintf("rip 0x%016lx  cs %04lx  rflags 0x%08lx\n", tf->rip, tf->cs, tf->rflags);
	kprintf("rsp 0x%016lx  ss %04lx\n", tf->rsp, tf->ss);
	kprintf("rax 0x%016lx  rbx 0x%016lx  rcx 0x%016lx\n", tf->rax, tf->rbx, tf->rcx);
	kprintf("rdx 0x%016lx  rsi 0x%016lx  rdi 0x%016lx\n", tf->rdx, tf->rsi, tf->rdi);
	kprintf("rbp 0x%016lx  r8  0x%016lx  r9  0x%016lx\n", tf->rbp, tf->r8, tf->r9);
	kprintf("r10 0x%016lx  r11 0x%016lx  r12 0x%016lx\n", tf->r10, tf->r11, tf->r12);
	kprintf("r13 0x%016lx  r14 0x%016lx  r15 0x%016lx\n", tf->r13, tf->r14, tf->r15);
	kprintf("cr0 0x%016lx  cr2 0x%016lx  cr3 0x%016lx  cr4 0x%016lx\n", read_cr0(),
		read_cr2(), read_cr3(), read_cr4());
	kprintf("image base 0x%lx (resolve with: addr2line -e build/%s ADDR-offset)\n",
		kernel_image_base, kernel_image_file);
	kprintf("backtrace:\n");
	print_addr(0, tf->rip);
	uint64_t rbp = tf->rbp;
	for (int i = 1; i < 16 && frame_readable(rbp); i++) {
		uint64_t *frame = (uint64_t *)rbp;
		print_addr(i, frame[1]);
		if (frame[0] <= rbp)
			break;
		rbp = frame[0];
	}
	kprintf("*** Tern stopped. Reset the machine to continue.\n");
	cpu_halt_forever();
}
